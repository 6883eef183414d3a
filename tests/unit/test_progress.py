"""Replication progress: probe pauses, pipelining, stale rejections."""

from __future__ import annotations

from node.progress import Progress, ReplicationState


def test_probe_sends_one_message_then_waits() -> None:
    progress = Progress(next_index=5)
    assert not progress.is_paused(4, 1 << 20)
    progress.sent_entries(7, 30)
    assert progress.is_paused(4, 1 << 20) and progress.next_index == 5


def test_replicate_pipelines_up_to_the_inflight_limit() -> None:
    progress = Progress(match_index=4)
    progress.become_replicate()
    for last in (6, 8):
        progress.sent_entries(last, 10)
    assert progress.next_index == 9 and progress.is_paused(2, 1 << 20)
    progress.maybe_update(6)
    assert not progress.is_paused(2, 1 << 20) and progress.inflight_bytes == 10


def test_inflight_bytes_bound() -> None:
    progress = Progress()
    progress.become_replicate()
    progress.sent_entries(3, 100)
    assert progress.is_paused(10, 100)


def test_stale_rejections_are_ignored() -> None:
    progress = Progress(match_index=5)
    progress.become_replicate()
    assert not progress.maybe_decrease(rejected_index=5, next_index_hint=2)
    assert progress.maybe_decrease(rejected_index=9, next_index_hint=7)
    assert progress.state is ReplicationState.PROBE and progress.next_index == 7
    # In probe only the answer to the probe in flight (prev = next - 1) counts.
    assert not progress.maybe_decrease(rejected_index=9, next_index_hint=6)
    assert progress.maybe_decrease(rejected_index=6, next_index_hint=1)
    assert progress.next_index == 6  # never at or below match_index


def test_an_answered_probe_turns_to_pipelining() -> None:
    progress = Progress(next_index=5)
    progress.sent_entries(7, 30)
    assert progress.acknowledged(7)
    assert progress.state is ReplicationState.REPLICATE and progress.next_index == 8
    assert not progress.acknowledged(6)  # stale: teaches nothing


def test_a_snapshot_in_flight_ends_only_once_the_follower_reaches_it() -> None:
    progress = Progress(match_index=2, next_index=3)
    progress.become_snapshot(10)
    assert progress.acknowledged(4)
    assert progress.state is ReplicationState.SNAPSHOT
    assert progress.acknowledged(10)
    assert progress.state is ReplicationState.REPLICATE and progress.next_index == 11


def test_a_heartbeat_round_counts_once_and_keeps_the_latest_send_time() -> None:
    progress = Progress()
    assert progress.ack_round(3, sent_tick=30)
    assert not progress.ack_round(2, sent_tick=20)
    assert progress.ack_round(4, sent_tick=None)  # sent too long ago to be remembered
    assert (progress.acked_round, progress.acked_round_sent_tick) == (4, 30)
