"""A transaction across shards, planned: which shard coordinates it, each
shard's part, and how the parts' answers become the transaction's answer.

Pure functions of the transaction and the placement rule, shared by the
coordinator that runs on real shards and by anything that models it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.messages import Compare, Txn, TxnOperation

__all__ = ["Part", "Plan", "answer_of", "assemble", "plan"]


@dataclass(frozen=True, slots=True)
class Part:
    """What one shard prepares: its comparisons and its ops of each branch,
    in the transaction's order."""

    shard: int
    compare: tuple[Compare, ...]
    success: tuple[TxnOperation, ...]
    failure: tuple[TxnOperation, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    coordinator: int  # the shard of the transaction's first key: it holds the record
    parts: tuple[Part, ...]  # by shard number

    @property
    def participants(self) -> tuple[int, ...]:
        return tuple(part.shard for part in self.parts)


def plan(transaction: Txn, shard_of_key: Callable[[str], int]) -> Plan:
    """Split `transaction` by the shards of its keys."""
    ops = (*transaction.compare, *transaction.success, *transaction.failure)
    if not ops:
        raise ValueError("a transaction with no key has no shard to run on")
    shards = sorted({shard_of_key(op.key) for op in ops})
    parts = tuple(
        Part(
            shard,
            tuple(c for c in transaction.compare if shard_of_key(c.key) == shard),
            tuple(o for o in transaction.success if shard_of_key(o.key) == shard),
            tuple(o for o in transaction.failure if shard_of_key(o.key) == shard),
        )
        for shard in shards
    )
    return Plan(shard_of_key(ops[0].key), parts)


def assemble(
    transaction: Txn,
    succeeded: bool,
    results: dict[int, list[dict[str, Any]]],
    shard_of_key: Callable[[str], int],
) -> list[dict[str, Any]]:
    """The branch's results in the transaction's order, from each shard's
    results in its part's order."""
    branch = transaction.success if succeeded else transaction.failure
    taken = dict.fromkeys(results, 0)
    ordered = []
    for op in branch:
        shard = shard_of_key(op.key)
        ordered.append(results[shard][taken[shard]])
        taken[shard] += 1
    if any(taken[shard] != len(results[shard]) for shard in results):
        raise AssertionError(f"shards answered {results} for the branch {branch}")
    return ordered


def answer_of(
    transaction: Txn,
    succeeded: bool,
    finished: dict[int, dict[str, Any]],
    shard_of_key: Callable[[str], int],
) -> dict[str, Any]:
    """A committed transaction's answer, from each shard's finish answer."""
    results = {shard: answer["results"] for shard, answer in finished.items()}
    return {
        "ok": True,
        "succeeded": succeeded,
        "results": assemble(transaction, succeeded, results, shard_of_key),
        "revisions": {str(s): a.get("revision") for s, a in finished.items()},
    }
