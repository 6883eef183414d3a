"""Shards from the client's side: which shards an operation touches, node
words with a shard qualifier, and merging what several shards answered.

Rules:
- Placement is node.config's (`ClusterConfig.shard_of_key`); this module only
  applies it to operations.
- A NODE word may carry a shard qualifier (`leader@s2`, `follower@s1`,
  `random@s3`); a bare word means shard 1, so an unsharded cluster reads
  exactly as before.
"""

from __future__ import annotations

from typing import Any

from node.config import ClusterConfig
from node.messages import (
    Cas,
    Changes,
    Delete,
    DeletePrefix,
    Get,
    GetPrefix,
    Keys,
    Operation,
    Put,
    Txn,
    TxnDecide,
    TxnFinish,
    TxnForget,
    TxnPreCommit,
    TxnPrepare,
    TxnQuery,
)
from raftctl.errors import UnknownNode, UsageError

__all__ = [
    "merge_sorted",
    "operation_shards",
    "split_word",
    "txn_keys",
]


def txn_keys(transaction: Txn) -> list[str]:
    """Every key a transaction names, in its comparisons and both branches."""
    keys = [compare.key for compare in transaction.compare]
    keys += [op.key for op in (*transaction.success, *transaction.failure)]
    return keys


def operation_shards(config: ClusterConfig, operation: Operation) -> frozenset[int]:
    """The shards `operation` reads or writes."""
    every = frozenset(range(1, config.shards + 1))
    match operation:
        case Get(key) | Put(key, _) | Delete(key) | Cas(key, _, _):
            return frozenset((config.shard_of_key(key),))
        case Changes(key, prefix, _):
            return every if prefix else frozenset((config.shard_of_key(key),))
        case Keys(_) | GetPrefix(_) | DeletePrefix(_):
            return every
        case TxnPrepare() | TxnDecide() | TxnFinish() | TxnForget() | TxnPreCommit() | TxnQuery():
            return frozenset((operation.shard,))
        case Txn():
            keys = txn_keys(operation)
            return frozenset(config.shard_of_key(key) for key in keys) if keys else every
    raise AssertionError(f"an operation of no known kind: {operation!r}")


def split_word(config: ClusterConfig, word: str) -> tuple[str, int]:
    """`leader@s2` -> ("leader", 2); `leader` -> ("leader", 1). The shard must exist."""
    base, at, qualifier = word.partition("@")
    if not at:
        return word, 1
    number = qualifier[1:] if qualifier.startswith("s") else ""
    if not number.isdigit():
        raise UsageError(f"{word!r}: a shard qualifier is @s<N>, as in leader@s2")
    shard = int(number)
    if not 1 <= shard <= config.shards:
        raise UnknownNode(f"{word!r}: no shard {shard} (this cluster has 1..{config.shards})")
    return base, shard


def merge_sorted(answers: list[dict[str, Any]], field: str) -> dict[str, Any]:
    """One answer from every shard's answer to a prefix operation (`keys`,
    `pairs` or `deleted` under `field`): the lists joined in key order. Each
    shard's part is atomic; the whole is not one cut across shards."""
    items = [item for answer in answers for item in answer.get(field, [])]
    items.sort(key=lambda item: item[0] if isinstance(item, list) else item)
    return {**(answers[0] if answers else {"ok": True}), field: items}
