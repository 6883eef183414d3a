"""The acceptor's rules (node.paxos.acceptor) and ballots (node.paxos.ballot):
a promise is never broken, a prepare learns the highest accepted proposal of
every slot it asks for, ballots are ordered by round and then by node, and
what must be durable before an answer is said to be; proposals cross the
wire intact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.messages import decode, encode
from node.messages.paxos import PaxosPromise
from node.paxos.acceptor import Acceptor, Promised, Proposal, Refused, Took
from node.paxos.ballot import NODES, ZERO, Ballot, node_number
from node.paxos.wire import proposal_from_wire, proposal_to_wire

ballots = st.builds(Ballot, st.integers(0, 1000), st.integers(1, 9))


def test_a_prepare_below_the_promise_is_refused_naming_the_promise() -> None:
    acceptor = Acceptor()
    assert acceptor.prepare(Ballot(2, 1), 1) == Promised(Ballot(2, 1), ())
    assert acceptor.prepare(Ballot(1, 3), 1) == Refused(Ballot(2, 1))
    assert acceptor.accept(Ballot(1, 3), 1, b"x") == Refused(Ballot(2, 1))
    assert acceptor.accepted == {}


def test_a_prepare_reports_what_each_slot_accepted_from_the_slot_asked() -> None:
    acceptor = Acceptor()
    assert acceptor.accept(Ballot(1, 1), 1, b"a") == Took(Ballot(1, 1), 1)
    acceptor.accept(Ballot(1, 1), 2, b"b")
    acceptor.accept(Ballot(3, 2), 2, b"c")  # a later leader's proposal replaces it
    promised = acceptor.prepare(Ballot(4, 3), 2)
    assert promised == Promised(Ballot(4, 3), ((2, Proposal(Ballot(3, 2), b"c")),))


def test_an_accept_at_the_promise_is_taken_and_raises_no_promise() -> None:
    acceptor = Acceptor()
    acceptor.prepare(Ballot(5, 2), 1)
    acceptor.clean()
    assert acceptor.accept(Ballot(5, 2), 7, b"v") == Took(Ballot(5, 2), 7)
    assert not acceptor.promise_dirty and acceptor.slots_dirty == {7}
    acceptor.clean()
    acceptor.accept(Ballot(5, 2), 7, b"v")  # the same again (a duplicate): nothing to write
    assert not acceptor.dirty


def test_compaction_forgets_the_slots_a_snapshot_covers() -> None:
    acceptor = Acceptor()
    for slot in (1, 2, 3):
        acceptor.accept(Ballot(1, 1), slot, b"v")
    acceptor.compact(2)
    assert set(acceptor.accepted) == {3} and acceptor.slots_dirty == {3}
    acceptor.accept(Ballot(1, 1), 1, b"late")  # below the snapshot: already decided
    assert set(acceptor.accepted) == {3}


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(st.booleans(), ballots, st.integers(1, 4)), max_size=40))
def test_the_promise_never_goes_down_and_nothing_is_taken_below_it(
    steps: list[tuple[bool, Ballot, int]],
) -> None:
    acceptor = Acceptor()
    for is_prepare, ballot, slot in steps:
        before = acceptor.promised
        answer = (
            acceptor.prepare(ballot, slot) if is_prepare else acceptor.accept(ballot, slot, b"v")
        )
        assert acceptor.promised >= before
        assert isinstance(answer, Refused) == (ballot < before)
        assert all(p.ballot <= acceptor.promised for p in acceptor.accepted.values())


@given(ballots, ballots)
def test_ballots_order_by_round_then_node_and_so_do_their_integers(a: Ballot, b: Ballot) -> None:
    assert (a < b) == ((a.round, a.node) < (b.round, b.node))
    assert (a < b) == (a.encode() < b.encode())
    assert Ballot.decode(a.encode()) == a
    assert a.above(b.node) > a


def test_node_numbers_come_from_the_ids() -> None:
    assert node_number("n3") == 3 and node_number("s2n14") == 14
    assert Ballot(0, 1) > ZERO and Ballot(1, 1).encode() == 1001 and Ballot(5, 2).encode() == 5002
    for bad in ("coord", "n0", f"n{NODES}"):
        with pytest.raises(ValueError, match="Paxos node id"):
            node_number(bad)


@given(
    st.lists(st.tuples(st.integers(1, 50), ballots, st.one_of(st.none(), st.binary(max_size=4))))
)
def test_a_promise_crosses_the_wire_with_every_proposal_intact(
    accepted: list[tuple[int, Ballot, bytes | None]],
) -> None:
    proposals = {slot: Proposal(ballot, value) for slot, ballot, value in accepted}
    message = PaxosPromise(
        "n1", "n2", 7, 7, tuple(proposal_to_wire(s, p) for s, p in sorted(proposals.items()))
    )
    back = decode(encode(message))
    assert back == message
    assert dict(proposal_from_wire(wire) for wire in back.accepted) == proposals
