"""The new leader's recovery and phase 2's count (node.paxos.proposer): the
highest-ballot proposal of each slot is proposed again and holes become
no-ops; a slot is chosen by a majority of distinct acceptors under the
leader's own ballot. With real acceptors (node.paxos.acceptor), a value
chosen once stays chosen whatever a later leader's majority is."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from node.paxos.acceptor import Acceptor, Promised, Proposal, Took
from node.paxos.ballot import Ballot
from node.paxos.proposer import HOLE_FILLER, Tally, majority, recover

B1, B2, B3 = Ballot(1, 1), Ballot(2, 2), Ballot(3, 3)


def test_recovery_keeps_the_highest_ballot_of_each_slot_and_fills_holes() -> None:
    promises = [
        Promised(B3, ((2, Proposal(B1, b"old")), (4, Proposal(B1, b"d")))),
        Promised(B3, ((2, Proposal(B2, b"new")),)),
        Promised(B3, ()),
    ]
    new, d = Proposal(B2, b"new"), Proposal(B1, b"d")
    assert recover(promises, 2) == {2: new, 3: HOLE_FILLER, 4: d}
    assert recover(promises, 5) == {}
    assert recover(promises, 3) == {3: HOLE_FILLER, 4: d}
    assert HOLE_FILLER.value is None


def test_a_slot_is_chosen_by_a_majority_of_distinct_voters_under_the_ballot() -> None:
    voters = ("n1", "n2", "n3", "n4", "n5")
    tally = Tally(B2)
    tally.count("n1", B2, 7)
    tally.count("n1", B2, 7)  # a duplicate counts once
    tally.count("n2", B1, 7)  # an older ballot's answer does not count
    tally.count("n6", B2, 7)  # nor a learner's
    assert not tally.chosen(7, voters)
    tally.count("n2", B2, 7)
    assert not tally.chosen(7, voters)
    tally.count("n3", B2, 7)
    assert tally.chosen(7, voters) and not tally.chosen(8, voters)
    assert not tally.chosen(7, ("n4", "n5", "n6", "n7"))  # another configuration's majority
    tally.forget_through(7)
    assert not tally.took and not tally.chosen(7, ())
    assert majority(5) == 3 and majority(4) == 3


ROUNDS = st.lists(
    st.tuples(
        st.integers(0, 4),  # the leader
        st.sets(st.integers(0, 4), min_size=3),  # the majority that hears its prepare
        st.sets(st.integers(0, 4), min_size=1),  # the acceptors its accept reaches
    ),
    max_size=6,
)


@settings(deadline=None, max_examples=200)
@given(ROUNDS)
def test_a_chosen_value_survives_every_later_leader(
    rounds: list[tuple[int, set[int], set[int]]],
) -> None:
    """Leaders one after another, each with a ballot above the last: it runs
    phase 1 with some majority, proposes what recovery says (or its own
    value), and only the acceptors in its `reach` take it. Once a value is
    chosen in slot 1, every later chosen value there is the same."""
    acceptors = [Acceptor() for _ in range(5)]
    chosen: bytes | None = None
    for number, (leader, heard, reach) in enumerate(rounds, start=1):
        ballot = Ballot(number, leader + 1)
        promises = [acceptors[index].prepare(ballot, 1) for index in sorted(heard)]
        quorum = [p for p in promises if isinstance(p, Promised)]
        recovered = recover(quorum, 1).get(1)
        value = recovered.value if recovered else f"v{number}".encode()
        tally = Tally(ballot)
        voters = [f"n{index}" for index in range(5)]
        said = False
        for index in sorted(reach):
            answer = acceptors[index].accept(ballot, 1, value)
            if isinstance(answer, Took):
                tally.count(f"n{index}", ballot, 1)
            if tally.chosen(1, voters) and not said:
                said = True
                assert chosen in (None, value), f"slot 1 chose {chosen!r}, then {value!r}"
                chosen = value


def test_every_majority_of_five_meets_every_other() -> None:
    majorities = [set(c) for c in itertools.combinations(range(5), majority(5))]
    assert all(a & b for a in majorities for b in majorities)
