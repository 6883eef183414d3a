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
