"""ProgressTracker: the leader's counts over every member's Progress."""

from __future__ import annotations

from node.tracker import ProgressTracker

VOTERS = ("n1", "n2", "n3", "n4", "n5")


def _tracker() -> ProgressTracker:
    tracker = ProgressTracker()
    tracker.sync(VOTERS, "n1", next_index=1)
    return tracker


def test_sync_tracks_exactly_the_members_and_the_leader() -> None:
    tracker = _tracker()
    tracker.sync(("n2", "n3", "n6"), "n1", next_index=9)
    assert sorted(tracker) == ["n1", "n2", "n3", "n6"]
    assert tracker["n6"].next_index == 9 and tracker["n6"].recent_active
    assert not tracker["n1"].recent_active


def test_a_round_is_confirmed_once_a_majority_including_the_leader_answered_it() -> None:
    tracker = _tracker()
    tracker["n2"].ack_round(7, sent_tick=70)
    assert tracker.quorum_acked_round(VOTERS, "n1", latest=7) == 0
    tracker["n3"].ack_round(8, sent_tick=80)
    assert tracker.quorum_acked_round(VOTERS, "n1", latest=7) == 7
    assert tracker.quorum_acked_round(VOTERS, "n1", latest=8) == 7


def test_the_lease_starts_at_the_send_time_a_majority_vouches_for() -> None:
    tracker = _tracker()
    tracker["n2"].ack_round(1, sent_tick=40)
    tracker["n3"].ack_round(2, sent_tick=55)
    tracker["n4"].ack_round(3, sent_tick=50)
    assert tracker.quorum_lease_start(VOTERS, "n1", now=60) == 50


def test_check_quorum_counts_the_voters_heard_from_and_starts_a_new_round() -> None:
    tracker = _tracker()
    for member in tracker.values():
        member.recent_active = False
    tracker["n4"].recent_active = True
    assert tracker.take_recently_active(VOTERS, "n1") == ["n1", "n4"]
    assert tracker.take_recently_active(VOTERS, "n1") == ["n1"]
