"""The write-ahead log: round trips, rotation, and the recovery rules.

A torn batch at the very end of the last segment is cut off; damage anywhere
else, a missing segment, or a gap refuses to start with the file and offset.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.disk import Disk
from node.errors import CorruptLog
from node.messages import Entry
from node.ready import HardState
from node.wal import Wal, WalContents


def entries(first: int, count: int, term: int = 1, size: int = 20) -> list[Entry]:
    return [
        Entry(index, term, data=bytes([index % 256]) * size)
        for index in range(first, first + count)
    ]


def open_wal(root: Path, segment_bytes_max: int = 1 << 20) -> tuple[Wal, list[Entry]]:
    wal, contents = Wal.open(root / "wal", Disk(root), segment_bytes_max)
    return wal, contents.entries


def reopen(root: Path, segment_bytes_max: int = 1 << 20) -> WalContents:
    wal, contents = Wal.open(root / "wal", Disk(root), segment_bytes_max)
    wal.close()
    return contents


def write_batches(
    root: Path, batch_count: int, per_batch: int = 3, segment_bytes_max: int = 1 << 20
) -> list[Entry]:
    wal, _ = open_wal(root, segment_bytes_max)
    written: list[Entry] = []
    for batch in range(batch_count):
        new = entries(batch * per_batch + 1, per_batch)
        wal.append(new, HardState(1, "n1", batch * per_batch))
        written.extend(new)
    wal.close()
    return written


def test_round_trip(tmp_path: Path) -> None:
    written = write_batches(tmp_path, 10)
    contents = reopen(tmp_path)
    assert contents.entries == written
    assert contents.hard_state == HardState(1, "n1", 27)
    assert contents.warnings == []


def test_an_entry_at_or_below_the_last_replaces_the_suffix(tmp_path: Path) -> None:
    write_batches(tmp_path, 4)  # entries 1..12
    wal, _ = open_wal(tmp_path)
    wal.append([Entry(6, 2, data=b"new")], None)
    wal.close()
    contents = reopen(tmp_path)
    assert [(e.index, e.term) for e in contents.entries] == [(i, 1) for i in range(1, 6)] + [(6, 2)]


def test_rotation_and_release_by_snapshot(tmp_path: Path) -> None:
    written = write_batches(tmp_path, 60, segment_bytes_max=1024)
    wal, _ = open_wal(tmp_path, 1024)
    segments_before = len(wal.segment_paths())
    assert segments_before > 5
    released = wal.mark_snapshot(150, 1)
    for path in released:  # the caller deletes them (Storage.remove_unneeded)
        path.unlink()
    wal.close()
    assert released and len(wal.segment_paths()) == segments_before - len(released)
    assert not set(released) & set(wal.segment_paths())
    contents = reopen(tmp_path, 1024)
    assert (contents.snapshot_index, contents.snapshot_term) == (150, 1)
    assert contents.entries == written[150:]


def test_hard_state_survives_the_release_of_its_segment(tmp_path: Path) -> None:
    wal, _ = open_wal(tmp_path, 512)
    wal.append(entries(1, 3), HardState(7, "n2", 3))
    for first in range(4, 200, 3):
        wal.append(entries(first, 3), None)
    released = wal.mark_snapshot(150, 1)
    assert tmp_path / "wal" / "0000000000000001-0000000000000001.wal" in released
    for path in released:
        path.unlink()
    wal.close()
    assert reopen(tmp_path, 512).hard_state == HardState(7, "n2", 3)


def last_segment(root: Path) -> Path:
    return sorted((root / "wal").iterdir())[-1]


def test_torn_last_batch_is_cut_at_every_offset(tmp_path: Path) -> None:
    written = write_batches(tmp_path, 5)
    segment = last_segment(tmp_path)
    full = segment.read_bytes()
    wal, _ = open_wal(tmp_path)
    wal.append(entries(16, 3), None)
    wal.close()
    torn_batch = segment.read_bytes()[len(full) :]
    for cut in range(1, len(torn_batch)):
        segment.write_bytes(full + torn_batch[:cut])
        contents = reopen(tmp_path)
        assert contents.entries == written, f"cut at {cut}"
        assert len(contents.warnings) == 1 and "torn batch" in contents.warnings[0]
        assert segment.read_bytes() == full  # the torn bytes are gone from disk


def test_writes_after_a_repaired_tail_are_kept(tmp_path: Path) -> None:
    written = write_batches(tmp_path, 3)
    segment = last_segment(tmp_path)
    segment.write_bytes(segment.read_bytes() + b"\x40\x00\x00\x00garbage")
    wal, recovered = open_wal(tmp_path)
    assert recovered == written
    wal.append(entries(10, 2), None)
    wal.close()
    assert reopen(tmp_path).entries == written + entries(10, 2)


def test_zero_filled_tail_is_a_torn_write(tmp_path: Path) -> None:
    written = write_batches(tmp_path, 3)
    segment = last_segment(tmp_path)
    segment.write_bytes(segment.read_bytes() + bytes(4096))
    contents = reopen(tmp_path)
    assert contents.entries == written and len(contents.warnings) == 1


def batch_offsets(path: Path) -> list[int]:
    data, offsets, offset = path.read_bytes(), [], 0
    while offset < len(data):
        offsets.append(offset)
        offset += 8 + int.from_bytes(data[offset : offset + 4], "little")
    return offsets


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["payload", "checksum", "length"])
def test_damage_before_the_last_batch_is_refused(tmp_path: Path, where: str) -> None:
    write_batches(tmp_path, 5)
    segment = last_segment(tmp_path)
    offset = batch_offsets(segment)[2]
    position = {"payload": offset + 12, "checksum": offset + 5, "length": offset + 1}[where]
    flip(segment, position)
    with pytest.raises(CorruptLog) as refused:
        reopen(tmp_path)
    assert refused.value.path == segment and refused.value.offset == offset
    assert str(segment) in str(refused.value) and f"byte {offset}" in str(refused.value)


def test_damage_in_the_last_batch_of_an_older_segment_is_refused(tmp_path: Path) -> None:
    write_batches(tmp_path, 40, segment_bytes_max=512)
    older = sorted((tmp_path / "wal").iterdir())[1]
    offset = batch_offsets(older)[-1]
    flip(older, offset + 10)
    with pytest.raises(CorruptLog) as refused:
        reopen(tmp_path, 512)
    assert refused.value.path == older and refused.value.offset == offset


def test_a_missing_middle_segment_is_refused(tmp_path: Path) -> None:
    write_batches(tmp_path, 40, segment_bytes_max=512)
    segments = sorted((tmp_path / "wal").iterdir())
    segments[2].unlink()
    with pytest.raises(CorruptLog, match="is missing"):
        reopen(tmp_path, 512)


def test_a_missing_first_segment_leaves_a_gap_that_is_refused(tmp_path: Path) -> None:
    write_batches(tmp_path, 40, segment_bytes_max=512)
    sorted((tmp_path / "wal").iterdir())[0].unlink()
    with pytest.raises(CorruptLog, match="are missing"):
        reopen(tmp_path, 512)


@pytest.mark.parametrize("damage", ["zeroed", "emptied", "first batch flipped"])
def test_a_segment_damaged_from_its_start_is_refused_not_forgotten(
    tmp_path: Path, damage: str
) -> None:
    """Only what follows the last completed fsync can be torn, and a segment's
    first batch (its hard state: term and vote) was synced before the segment
    got its name. A segment zeroed whole, size kept, is damage: taking it for a
    torn tail would forget a vote and break Election Safety."""
    write_batches(tmp_path, 4)
    segment = last_segment(tmp_path)
    size = segment.stat().st_size
    if damage == "zeroed":
        segment.write_bytes(bytes(size))
    elif damage == "emptied":
        segment.write_bytes(b"")
    else:
        flip(segment, 12)
    with pytest.raises(CorruptLog, match=r"first batch|empty segment"):
        reopen(tmp_path)


def test_a_segment_whose_creation_was_cut_short_is_removed(tmp_path: Path) -> None:
    written = write_batches(tmp_path, 3)
    unfinished = tmp_path / "wal" / "0000000000000002-000000000000000a.wal.tmp"
    unfinished.write_bytes(bytes(40))
    contents = reopen(tmp_path)
    assert contents.entries == written and not unfinished.exists()
