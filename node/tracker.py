"""ProgressTracker: the leader's view of every member's log (etcd's
tracker.ProgressTracker), and the bookkeeping that walks all of it.

Rules:
- The leader tracks every member of the configuration in force, and itself
  even once removed (it leads until the change commits, dissertation §4.2.2).
- Decisions stay in the core (node.raft): this module only counts, resets
  and finds; it never sends, commits or changes a role.
- Pure: no I/O, no clock.
"""

from __future__ import annotations

from node.progress import Progress, ReplicationState
from node.quorum import quorum_value

__all__ = ["ProgressTracker"]


class ProgressTracker(dict[str, Progress]):
    """Progress by member id."""

    def sync(self, members: tuple[str, ...], leader_id: str, next_index: int) -> None:
        """Track exactly `members` and the leader; a new member starts probing
        at `next_index`, assumed active until a CheckQuorum round says otherwise."""
        tracked = (*members, leader_id)
        for member in tracked:
            if member not in self:
                progress = Progress(next_index=next_index)
                progress.recent_active = member != leader_id
                self[member] = progress
        for member in [m for m in self if m not in tracked]:
            del self[member]

    def answering(
        self, peer: str, incarnation: int, probe_from: int
    ) -> tuple[Progress | None, bool]:
        """`peer`'s progress for an answer from its life `incarnation`: None for
        a non-member or an earlier life (stale), and True with it when the
        answer is news of a life (probing then starts over at `probe_from`)."""
        progress = self.get(peer)
        if progress is None:
            return None, False
        known = progress.incarnation
        if not progress.heard_from(incarnation, probe_from):
            return None, False
        return progress, progress.incarnation != known

    def match_indexes(self) -> dict[str, int]:
        return {member: progress.match_index for member, progress in self.items()}

    def take_recently_active(self, voters: tuple[str, ...], leader_id: str) -> list[str]:
        """The voters heard from since the last call (the leader always is),
        and a fresh start for the next CheckQuorum round."""
        active = [voter for voter in voters if voter == leader_id or self[voter].recent_active]
        for member, progress in self.items():
            progress.recent_active = member == leader_id
        return active

    def quorum_acked_round(self, voters: tuple[str, ...], leader_id: str, latest: int) -> int:
        """The latest heartbeat round that a majority of `voters` answered; the
        leader, which answers every round it sends, counts as `latest`."""
        acked = {
            voter: latest if voter == leader_id else self[voter].acked_round for voter in voters
        }
        return quorum_value(acked, voters)

    def quorum_lease_start(self, voters: tuple[str, ...], leader_id: str, now: int) -> int:
        """The latest tick by which a majority of `voters` had answered a
        heartbeat sent at it (the leader vouches for itself at `now`)."""
        sent_ticks = {
            voter: now if voter == leader_id else self[voter].acked_round_sent_tick
            for voter in voters
        }
        return quorum_value(sent_ticks, voters)

    def give_up_stale_snapshots(self, timeout_ticks: int) -> bool:
        """One tick for every snapshot in flight; one unanswered for
        `timeout_ticks` goes back to probing. True when any did."""
        gave_up = False
        for progress in self.values():
            if progress.state is ReplicationState.SNAPSHOT:
                progress.snapshot_elapsed += 1
                if progress.snapshot_elapsed >= timeout_ticks:
                    progress.become_probe()
                    gave_up = True
        return gave_up

    def up_to_date_voter(
        self, voters: tuple[str, ...], leader_id: str, last_index: int
    ) -> str | None:
        """A voter other than the leader whose log matches all of it, if any
        (the smallest id, so the choice is deterministic)."""
        candidates = sorted(
            voter
            for voter in voters
            if voter != leader_id and self[voter].match_index == last_index
        )
        return candidates[0] if candidates else None
