"""A proposal on the wire (node.messages.paxos.PaxosSlot) and back."""

from __future__ import annotations

from node.messages.paxos import PaxosSlot
from node.paxos.acceptor import Proposal
from node.paxos.ballot import Ballot

__all__ = ["proposal_from_wire", "proposal_to_wire"]


def proposal_to_wire(slot: int, proposal: Proposal) -> PaxosSlot:
    value = proposal.value
    return PaxosSlot(slot, proposal.ballot.encode(), value is None, value or b"", proposal.config)


def proposal_from_wire(wire: PaxosSlot) -> tuple[int, Proposal]:
    value = None if wire.noop else wire.value
    return wire.slot, Proposal(Ballot.decode(wire.ballot), value, wire.config)
