"""raftctl.txn.plan: a transaction split by shard and its answers put back in order."""

from __future__ import annotations

import pytest

from node.messages import Compare, Delete, Get, Put, Txn
from raftctl.txn.plan import assemble, plan

PLACES = {"a": 2, "b": 1, "c": 2, "d": 3}


def shard_of(key: str) -> int:
    return PLACES[key]


def test_a_transaction_splits_by_shard_and_the_first_key_coordinates() -> None:
    transaction = Txn(
        (Compare("a", "1"), Compare("b", None)),
        (Put("b", "x"), Get("c"), Delete("a")),
        (Get("d"),),
    )
    layout = plan(transaction, shard_of)
    assert layout.coordinator == 2 and layout.participants == (1, 2, 3)
    by_shard = {part.shard: part for part in layout.parts}
    assert by_shard[2].compare == (Compare("a", "1"),)
    assert by_shard[2].success == (Get("c"), Delete("a"))
    assert by_shard[1].success == (Put("b", "x"),) and by_shard[1].failure == ()
    assert by_shard[3].success == () and by_shard[3].failure == (Get("d"),)


def test_answers_go_back_in_the_transactions_order() -> None:
    transaction = Txn((), (Put("b", "x"), Get("c"), Delete("a")), ())
    results = {1: [{"op": "b"}], 2: [{"op": "c"}, {"op": "a"}]}
    ordered = assemble(transaction, True, results, shard_of)
    assert [r["op"] for r in ordered] == ["b", "c", "a"]
    with pytest.raises(AssertionError):
        assemble(transaction, True, {1: [{"op": "b"}, {"op": "?"}], 2: results[2]}, shard_of)


def test_a_transaction_without_keys_has_no_plan() -> None:
    with pytest.raises(ValueError):
        plan(Txn((), (), ()), shard_of)
