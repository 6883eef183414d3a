"""How an acceptor's promises live in node.storage, unchanged: its promise in
the hard state, its accepted proposals as the WAL's entries, one per slot.

Rules:
- The promised ballot is the hard state's term (its one-integer form,
  node.paxos.ballot), so storage syncs it as it syncs a Raft vote; the
  commit index is the highest slot known chosen, contiguously.
- An entry is a slot: its index the slot, its term the accepted ballot, its
  kind NOOP for a no-op (CONFIG for a membership), and a slot never accepted (a hole before a later
  one) is an entry of term 0 (HOLE).
- The WAL replaces every stored entry from the first one a batch writes, as
  a Raft follower's conflict truncation needs. An acceptor must never lose
  what it accepted, so a batch runs from its lowest changed slot (or the
  first slot past what is stored, if lower) to its highest accepted one:
  the tail after a re-accepted slot is written again, never cut.
"""

from __future__ import annotations

from collections.abc import Iterable

from node.messages import Entry, EntryKind
from node.paxos.acceptor import Acceptor, Proposal
from node.paxos.ballot import Ballot
from node.ready import HardState

__all__ = ["HOLE", "entries_to_persist", "entry_of", "hard_state_of", "recover_acceptor"]

HOLE = 0  # the term of a slot never accepted: below every ballot (ballot 0.0 is no one's)


def entries_to_persist(acceptor: Acceptor, stored_last: int) -> tuple[Entry, ...]:
    """The batch that makes the acceptor's changed slots durable, given that
    storage holds slots up to `stored_last` (the module's rules)."""
    if not acceptor.slots_dirty:
        return ()
    first = max(min(min(acceptor.slots_dirty), stored_last + 1), acceptor.compacted_to + 1)
    last = acceptor.last_slot
    return tuple(entry_of(slot, acceptor.accepted.get(slot)) for slot in range(first, last + 1))


def hard_state_of(acceptor: Acceptor, chosen_index: int) -> HardState:
    return HardState(term=acceptor.promised.encode(), vote=None, commit_index=chosen_index)


def recover_acceptor(
    hard_state: HardState, entries: Iterable[Entry], compacted_to: int = 0
) -> Acceptor:
    """The acceptor storage held: its promise and every slot it accepted."""
    accepted = {
        entry.index: Proposal(
            Ballot.decode(entry.term),
            None if entry.kind == EntryKind.NOOP else entry.data,
            entry.kind == EntryKind.CONFIG,
        )
        for entry in entries
        if entry.term != HOLE and entry.index > compacted_to
    }
    return Acceptor(Ballot.decode(hard_state.term), accepted, compacted_to)


def entry_of(slot: int, proposal: Proposal | None) -> Entry:
    """Slot `slot` as a log entry (the module's rules)."""
    if proposal is None:
        return Entry(slot, HOLE, EntryKind.NOOP)
    if proposal.value is None:
        return Entry(slot, proposal.ballot.encode(), EntryKind.NOOP)
    kind = EntryKind.CONFIG if proposal.config else EntryKind.COMMAND
    return Entry(slot, proposal.ballot.encode(), kind, proposal.value)
