"""A replica's digest for anti-entropy: its keys spread over BUCKETS buckets
by a hash of the key, each bucket summarised by one 62-bit number (the wire's
largest integer, node.messages.codec), so that
two replicas compare their whole state in BUCKETS numbers and then exchange
only the keys of the buckets that differ (the per-range hashes of Dynamo's
and Cassandra's repair, one level deep: a laboratory's key counts need no
deeper Merkle tree).

Rules:
- A bucket's summary is the XOR of its items' hashes, an item being a key
  with what it holds: its register's stamp and value, or, for a set, every
  tag it holds (each add's element and tag, each removal's tag), hashed one
  by one, so that a set's change costs only its new tags. XOR makes the
  summary independent of order and cheap to keep up to date: a change XORs
  the old item out and the new one in.
- Equal states give equal digests on every replica and every run (BLAKE2b,
  not Python's salted hash). Different states almost always differ: a
  collision hides a difference with probability 2^-62 per bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

__all__ = ["BUCKETS", "Digest", "bucket_of", "differing", "item_hash", "set_tags_hash"]

BUCKETS = 64
_SUMMARY_MASK = (1 << 62) - 1  # a frame carries integers up to 2**62 (WIRE_INT_MAX)


def bucket_of(key: str) -> int:
    data = key.encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") % BUCKETS


def item_hash(key: str, state: object) -> int:
    """The hash of one key and what it holds (`state` must have a stable repr:
    frozen dataclasses and tuples of them do)."""
    data = f"{key!r}={state!r}".encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") & _SUMMARY_MASK


def set_tags_hash(key: str, adds: Iterable[tuple[str, object]], removed: Iterable[object]) -> int:
    """A set's part of its bucket's summary: the XOR of one hash per tag (an
    add's element and tag, a removal's tag). A set only ever gains tags, so
    its summary moves by the new tags' hashes alone, whatever its size, and
    equal sets give equal summaries on every replica."""
    value = 0
    for element, tag in adds:
        value ^= item_hash(key, ("+", element, tag))
    for tag in removed:
        value ^= item_hash(key, ("-", tag))
    return value


class Digest:
    """The bucket summaries of one replica, kept up to date as items change."""

    def __init__(self) -> None:
        self.buckets = [0] * BUCKETS

    def change(
        self, key: str, old: object | None, new: object | None, bucket: int | None = None
    ) -> None:
        """`key` (in `bucket`, when the caller knows it) went from holding
        `old` to `new` (None: nothing)."""
        bucket = bucket_of(key) if bucket is None else bucket
        if old is not None:
            self.buckets[bucket] ^= item_hash(key, old)
        if new is not None:
            self.buckets[bucket] ^= item_hash(key, new)

    def toggle(self, bucket: int, value: int) -> None:
        """XOR `value` into a bucket (a set's new tags: set_tags_hash)."""
        self.buckets[bucket] ^= value

    def summary(self) -> tuple[int, ...]:
        return tuple(self.buckets)

    @classmethod
    def of(cls, items: Mapping[str, object]) -> Digest:
        digest = cls()
        for key, state in items.items():
            digest.change(key, None, state)
        return digest


def differing(mine: tuple[int, ...], theirs: tuple[int, ...]) -> tuple[int, ...]:
    """The buckets whose summaries differ (every one when the shapes differ)."""
    if len(mine) != len(theirs):
        return tuple(range(BUCKETS))
    return tuple(number for number, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b)
