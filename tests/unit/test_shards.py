"""raftctl.shards: which shards an operation touches, NODE@shard words, merges."""

from __future__ import annotations

import pytest

from node.config import ClusterConfig, NodeAddress
from node.messages import Compare, Get, Keys, Put, Txn
from raftctl.errors import UnknownNode, UsageError
from raftctl.shards import merge_sorted, operation_shards, split_word


def config(shards: int = 3) -> ClusterConfig:
    nodes = tuple(
        NodeAddress(f"s{shard}n1", "127.0.0.1", 7100 + shard, shard=shard)
        for shard in range(1, shards + 1)
    )
    return ClusterConfig(nodes=nodes, shards=shards)


def key_in(shard: int, sharded: ClusterConfig) -> str:
    return next(f"k{n}" for n in range(1000) if sharded.shard_of_key(f"k{n}") == shard)


def test_operations_touch_the_shards_of_their_keys() -> None:
    sharded = config()
    one, two = key_in(1, sharded), key_in(2, sharded)
    assert operation_shards(sharded, Put(two, "v")) == {2}
    assert operation_shards(sharded, Keys("")) == {1, 2, 3}
    spanning = Txn((Compare(one, None),), (Put(two, "v"),), (Get(one),))
    assert operation_shards(sharded, spanning) == {1, 2}
    assert operation_shards(sharded, Txn((), (Get(two),), ())) == {2}


def test_words_take_a_shard_qualifier() -> None:
    sharded = config()
    assert split_word(sharded, "leader") == ("leader", 1)
    assert split_word(sharded, "random@s3") == ("random", 3)
    with pytest.raises(UnknownNode):
        split_word(sharded, "leader@s4")
    with pytest.raises(UsageError):
        split_word(sharded, "leader@2")


def test_prefix_answers_merge_in_key_order() -> None:
    merged = merge_sorted(
        [{"ok": True, "pairs": [["b", "2"], ["d", "4"]]}, {"ok": True, "pairs": [["a", "1"]]}],
        "pairs",
    )
    assert merged["pairs"] == [["a", "1"], ["b", "2"], ["d", "4"]]
    assert merge_sorted([{"keys": ["z"]}, {"keys": ["c", "y"]}], "keys")["keys"] == ["c", "y", "z"]
