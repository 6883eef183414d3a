"""The Raft core's read-only rules (dissertation §6.4): ReadIndex and the
leader lease, as etcd keeps them apart in read_only.go.

RaftCore inherits them (node/raft.py), so that each rule is still one method
of the core a mutant may override (raft.py Rule 3); the state they work on
(the reads waiting, the heartbeat rounds) lives in node/read_queue.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.ready import Role

if TYPE_CHECKING:
    from node.log import RaftLog
    from node.raft_config import RaftConfig
    from node.read_queue import HeartbeatRounds, ReadQueue
    from node.tracker import ProgressTracker
    from node.transfer import LeadershipTransfer

__all__ = ["ReadOnlyRules"]


class ReadOnlyRules:
    """Mixed into RaftCore; the names below are the core's."""

    if TYPE_CHECKING:
        id: str
        role: Role
        config: RaftConfig
        log: RaftLog
        _ticks: int
        _reads: ReadQueue
        _rounds: HeartbeatRounds
        _progress: ProgressTracker
        _transfer: LeadershipTransfer
        _lease_ended: bool

        @property
        def voters(self) -> tuple[str, ...]: ...

        def _check_not_in_ready(self, what: str) -> None: ...

        def _check_may_propose(self) -> None: ...

        def _committed_in_current_term(self) -> bool: ...

    def read_index(self, context: bytes, lease: bool = False) -> None:
        """Ask to serve a read (dissertation §6.4). A later Ready answers with a
        ReadState for `context` (serve it once that index is applied), or lists
        it in reads_dropped. With `lease`, a valid leader lease confirms
        leadership without a heartbeat round."""
        self._check_not_in_ready("read_index")
        self._check_may_propose()  # the same two refusals as a write's
        if not self._committed_in_current_term():
            # §6.4 step 1: until an entry of its own term commits, a new leader
            # does not know the latest commit index.
            self._reads.await_commit(context, lease)
            return
        self._start_read(context, lease)

    def _start_read(self, context: bytes, lease: bool) -> None:
        index = self.log.commit_index
        if lease and self._lease_valid():
            self._reads.serve(context, index, lease=True)
            return
        # ReadIndex: serve at today's commit index once a heartbeat round sent
        # after now is answered by a majority (an expired lease falls back here).
        self._reads.await_round(context, index, self._rounds.latest + 1)
        self._rounds.wanted = True
        self._release_confirmed_reads()

    def _release_confirmed_reads(self) -> None:
        self._reads.release(self._leadership_confirmed_for)

    def _leadership_confirmed_for(self, heartbeat_round: int) -> bool:
        """ReadIndex, §6.4 step 3: a majority of voters answered heartbeat round
        `heartbeat_round` (or a later one) of this term, so no other leader had
        been elected when it was sent after the read arrived."""
        if not self.voters:
            return False
        acked = self._progress.quorum_acked_round(self.voters, self.id, heartbeat_round)
        return acked >= heartbeat_round

    def _lease_valid(self) -> bool:
        """§6.4.1: voters that answered a heartbeat sent at tick t will not elect
        anyone before t + election timeout (§4.2.3), so a leader backed by a
        majority of such answers leads until then, less the clock-drift bound.
        Sending TimeoutNow ends the lease for the rest of the term. Without
        CheckQuorum voters do not refuse votes that way, so there is no lease."""
        if self.role is not Role.LEADER or self._lease_ended or self._transfer.target:
            return False
        if not self.config.check_quorum:
            return False
        if not self.voters:
            return False
        start = self._progress.quorum_lease_start(self.voters, self.id, self._ticks)
        duration = self.config.election_timeout_ticks_min - self.config.lease_drift_ticks
        return self._ticks < start + duration

    def _drop_reads(self, reason: str) -> None:
        self._reads.drop_all(reason)
