"""LogStorage: what a node's loop asks of its durable memory.

The node's real Storage (node.storage: WAL segments and snapshot files) and
the simulator's MemoryStorage both implement it, so the code that drains a
core's Ready is written once against this interface. Each method is durable
when it returns: nothing is acknowledged before that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from node.messages import Entry, SnapshotMeta
from node.ready import HardState

__all__ = ["LogStorage"]


class LogStorage(Protocol):
    """A node's entries, hard state and latest snapshot."""

    def persist(self, entries: Sequence[Entry], hard_state: HardState | None) -> object:
        """One group commit: replace every stored entry from entries[0].index
        on with `entries`, and store `hard_state` when it is not None."""
        ...

    def save_snapshot(self, meta: SnapshotMeta, data: bytes) -> object:
        """This node's own snapshot: the log up to `meta.index` may go."""
        ...

    def install_snapshot(self, meta: SnapshotMeta, data: bytes) -> object:
        """A leader's snapshot: it replaces the whole stored log."""
        ...

    def load_snapshot(self) -> tuple[SnapshotMeta, bytes] | None:
        """The latest snapshot and its data, or None when there is none."""
        ...
