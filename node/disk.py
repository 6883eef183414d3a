"""Disk: the one door through which the node writes, syncs, renames and deletes.

Rules:
- Every byte that storage writes goes through `Disk`, so faults can be
  injected in one place (ENOSPC or EIO on write or on fsync, a slow fsync) and
  so power-loss mode can keep its ledger.
- fsync really syncs: fdatasync on Linux, fcntl(F_FULLFSYNC) on macOS, whose
  plain fsync stops at the drive's cache. With `fsync=False` nothing is synced
  (an experiment's setting, reported in status).
- After any failed write or fsync the Disk is poisoned: the page cache can no
  longer be trusted (the fsyncgate lesson), so every later call fails too and
  the node must stop.
- Power-loss mode: kill -9 never loses page-cache writes, so a missing fsync
  could never be seen. In this mode the Disk records, in a ledger beside the
  data, how many bytes of each file a completed fsync covered (and which files
  exist durably). `apply_power_loss` then cuts every file back to that length
  and removes files that were never made durable: what a real power cut loses.
  The ledger only has to survive the death of the process, not of the machine
  (the machine's death is what it simulates), so it is written without fsync.
- A snapshot file is written by a thread beside the loop (node.snapshot_taker)
  while the loop writes the WAL: counters and ledger change under one lock.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.errors import DiskFailure

__all__ = ["LEDGER_NAME", "Disk", "DiskFaults", "apply_power_loss"]

LEDGER_NAME = "synced.json"
_ERRNOS = {"ENOSPC": errno.ENOSPC, "EIO": errno.EIO}


@dataclass(frozen=True, slots=True)
class DiskFaults:
    """Faults to inject. Counts are over the life of one Disk object."""

    write_error: str | None = None  # "ENOSPC" or "EIO"
    write_error_after_bytes: int = 0  # the write that would pass this many bytes fails
    fsync_error: str | None = None  # "ENOSPC" or "EIO"
    fsync_error_after_calls: int = 0  # this many fsyncs succeed first
    fsync_delay_ms: int = 0  # every fsync takes this much longer

    def __post_init__(self) -> None:
        for name in (self.write_error, self.fsync_error):
            if name is not None and name not in _ERRNOS:
                raise ValueError(f"unknown disk error {name!r}: use one of {sorted(_ERRNOS)}")


def _sync_file(fd: int) -> None:
    if sys.platform == "darwin":
        import fcntl

        fcntl.fcntl(fd, fcntl.F_FULLFSYNC)  # type: ignore[attr-defined]
    elif hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:
        os.fsync(fd)


class Disk:
    """File operations for one node's storage directory `root`."""

    def __init__(
        self,
        root: Path,
        fsync: bool = True,
        faults: DiskFaults | None = None,
        power_loss_mode: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.root = root
        self.fsync_enabled = fsync
        self.faults = faults or DiskFaults()
        self.power_loss_mode = power_loss_mode
        self._sleep = sleep
        self.bytes_written = 0
        self.fsyncs = 0
        self.failure: DiskFailure | None = None
        # A snapshot is written by a thread beside the loop's WAL writes: the
        # counters and the power-loss ledger change under this lock (the
        # system calls themselves run outside it).
        self._books = threading.Lock()
        self._ledger: dict[str, int] = self._read_ledger() if power_loss_mode else {}

    # -- files ----------------------------------------------------------------

    def open_append(self, path: Path) -> int:
        self._check_usable()
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def open_new(self, path: Path) -> int:
        self._check_usable()
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write(self, fd: int, data: bytes, path: Path) -> None:
        """Write all of `data`; a short write is retried until done."""
        self._check_usable()
        faults = self.faults
        with self._books:
            before = self.bytes_written
            self.bytes_written += len(data)
        if faults.write_error and before + len(data) > faults.write_error_after_bytes:
            # A full disk may take part of a write: take what fits below the limit.
            partial = data[: max(0, faults.write_error_after_bytes - before)]
            if partial:
                os.write(fd, partial)
            self._fail(faults.write_error, "write", path)
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError as error:
            self._fail_with(error, "write", path)

    def fsync(self, fd: int, path: Path) -> None:
        """Make `path`'s written bytes durable (a no-op with fsync off)."""
        self._check_usable()
        if not self.fsync_enabled:
            return
        faults = self.faults
        if faults.fsync_delay_ms:
            self._sleep(faults.fsync_delay_ms / 1000)
        with self._books:
            calls_before = self.fsyncs
            self.fsyncs += 1
        if faults.fsync_error and calls_before >= faults.fsync_error_after_calls:
            self._fail(faults.fsync_error, "fsync", path)
        try:
            _sync_file(fd)
        except OSError as error:
            self._fail_with(error, "fsync", path)
        if self.power_loss_mode:
            with self._books:
                self._ledger[self._key(path)] = os.fstat(fd).st_size
                self._write_ledger()

    def fsync_directory(self, directory: Path) -> None:
        """Make the names in `directory` (creations, renames, deletions) durable."""
        self._check_usable()
        if not self.fsync_enabled:
            return
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError as error:
            self._fail_with(error, "fsync", directory)
        finally:
            os.close(fd)

    def truncate(self, path: Path, length: int) -> None:
        self._check_usable()
        os.truncate(path, length)
        with self._books:
            if self.power_loss_mode and self._key(path) in self._ledger:
                key = self._key(path)
                self._ledger[key] = min(self._ledger[key], length)
                self._write_ledger()

    def rename(self, source: Path, target: Path) -> None:
        self._check_usable()
        os.replace(source, target)
        if self.power_loss_mode:
            with self._books:
                synced = self._ledger.pop(self._key(source), None)
                if synced is not None:
                    self._ledger[self._key(target)] = synced
                self._write_ledger()

    def remove(self, path: Path) -> None:
        self._check_usable()
        path.unlink(missing_ok=True)
        with self._books:
            if self.power_loss_mode and self._ledger.pop(self._key(path), None) is not None:
                self._write_ledger()

    def close(self, fd: int) -> None:
        os.close(fd)

    # -- failure ------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self.failure is not None:
            raise DiskFailure(f"disk failed earlier ({self.failure}); refusing to go on")

    def _fail(self, name: str, operation: str, path: Path) -> None:
        code = _ERRNOS[name]
        self._fail_with(OSError(code, os.strerror(code)), operation, path, injected=True)

    def _fail_with(
        self, error: OSError, operation: str, path: Path, injected: bool = False
    ) -> None:
        origin = " (injected)" if injected else ""
        self.failure = DiskFailure(
            f"{operation} of {path} failed: {errno.errorcode.get(error.errno or 0, '?')} "
            f"{error.strerror}{origin}"
        )
        raise self.failure from error

    # -- power-loss ledger ------------------------------------------------------------

    def _key(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def _read_ledger(self) -> dict[str, int]:
        try:
            data: dict[str, int] = json.loads((self.root / LEDGER_NAME).read_text())
            return data
        except FileNotFoundError:
            return {}

    def _write_ledger(self) -> None:
        temporary = self.root / (LEDGER_NAME + ".tmp")
        temporary.write_text(json.dumps(self._ledger, sort_keys=True))
        os.replace(temporary, self.root / LEDGER_NAME)


def apply_power_loss(root: Path, managed: tuple[str, ...] = ("wal", "snapshots")) -> list[str]:
    """Cut the files under `root`'s `managed` folders back to what the ledger says
    a completed fsync covered, and remove files never made durable. Returns one
    line per file changed. Without a ledger, nothing was ever synced."""
    ledger_path = root / LEDGER_NAME
    ledger: dict[str, int] = json.loads(ledger_path.read_text()) if ledger_path.exists() else {}
    changes = []
    for folder in managed:
        directory = root / folder
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            key = str(path.relative_to(root))
            size = path.stat().st_size
            if key not in ledger:
                path.unlink()
                changes.append(f"removed {key} ({size} bytes never synced)")
            elif size > ledger[key]:
                os.truncate(path, ledger[key])
                changes.append(f"cut {key} from {size} to {ledger[key]} bytes")
    return changes
