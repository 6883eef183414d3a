"""SnapshotTaker: a snapshot packed across loop turns and written by a thread
holds the state of the index it started at, however the state changes
meanwhile; an abandoned one leaves nothing in use; a failed write stops the
node on its loop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from node.disk import DiskFaults
from node.errors import DiskFailure
from node.kv import KVStateMachine
from node.messages import Command, Entry, EntryKind, Put, SnapshotMeta, encode_command
from node.ready import HardState
from node.snapshot_taker import SnapshotTaker, WrittenSnapshot
from node.storage import Storage, StorageOptions

KEYS = 3000
PUMPS_MAX = 10_000


def _apply(kv: KVStateMachine, storage: Storage, key: str, value: str) -> None:
    command = Command("c", kv.applied_index + 1, kv.applied_index, Put(key, value))
    entry = Entry(kv.applied_index + 1, 1, EntryKind.COMMAND, encode_command(command))
    storage.persist([entry], HardState(1, "n1", entry.index))
    kv.apply(entry)


def _filled(root: Path) -> tuple[Storage, KVStateMachine]:
    storage, _ = Storage.open(root, StorageOptions(fsync=False))
    kv = KVStateMachine()
    for i in range(KEYS):
        _apply(kv, storage, f"key/{i}", f"value {i}")
    return storage, kv


def _meta(kv: KVStateMachine) -> SnapshotMeta:
    return SnapshotMeta(kv.applied_index, 1, ("n1",), ())


def test_a_snapshot_taken_beside_writes_restores_the_state_it_started_at(
    tmp_path: Path,
) -> None:
    storage, kv = _filled(tmp_path)
    at_start = (kv.applied_index, kv.digest())
    taker = SnapshotTaker(storage)
    taker.start(_meta(kv), kv.snapshot_pieces(items_per_piece=100), started=0.0)
    written: WrittenSnapshot | None = None
    pumps = 0
    deadline = time.monotonic() + 30
    while written is None and pumps < PUMPS_MAX and time.monotonic() < deadline:
        # The loop goes on applying between turns: overwrites and new keys.
        _apply(kv, storage, f"key/{pumps % 50}", "changed meanwhile")
        written = taker.pump(budget_s=0.0)  # one piece per turn
        pumps += 1
    assert written is not None and not taker.busy
    assert pumps > KEYS // 100, "the pieces were packed across turns, not at once"
    assert written.meta.index == at_start[0] and written.bytes > KEYS * 10
    storage.remove_unneeded(storage.mark_snapshot(written.meta).paths)
    storage.close()

    _, recovered = Storage.open(tmp_path, StorageOptions(fsync=False))
    assert recovered.snapshot == written.meta and recovered.snapshot_data is not None
    restored = KVStateMachine()
    restored.restore(recovered.snapshot_data)
    assert (restored.applied_index, restored.digest()) == at_start


def test_an_abandoned_snapshot_is_never_used(tmp_path: Path) -> None:
    storage, kv = _filled(tmp_path)
    taker = SnapshotTaker(storage)
    taker.start(_meta(kv), kv.snapshot_pieces(), started=0.0)
    while taker.packing:
        taker.pump(budget_s=1.0)
    taker.abandon()  # as a leader's snapshot arriving would
    assert not taker.busy and taker.pump(1.0) is None
    storage.close()

    _, recovered = Storage.open(tmp_path, StorageOptions(fsync=False))
    assert recovered.snapshot is None and len(recovered.entries) == KEYS
    assert not list((tmp_path / "snapshots").iterdir()), "the unmarked file is removed"


def test_a_failed_snapshot_write_is_raised_on_the_loop(tmp_path: Path) -> None:
    storage, kv = _filled(tmp_path)
    storage.disk.faults = DiskFaults(
        write_error="ENOSPC", write_error_after_bytes=storage.disk.bytes_written + 1000
    )
    taker = SnapshotTaker(storage)
    taker.start(_meta(kv), kv.snapshot_pieces(), started=0.0)
    deadline = time.monotonic() + 30
    with pytest.raises(DiskFailure, match="ENOSPC"):
        while taker.busy and time.monotonic() < deadline:
            taker.pump(budget_s=1.0)
            time.sleep(0.001)  # a loop turn's poll: the writer runs meanwhile
    assert not taker.busy


def test_one_snapshot_at_a_time(tmp_path: Path) -> None:
    storage, kv = _filled(tmp_path)
    taker = SnapshotTaker(storage)
    taker.start(_meta(kv), kv.snapshot_pieces(), started=0.0)
    with pytest.raises(AssertionError, match="still under way"):
        taker.start(_meta(kv), kv.snapshot_pieces(), started=0.0)
    taker.abandon()
