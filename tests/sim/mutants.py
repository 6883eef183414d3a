"""Broken cores: each breaks exactly one rule of Raft by overriding exactly one
method of RaftCore (raft.py Rule 3). test_mutations.py asserts that the swarm
catches every one; a mutant it cannot catch means the simulation is too weak."""

from __future__ import annotations

from node.messages import AppendEntries, RequestVote, RequestVoteResponse
from node.raft import RaftCore


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


MUTANTS = (
    VotesWithoutUpToDateCheck,
    CommitsEarlierTermByCounting,
    KeepsConflictingEntries,
    AnswersVoteBeforePersisting,
    GrantsTwoVotesPerTerm,
)
