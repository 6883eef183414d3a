"""Broken cores: each breaks exactly one rule of Raft by overriding exactly one
method of RaftCore (raft.py Rule 3). test_mutations.py asserts that the swarm
catches every one; a mutant it cannot catch means the simulation is too weak."""

from __future__ import annotations

from dataclasses import replace

from node.messages import (
    AppendEntries,
    HeartbeatResponse,
    RequestVote,
    RequestVoteResponse,
    SnapshotMeta,
)
from node.raft import RaftCore
from node.ready import Role


class VotesWithoutUpToDateCheck(RaftCore):
    """Breaks the election restriction (§5.4.1): votes for any log."""

    def _candidate_log_is_up_to_date(self, m: RequestVote) -> bool:
        return True


class CommitsEarlierTermByCounting(RaftCore):
    """Breaks §5.4.2 (Figure 8): commits an old-term entry once a majority holds it."""

    def _may_commit_at(self, index: int) -> bool:
        return True


class KeepsConflictingEntries(RaftCore):
    """Breaks AppendEntries rule 3: keeps its own entry where the leader's differs,
    appending only what lies beyond its log."""

    def _append_from_leader(self, m: AppendEntries) -> int | None:
        if not self.log.matches(m.prev_log_index, m.prev_log_term):
            return None
        self.log.append([entry for entry in m.entries if entry.index > self.log.last_index])
        return m.prev_log_index + len(m.entries)


class AnswersVoteBeforePersisting(RaftCore):
    """Breaks Figure 2's persistence rule: the vote leaves before it is durable."""

    def _reply_vote(self, response: RequestVoteResponse) -> None:
        self._send(response)


class GrantsTwoVotesPerTerm(RaftCore):
    """Breaks §5.2: votes for whoever asks, even after voting in this term."""

    def _vote_refusal(self, m: RequestVote) -> str | None:
        return None


class ReadIndexWithoutConfirmation(RaftCore):
    """Breaks §6.4 step 3: serves a ReadIndex read without a heartbeat round, so
    a deposed leader that does not know it yet answers from its stale state."""

    def _leadership_confirmed_for(self, heartbeat_round: int) -> bool:
        return True


class LeaseReadAfterExpiry(RaftCore):
    """Breaks §6.4.1: trusts its lease forever once it leads, however long ago a
    majority last answered its heartbeats."""

    def _lease_valid(self) -> bool:
        return (
            self.role is Role.LEADER
            and self.config.check_quorum
            and not self._lease_ended
            and self._transfer.target is None
        )


class TwoMembershipChangesPending(RaftCore):
    """Breaks §4.1: appends a configuration change while another is uncommitted."""

    def _pending_membership_change(self) -> int | None:
        return None


class MembershipChangeBeforeOwnTermCommit(RaftCore):
    """Breaks Ongaro's 2015 correction: changes the configuration before an entry
    of its own term has committed."""

    def _may_change_membership_in_this_term(self) -> bool:
        return True


class InstallSnapshotDiscardsMatchingLog(RaftCore):
    """Breaks Figure 13 step 6: throws away the whole log on InstallSnapshot, even
    the entries after the snapshot that it already holds and acknowledged."""

    def _log_survives_snapshot(self, meta: SnapshotMeta) -> bool:
        return False


class SnapshotLosesLastTerm(RaftCore):
    """Breaks §7: records its snapshots without their last included term."""

    def _snapshot_meta(self, index: int) -> SnapshotMeta:
        return replace(super()._snapshot_meta(index), term=0)


class HeartbeatsOnEveryAnswer(RaftCore):
    """Breaks the heartbeat timer: answers each heartbeat answer with a new
    round to every follower, a storm that grows with every round (caught by
    the seed's message budget: it breaks no safety rule, and without the
    budget the seed would never end)."""

    def _handle_heartbeat_response(self, m: HeartbeatResponse) -> None:
        super()._handle_heartbeat_response(m)
        if self.role is Role.LEADER:
            self._broadcast_heartbeat()


MUTANTS = (
    VotesWithoutUpToDateCheck,
    CommitsEarlierTermByCounting,
    KeepsConflictingEntries,
    AnswersVoteBeforePersisting,
    GrantsTwoVotesPerTerm,
    ReadIndexWithoutConfirmation,
    LeaseReadAfterExpiry,
    TwoMembershipChangesPending,
    MembershipChangeBeforeOwnTermCommit,
    InstallSnapshotDiscardsMatchingLog,
    SnapshotLosesLastTerm,
)
# HeartbeatsOnEveryAnswer breaks no safety rule: test_mutations.py shows the
# seed's budget catching it (at the default budget it costs 17 s of CPU).
