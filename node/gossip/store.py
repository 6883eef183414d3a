"""One gossip replica's data: registers (put, get, delete) and observed-remove
sets (add, members), each key kept with its digest up to date, and the merge
of what another replica sends. Pure: the core hands in stamps and time.

Rules:
- Registers and sets are separate kinds of key: an item is ("r", key) or
  ("s", key) in the digest, so a register and a set of one name never merge.
- `merge` takes items from another replica and keeps, per key, the merge of
  both (node.gossip.crdt); it returns the items that changed here, which
  are what the core persists, and nothing else.
- Tombstones older than their TTL are dropped by `expire`; the digest forgets
  them too, so that two replicas that both dropped one agree again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from node.gossip.crdt import TOMBSTONE_TTL_MS, ORSet, Register, Stamp, merge_register
from node.gossip.digest import BUCKETS, Digest, bucket_of, set_tags_hash

__all__ = ["REGISTER", "SET", "Item", "Store"]

REGISTER = "r"
SET = "s"


@dataclass(frozen=True, slots=True)
class Item:
    """What one key holds, as replicas exchange it: a register or a set."""

    kind: str  # "r" or "s"
    key: str
    register: Register | None = None
    members: ORSet | None = None


class Store:
    def __init__(self) -> None:
        self.registers: dict[str, Register] = {}
        self.sets: dict[str, ORSet] = {}
        self.digest = Digest()
        # Each bucket's keys, (kind, key), so that an exchange reads only the
        # buckets that differ instead of hashing every key to find them.
        self._in_bucket: list[set[tuple[str, str]]] = [set() for _ in range(BUCKETS)]

    # -- reads --------------------------------------------------------------------

    def get(self, key: str) -> Register | None:
        """The key's register, tombstone included (None: never written here)."""
        return self.registers.get(key)

    def members(self, key: str) -> frozenset[str]:
        found = self.sets.get(key)
        return found.elements if found is not None else frozenset()

    def item(self, kind: str, key: str) -> Item | None:
        """What this replica holds of one key (kind REGISTER or SET), if anything."""
        if kind == REGISTER:
            register = self.registers.get(key)
            return None if register is None else Item(REGISTER, key, register)
        members = self.sets.get(key)
        return None if members is None else Item(SET, key, members=members)

    def keys(self, prefix: str = "") -> list[str]:
        """Live register keys under `prefix`, sorted."""
        return sorted(
            k for k, r in self.registers.items() if k.startswith(prefix) and not r.deleted
        )

    def __len__(self) -> int:
        return sum(1 for r in self.registers.values() if not r.deleted) + len(self.sets)

    # -- writes -------------------------------------------------------------------

    def write(self, key: str, value: str | None, stamp: Stamp) -> Item:
        """A local put (or, with None, a delete); the item to persist and spread."""
        item = Item(REGISTER, key, Register(value, stamp))
        self.merge([item])
        return Item(REGISTER, key, self.registers[key])

    def add(self, key: str, element: str, tag: Stamp) -> Item:
        """A local add; the item to persist and spread is its delta (the one
        new tag), not the whole set: merging is a union, so replaying or
        receiving deltas rebuilds the set, at a cost that does not grow with it."""
        return self._delta(key, ORSet.of([(element, tag)]))

    def remove(self, key: str, element: str) -> Item:
        """A local remove; its delta covers the adds of `element` seen here."""
        seen = self.sets.get(key, ORSet()).adds.get(element, frozenset())
        return self._delta(key, ORSet.of(removed=seen))

    def _delta(self, key: str, delta: ORSet) -> Item:
        item = Item(SET, key, members=delta)
        self.merge([item])
        return item

    def _merge_set(self, key: str, incoming: ORSet) -> ORSet | None:
        """Merge another state of the set at `key` in; the merged set, or None
        when it brought no tag this replica lacked. The cost is the incoming
        state's, not the set's: its new tags alone change the digest."""
        current = self.sets.get(key)
        fresh_adds = [
            (element, tag)
            for element, tags in incoming.adds.items()
            for tag in tags - (current.adds.get(element, frozenset()) if current else frozenset())
        ]
        fresh_removed = incoming.removed - (current.removed if current else frozenset())
        if current is not None and not fresh_adds and not fresh_removed:
            return None
        merged = incoming if current is None else current.merge(incoming)
        self.sets[key] = merged
        digest_key = _digest_key(SET, key)
        bucket = bucket_of(digest_key)
        self.digest.toggle(bucket, set_tags_hash(digest_key, fresh_adds, fresh_removed))
        self._in_bucket[bucket].add((SET, key))
        return merged

    def _changed(self, kind: str, key: str, old: object | None, new: object | None) -> None:
        """Keep the digest and the bucket index up to date with one key's change."""
        digest_key = _digest_key(kind, key)
        bucket = bucket_of(digest_key)
        self.digest.change(digest_key, old, new, bucket)
        if new is None:
            self._in_bucket[bucket].discard((kind, key))
        elif old is None:
            self._in_bucket[bucket].add((kind, key))

    def merge(self, items: Iterable[Item]) -> list[Item]:
        """Take another replica's items; those that changed here."""
        changed = []
        for item in items:
            if item.kind == REGISTER and item.register is not None:
                old = self.registers.get(item.key)
                merged = merge_register(old, item.register)
                if merged is not None and merged != old:
                    self.registers[item.key] = merged
                    self._changed(REGISTER, item.key, old, merged)
                    changed.append(Item(REGISTER, item.key, merged))
            elif item.kind == SET and item.members is not None:
                merged_set = self._merge_set(item.key, item.members)
                if merged_set is not None:
                    changed.append(Item(SET, item.key, members=merged_set))
        return changed

    def expire(self, physical_ms: int, ttl_ms: int = TOMBSTONE_TTL_MS) -> list[str]:
        """Drop tombstones past their TTL; the keys dropped."""
        gone = [k for k, r in self.registers.items() if r.expired(physical_ms, ttl_ms)]
        for key in gone:
            self._changed(REGISTER, key, self.registers.pop(key), None)
        return gone

    # -- anti-entropy -----------------------------------------------------------------

    def items_in(self, buckets: Iterable[int]) -> list[Item]:
        """Every item whose key falls in one of `buckets`."""
        found = []
        for bucket in sorted(set(buckets)):
            for kind, key in sorted(self._in_bucket[bucket]):
                if kind == REGISTER:
                    found.append(Item(REGISTER, key, self.registers[key]))
                else:
                    found.append(Item(SET, key, members=self.sets[key]))
        return found

    def items(self) -> list[Item]:
        return self.items_in(range(len(self.digest.buckets)))


def _digest_key(kind: str, key: str) -> str:
    return f"{kind}:{key}"
