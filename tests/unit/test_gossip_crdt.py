"""The gossip replica's algebra (node.gossip): the hybrid logical clock runs
ahead of everything it saw, the merges of registers and observed-remove sets
are commutative, associative and idempotent (so replicas agree whatever the
order gossip brings them), an add survives a concurrent remove, and two
stores that exchange the items of their differing buckets end equal."""

from __future__ import annotations

from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from node.gossip.crdt import (
    ORSet,
    Register,
    Stamp,
    advance_clock,
    merge_register,
    observe_clock,
)
from node.gossip.digest import BUCKETS, Digest, differing
from node.gossip.store import Store

NODES = st.sampled_from(["n1", "n2", "n3"])
STAMPS = st.builds(Stamp, st.integers(0, 50), st.integers(0, 5), NODES)
# One stamp names one write, so a register is a function of its stamp here
# (some of them tombstones).
REGISTERS = STAMPS.map(
    lambda s: Register(None if s.wall_ms % 5 == 0 else f"{s.node}@{s.wall_ms}.{s.logical}", s)
)
MAYBE_REGISTERS = st.one_of(st.none(), REGISTERS)
ELEMENTS = st.sampled_from(["x", "y", "z"])
SETS = st.builds(
    ORSet.of,
    st.lists(st.tuples(ELEMENTS, STAMPS), max_size=6),
    st.lists(STAMPS, max_size=4),
)


@given(STAMPS, st.integers(0, 60))
def test_a_local_event_is_stamped_after_the_last(last: Stamp, physical: int) -> None:
    stamp = advance_clock(last, physical)
    assert stamp > last and stamp.wall_ms >= physical and stamp.node == last.node


@given(STAMPS, STAMPS, st.integers(0, 60))
def test_a_received_stamp_moves_the_clock_past_both(
    last: Stamp, seen: Stamp, physical: int
) -> None:
    after = observe_clock(last, seen, physical)
    assert after > last and after.wall_ms >= physical and after.node == last.node
    assert (after.wall_ms, after.logical) > (seen.wall_ms, seen.logical)


@given(MAYBE_REGISTERS, MAYBE_REGISTERS, MAYBE_REGISTERS)
def test_register_merge_is_commutative_associative_idempotent(
    a: Register | None, b: Register | None, c: Register | None
) -> None:
    assert merge_register(a, b) == merge_register(b, a)
    assert merge_register(merge_register(a, b), c) == merge_register(a, merge_register(b, c))
    assert merge_register(a, a) == a


def test_last_writer_wins_and_the_earlier_concurrent_write_is_lost() -> None:
    early = Register("mine", Stamp(10, 0, "n1"))
    late = Register("theirs", Stamp(10, 0, "n2"))  # same millisecond: the node id decides
    assert merge_register(early, late) == merge_register(late, early) == late
    tombstone = Register(None, Stamp(11, 0, "n1"))
    assert merge_register(late, tombstone) == tombstone and tombstone.deleted


@given(SETS, SETS, SETS)
def test_set_merge_is_commutative_associative_idempotent(a: ORSet, b: ORSet, c: ORSet) -> None:
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(a) == a


@settings(max_examples=200)
@given(st.lists(st.tuples(ELEMENTS, STAMPS), min_size=1, max_size=8), st.randoms())
def test_no_add_is_lost_whatever_order_the_replicas_merge_in(
    adds: list[tuple[str, Stamp]], rng: object
) -> None:
    replicas = [ORSet().add(element, tag) for element, tag in adds]
    order = list(replicas)
    rng.shuffle(order)  # type: ignore[attr-defined]
    merged = reduce(ORSet.merge, order, ORSet())
    assert merged.elements == {element for element, _ in adds}
    assert merged == reduce(ORSet.merge, replicas, ORSet())


def test_an_add_wins_over_a_concurrent_remove() -> None:
    base = ORSet().add("x", Stamp(1, 0, "n1"))
    removed_here = base.remove("x")  # n1 removes the add it saw...
    added_there = base.add("x", Stamp(2, 0, "n2"))  # ... while n2 adds x again
    assert removed_here.elements == frozenset()
    assert removed_here.merge(added_there).elements == {"x"}
    assert added_there.merge(removed_here).remove("x").elements == frozenset()


@settings(max_examples=100)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), MAYBE_REGISTERS), max_size=10))
def test_two_stores_that_swap_their_differing_buckets_end_equal(
    writes: list[tuple[str, Register | None]],
) -> None:
    left, right = Store(), Store()
    for number, (key, register) in enumerate(writes):
        if register is not None:
            (left if number % 2 else right).write(key, register.value, register.stamp)
    left.add("set", "x", Stamp(1, 0, "n1"))
    right.add("set", "y", Stamp(1, 0, "n2"))
    buckets = differing(left.digest.summary(), right.digest.summary())
    # Push-pull: each takes the other's items of the buckets that differ.
    pulled = right.items_in(buckets)
    right.merge(left.items_in(buckets))
    left.merge(pulled)
    assert left.digest.summary() == right.digest.summary()
    assert left.registers == right.registers and left.members("set") == {"x", "y"}
    assert differing(left.digest.summary(), right.digest.summary()) == ()


def test_a_digest_is_kept_up_to_date_and_forgets_expired_tombstones() -> None:
    store = Store()
    store.write("a", "1", Stamp(1, 0, "n1"))
    store.write("a", None, Stamp(2, 0, "n1"))
    store.write("b", "2", Stamp(3, 0, "n1"))
    rebuilt = Digest.of({f"r:{k}": r for k, r in store.registers.items()})
    assert store.digest.summary() == rebuilt.summary()
    assert store.keys() == ["b"] and store.get("a") == Register(None, Stamp(2, 0, "n1"))
    assert store.expire(physical_ms=2 + 5, ttl_ms=10) == []
    assert store.expire(physical_ms=2 + 10, ttl_ms=10) == ["a"]
    assert store.digest.summary() == Digest.of({"r:b": store.registers["b"]}).summary()
    assert len(store.digest.summary()) == BUCKETS
