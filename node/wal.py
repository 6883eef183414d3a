"""The write-ahead log: segments of CRC-framed batches, one fsync per batch.

Rules:
- One batch is one group commit: the entries and hard state of one Ready,
  written with one write and made durable with one fsync. Term and vote live
  in the WAL as etcd keeps them, so a vote costs no extra fsync.
- Frame: [u32 payload length][u32 crc32 of the length bytes and the payload]
  [payload]; payload: msgpack [version, hard_state | nil, snapshot | nil,
  first_index, [[term, kind, data], ...]]. An entry at or below the last index
  replaces it and everything after it (a follower's conflict truncation).
- A snapshot mark is [index, term], or [index, term, 1] for a snapshot that
  replaced the whole log (installed from the leader): every entry written
  before such a mark is gone, including those after its index.
- Segments are wal/<sequence>-<first index>.wal (hex). A new one starts at
  `segment_bytes_max` with the current hard state and snapshot mark, so a
  snapshot lets every older segment go. That first batch is written and
  synced under a temporary name, then renamed: a segment under its own name
  always opens with a synced batch.
- Recovery: a torn batch at the very end of the last segment is cut off with
  a warning (it was never acknowledged); any other damage, a missing segment
  or a gap in the entries raises CorruptLog naming the file and the offset.
  Only what came after the last completed fsync can be torn, so damage to a
  segment's first batch (say, a segment zeroed whole) is never taken for a
  torn tail: its term and vote must not be forgotten.
- The record encoding is this module's own (msgpack, versioned by
  FORMAT_VERSION), not the wire codec's: a log outlives wire versions.
"""

from __future__ import annotations

import itertools
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from node.disk import Disk
from node.errors import CorruptLog, invariant
from node.messages import Entry, EntryKind
from node.ready import HardState

__all__ = ["SEGMENT_BYTES_MAX", "Wal", "WalContents"]

FORMAT_VERSION = 1
SEGMENT_BYTES_MAX = 64 << 20
_HEADER = struct.Struct("<II")
_ENTRY_KINDS = tuple(EntryKind)
_SEGMENT_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.wal$")


def _frame(payload: bytes) -> bytes:
    length = len(payload)
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<I", length)))
    return _HEADER.pack(length, crc) + payload


def _segment_name(sequence: int, first_index: int) -> str:
    return f"{sequence:016x}-{first_index:016x}.wal"


@dataclass(frozen=True, slots=True)
class WalContents:
    """What recovery found: the latest hard state and snapshot mark, and the
    entries after the snapshot."""

    hard_state: HardState
    snapshot_index: int
    snapshot_term: int
    entries: list[Entry]
    warnings: list[str] = field(default_factory=list)
    segments: int = 0


@dataclass(slots=True)
class _Segment:
    path: Path
    sequence: int
    first_index: int


@dataclass(slots=True)
class _Batch:
    """One decoded batch and where it came from."""

    path: Path
    offset: int
    hard_state: list[Any] | None
    snapshot: list[int] | None
    first_index: int
    rows: list[list[Any]]


class Wal:
    """An open write-ahead log. Create with `Wal.open`."""

    def __init__(
        self,
        directory: Path,
        disk: Disk,
        segment_bytes_max: int,
        segments: list[_Segment],
        contents: WalContents,
    ) -> None:
        self.directory = directory
        self.disk = disk
        self.segment_bytes_max = segment_bytes_max
        self._segments = segments
        self.hard_state = contents.hard_state
        self.snapshot_index = contents.snapshot_index
        self.snapshot_term = contents.snapshot_term
        self.last_index = contents.snapshot_index + len(contents.entries)
        current = segments[-1].path
        self._fd = disk.open_append(current)
        self._segment_bytes = current.stat().st_size
        self.batches_written = 0

    # -- opening --------------------------------------------------------------

    @classmethod
    def open(
        cls, directory: Path, disk: Disk, segment_bytes_max: int = SEGMENT_BYTES_MAX
    ) -> tuple[Wal, WalContents]:
        directory.mkdir(parents=True, exist_ok=True)
        for unfinished in directory.glob("*.wal.tmp"):
            disk.remove(unfinished)  # a segment whose creation a crash cut short
        segments = _list_segments(directory)
        if not segments:
            first = _Segment(directory / _segment_name(1, 1), 1, 1)
            _write_segment_header(disk, first.path, HardState(), 0, 0)
            disk.fsync_directory(directory)
            segments = [first]
        batches, warnings = _read_batches(segments, disk)
        contents = _replay(batches, warnings, len(segments))
        return cls(directory, disk, segment_bytes_max, segments, contents), contents

    # -- writing ------------------------------------------------------------

    def append(self, entries: Sequence[Entry], hard_state: HardState | None) -> None:
        """Write one batch and fsync it. Entries at or below the last index
        replace the stored ones from there on."""
        if not entries and hard_state is None:
            return
        first_index = entries[0].index if entries else 0
        if entries:
            invariant(
                self.snapshot_index < first_index <= self.last_index + 1,
                "WAL append leaves a gap or rewrites the snapshot",
                first_index=first_index,
                last_index=self.last_index,
                snapshot_index=self.snapshot_index,
            )
        payload = msgpack.packb(
            [
                FORMAT_VERSION,
                None
                if hard_state is None
                else [hard_state.term, hard_state.vote, hard_state.commit_index],
                None,
                first_index,
                [[entry.term, int(entry.kind), entry.data] for entry in entries],
            ]
        )
        self._write_batch(_frame(payload))
        if entries:
            self.last_index = entries[-1].index
        if hard_state is not None:
            self.hard_state = hard_state

    def mark_snapshot(self, index: int, term: int, replaces_log: bool = False) -> list[Path]:
        """Record that a durable snapshot covers the log up to `index` (and, with
        `replaces_log`, that nothing after it survives). Returns the segments
        it makes unnecessary, no longer part of the WAL, for the caller to
        delete (Storage.remove_unneeded)."""
        invariant(
            index >= self.snapshot_index,
            "snapshot mark goes backwards",
            index=index,
            snapshot_index=self.snapshot_index,
        )
        mark = [index, term, 1] if replaces_log else [index, term]
        payload = msgpack.packb([FORMAT_VERSION, None, mark, 0, []])
        self._write_batch(_frame(payload))
        self.snapshot_index, self.snapshot_term = index, term
        self.last_index = index if replaces_log else max(self.last_index, index)
        return self._release_to(index)

    def close(self) -> None:
        if self._fd >= 0:
            self.disk.close(self._fd)
            self._fd = -1

    def segment_paths(self) -> list[Path]:
        return [segment.path for segment in self._segments]

    def _write_batch(self, frame: bytes) -> None:
        if self._segment_bytes + len(frame) > self.segment_bytes_max and self.batches_written:
            self._rotate()
        path = self._segments[-1].path
        self.disk.write(self._fd, frame, path)
        self.disk.fsync(self._fd, path)
        self._segment_bytes += len(frame)
        self.batches_written += 1

    def _rotate(self) -> None:
        """Start a new segment that opens with the state older ones held."""
        last = self._segments[-1]
        segment = _Segment(
            self.directory / _segment_name(last.sequence + 1, self.last_index + 1),
            last.sequence + 1,
            self.last_index + 1,
        )
        _write_segment_header(
            self.disk, segment.path, self.hard_state, self.snapshot_index, self.snapshot_term
        )
        self.disk.fsync_directory(self.directory)
        self.disk.close(self._fd)
        self._fd = self.disk.open_append(segment.path)
        self._segment_bytes = segment.path.stat().st_size
        self._segments.append(segment)

    def _release_to(self, index: int) -> list[Path]:
        """The oldest segments whose every entry is at or below `index`, taken
        out of the WAL. A segment's entries all sit below the first index of
        the next one."""
        released = []
        while len(self._segments) > 1 and self._segments[1].first_index - 1 <= index:
            released.append(self._segments.pop(0).path)
        return released


def _write_segment_header(
    disk: Disk, path: Path, hard_state: HardState, snapshot_index: int, snapshot_term: int
) -> None:
    payload = msgpack.packb(
        [
            FORMAT_VERSION,
            [hard_state.term, hard_state.vote, hard_state.commit_index],
            [snapshot_index, snapshot_term],
            0,
            [],
        ]
    )
    temporary = path.with_name(path.name + ".tmp")
    fd = disk.open_new(temporary)
    try:
        disk.write(fd, _frame(payload), temporary)
        disk.fsync(fd, temporary)
    finally:
        disk.close(fd)
    disk.rename(temporary, path)  # the caller syncs the directory


# -- recovery -----------------------------------------------------------------------


def _list_segments(directory: Path) -> list[_Segment]:
    segments = []
    for path in directory.iterdir():
        match = _SEGMENT_NAME.match(path.name)
        if match:
            segments.append(_Segment(path, int(match[1], 16), int(match[2], 16)))
    segments.sort(key=lambda segment: segment.sequence)
    for before, after in itertools.pairwise(segments):
        if after.sequence != before.sequence + 1:
            missing = _segment_name(before.sequence + 1, 0).split("-")[0]
            raise CorruptLog(after.path, 0, f"segment {missing}-*.wal before it is missing")
    return segments


def _read_batches(segments: list[_Segment], disk: Disk) -> tuple[list[_Batch], list[str]]:
    batches: list[_Batch] = []
    warnings: list[str] = []
    for position, segment in enumerate(segments):
        is_last = position == len(segments) - 1
        data = segment.path.read_bytes()
        if not data:
            raise CorruptLog(segment.path, 0, "an empty segment: its first batch was synced")
        offset = 0
        while offset < len(data):
            problem, end = _check_frame(data, offset)
            if problem is not None:
                if offset == 0:
                    raise CorruptLog(
                        segment.path,
                        0,
                        f"{problem} in the segment's first batch, which was synced before the "
                        "segment got its name: damage, not a torn write",
                    )
                if is_last and _is_torn_tail(data, offset, end):
                    disk.truncate(segment.path, offset)
                    warnings.append(
                        f"{segment.path}: cut a torn batch of {len(data) - offset} bytes at "
                        f"byte {offset} ({problem}); it was never acknowledged"
                    )
                    break
                raise CorruptLog(segment.path, offset, problem)
            batches.append(_decode(segment.path, offset, data[offset + _HEADER.size : end]))
            offset = end
    return batches, warnings


def _check_frame(data: bytes, offset: int) -> tuple[str | None, int]:
    """(None, end) for a sound frame at `offset`, else (what is wrong, its end)."""
    if len(data) - offset < _HEADER.size:
        return "incomplete batch header", len(data)
    length, crc = _HEADER.unpack_from(data, offset)
    end = offset + _HEADER.size + length
    if length == 0:
        return "empty batch", end
    if end > len(data):
        return f"batch of {length} bytes runs past the end of the file", end
    payload = memoryview(data)[offset + _HEADER.size : end]
    if zlib.crc32(payload, zlib.crc32(data[offset : offset + 4])) != crc:
        return "checksum mismatch", end
    return None, end


def _is_torn_tail(data: bytes, offset: int, end: int) -> bool:
    """A torn write leaves a prefix of one batch and nothing after it (or zeros,
    where the file system extended the file). A bad frame that ends before the
    end of the file, or that is followed by a sound one, is damage instead."""
    if not any(data[offset:]):
        return True
    if end == len(data):
        return True
    if end > len(data):
        return not _sound_frame_after(data, offset + 1)
    return False


def _sound_frame_after(data: bytes, start: int) -> bool:
    for position in range(start, len(data) - _HEADER.size):
        length = int.from_bytes(data[position : position + 4], "little")
        if (
            0 < length <= len(data) - position - _HEADER.size
            and _check_frame(data, position)[0] is None
        ):
            return True
    return False


def _decode(path: Path, offset: int, payload: bytes) -> _Batch:
    try:
        version, hard_state, snapshot, first_index, rows = msgpack.unpackb(payload)
    except (
        ValueError,
        TypeError,
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
    ) as error:
        raise CorruptLog(path, offset, f"undecodable batch ({error})") from error
    if version != FORMAT_VERSION:
        raise CorruptLog(path, offset, f"unknown batch format version {version}")
    return _Batch(path, offset, hard_state, snapshot, first_index, rows)


def _replay(batches: list[_Batch], warnings: list[str], segment_count: int) -> WalContents:
    """Apply the batches in order, knowing the last snapshot mark, so that the
    segments a snapshot released never look like a gap."""
    hard_state = HardState()
    snapshot_index = snapshot_term = 0
    for batch in batches:
        if batch.hard_state is not None:
            term, vote, commit_index = batch.hard_state
            hard_state = HardState(term, vote, commit_index)
        if batch.snapshot is not None and batch.snapshot[0] >= snapshot_index:
            snapshot_index, snapshot_term = batch.snapshot[0], batch.snapshot[1]
    entries: list[Entry] = []
    for batch in batches:
        if batch.snapshot is not None and len(batch.snapshot) > 2:
            entries.clear()  # an installed snapshot replaced the log written so far
        if not batch.rows:
            continue
        first_index, rows = batch.first_index, batch.rows
        skip = snapshot_index + 1 - first_index
        if skip >= len(rows):
            # Wholly inside the snapshot, yet it still cut off everything that
            # followed it in the log when it was written.
            entries.clear()
            continue
        if skip > 0:
            first_index, rows = snapshot_index + 1, rows[skip:]
        next_index = snapshot_index + len(entries) + 1
        if first_index > next_index:
            raise CorruptLog(
                batch.path, batch.offset, f"entries {next_index}..{first_index - 1} are missing"
            )
        del entries[first_index - snapshot_index - 1 :]
        kinds = _ENTRY_KINDS  # a tuple lookup: EntryKind(kind) costs 40% of recovery
        entries.extend(
            [
                Entry(index, term, kinds[kind], data)
                for index, (term, kind, data) in zip(
                    range(first_index, first_index + len(rows)), rows, strict=True
                )
            ]
        )
    return WalContents(hard_state, snapshot_index, snapshot_term, entries, warnings, segment_count)
