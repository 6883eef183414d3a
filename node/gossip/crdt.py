"""What a gossip replica stores and how two copies merge: a hybrid logical
clock's stamps, last-writer-wins registers, and an add-wins observed-remove
set (a CRDT). Pure functions and frozen values: no clock is read here, the
core hands in the physical time.

Rules:
- A stamp is (wall_ms, logical, node): the hybrid logical clock of Kulkarni
  et al. Its wall part never runs behind the physical clock of the node that
  stamped it, nor behind any stamp that node had seen; the logical part orders
  stamps of one millisecond; the node id breaks the last tie, so stamps are
  totally ordered and no two writes share one.
- A register's merge keeps the value with the greater stamp (last writer
  wins). Of two concurrent writes, the one stamped earlier is lost, silently
  for the replicas: the chaos checker counts those, as Dynamo's and
  Cassandra's users must.
- A delete is a tombstone: a register with no value, which wins and spreads
  like a write. It may be dropped TOMBSTONE_TTL_MS after its stamp's wall
  time (Cassandra's gc_grace), a bound on how long a replica may stay cut off
  and still come back without resurrecting what was deleted.
- An observed-remove set keeps, per element, the tags of the adds it saw,
  and the tags removes have covered. An element is in the set while one of
  its tags is not removed: a remove takes only the adds its replica had
  seen, so a concurrent add wins. Merging is a union of both: commutative,
  associative and idempotent, so replicas that saw the same operations hold
  the same set, whatever the order, and no acknowledged add is ever lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "TOMBSTONE_TTL_MS",
    "ORSet",
    "Register",
    "Stamp",
    "advance_clock",
    "merge_register",
    "observe_clock",
]

TOMBSTONE_TTL_MS = 10 * 60 * 1000  # ten minutes: longer than any laboratory partition


@dataclass(frozen=True, slots=True, order=True)
class Stamp:
    """A hybrid logical clock reading; ordered by (wall_ms, logical, node)."""

    wall_ms: int
    logical: int
    node: str


def advance_clock(last: Stamp, physical_ms: int) -> Stamp:
    """The stamp for a local event at `physical_ms`, after `last`."""
    if physical_ms > last.wall_ms:
        return Stamp(physical_ms, 0, last.node)
    return Stamp(last.wall_ms, last.logical + 1, last.node)


def observe_clock(last: Stamp, seen: Stamp, physical_ms: int) -> Stamp:
    """The clock after receiving `seen` at `physical_ms`: ahead of both."""
    wall = max(last.wall_ms, seen.wall_ms, physical_ms)
    if wall == last.wall_ms == seen.wall_ms:
        logical = max(last.logical, seen.logical) + 1
    elif wall == last.wall_ms:
        logical = last.logical + 1
    elif wall == seen.wall_ms:
        logical = seen.logical + 1
    else:
        logical = 0
    return Stamp(wall, logical, last.node)


@dataclass(frozen=True, slots=True)
class Register:
    """A key's value as last written (None: deleted, a tombstone)."""

    value: str | None
    stamp: Stamp

    @property
    def deleted(self) -> bool:
        return self.value is None

    def expired(self, physical_ms: int, ttl_ms: int = TOMBSTONE_TTL_MS) -> bool:
        """A tombstone old enough to drop."""
        return self.value is None and physical_ms - self.stamp.wall_ms >= ttl_ms


def merge_register(mine: Register | None, theirs: Register | None) -> Register | None:
    """Last writer wins: the register with the greater stamp."""
    if mine is None:
        return theirs
    if theirs is None or theirs.stamp <= mine.stamp:
        return mine
    return theirs


@dataclass(frozen=True, slots=True)
class ORSet:
    """An add-wins observed-remove set of strings."""

    adds: Mapping[str, frozenset[Stamp]] = field(default_factory=dict)
    removed: frozenset[Stamp] = frozenset()

    @property
    def elements(self) -> frozenset[str]:
        return frozenset(e for e, tags in self.adds.items() if not tags <= self.removed)

    def add(self, element: str, tag: Stamp) -> ORSet:
        adds = dict(self.adds)
        adds[element] = adds.get(element, frozenset()) | {tag}
        return ORSet(adds, self.removed)

    def remove(self, element: str) -> ORSet:
        """Cover the adds of `element` this replica has seen (not later ones)."""
        return ORSet(self.adds, self.removed | self.adds.get(element, frozenset()))

    def merge(self, other: ORSet) -> ORSet:
        adds = dict(self.adds)
        for element, tags in other.adds.items():
            adds[element] = adds.get(element, frozenset()) | tags
        return ORSet(adds, self.removed | other.removed)

    def canonical(self) -> tuple[tuple[tuple[str, tuple[Stamp, ...]], ...], tuple[Stamp, ...]]:
        """The same state always in the same shape (for digests and equality)."""
        adds = tuple((e, tuple(sorted(tags))) for e, tags in sorted(self.adds.items()))
        return adds, tuple(sorted(self.removed))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ORSet) and self.canonical() == other.canonical()

    def __hash__(self) -> int:
        return hash(self.canonical())

    @classmethod
    def of(cls, adds: Iterable[tuple[str, Stamp]] = (), removed: Iterable[Stamp] = ()) -> ORSet:
        collected: dict[str, set[Stamp]] = {}
        for element, tag in adds:  # one pass: a set off the wire may hold thousands
            collected.setdefault(element, set()).add(tag)
        return ORSet({e: frozenset(tags) for e, tags in collected.items()}, frozenset(removed))
