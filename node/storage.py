"""Storage: a node's durable memory, the WAL and the snapshot files together.

Rules:
- `persist(entries, hard_state)` is one group commit: one WAL batch, one fsync.
- A snapshot is written under a temporary name, fsynced, renamed, and its
  directory fsynced; only then does the WAL record its mark and let go of the
  segments and older snapshots it covers. A crash anywhere in between leaves
  either the old state or the new one, never a mark without its file.
- Snapshot file: b"RAFTSNAP", u32 version, u32 meta length, msgpack meta
  [index, term, voters, learners], u64 data length, data, u32 crc32 of all before it.
- Opening after a power cut (`after_power_loss=True`) first cuts every file back
  to what a completed fsync covered (node.disk); the recovery rules of node.wal
  then apply as after any crash.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from node.disk import Disk, DiskFaults, apply_power_loss
from node.errors import CorruptSnapshot, LostState
from node.lives import Lives
from node.messages import Entry, SnapshotMeta
from node.ready import HardState
from node.wal import SEGMENT_BYTES_MAX, Wal

__all__ = ["Recovered", "SnapshotMeta", "Storage", "StorageOptions", "Unneeded"]

_MAGIC = b"RAFTSNAP"
_SNAPSHOT_VERSION = 1
_SNAPSHOT_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.snap$")


@dataclass(frozen=True, slots=True)
class StorageOptions:
    """How a node keeps its data."""

    fsync: bool = True
    segment_bytes_max: int = SEGMENT_BYTES_MAX
    power_loss_mode: bool = False
    faults: DiskFaults = field(default_factory=DiskFaults)


@dataclass(frozen=True, slots=True)
class Recovered:
    """Everything a node finds on disk at start."""

    hard_state: HardState
    entries: tuple[Entry, ...]
    snapshot: SnapshotMeta | None
    snapshot_data: bytes | None
    warnings: tuple[str, ...] = ()
    incarnation: int = 0


@dataclass(frozen=True, slots=True)
class Unneeded:
    """Files a snapshot's mark made unnecessary, still to be deleted."""

    segments: list[Path]  # WAL segments the snapshot covers
    snapshot_files: list[Path]  # older (or unmarked) snapshots

    @property
    def paths(self) -> list[Path]:
        return self.segments + self.snapshot_files


def _snapshot_name(index: int, term: int) -> str:
    return f"{term:016x}-{index:016x}.snap"


class Storage:
    """The durable state of one node in `node_dir` (wal/ and snapshots/)."""

    def __init__(self, node_dir: Path, disk: Disk, wal: Wal) -> None:
        self.node_dir = node_dir
        self.disk = disk
        self.wal = wal
        self.snapshot_dir = node_dir / "snapshots"
        self.lives = Lives()
        self._latest_hard_state = wal.hard_state  # what `persist` keeps back

    @classmethod
    def open(
        cls,
        node_dir: Path,
        options: StorageOptions | None = None,
        after_power_loss: bool = False,
        rejoining: bool = False,
    ) -> tuple[Storage, Recovered]:
        """Recover what `node_dir` holds. A node that held state in an earlier
        life and finds none now raises LostState, unless it is `rejoining`."""
        options = options or StorageOptions()
        node_dir.mkdir(parents=True, exist_ok=True)
        warnings: list[str] = []
        if after_power_loss:
            warnings.extend(f"power loss: {change}" for change in apply_power_loss(node_dir))
        disk = Disk(node_dir, options.fsync, options.faults, options.power_loss_mode)
        wal, contents = Wal.open(node_dir / "wal", disk, options.segment_bytes_max)
        storage = cls(node_dir, disk, wal)
        storage.snapshot_dir.mkdir(exist_ok=True)
        snapshot: SnapshotMeta | None = None
        data: bytes | None = None
        if contents.snapshot_index:
            snapshot, data = storage._read_snapshot(contents.snapshot_index, contents.snapshot_term)
        warnings.extend(contents.warnings)
        warnings.extend(
            storage._remove_unmarked_snapshots(contents.snapshot_index, contents.snapshot_term)
        )
        incarnation = storage._begin_life(contents.hard_state, contents.entries, rejoining)
        return storage, Recovered(
            contents.hard_state,
            tuple(contents.entries),
            snapshot,
            data,
            tuple(warnings),
            incarnation,
        )

    @property
    def fsync_enabled(self) -> bool:
        return self.disk.fsync_enabled

    def _begin_life(self, hard_state: HardState, entries: Sequence[Entry], rejoining: bool) -> int:
        """Number this life (node.lives) and refuse to forget silently."""
        empty = hard_state.term == 0 and not entries and self.wal.snapshot_index == 0
        earlier = Lives.read(self.node_dir)
        if earlier.held_state and empty and not rejoining and self.fsync_enabled:
            # (Without fsync a power cut may lose anything: that is the choice
            # `fsync = false` makes, and the chaos tests show its price.)
            raise LostState(
                f"{self.node_dir}: this node held Raft state before (incarnation "
                f"{earlier.incarnation}) but its wal/ and snapshots/ are empty now: a node that "
                "forgot its votes and what it acknowledged must not vote again"
            )
        self.lives = earlier.next_life(held_state=not empty)
        self.lives.write(self.node_dir, self.fsync_enabled)
        return self.lives.incarnation

    def persist(self, entries: Sequence[Entry], hard_state: HardState | None) -> None:
        """One group commit: the Ready's entries and hard state, one fsync.
        A hard state that only moves the commit index is kept back until the
        next batch (or `close`): it is no promise, and a node that learns of
        each commit from every heartbeat would otherwise fsync for each one.
        After a crash the node restarts with an older commit index and learns
        the newer one from the leader."""
        if hard_state is not None:
            self._latest_hard_state = hard_state
        if not entries and not self._latest_hard_state.promises_more_than(self.wal.hard_state):
            return
        latest = self._latest_hard_state
        self.wal.append(entries, latest if latest != self.wal.hard_state else None)
        if not self.lives.held_state and (entries or (hard_state and hard_state.term)):
            self.lives = Lives(self.lives.incarnation, held_state=True)
            self.lives.write(self.node_dir, self.fsync_enabled)

    def save_snapshot(self, meta: SnapshotMeta, data: bytes) -> int:
        """This node's own snapshot: make `data` durable at `meta` and compact
        the WAL behind it. Returns how many WAL segments were released."""
        return self._write_snapshot(meta, data, replaces_log=False)

    def install_snapshot(self, meta: SnapshotMeta, data: bytes) -> int:
        """A snapshot from the leader: it becomes durable and the whole stored
        log goes. Returns how many WAL segments were released."""
        return self._write_snapshot(meta, data, replaces_log=True)

    def _write_snapshot(self, meta: SnapshotMeta, data: bytes, replaces_log: bool) -> int:
        self.write_snapshot_file(meta, [data])
        unneeded = self.mark_snapshot(meta, replaces_log)
        self.remove_unneeded(unneeded.paths)
        return len(unneeded.segments)

    def write_snapshot_file(self, meta: SnapshotMeta, pieces: Sequence[bytes]) -> None:
        """Make the snapshot whose data is `pieces` joined durable under its own
        name; nothing refers to it until `mark_snapshot`. It touches neither
        the WAL nor anything the loop holds, so it may run in a thread beside
        the loop (the Disk's bookkeeping is locked)."""
        final = self.snapshot_dir / _snapshot_name(meta.index, meta.term)
        temporary = final.with_suffix(".snap.tmp")
        header = msgpack.packb([meta.index, meta.term, list(meta.voters), list(meta.learners)])
        head = b"".join(
            [
                _MAGIC,
                struct.pack("<II", _SNAPSHOT_VERSION, len(header)),
                header,
                struct.pack("<Q", sum(len(piece) for piece in pieces)),
            ]
        )
        fd = self.disk.open_new(temporary)
        try:
            crc = 0
            for chunk in (head, *pieces):
                crc = zlib.crc32(chunk, crc)
                self.disk.write(fd, chunk, temporary)
            self.disk.write(fd, struct.pack("<I", crc), temporary)
            self.disk.fsync(fd, temporary)
        finally:
            self.disk.close(fd)
        self.disk.rename(temporary, final)
        self.disk.fsync_directory(self.snapshot_dir)

    def mark_snapshot(self, meta: SnapshotMeta, replaces_log: bool = False) -> Unneeded:
        """The WAL now says the written snapshot `meta` covers the log (with
        `replaces_log`, that nothing after it survives). Returns the WAL
        segments and snapshot files this made unnecessary, for
        `remove_unneeded` (deleting 64 MiB files takes milliseconds)."""
        return Unneeded(
            self.wal.mark_snapshot(meta.index, meta.term, replaces_log),
            self._unmarked_snapshot_files(meta.index, meta.term),
        )

    def remove_unneeded(self, paths: Sequence[Path]) -> None:
        """Delete what `mark_snapshot` returned; it may run in a thread."""
        for path in paths:
            self.disk.remove(path)
        for directory in sorted({path.parent for path in paths}):
            self.disk.fsync_directory(directory)

    def load_snapshot(self) -> tuple[SnapshotMeta, bytes] | None:
        if not self.wal.snapshot_index:
            return None
        return self._read_snapshot(self.wal.snapshot_index, self.wal.snapshot_term)

    def close(self) -> None:
        """A clean stop writes the commit index it kept back."""
        if self._latest_hard_state != self.wal.hard_state and not self.disk.failure:
            self.wal.append([], self._latest_hard_state)
        self.wal.close()

    def _read_snapshot(self, index: int, term: int) -> tuple[SnapshotMeta, bytes]:
        path = self.snapshot_dir / _snapshot_name(index, term)
        try:
            blob = path.read_bytes()
        except FileNotFoundError as error:
            raise CorruptSnapshot(
                f"{path}: the WAL says a snapshot covers index {index} (term {term}), but the "
                "file is missing; refusing to start"
            ) from error
        if len(blob) < len(_MAGIC) + 20 or not blob.startswith(_MAGIC):
            raise CorruptSnapshot(f"{path}: not a snapshot file")
        body, (crc,) = blob[:-4], struct.unpack("<I", blob[-4:])
        if zlib.crc32(body) != crc:
            raise CorruptSnapshot(f"{path}: checksum mismatch; refusing to start")
        version, header_length = struct.unpack_from("<II", body, len(_MAGIC))
        if version != _SNAPSHOT_VERSION:
            raise CorruptSnapshot(f"{path}: unknown snapshot version {version}")
        position = len(_MAGIC) + 8
        meta_index, meta_term, voters, learners = msgpack.unpackb(
            body[position : position + header_length]
        )
        position += header_length
        (data_length,) = struct.unpack_from("<Q", body, position)
        data = body[position + 8 : position + 8 + data_length]
        if (meta_index, meta_term) != (index, term) or len(data) != data_length:
            raise CorruptSnapshot(
                f"{path}: holds {meta_index}/{meta_term}, expected {index}/{term}"
            )
        return SnapshotMeta(index, term, tuple(voters), tuple(learners)), data

    def _remove_unmarked_snapshots(self, index: int, term: int) -> list[str]:
        unmarked = self._unmarked_snapshot_files(index, term)
        self.remove_unneeded(unmarked)
        return [f"removed unused snapshot file {path.name}" for path in unmarked]

    def _unmarked_snapshot_files(self, index: int, term: int) -> list[Path]:
        """Snapshot files other than the one the WAL marks: older ones are
        covered, newer ones were never marked (a crash before the mark), and
        .tmp files never finished."""
        keep = _snapshot_name(index, term) if index else None
        return [
            path
            for path in sorted(self.snapshot_dir.iterdir())
            if path.name != keep
            and (_SNAPSHOT_NAME.match(path.name) or path.name.endswith(".snap.tmp"))
        ]
