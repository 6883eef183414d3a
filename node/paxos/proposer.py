"""The distinguished proposer's two pure steps around the acceptors' rules
(node.paxos.acceptor): what a new leader must propose after phase 1, and
when phase 2 has chosen a slot's value.

Rules:
- Phase 1 ends with promises from a majority of acceptors. For every slot
  from the first one the leader does not know chosen up to the highest any
  promise reports, the leader must propose the value of the highest-ballot
  proposal any of them accepted there (it may have been chosen: Paxos's
  safety rests on this), and a no-op where none accepted anything (a hole:
  the log must not wait for it forever).
- A slot's value is chosen once a majority of the voters took it under one
  ballot; answers are counted once per acceptor (duplicates happen), and
  only for the ballot the leader proposes under now; an acceptor that is no
  voter there (a learner, a removed node) does not count.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from node.paxos.acceptor import Promised, Proposal
from node.paxos.ballot import ZERO, Ballot

__all__ = ["HOLE_FILLER", "Tally", "majority", "recover"]

# What a new leader proposes in a slot no promise reports: a no-op, so that
# the log does not wait for the hole forever.
HOLE_FILLER = Proposal(ZERO, None)


def majority(acceptors: int) -> int:
    return acceptors // 2 + 1


def recover(promises: Iterable[Promised], from_slot: int) -> dict[int, Proposal]:
    """What the new leader proposes again in each slot from `from_slot` (under
    its own ballot): the highest-ballot proposal the promises report there,
    else HOLE_FILLER."""
    highest: dict[int, Proposal] = {}
    for promise in promises:
        for slot, proposal in promise.accepted:
            if slot < from_slot:
                continue
            known = highest.get(slot)
            if known is None or proposal.ballot > known.ballot:
                highest[slot] = proposal
    if not highest:
        return {}
    last = max(highest)
    return {slot: highest.get(slot, HOLE_FILLER) for slot in range(from_slot, last + 1)}


@dataclass(slots=True)
class Tally:
    """Phase 2's count under one ballot: which acceptors took which slot. A
    slot is chosen when a majority of the voters in force there took it (the
    voters may change along the log: node.paxos.core)."""

    ballot: Ballot
    took: dict[int, set[str]] = field(default_factory=dict)

    def count(self, acceptor: str, ballot: Ballot, slot: int) -> None:
        """`acceptor` took `slot` under `ballot` (another ballot's answer does
        not count; a duplicate counts once)."""
        if ballot == self.ballot:
            self.took.setdefault(slot, set()).add(acceptor)

    def chosen(self, slot: int, voters: Collection[str]) -> bool:
        took = self.took.get(slot, set())
        return len(took.intersection(voters)) >= majority(len(voters)) > 0

    def forget_through(self, slot: int) -> None:
        """Slots at or below `slot` are known chosen: their counts are done."""
        for done in [s for s in self.took if s <= slot]:
            del self.took[done]
