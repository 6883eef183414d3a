"""Quorum arithmetic as pure functions (etcd-raft's quorum/ in miniature).

Rule: nothing here knows about roles or messages; it only counts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import Enum

__all__ = ["VoteResult", "committed_index", "majority", "quorum_value", "vote_result"]


class VoteResult(Enum):
    """Outcome of an election tally so far."""

    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(voter_count: int) -> int:
    """The smallest number of voters that forms a quorum."""
    return voter_count // 2 + 1


def quorum_value(value_by_id: Mapping[str, int], voters: Collection[str]) -> int:
    """The highest value that a quorum of `voters` has each reached (an index
    matched, a heartbeat round acknowledged, a tick). Missing voters count 0."""
    values = sorted((value_by_id.get(voter, 0) for voter in voters), reverse=True)
    if not values:
        return 0
    return values[majority(len(values)) - 1]


def committed_index(match_by_id: Mapping[str, int], voters: Collection[str]) -> int:
    """The highest index that a quorum of `voters` has durably matched.

    Voters missing from `match_by_id` count as matching nothing.
    """
    return quorum_value(match_by_id, voters)


def vote_result(votes: Mapping[str, bool], voters: Collection[str]) -> VoteResult:
    """WON once a quorum granted, LOST once a quorum can no longer be reached."""
    granted = sum(1 for voter in voters if votes.get(voter) is True)
    refused = sum(1 for voter in voters if votes.get(voter) is False)
    needed = majority(len(voters))
    if granted >= needed:
        return VoteResult.WON
    if len(voters) - refused < needed:
        return VoteResult.LOST
    return VoteResult.PENDING
