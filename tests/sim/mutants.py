"""Broken cores: each breaks exactly one rule of Raft by overriding exactly one
method of RaftCore (raft.py Rule 3). test_mutations.py asserts that the swarm
catches every one; a mutant it cannot catch means the simulation is too weak."""

from __future__ import annotations

from dataclasses import replace

from node.events import EntriesTruncated
from node.messages import (
    AppendEntries,
    HeartbeatResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    SnapshotMeta,
)
from node.raft import RaftCore
from node.ready import Ready, Role


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

    def snapshot_meta(self, index: int) -> SnapshotMeta:
        return replace(super().snapshot_meta(index), term=0)


class HeartbeatsOnEveryAnswer(RaftCore):
    """Breaks the heartbeat timer: answers each heartbeat answer with a new
    round to every follower, a storm that grows with every round (caught by
    the seed's message budget: it breaks no safety rule, and without the
    budget the seed would never end)."""

    def _handle_heartbeat_response(self, m: HeartbeatResponse) -> None:
        super()._handle_heartbeat_response(m)
        if self.role is Role.LEADER:
            self._broadcast_heartbeat()


class CountsOwnEntryBeforeFsync(RaftCore):
    """Breaks the DESIGN.md trap: the leader counts its own copy of an entry
    toward commit as soon as its write is handed to the disk, before the fsync
    (visible only with a latent disk, where answers outrun the leader's write)."""

    def accept(self, rd: Ready) -> None:
        super().accept(rd)
        if rd.entries and self.role is Role.LEADER:
            self._count_own_entries(rd.entries[-1].index)


class CountsOwnVoteBeforePersisting(RaftCore):
    """Breaks Figure 2's persistence rule for the candidate's own vote: counts
    it before it is durable, so with a latent disk a candidate can win, send
    entries of its term, crash, and vote for a rival in that same term."""

    def _tally(self) -> bool:
        if self.role is Role.CANDIDATE:
            self._votes.setdefault(self.id, True)
        return super()._tally()


class TruncationKeepsConfiguration(RaftCore):
    """Breaks §4.1 (DESIGN.md's first trap): truncating a configuration entry
    leaves its configuration in force, though the log no longer holds it."""

    def _truncate(self, index: int, leader_id: str) -> None:
        removed = self.log.truncate_from(index)
        self._emit(EntriesTruncated(index, removed, leader_id))


class CountsStaleVotes(RaftCore):
    """Breaks §5.1 (terms first): a candidate counts a vote granted to it in an
    earlier term, though that voter may have voted for a rival since."""

    def _answer_stale_term(self, m: Message) -> None:
        if isinstance(m, RequestVoteResponse) and not m.pre_vote and self.role is Role.CANDIDATE:
            self._votes[m.src] = m.granted
            self._tally()
            return
        super()._answer_stale_term(m)


class GrantsStaleTermVote(RaftCore):
    """Breaks §5.1: grants a RequestVote of an earlier term to any candidate
    whose log is up to date, as though a vote in a term it has left were
    free; it may well have voted for a rival in that term."""

    def _answer_stale_term(self, m: Message) -> None:
        if isinstance(m, RequestVote) and not m.pre_vote and self._candidate_log_is_up_to_date(m):
            self._reply_vote(RequestVoteResponse(m.term, self.id, m.src, True, False))
            return
        super()._answer_stale_term(m)


class LeaseFromAnswerArrival(RaftCore):
    """Breaks §6.4.1: dates the lease from when a heartbeat's answer arrives,
    not from when the heartbeat was sent, so a late answer stretches it."""

    def _lease_dated_from(self, m: HeartbeatResponse) -> int | None:
        return self._ticks


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
    CountsOwnEntryBeforeFsync,
    TruncationKeepsConfiguration,
    CountsStaleVotes,
    GrantsStaleTermVote,
    LeaseFromAnswerArrival,
)
# Not in MUTANTS: HeartbeatsOnEveryAnswer breaks no safety rule (test_mutations.py
# shows the seed's budget catching it; at the default budget it costs 17 s of
# CPU). CountsOwnVoteBeforePersisting needs a crash inside a slow fsync during a
# split vote: the swarm first catches it at seed 256 of the default swarm, too
# far for CI, so test_paper.py pins the rule it breaks directly.
