"""ChangeLog: the key-value store's recent changes by revision, for `raftctl watch`.

As in etcd's MVCC, the store counts revisions: each command that changes
anything takes the next revision, shared by all its writes (a transaction's
too). The log keeps the latest changes, bounded in count and in bytes; older
ones are compacted away, and a watch that asks for them is told so, never
given a silent gap.

Rules: it is part of the replicated state. It changes only as committed
entries are applied, its bounds are counted the same way on every node, and
it travels in the snapshot, so every node answers a watch alike.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from node.messages import data_bytes

__all__ = ["CHANGES_BYTES_MAX", "CHANGES_MAX", "Change", "ChangeLog"]

CHANGES_MAX = 10_000
CHANGES_BYTES_MAX = 4 << 20


@dataclass(frozen=True, slots=True)
class Change:
    revision: int
    key: str
    value: str | None  # None: the key was deleted
    size: int  # bytes of key and value, counted once: what the bound weighs

    @classmethod
    def of(cls, revision: int, key: str, value: str | None) -> Change:
        return cls(revision, key, value, _size(key) + (_size(value) if value else 0))


def _size(text: str) -> int:
    """Bytes of a key or value; ASCII (the usual case) is not encoded again."""
    return len(text) if text.isascii() else len(data_bytes(text))


class ChangeLog:
    """The latest changes, at most `changes_max` of them and `bytes_max` bytes of
    keys and values (cluster.toml's watch_history_changes and _bytes; every
    node reads the same file, so every node trims alike)."""

    def __init__(self, changes_max: int = CHANGES_MAX, bytes_max: int = CHANGES_BYTES_MAX) -> None:
        self.changes_max = changes_max
        self.bytes_max = bytes_max
        self.revision = 0  # the revision of the latest change
        self.compacted = 0  # changes up to this revision are gone
        self._changes: deque[Change] = deque()
        self._bytes = 0

    def record(self, revision: int, key: str, value: str | None) -> None:
        change = Change.of(revision, key, value)
        self._changes.append(change)
        self._bytes += change.size
        self.revision = revision
        while len(self._changes) > self.changes_max or (
            self._bytes > self.bytes_max and len(self._changes) > 1
        ):
            gone = self._changes.popleft()
            self._bytes -= gone.size
            self.compacted = gone.revision

    def since(self, key: str, prefix: bool, after: int, limit: int) -> list[Change]:
        """The changes to `key` (or keys starting with it) after revision
        `after`: about `limit` of them, never splitting a revision (so that
        a watcher may go on from the last revision it was given)."""
        found: list[Change] = []
        for change in self._changes:
            if change.revision <= after:
                continue
            if len(found) >= limit and change.revision != found[-1].revision:
                break
            if change.key.startswith(key) if prefix else change.key == key:
                found.append(change)
        return found

    def to_rows(self) -> list[list[object]]:
        """For the snapshot: [revision, compacted, [revision, key, value]...]."""
        head, changes = self.frozen()
        rows: list[list[object]] = [head]
        rows += [[c.revision, c.key, c.value] for c in changes]
        return rows

    def frozen(self) -> tuple[list[object], tuple[Change, ...]]:
        """The first row of `to_rows` and the changes behind the others, as
        they stand now: a snapshot packed beside the loop builds the rows
        later (a Change never changes)."""
        return [self.revision, self.compacted], tuple(self._changes)

    @classmethod
    def from_rows(
        cls,
        rows: list[list[object]],
        changes_max: int = CHANGES_MAX,
        bytes_max: int = CHANGES_BYTES_MAX,
    ) -> ChangeLog:
        """The inverse of to_rows; TypeError or ValueError if it is not one."""
        log = cls(changes_max, bytes_max)
        (revision, compacted), *changes = rows
        if not isinstance(revision, int) or not isinstance(compacted, int):
            raise TypeError("a change log's revisions are counts")
        for change_revision, key, value in changes:
            if not isinstance(change_revision, int) or not isinstance(key, str):
                raise TypeError("a change is [revision, key, value]")
            if value is not None and not isinstance(value, str):
                raise TypeError("a change's value is a string or null")
            log._changes.append(Change.of(change_revision, key, value))
            log._bytes += log._changes[-1].size
        log.revision, log.compacted = revision, compacted
        return log
