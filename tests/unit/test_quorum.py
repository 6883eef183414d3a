"""Quorum arithmetic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from node.quorum import VoteResult, committed_index, majority, vote_result


def test_majority() -> None:
    assert [majority(n) for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]


def test_committed_index_is_the_quorum_median() -> None:
    voters = ["a", "b", "c", "d", "e"]
    assert committed_index({"a": 9, "b": 7, "c": 5, "d": 3, "e": 1}, voters) == 5
    assert committed_index({"a": 9, "b": 9}, voters) == 0  # missing voters match nothing
    assert committed_index({"a": 4}, ["a"]) == 4


@given(st.lists(st.integers(0, 100), min_size=1, max_size=9))
def test_committed_index_is_held_by_a_majority(matches: list[int]) -> None:
    voters = [f"n{i}" for i in range(len(matches))]
    index = committed_index(dict(zip(voters, matches, strict=True)), voters)
    assert sum(1 for m in matches if m >= index) >= majority(len(voters))
    assert sum(1 for m in matches if m > index) < majority(len(voters))


def test_vote_result() -> None:
    voters = ["a", "b", "c"]
    assert vote_result({"a": True}, voters) is VoteResult.PENDING
    assert vote_result({"a": True, "b": True}, voters) is VoteResult.WON
    assert vote_result({"a": True, "b": False}, voters) is VoteResult.PENDING
    assert vote_result({"a": True, "b": False, "c": False}, voters) is VoteResult.LOST
    assert vote_result({"x": True, "y": True}, voters) is VoteResult.PENDING  # non-voters
