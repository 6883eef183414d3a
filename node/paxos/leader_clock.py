"""What a Multi-Paxos leader does by the clock and for readers: heartbeat
rounds, the quorum check that makes a cut-off leader step down, the lease,
ReadIndex's confirmation, and handing its role over (node/paxos/core.py's
rules; PaxosCore inherits this).
"""

from __future__ import annotations

from node.events import TransferAborted
from node.messages import TimeoutNow
from node.paxos.leading import Leadership
from node.paxos.proposer import majority
from node.paxos.state import CoreState

__all__ = ["LeaderClock"]


class LeaderClock(CoreState):
    def _tick_leader(self, leading: Leadership) -> None:
        config = self.config
        leading.heartbeat_elapsed += 1
        if leading.heartbeat_elapsed >= config.heartbeat_interval_ticks:
            self._broadcast(leading)
        for progress in leading.peers.values():
            if (
                progress.snapshot_sent_tick is not None
                and self._ticks - progress.snapshot_sent_tick >= config.election_timeout_ticks_max
            ):
                progress.snapshot_sent_tick = None  # lost: send it again
                leading.replication_pending = True
        if leading.transfer_target is not None:
            leading.transfer_elapsed += 1
            if leading.transfer_elapsed >= config.election_timeout_ticks_max:
                self._emit(TransferAborted(leading.transfer_target, "timed out"))
                leading.transfer_target = None
        leading.quorum_elapsed += 1
        if config.check_quorum and leading.quorum_elapsed >= config.election_timeout_ticks_min:
            leading.quorum_elapsed = 0
            active = {peer for peer, p in leading.peers.items() if p.active} | {self.id}
            for progress in leading.peers.values():
                progress.active = False
            if len(active & set(self.voters)) < majority(len(self.voters)):
                self._step_down("no answer from a majority within an election timeout")

    def _maybe_send_timeout_now(self, leading: Leadership) -> None:
        target = leading.transfer_target
        progress = leading.peers.get(target) if target else None
        if target is None or progress is None:
            return
        if progress.chosen >= self.log.commit_index and progress.next > self.log.last_index:
            self._send(TimeoutNow(leading.ballot.encode(), self.id, target))

    def _handle_timeout_now(self, m: TimeoutNow) -> None:
        if m.src == self.leader_id and self.id in self.voters:
            self.campaign(transfer=True)

    def _start_read(self, leading: Leadership, context: bytes, lease: bool) -> None:
        index = self.log.commit_index
        if lease and self._lease_valid():
            self._reads.serve(context, index, lease=True)
            return
        self._reads.await_round(context, index, leading.rounds.latest + 1)
        leading.rounds.wanted = True
        self._reads.release(self._confirmed)

    def _confirmed(self, heartbeat_round: int) -> bool:
        leading = self._leading
        if leading is None:
            return False
        voters = self.voters
        acked = {p for p, progress in leading.peers.items() if progress.round >= heartbeat_round}
        return len((acked | {self.id}) & set(voters)) >= majority(len(voters))

    def _date_lease(self, leading: Leadership) -> None:
        """The newest round a majority answered dates the lease from its sending."""
        if not (self.config.check_quorum and self.options.leader):
            return
        voters = self.voters
        rounds = sorted((p.round for n, p in leading.peers.items() if n in voters), reverse=True)
        needed = majority(len(self.voters)) - (1 if self.id in self.voters else 0)
        if needed <= 0 or len(rounds) < needed:
            return
        sent = leading.rounds.sent_tick(rounds[needed - 1])
        if sent is not None:
            until = sent + self.config.election_timeout_ticks_min - self.config.lease_drift_ticks
            leading.lease_until = max(leading.lease_until, until)

    def _lease_valid(self) -> bool:
        leading = self._leading
        return leading is not None and self._ticks < leading.lease_until
