"""RaftLog: the in-memory log of one node, with its commit and apply marks.

Rules:
- entries[i] has log position snapshot_index + 1 + i (positions start at 1).
- Invariant: applied_index <= commit_index <= last_index.
- Entries below `unstable_from` are durable in storage; entries from
  `unstable_from` to `handed_from - 1` are handed to storage (a Ready holds
  them) but not yet durable; entries from `handed_from` on still have to be
  handed out. A truncation or a snapshot moves both marks back.
- Committed entries are never truncated (Raft §5.4.1); trying is a bug.
- Compacted entries are let go a batch per tick (`release_compacted`):
  freeing 100,000 of them at once held a node's loop for about 8 ms.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from node.errors import invariant
from node.messages import Entry

__all__ = ["RELEASE_PER_TICK", "RaftLog"]

# Compacted entries freed per tick: about a quarter of a millisecond's work.
RELEASE_PER_TICK = 4096


def _entry_term(entry: Entry) -> int:
    return entry.term


class RaftLog:
    """The log of one node: durable prefix, unstable tail, commit and apply marks."""

    __slots__ = (
        "_compacted",
        "_entries",
        "applied_index",
        "commit_index",
        "handed_from",
        "snapshot_index",
        "snapshot_term",
        "unstable_from",
    )

    def __init__(
        self,
        entries: Sequence[Entry] = (),
        snapshot_index: int = 0,
        snapshot_term: int = 0,
        commit_index: int = 0,
    ) -> None:
        self._entries: list[Entry] = list(entries)
        self._compacted: list[list[Entry]] = []  # still to be freed
        self.snapshot_index = snapshot_index
        self.snapshot_term = snapshot_term
        for offset, entry in enumerate(self._entries):
            invariant(
                entry.index == snapshot_index + 1 + offset,
                "restored log is not contiguous",
                expected=snapshot_index + 1 + offset,
                found=entry.index,
            )
        # Everything handed in at construction comes from storage: durable.
        self.unstable_from = self.last_index + 1
        self.handed_from = self.unstable_from
        # Invariant: applied_index <= commit_index <= last_index.
        self.commit_index = max(snapshot_index, min(commit_index, self.last_index))
        self.applied_index = snapshot_index

    # -- reading ------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return self.snapshot_index + len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self.snapshot_term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at `index`; None when compacted away or absent."""
        if index == self.snapshot_index:
            return self.snapshot_term
        offset = index - self.snapshot_index - 1
        if 0 <= offset < len(self._entries):
            return self._entries[offset].term
        return None

    def matches(self, index: int, term: int) -> bool:
        """True when the log holds an entry at `index` with `term` (Raft §5.3)."""
        return self.term_at(index) == term

    def entry(self, index: int) -> Entry:
        return self._entries[index - self.snapshot_index - 1]

    def entries_between(self, first: int, last: int) -> list[Entry]:
        """Entries first..last inclusive (both within the log)."""
        base = self.snapshot_index + 1
        return self._entries[first - base : last - base + 1]

    def entries_for_message(
        self, first: int, count_max: int, bytes_max: int
    ) -> tuple[list[Entry], int]:
        """At most `count_max` entries from `first`, cut at `bytes_max` of payload
        (at least one entry when there is one), and their payload size in bytes."""
        base = self.snapshot_index + 1
        batch = self._entries[first - base : first - base + count_max]
        total_bytes = 0
        for position, entry in enumerate(batch):
            size = len(entry.data)
            if total_bytes + size > bytes_max and position > 0:
                return batch[:position], total_bytes
            total_bytes += size
        return batch, total_bytes

    def window(self, first_index: int, count: int) -> tuple[int, list[Entry]]:
        """Up to `count` entries from `first_index` on, as far as the log holds
        them (never before the snapshot): (the first index shown, entries)."""
        first = max(first_index, self.snapshot_index + 1)
        last = min(self.last_index, first + max(0, count) - 1)
        return first, self.entries_between(first, last) if first <= last else []

    def all_entries(self) -> list[Entry]:
        """A copy of every entry after the snapshot (for tests and the simulator)."""
        return list(self._entries)

    def is_up_to_date(self, last_log_term: int, last_log_index: int) -> bool:
        """True when a log ending at (last_log_term, last_log_index) is at least as
        up to date as this one: a later last term wins, then a longer log (Raft §5.4.1)."""
        if last_log_term != self.last_term:
            return last_log_term > self.last_term
        return last_log_index >= self.last_index

    def first_index_of_term_at(self, index: int) -> int:
        """The first index of the run of entries that share the term at `index`
        (never below snapshot_index + 1): the follower's conflict hint."""
        term = self.term_at(index)
        if term is None:
            raise AssertionError(
                f"no entry at {index} (log {self.snapshot_index}..{self.last_index})"
            )
        # Terms never decrease along the log, so the run starts where the
        # first entry of `term` sits.
        position = bisect_left(self._entries, term, 0, index - self.snapshot_index, key=_entry_term)
        return self.snapshot_index + 1 + position

    def last_index_of_term(self, term: int, at_most: int) -> int | None:
        """The last index <= `at_most` whose entry has `term`; None if there is none."""
        limit = min(at_most, self.last_index) - self.snapshot_index
        if limit <= 0:
            return None
        position = bisect_right(self._entries, term, 0, limit, key=_entry_term)
        if position == 0 or self._entries[position - 1].term != term:
            return None
        return self.snapshot_index + position

    def conflict_hint(self, index: int) -> tuple[int, int]:
        """A follower's answer to a rejected prev_log_index `index`: the term it
        holds there (0 when its log is shorter) and the first index of that
        term's run (or its next index), so that the leader can skip a whole
        conflicting term per round trip (dissertation §5.3 optimisation)."""
        if index > self.last_index:
            return 0, self.last_index + 1
        return self.term_at(index) or 0, self.first_index_of_term_at(index)

    def resume_after_conflict(self, conflict_term: int, conflict_index: int, rejected: int) -> int:
        """The leader's side of the hint: if this log holds entries of the
        follower's conflicting term, resume after its last one (at most
        `rejected`); otherwise at the first index the follower holds of it."""
        if conflict_term:
            ours = self.last_index_of_term(conflict_term, at_most=rejected)
            if ours is not None:
                return ours + 1
        return max(conflict_index, 1)

    # -- writing ------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        """Append entries that start right after the last one."""
        if not entries:
            return
        invariant(
            entries[0].index == self.last_index + 1,
            "append leaves a gap",
            last_index=self.last_index,
            first_new=entries[0].index,
        )
        self._entries.extend(entries)

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """The index of the first entry of `entries` that this log lacks or holds
        with another term; 0 when the log already holds all of them."""
        for entry in entries:
            if self.term_at(entry.index) != entry.term:
                return entry.index
        return 0

    def truncate_from(self, index: int) -> int:
        """Remove the entries at `index` and after; return how many went."""
        invariant(
            index > self.commit_index,
            "truncating committed entries",
            index=index,
            commit_index=self.commit_index,
        )
        removed = self.last_index - index + 1
        if removed > 0:
            del self._entries[index - self.snapshot_index - 1 :]
            self.unstable_from = min(self.unstable_from, index)
            self.handed_from = min(self.handed_from, index)
        return max(removed, 0)

    def commit_to(self, index: int) -> bool:
        """Raise the commit index to `index` (never lowers it); True if it moved."""
        if index <= self.commit_index:
            return False
        invariant(
            index <= self.last_index,
            "commit beyond the log",
            index=index,
            last_index=self.last_index,
        )
        self.commit_index = index
        return True

    # -- snapshots (Raft §7) --------------------------------------------------

    def compact_to(self, index: int, term: int) -> None:
        """Forget the entries up to `index` (of `term`), which a snapshot now holds."""
        invariant(
            self.snapshot_index < index <= self.applied_index and index < self.unstable_from,
            "compacting beyond what is applied and durable",
            index=index,
            snapshot_index=self.snapshot_index,
            applied_index=self.applied_index,
            unstable_from=self.unstable_from,
        )
        self._drop_before(index - self.snapshot_index)
        self.snapshot_index, self.snapshot_term = index, term

    def _drop_before(self, offset: int) -> None:
        """Forget entries[:offset] now and free them later (a copy of what is
        kept is cheap: it is what follows the applied index)."""
        dropped, self._entries = self._entries, self._entries[offset:]
        del dropped[offset:]
        if dropped:
            self._compacted.append(dropped)

    def release_compacted(self, limit: int = RELEASE_PER_TICK) -> None:
        """Free up to `limit` of the entries that compaction dropped."""
        while limit > 0 and self._compacted:
            batch = self._compacted[-1]
            count = min(limit, len(batch))
            del batch[len(batch) - count :]
            limit -= count
            if not batch:
                self._compacted.pop()

    def restore(self, index: int, term: int) -> None:
        """Replace the whole log by a snapshot at (index, term) from the leader;
        the state machine is restored from it, so it counts as applied."""
        invariant(
            index > self.commit_index,
            "restoring a snapshot older than the commit index",
            index=index,
            commit_index=self.commit_index,
        )
        self._drop_before(len(self._entries))
        self.snapshot_index, self.snapshot_term = index, term
        self.commit_index = self.applied_index = index
        self.unstable_from = self.handed_from = index + 1

    # -- the Ready / advance hand-off -------------------------------------

    def durable_last(self) -> tuple[int, int]:
        """The index and term of the last entry storage holds."""
        index = self.unstable_from - 1
        return index, self.term_at(index) or 0

    def entries_to_hand(self) -> list[Entry]:
        """The entries no Ready has handed to storage yet."""
        return self._entries[self.handed_from - self.snapshot_index - 1 :]

    def handed_to(self, index: int) -> None:
        """A Ready handed storage every entry up to `index`."""
        self.handed_from = max(self.handed_from, index + 1)

    def stable_to(self, index: int, term: int) -> bool:
        """Storage made the entries up to `index` (of `term`) durable; True when
        that moved the durable mark. A write that finished after the log was
        truncated there (a new leader's entries arrived while it was on its
        way) proves nothing about the entries now in its place: the term tells."""
        if index < self.unstable_from or self.term_at(index) != term:
            return False
        self.unstable_from = index + 1
        self.handed_from = max(self.handed_from, self.unstable_from)
        return True

    def entries_to_apply(self) -> list[Entry]:
        return self.entries_between(self.applied_index + 1, self.commit_index)

    def applied_to(self, index: int) -> None:
        invariant(
            self.applied_index <= index <= self.commit_index,
            "applied index out of order",
            applied_index=self.applied_index,
            index=index,
            commit_index=self.commit_index,
        )
        self.applied_index = index
