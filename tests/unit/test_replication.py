"""The leader's replication plan: what one follower is sent, given its Progress."""

from __future__ import annotations

from node.log import RaftLog
from node.messages import AppendEntries, Entry
from node.progress import Progress, ReplicationState
from node.raft_config import RaftConfig
from node.ready import SnapshotSend
from node.replication import Replicator

TERM = 3


def _replicator(
    last_index: int,
    commit_index: int = 0,
    snapshot_index: int = 0,
    entries_per_message_max: int = 2,
    inflight_messages_max: int = 2,
) -> Replicator:
    entries = [Entry(i, 1, data=b"x") for i in range(snapshot_index + 1, last_index + 1)]
    log = RaftLog(entries, snapshot_index, 1 if snapshot_index else 0, commit_index)
    config = RaftConfig(
        "n1",
        ("n1", "n2"),
        entries_per_message_max=entries_per_message_max,
        inflight_messages_max=inflight_messages_max,
    )
    return Replicator(log, config, "n1")


def _replicating(match_index: int) -> Progress:
    progress = Progress(match_index=match_index, next_index=match_index + 1)
    progress.become_replicate()
    return progress


def test_a_probe_sends_one_message_and_waits() -> None:
    replicator = _replicator(last_index=5)
    progress = Progress(next_index=4)
    out = replicator.catch_up(TERM, "n2", progress)
    assert len(out) == 1
    message = out[0]
    assert isinstance(message, AppendEntries)
    assert (message.term, message.src, message.dst) == (TERM, "n1", "n2")
    assert (message.prev_log_index, message.prev_log_term) == (3, 1)
    assert [entry.index for entry in message.entries] == [4, 5]
    assert progress.probe_sent
    assert replicator.catch_up(TERM, "n2", progress) == []


def test_a_probe_may_be_empty_when_the_follower_is_beyond_our_log() -> None:
    progress = Progress(next_index=6)
    out = _replicator(last_index=5).catch_up(TERM, "n2", progress)
    assert len(out) == 1
    assert isinstance(out[0], AppendEntries) and out[0].entries == ()


def test_replicate_pipelines_until_the_inflight_window_is_full() -> None:
    progress = _replicating(match_index=0)
    out = _replicator(last_index=9).catch_up(TERM, "n2", progress)
    assert [[e.index for e in m.entries] for m in out if isinstance(m, AppendEntries)] == [
        [1, 2],
        [3, 4],
    ]
    assert progress.next_index == 5
    assert progress.is_paused(2, 1 << 30)


def test_nothing_new_sends_nothing_unless_asked_for_an_empty_one() -> None:
    replicator = _replicator(last_index=3)
    progress = _replicating(match_index=3)
    assert replicator.next_append(TERM, "n2", progress, allow_empty=False) is None
    empty = replicator.next_append(TERM, "n2", progress, allow_empty=True)
    assert isinstance(empty, AppendEntries) and empty.entries == ()


def test_a_follower_told_less_than_it_can_commit_gets_the_commit_index() -> None:
    replicator = _replicator(last_index=3, commit_index=3)
    progress = _replicating(match_index=3)
    out = replicator.catch_up(TERM, "n2", progress)
    assert len(out) == 1
    assert isinstance(out[0], AppendEntries) and out[0].leader_commit == 3
    assert progress.commit_sent == 3
    assert replicator.catch_up(TERM, "n2", progress) == []


def test_the_commit_index_told_stops_at_what_the_message_matches() -> None:
    replicator = _replicator(last_index=6, commit_index=6, entries_per_message_max=2)
    progress = Progress(next_index=1)
    replicator.next_append(TERM, "n2", progress, allow_empty=False)
    assert progress.commit_sent == 2


def test_a_follower_behind_the_snapshot_gets_the_snapshot_and_nothing_else() -> None:
    replicator = _replicator(last_index=8, commit_index=5, snapshot_index=5)
    progress = Progress(next_index=3)
    out = replicator.catch_up(TERM, "n2", progress)
    assert out == [SnapshotSend("n2", TERM, 5)]
    assert progress.state is ReplicationState.SNAPSHOT
    assert progress.pending_snapshot == 5
    assert replicator.catch_up(TERM, "n2", progress) == []


def test_a_heartbeat_answer_lets_a_paused_probe_go_again() -> None:
    replicator = _replicator(last_index=5)
    progress = Progress(next_index=6)
    progress.probe_sent = True
    out = replicator.after_heartbeat(TERM, "n2", progress)
    assert len(out) == 1 and isinstance(out[0], AppendEntries)
    assert out[0].prev_log_index == 5 and out[0].entries == ()


def test_a_heartbeat_answer_frees_one_slot_of_a_full_window() -> None:
    replicator = _replicator(last_index=9)
    progress = _replicating(match_index=0)
    replicator.catch_up(TERM, "n2", progress)
    assert len(progress.inflight) == 2
    out = replicator.after_heartbeat(TERM, "n2", progress)
    assert len(out) == 1 and isinstance(out[0], AppendEntries)
    assert out[0].prev_log_index == 4 and [e.index for e in out[0].entries] == [5, 6]


def test_a_heartbeat_answer_sends_nothing_to_an_up_to_date_or_snapshotting_follower() -> None:
    replicator = _replicator(last_index=3)
    assert replicator.after_heartbeat(TERM, "n2", _replicating(match_index=3)) == []
    snapshotting = Progress(next_index=1)
    snapshotting.become_snapshot(3)
    assert replicator.after_heartbeat(TERM, "n2", snapshotting) == []
