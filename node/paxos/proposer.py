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
- A slot's value is chosen once a majority of acceptors took it under one
  ballot; answers are counted once per acceptor (duplicates happen), and
  only for the ballot the leader proposes under now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from node.paxos.acceptor import Promised, Proposal
from node.paxos.ballot import Ballot

__all__ = ["NOOP", "Tally", "majority", "recover"]

NOOP: bytes | None = None  # a hole filled with nothing to apply


def majority(acceptors: int) -> int:
    return acceptors // 2 + 1


def recover(promises: Iterable[Promised], from_slot: int) -> dict[int, bytes | None]:
    """What the new leader proposes in each slot from `from_slot`: the value
    of the highest-ballot proposal the promises report there, else NOOP."""
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
    return {
        slot: highest[slot].value if slot in highest else NOOP
        for slot in range(from_slot, last + 1)
    }


@dataclass(slots=True)
class Tally:
    """Phase 2's count under one ballot: which acceptors took which slot."""

    ballot: Ballot
    acceptors: int  # how many there are (a majority of them chooses)
    took: dict[int, set[str]] = field(default_factory=dict)
    chosen: set[int] = field(default_factory=set)

    def count(self, acceptor: str, ballot: Ballot, slot: int) -> bool:
        """`acceptor` took `slot` under `ballot`: True when that chooses it."""
        if ballot != self.ballot or slot in self.chosen:
            return False
        voters = self.took.setdefault(slot, set())
        voters.add(acceptor)
        if len(voters) < majority(self.acceptors):
            return False
        self.chosen.add(slot)
        del self.took[slot]
        return True
