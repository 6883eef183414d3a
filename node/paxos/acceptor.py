"""The acceptor's two rules, over the slots of the log (Lamport's "Paxos
Made Simple", run once for all slots by a stable leader: Multi-Paxos).

Rules:
- Prepare(b, from slot s): if b is not below the ballot promised, promise b
  (never to accept below it again) and report, for every slot from s, the
  highest-ballot proposal accepted there; otherwise refuse, naming the
  ballot promised, so that the proposer can pick a higher one.
- Accept(b, slot, value): if b is not below the ballot promised, accept it
  (the promise becomes b) and say so; otherwise refuse, naming the promise.
- Both answers are promises: the driver makes `promised` and the accepted
  slots durable before it sends them (`dirty`, then `clean`). An acceptor
  that forgot its promise after a crash could accept below it, and two
  values could be chosen for one slot.
- Slots at or below a snapshot are forgotten (`compact`): whatever was
  chosen there is in the state machine's snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.paxos.ballot import ZERO, Ballot

__all__ = ["Acceptor", "Promised", "Proposal", "Refused", "Took"]


@dataclass(frozen=True, slots=True)
class Proposal:
    """A value accepted in a slot under a ballot (None: a no-op, which a new
    leader proposes for a hole in the log; `config`: the value is a
    membership, node.messages.encode_membership)."""

    ballot: Ballot
    value: bytes | None
    config: bool = False


@dataclass(frozen=True, slots=True)
class Promised:
    """The answer to a prepare: the ballot promised, and what was accepted
    from the asked slot on (the highest-ballot proposal of each slot)."""

    ballot: Ballot
    accepted: tuple[tuple[int, Proposal], ...]


@dataclass(frozen=True, slots=True)
class Took:
    """The answer to an accept: the slot's value is accepted under `ballot`."""

    ballot: Ballot
    slot: int


@dataclass(frozen=True, slots=True)
class Refused:
    """A prepare or accept below the promise: here is the ballot promised."""

    promised: Ballot


@dataclass(slots=True)
class Acceptor:
    promised: Ballot = ZERO
    accepted: dict[int, Proposal] = field(default_factory=dict)
    compacted_to: int = 0  # slots at or below it are in the snapshot
    # What changed since the driver last made it durable.
    promise_dirty: bool = False
    slots_dirty: set[int] = field(default_factory=set)
    # The highest slot ever accepted (kept, not searched: the log's end is
    # asked for on every step).
    last_slot: int = 0

    def __post_init__(self) -> None:
        self.last_slot = max(self.last_slot, max(self.accepted, default=0))

    def prepare(self, ballot: Ballot, from_slot: int) -> Promised | Refused:
        if not self._promise(ballot):
            return Refused(self.promised)
        reported = tuple(
            (slot, proposal)
            for slot, proposal in sorted(self.accepted.items())
            if slot >= from_slot
        )
        return Promised(ballot, reported)

    def accept(
        self, ballot: Ballot, slot: int, value: bytes | None, config: bool = False
    ) -> Took | Refused:
        if not self._promise(ballot):
            return Refused(self.promised)
        proposal = Proposal(ballot, value, config)
        if slot > self.compacted_to and self.accepted.get(slot) != proposal:
            self.accepted[slot] = proposal
            self.slots_dirty.add(slot)
            self.last_slot = max(self.last_slot, slot)
        return Took(ballot, slot)

    def follow(self, ballot: Ballot) -> None:
        """A leader's heartbeat under `ballot`, not below the promise: promise
        it (the answer tells the leader no lower ballot is accepted here)."""
        self._promise(ballot)

    def _promise(self, ballot: Ballot) -> bool:
        """Promise `ballot` unless it is below the promise (False: it is)."""
        if self._below(ballot, self.promised):
            return False
        if self._below(self.promised, ballot):
            self.promised = ballot
            self.promise_dirty = True
        return True

    def _below(self, low: Ballot, high: Ballot) -> bool:
        """The ballot order, round then node: the one rule every answer rests on."""
        return low < high

    def compact(self, through_slot: int) -> None:
        """Forget the slots a snapshot covers."""
        self.compacted_to = max(self.compacted_to, through_slot)
        for slot in [s for s in self.accepted if s <= through_slot]:
            del self.accepted[slot]
        self.slots_dirty = {s for s in self.slots_dirty if s > through_slot}

    @property
    def dirty(self) -> bool:
        return self.promise_dirty or bool(self.slots_dirty)

    def clean(self) -> None:
        """The driver made the promise and the accepted slots durable."""
        self.promise_dirty = False
        self.slots_dirty.clear()
