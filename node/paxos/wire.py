"""A proposal on the wire (node.messages.paxos.PaxosSlot) and back."""

from __future__ import annotations

from node.messages.paxos import PaxosSlot
from node.paxos.acceptor import Proposal
from node.paxos.ballot import Ballot

__all__ = ["proposal_from_wire", "proposal_to_wire"]


def proposal_to_wire(slot: int, proposal: Proposal, ballot: Ballot | None = None) -> PaxosSlot:
    """`proposal` in `slot`, under `ballot` when given (a leader sends a slot it
    knows chosen again under its own: the value is the same)."""
    value = proposal.value
    encoded = (ballot or proposal.ballot).encode()
    return PaxosSlot(slot, encoded, value is None, value or b"", proposal.config)


def proposal_from_wire(wire: PaxosSlot) -> tuple[int, Proposal]:
    value = None if wire.noop else wire.value
    return wire.slot, Proposal(Ballot.decode(wire.ballot), value, wire.config)
