"""What a node refuses from the wire, without a process: the admission checks,
the codec's bounds, snapshot checks and the core's refusals of the impossible."""

from __future__ import annotations

import math

import msgpack
import pytest

from node.admission import Admission, Refusal
from node.client_plane import data_problem
from node.errors import InvalidMessage, PeerMisbehaved
from node.kv import KVStateMachine
from node.messages import (
    WIRE_VERSION,
    AppendEntriesResponse,
    Cas,
    Compare,
    Get,
    Heartbeat,
    InstallSnapshot,
    Keys,
    Put,
    SnapshotMeta,
    Txn,
    decode,
    encode,
)
from node.messages.codec import WIRE_INT_MAX
from node.ready import Role
from node.snapshot_stream import SNAPSHOT_BYTES_MAX, SnapshotStreams
from raftctl.sim.scripted import ScriptedCluster

NODES = ("n1", "n2", "n3")


def test_a_peer_message_must_come_from_a_node_of_the_cluster_under_its_own_name() -> None:
    admission = Admission("n1", NODES)
    assert admission.admits_peer_message(b"n2", Heartbeat(3, "n2", "n1", 0))
    assert not admission.admits_peer_message(b"ghost", Heartbeat(3, "ghost", "n1", 0))
    assert not admission.admits_peer_message(b"n3", Heartbeat(3, "n2", "n1", 0))  # spoofed src
    assert not admission.admits_peer_message(b"n2", Heartbeat(3, "n2", "n3", 0))  # not for us
    assert not admission.admits_peer_message(b"n1", Heartbeat(3, "n1", "n1", 0))  # ourselves
    assert admission.counts() == {"misaddressed": 2, "unknown-sender": 2}
    assert admission.total == 4


def test_a_snapshot_must_restore_at_the_index_it_announces() -> None:
    admission = Admission("n1", NODES)
    machine = KVStateMachine()
    machine.applied_index = 7
    good = machine.snapshot()

    def snapshot(data: bytes, index: int) -> InstallSnapshot:
        return InstallSnapshot(2, "n2", "n1", SnapshotMeta(index, 2, NODES, ()), 0, data, True)

    assert admission.admits_snapshot(snapshot(good, 7))
    assert not admission.admits_snapshot(snapshot(good, 8))
    assert not admission.admits_snapshot(snapshot(b"garbage", 7))
    assert not admission.admits_snapshot(snapshot(msgpack.packb([7, {"k": 1}, {}]), 7))
    assert admission.counts() == {Refusal.BAD_SNAPSHOT.value: 3}


@pytest.mark.parametrize("term", [WIRE_INT_MAX + 1, 2**64 - 1])
def test_integers_beyond_the_wire_bound_are_refused(term: int) -> None:
    frame = bytes((WIRE_VERSION,)) + msgpack.packb([5, term, "n2", "n1", 0, 1])
    with pytest.raises(InvalidMessage, match="2\\*\\*62"):
        decode(frame)
    assert decode(encode(Heartbeat(WIRE_INT_MAX, "n2", "n1", 0))).term == WIRE_INT_MAX


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_numbers_must_be_finite(number: float) -> None:
    frame = bytes((WIRE_VERSION,)) + msgpack.packb([30, 1, ["skew_clock", number]])
    with pytest.raises(InvalidMessage, match="finite"):
        decode(frame)


def test_a_snapshot_stream_cannot_grow_past_its_bound() -> None:
    bytes_max = 10 << 10
    streams = SnapshotStreams("n1", lambda chunk: None, bytes_max)
    meta = SnapshotMeta(9, 2, NODES, ())
    chunk = b"x" * 1024
    offset = 0
    with pytest.raises(InvalidMessage, match="over"):
        while offset <= bytes_max:
            streams.receive(InstallSnapshot(2, "n2", "n1", meta, offset, chunk, False))
            offset += len(chunk)
    assert streams.incoming is None  # the assembly is dropped with the refusal
    assert SNAPSHOT_BYTES_MAX >= 256 << 20  # while this lab's snapshots fit many times over


def _leader() -> tuple[ScriptedCluster, str]:
    cluster = ScriptedCluster(list(NODES), pre_vote=False)
    cluster.campaign("n1")
    cluster.stabilize()
    assert cluster.core("n1").role is Role.LEADER
    return cluster, "n1"


def test_a_second_leader_in_our_term_is_refused_and_changes_nothing() -> None:
    cluster, leader = _leader()
    core = cluster.core(leader)
    before = core.status()
    with pytest.raises(PeerMisbehaved, match="two leaders"):
        core.step(Heartbeat(core.term, "n2", leader, 0))
    assert core.status() == before
    assert not core.has_ready()


def test_a_follower_matching_beyond_our_log_is_refused_and_changes_nothing() -> None:
    cluster, leader = _leader()
    core = cluster.core(leader)
    before = core.status()
    beyond = core.log.last_index + 1000
    with pytest.raises(PeerMisbehaved, match="beyond our log"):
        core.step(AppendEntriesResponse(core.term, "n2", leader, True, beyond))
    assert core.status() == before
    assert not core.has_ready()


def test_keys_and_values_over_the_limits_are_named() -> None:
    assert data_problem(Put("k", "v" * 10), 4, 10) is None
    assert "value of 11 bytes" in (data_problem(Put("k", "v" * 11), 4, 10) or "")
    assert "key of 5 bytes" in (data_problem(Get("kkkkk"), 4, 10) or "")
    assert data_problem(Cas("k", None, "v"), 4, 10) is None
    assert "value of 12" in (data_problem(Cas("k", "e" * 12, "v"), 4, 10) or "")
    big_branch = Txn((Compare("k", None),), (Put("k", "é" * 6),), ())  # 12 bytes in UTF-8
    assert "value of 12" in (data_problem(big_branch, 4, 10) or "")
    # Keys and values are bytes: an escaped byte counts one, not three.
    assert data_problem(Put("k", "\udcff" * 10), 4, 10) is None
    assert data_problem(Put("", "v"), 4, 10) == "a key cannot be empty"
    assert data_problem(Keys(""), 4, 10) is None
