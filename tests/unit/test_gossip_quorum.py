"""The quorum's bookkeeping (node.gossip.quorum): distinct answers count,
a duplicate does not, and a request out of time fails with what it got."""

from __future__ import annotations

from node.gossip.quorum import Quorums


def test_w_minus_one_distinct_answers_complete_a_request() -> None:
    quorums = Quorums(timeout_ticks=10)
    quorums.wait(7, 3, tick=0)
    assert not quorums.answered(7, "n2")
    assert not quorums.answered(7, "n2")  # a duplicated ack counts once
    assert quorums.answered(7, "n3")
    assert not quorums.answered(7, "n4")  # already answered: forgotten
    assert quorums.expire(100) == []


def test_a_request_out_of_time_fails_with_what_it_got() -> None:
    quorums = Quorums(timeout_ticks=10)
    quorums.wait(1, 3, tick=0)
    quorums.wait(2, 2, tick=5)
    quorums.answered(1, "n2")
    assert quorums.expire(9) == []
    assert quorums.expire(10) == [(1, "2 of 3 replicas")]
    assert quorums.expire(15) == [(2, "1 of 2 replicas")]
