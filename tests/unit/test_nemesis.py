"""The nemesis's parsing and its seeded schedule."""

from __future__ import annotations

import itertools

import pytest

from raftctl.chaos.nemesis import _cut_all_but, _ring_neighbours
from raftctl.chaos.schedule import (
    GAP_S,
    HOLD_S,
    NEMESIS_KINDS,
    NETWORK_KINDS,
    NOT_IN_ALL,
    SHARD_KINDS,
    FaultSpec,
    parse_nemesis,
    schedule,
)
from raftctl.errors import UsageError


def test_parse_kinds_targets_and_all() -> None:
    assert parse_nemesis("kill:leader, partition:ring,loss") == [
        FaultSpec("kill", "leader"),
        FaultSpec("partition", "ring"),
        FaultSpec("loss"),
    ]
    assert parse_nemesis("pause:n1+n3") == [FaultSpec("pause", "n1+n3")]
    named_only = [kind for kind in NEMESIS_KINDS if kind in NOT_IN_ALL]
    assert named_only == ["byzantine"]  # it needs --insecure: all leaves it out
    assert [spec.kind for spec in parse_nemesis("all")] == [
        kind for kind in NEMESIS_KINDS if kind not in NOT_IN_ALL + SHARD_KINDS
    ]
    assert parse_nemesis("byzantine") == [FaultSpec("byzantine")]
    assert parse_nemesis("none") == []


@pytest.mark.parametrize(
    "text", ["explode", "kill:everyone", "loss:n1", "partition:n1+n2", "failpoint:nowhere"]
)
def test_parse_refuses_what_it_cannot_do(text: str) -> None:
    with pytest.raises(UsageError):
        parse_nemesis(text)


def test_schedule_follows_from_the_seed_alone() -> None:
    specs = parse_nemesis("all")
    assert schedule(specs, 60, 5) == schedule(specs, 60, 5)
    assert schedule(specs, 60, 5) != schedule(specs, 60, 6)


def test_a_minute_meets_every_kind_one_fault_at_a_time() -> None:
    faults = schedule(parse_nemesis("all"), 60, 11)
    assert {fault.kind for fault in faults} == set(NEMESIS_KINDS) - set(NOT_IN_ALL + SHARD_KINDS)
    for before, after in itertools.pairwise(faults):
        assert after.start_s - (before.start_s + before.hold_s) >= GAP_S[0]
    for fault in faults:
        assert HOLD_S[0] <= fault.hold_s <= HOLD_S[1]
        assert fault.start_s + fault.hold_s <= 60
        targets, _ = NEMESIS_KINDS[fault.kind]
        assert (fault.target in targets) if targets else fault.target == ""


def test_fixed_targets_are_kept() -> None:
    faults = schedule(parse_nemesis("kill:leader"), 30, 1)
    assert faults and {fault.target for fault in faults} == {"leader"}


def test_a_ring_cuts_every_link_but_the_neighbours() -> None:
    order = ["n1", "n2", "n3", "n4", "n5"]
    cuts = {
        (link.sources[0], link.targets[0]) for link in _cut_all_but(order, _ring_neighbours(order))
    }
    assert ("n1", "n3") in cuts and ("n3", "n1") in cuts
    assert ("n1", "n2") not in cuts and ("n1", "n5") not in cuts
    assert len(cuts) == 5 * 4 - 10


def test_compound_faults_hold_their_parts_together() -> None:
    (compound,) = parse_nemesis("partition:majority+kill:one")
    assert compound == FaultSpec("partition", "majority", (FaultSpec("kill", "one"),))
    assert compound.describe() == "partition:majority+kill:one"
    assert parse_nemesis("kill:n1+n2") == [FaultSpec("kill", "n1+n2")]  # ids go on
    (ids_then_kind,) = parse_nemesis("kill:n1+n2+partition:one")
    assert ids_then_kind == FaultSpec("kill", "n1+n2", (FaultSpec("partition", "one"),))
    faults = schedule([compound], 30, 4)
    assert faults and all(len(fault.parts()) == 2 for fault in faults)
    for fault in faults:
        (kill,) = fault.also
        assert (kill.kind, kill.target, kill.start_s, kill.hold_s) == (
            "kill",
            "one",
            fault.start_s,
            fault.hold_s,
        )
        assert fault.to_dict()["with"] == [{"kind": "kill", "target": "one"}]


def test_a_compound_of_two_network_faults_is_refused() -> None:
    with pytest.raises(UsageError, match="at most one network fault"):
        parse_nemesis("partition+loss")


def test_faults_at_once_draws_kinds_together() -> None:
    specs = parse_nemesis("all")
    assert schedule(specs, 60, 3, at_once=1) == schedule(specs, 60, 3)
    faults = schedule(specs, 60, 3, at_once=2)
    assert faults and all(len(fault.parts()) == 2 for fault in faults)
    for fault in faults:
        kinds = [part.kind for part in fault.parts()]
        assert len(set(kinds)) == 2
        assert sum(kind in NETWORK_KINDS for kind in kinds) <= 1
        assert all(part.start_s == fault.start_s for part in fault.parts())
    met = {part.kind for fault in schedule(specs, 120, 3, at_once=2) for part in fault.parts()}
    # Two minutes still meet every kind.
    assert met == set(NEMESIS_KINDS) - set(NOT_IN_ALL + SHARD_KINDS)


def test_shard_kinds_come_with_shards_and_node_ids_name_their_shard() -> None:
    kinds = [spec.kind for spec in parse_nemesis("all", shards=3)]
    assert set(SHARD_KINDS) <= set(kinds) and "byzantine" not in kinds
    with pytest.raises(UsageError, match="sharded cluster"):
        parse_nemesis("kill-coordinator")
    assert parse_nemesis("kill:s2n1+s2n3", shards=3) == [FaultSpec("kill", "s2n1+s2n3")]
    assert parse_nemesis("partition-shard+kill:one", shards=2)[0].kinds == [
        "partition-shard",
        "kill",
    ]
