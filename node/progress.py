"""Progress: what the leader knows of one follower's log, and how to feed it.

Rules (etcd-raft's tracker/, simplified):
- PROBE: the leader does not know where the follower's log matches. It sends
  one AppendEntries and waits (probe_sent) for an answer or the next heartbeat.
- REPLICATE: the log matches at match_index; the leader streams AppendEntries
  without waiting (pipelining), optimistically moving next_index, bounded by
  the number and bytes of messages in flight.
- SNAPSHOT: the follower needs entries the leader has compacted away; the
  server is streaming it the snapshot at `pending_snapshot`, and nothing else
  is sent until the follower answers or `snapshot_elapsed` runs out.
- Each answer names the follower's incarnation (its process life). An answer
  from an earlier life is stale and dropped; the first from a later life means
  the follower restarted, and its log may be shorter than what it acknowledged
  (storage lost or wiped): the leader forgets what it matched and probes from
  its own end again, as a new leader does, so the follower is repaired without
  a leader change.
- Invariant: match_index < next_index.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["Progress", "ReplicationState"]


class ReplicationState(Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


@dataclass(slots=True)
class Progress:
    """The leader's view of one follower."""

    match_index: int = 0
    next_index: int = 1
    state: ReplicationState = ReplicationState.PROBE
    probe_sent: bool = False
    # Each in-flight AppendEntries as (its last index, its payload bytes).
    inflight: deque[tuple[int, int]] = field(default_factory=deque)
    inflight_bytes: int = 0
    # Heard from since the last CheckQuorum round.
    recent_active: bool = False
    # The highest commit index this follower was told that it can act on.
    commit_sent: int = 0
    # SNAPSHOT state: the snapshot's index, and ticks since it was sent.
    pending_snapshot: int = 0
    snapshot_elapsed: int = 0
    # The latest heartbeat round this voter echoed, and the leader's tick when
    # that round was sent: the start of the lease this voter grants.
    acked_round: int = 0
    acked_round_sent_tick: int = -(1 << 62)
    # The follower's life its answers come from (-1: not heard from yet), and,
    # after it restarted, what it had acknowledged before, until its log is seen
    # to hold that again or to have lost it.
    incarnation: int = -1
    acknowledged_before: int = 0

    def heard_from(self, incarnation: int, probe_from: int) -> bool:
        """An answer from the follower's life `incarnation` arrived; False when
        it comes from an earlier life (stale: drop it). On the first answer
        from a later life, probing starts over at `probe_from` (where that
        answer, when a rejection, already tells the follower's log ends)."""
        if incarnation < self.incarnation:
            return False
        if incarnation > self.incarnation:
            if self.incarnation >= 0:
                self.acknowledged_before = max(self.acknowledged_before, self.match_index)
                self.match_index = 0
                self.become_probe()
                self.next_index = probe_from
            self.incarnation = incarnation
        return True

    def lost_since_restart(
        self, success: bool, match_index: int, conflict_term: int, conflict_index: int
    ) -> tuple[int, int] | None:
        """After a restart, the first answer that shows where the follower's log
        ends: a rejection because its log is shorter (conflict_term 0) ends it
        at conflict_index - 1, a success holds at least match_index. Returns
        (what it had acknowledged, what it holds) when it holds less
        (acknowledged entries were lost), else None."""
        acknowledged = self.acknowledged_before
        shorter = not success and conflict_term == 0
        holds = conflict_index - 1 if shorter else match_index
        if not acknowledged or not (shorter or (success and holds >= acknowledged)):
            return None
        self.acknowledged_before = 0
        return (acknowledged, holds) if holds < acknowledged else None

    def become_probe(self) -> None:
        self.state = ReplicationState.PROBE
        self.next_index = self.match_index + 1
        self.probe_sent = False
        self._clear_inflight()

    def become_replicate(self) -> None:
        self.state = ReplicationState.REPLICATE
        self.next_index = self.match_index + 1
        self._clear_inflight()

    def become_snapshot(self, snapshot_index: int) -> None:
        self.state = ReplicationState.SNAPSHOT
        self.pending_snapshot = snapshot_index
        self.snapshot_elapsed = 0
        self._clear_inflight()

    def is_paused(self, inflight_messages_max: int, inflight_bytes_max: int) -> bool:
        if self.state is ReplicationState.SNAPSHOT:
            return True
        if self.state is ReplicationState.PROBE:
            return self.probe_sent
        return len(self.inflight) >= inflight_messages_max or (
            self.inflight_bytes >= inflight_bytes_max
        )

    def sent_entries(self, last_index: int, payload_bytes: int) -> None:
        """Record an AppendEntries that ends at `last_index` going out."""
        if self.state is ReplicationState.REPLICATE:
            self.next_index = last_index + 1
            self.inflight.append((last_index, payload_bytes))
            self.inflight_bytes += payload_bytes
        else:
            self.probe_sent = True

    def maybe_update(self, match_index: int) -> bool:
        """A success up to `match_index` arrived; True if it taught us something."""
        updated = match_index > self.match_index
        if updated:
            self.match_index = match_index
            self.probe_sent = False
        self.next_index = max(self.next_index, match_index + 1)
        self._free_inflight_to(match_index)
        return updated

    def acknowledged(self, match_index: int) -> bool:
        """A follower's success up to `match_index`: an answered probe, or a
        snapshot caught up with, turns to pipelining. True if it taught us
        something."""
        if not self.maybe_update(match_index):
            return False
        if self.state is ReplicationState.PROBE or (
            self.state is ReplicationState.SNAPSHOT and self.match_index >= self.pending_snapshot
        ):
            self.become_replicate()
        return True

    def maybe_decrease(self, rejected_index: int, next_index_hint: int) -> bool:
        """A rejection of prev_log_index `rejected_index` arrived; False if stale."""
        if self.state is ReplicationState.SNAPSHOT:
            return False  # an answer to something sent before the snapshot
        if self.state is ReplicationState.REPLICATE:
            # Stale unless it rejects something above what is known to match.
            if rejected_index <= self.match_index:
                return False
            self.become_probe()
            self.next_index = max(self.match_index + 1, min(next_index_hint, rejected_index))
            return True
        # PROBE: only the answer to the probe in flight counts.
        if rejected_index != self.next_index - 1:
            return False
        self.next_index = max(self.match_index + 1, min(next_index_hint, rejected_index))
        self.probe_sent = False
        return True

    def ack_round(self, heartbeat_round: int, sent_tick: int | None) -> bool:
        """This voter echoed `heartbeat_round`, sent at `sent_tick` (None once
        forgotten); True when that is news."""
        if heartbeat_round <= self.acked_round:
            return False
        self.acked_round = heartbeat_round
        if sent_tick is not None:
            self.acked_round_sent_tick = max(self.acked_round_sent_tick, sent_tick)
        return True

    def free_first_inflight(self) -> None:
        """Forget the oldest in-flight message: its answer may be lost."""
        if self.inflight:
            _, payload_bytes = self.inflight.popleft()
            self.inflight_bytes -= payload_bytes

    def _free_inflight_to(self, index: int) -> None:
        while self.inflight and self.inflight[0][0] <= index:
            _, payload_bytes = self.inflight.popleft()
            self.inflight_bytes -= payload_bytes

    def _clear_inflight(self) -> None:
        self.inflight.clear()
        self.inflight_bytes = 0
