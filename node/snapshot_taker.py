"""SnapshotTaker: the node's own snapshot, taken beside its loop.

Serialising the whole state machine at once held the loop for tens of
milliseconds per 100,000 keys (and fork does not mix with ZeroMQ: DESIGN.md,
"fork and ZeroMQ"), so a snapshot is taken in three steps:

- Start, on the loop: a shallow copy of the state machine at the applied
  index (KVStateMachine.snapshot_pieces) and the meta it will carry. The loop
  goes on applying; nothing of the live state is read again.
- Pack, on the loop: a few pieces per turn, within `budget_s` (`pump`).
- Write, in a thread: the file is written, checksummed, fsynced and renamed
  into place (Storage.write_snapshot_file); system calls and zlib let go of
  the GIL, so the loop keeps running meanwhile.

The caller finishes on the loop once `pump` hands back a `WrittenSnapshot`:
it compacts the core's log and marks the snapshot in the WAL, and only then
is the snapshot in use; the WAL segments and the older snapshot this made
unnecessary are deleted by a thread too (`remove_later`). A crash before the
mark leaves files the next start removes. A leader's snapshot arriving
meanwhile `abandon`s the job first.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from node.messages import SnapshotMeta
from node.storage import Storage

__all__ = ["SnapshotTaker", "WrittenSnapshot"]

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc (macOS): its malloc gives memory back by itself
    _LIBC = None


@dataclass(frozen=True, slots=True)
class WrittenSnapshot:
    """A snapshot file made durable, not yet marked in the WAL."""

    meta: SnapshotMeta
    bytes: int
    # The longest the loop was held by one step of it, and start to durable.
    stall_ms: float
    took_ms: float


@dataclass(slots=True)
class _Job:
    meta: SnapshotMeta
    pieces: Iterator[bytes]
    started: float
    stall_ms: float
    packed: list[bytes] = field(default_factory=list)
    writer: threading.Thread | None = None
    error: BaseException | None = None

    def write(self, storage: Storage) -> None:
        try:
            storage.write_snapshot_file(self.meta, self.packed)
        except BaseException as error:  # handed to the loop, which stops the node
            self.error = error


def _return_free_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim): a
    snapshot's copy and pieces, tens of megabytes, are freed by now, but
    malloc keeps them otherwise and the node's RSS stays at its peak."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class SnapshotTaker:
    """At most one snapshot under way; `pump` it every loop turn."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.monotonic) -> None:
        self._storage = storage
        self._clock = clock
        self._job: _Job | None = None
        self._remover: threading.Thread | None = None
        self._remover_error: BaseException | None = None

    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def packing(self) -> bool:
        """Pieces remain to pack: the loop should turn again without waiting."""
        return self._job is not None and self._job.writer is None

    def start(self, meta: SnapshotMeta, pieces: Iterator[bytes], started: float) -> None:
        """Take over `pieces` (copied from the state at `meta.index` since the
        loop's clock read `started`)."""
        if self._job is not None:
            raise AssertionError(f"a snapshot at {self._job.meta.index} is still under way")
        held_ms = (self._clock() - started) * 1000
        self._job = _Job(meta, pieces, started, held_ms)

    def pump(self, budget_s: float) -> WrittenSnapshot | None:
        """Pack pieces for at most about `budget_s`, hand the file to the writer
        once all are packed, and return the snapshot once it is durable (a
        write's failure is raised here, on the loop)."""
        self._check_remover()
        job = self._job
        if job is None:
            return None
        if job.writer is None:
            began = self._clock()
            for piece in job.pieces:
                job.packed.append(piece)
                if self._clock() - began >= budget_s:
                    break
            else:
                job.writer = threading.Thread(
                    target=job.write, args=(self._storage,), name="snapshot-writer", daemon=True
                )
                job.writer.start()
            job.stall_ms = max(job.stall_ms, (self._clock() - began) * 1000)
            return None
        if job.writer.is_alive():
            return None
        job.writer.join()
        self._job = None
        if job.error is not None:
            raise job.error
        return WrittenSnapshot(
            job.meta,
            sum(len(piece) for piece in job.packed),
            job.stall_ms,
            (self._clock() - job.started) * 1000,
        )

    def remove_later(self, paths: list[Path]) -> None:
        """Delete files the marked snapshot made unnecessary, in a thread."""
        self._wait_for_remover()

        def remove() -> None:
            try:
                self._storage.remove_unneeded(paths)
            except BaseException as error:  # raised on the loop at its next pump
                self._remover_error = error
            _return_free_memory()

        self._remover = threading.Thread(target=remove, name="snapshot-remover", daemon=True)
        self._remover.start()

    def abandon(self) -> None:
        """Forget the snapshot under way, after its writer (and any removal) is
        done: its file is never marked, and the next mark or start removes it."""
        job, self._job = self._job, None
        if job is not None and job.writer is not None:
            job.writer.join()
        self._wait_for_remover()

    def _wait_for_remover(self) -> None:
        if self._remover is not None:
            self._remover.join()
            self._remover = None
        self._check_remover()

    def _check_remover(self) -> None:
        error, self._remover_error = self._remover_error, None
        if error is not None:
            raise error
