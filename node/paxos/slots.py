"""A Paxos node's log as its drivers read it: the acceptor's slots, how far
they are known chosen (contiguously), applied and compacted, in the words
of node.log.RaftLog (commit_index, applied_index, snapshot_index,
last_index, term_at, window), so that the server, the admin plane, the
simulator and `raftctl inspect log` read either protocol's log alike.

Rules:
- A slot's "term" is the ballot its proposal was accepted under (in its
  one-integer form, node.paxos.ballot); a hole is term 0 (node.paxos.durable).
- commit_index is the highest slot such that every slot up to it is known
  chosen here; a node learns a slot chosen only where its own acceptor holds
  the value chosen there (node.paxos.core), so the entries to apply are read
  from the acceptor.
- Pure: no I/O.
"""

from __future__ import annotations

from node.errors import invariant
from node.messages import Entry
from node.paxos.acceptor import Acceptor
from node.paxos.durable import HOLE, entry_of

__all__ = ["ChosenLog"]


class ChosenLog:
    def __init__(
        self, acceptor: Acceptor, snapshot_index: int, snapshot_term: int, commit_index: int
    ) -> None:
        self.acceptor = acceptor
        self.snapshot_index = snapshot_index
        self.snapshot_term = snapshot_term
        self.commit_index = max(commit_index, snapshot_index)
        self.applied_index = snapshot_index
        # The highest slot handed to storage: the next batch starts at or before it.
        self.handed_last = max(acceptor.last_slot, snapshot_index)

    @property
    def last_index(self) -> int:
        return max(self.acceptor.last_slot, self.snapshot_index, self.commit_index)

    @property
    def last_term(self) -> int:
        return self.term_at(self.last_index) or 0

    def term_at(self, index: int) -> int | None:
        """The ballot slot `index` was accepted under (HOLE if never), or None
        where the log no longer (or not yet) reaches."""
        if index == self.snapshot_index:
            return self.snapshot_term
        if index < self.snapshot_index or index > self.last_index:
            return None
        proposal = self.acceptor.accepted.get(index)
        return HOLE if proposal is None else proposal.ballot.encode()

    def entry(self, index: int) -> Entry:
        return entry_of(index, self.acceptor.accepted.get(index))

    def window(self, first_index: int, count: int) -> tuple[int, list[Entry]]:
        """Up to `count` slots from `first_index` on, as far as the log holds
        them (never before the snapshot): (the first slot shown, entries)."""
        first = max(first_index, self.snapshot_index + 1)
        last = min(self.last_index, first + max(0, count) - 1)
        return first, self.entries_between(first, last)

    def entries_between(self, first: int, last: int) -> list[Entry]:
        """Slots first..last inclusive (both within the log)."""
        return [self.entry(index) for index in range(first, last + 1)]

    def all_entries(self) -> list[Entry]:
        """Every slot after the snapshot (for tests and the simulator)."""
        return self.entries_between(self.snapshot_index + 1, self.last_index)

    def entries_to_apply(self) -> list[Entry]:
        entries = []
        for slot in range(self.applied_index + 1, self.commit_index + 1):
            proposal = self.acceptor.accepted.get(slot)
            invariant(proposal is not None, "a chosen slot the acceptor does not hold", slot=slot)
            entries.append(entry_of(slot, proposal))
        return entries

    def applied_to(self, index: int) -> None:
        invariant(
            self.applied_index <= index <= self.commit_index,
            "applied index out of order",
            applied_index=self.applied_index,
            index=index,
            commit_index=self.commit_index,
        )
        self.applied_index = index

    def compact_to(self, index: int, term: int) -> None:
        self.snapshot_index, self.snapshot_term = index, term
        self.acceptor.compact(index)

    def restore(self, index: int, term: int) -> None:
        """A snapshot from another node replaced everything up to `index`."""
        self.compact_to(index, term)
        self.commit_index = max(self.commit_index, index)
        self.applied_index = max(self.applied_index, index)
