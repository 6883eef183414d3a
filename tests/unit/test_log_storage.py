"""The node's Storage and the simulator's MemoryStorage keep one contract
(node.log_storage.LogStorage): the same calls leave the same log behind."""

from __future__ import annotations

from pathlib import Path

from node.log_storage import LogStorage
from node.messages import Entry, SnapshotMeta
from node.ready import HardState
from node.storage import Storage
from raftctl.sim.cluster import MemoryStorage

VOTERS = ("n1", "n2", "n3")


def _entries(first: int, last: int, term: int) -> list[Entry]:
    return [Entry(index, term, data=f"{index}@{term}".encode()) for index in range(first, last + 1)]


def _steps() -> list[tuple[str, tuple[object, ...]]]:
    return [
        ("persist", (_entries(1, 5, 1), HardState(1, "n1", 0))),
        ("save_snapshot", (SnapshotMeta(3, 1, VOTERS), b"state@3")),
        ("persist", (_entries(4, 6, 2), HardState(2, "n2", 3))),  # replaces 4 and 5
        ("persist", (_entries(7, 8, 2), None)),
        ("install_snapshot", (SnapshotMeta(10, 3, VOTERS), b"leader state@10")),
        ("persist", (_entries(11, 12, 3), HardState(3, "n3", 10))),
    ]


def _drive(storage: LogStorage) -> list[tuple[SnapshotMeta, bytes] | None]:
    """Run every step through the protocol; the snapshot seen after each."""
    seen = []
    for name, arguments in _steps():
        getattr(storage, name)(*arguments)
        seen.append(storage.load_snapshot())
    return seen


def test_both_storages_keep_the_same_log(tmp_path: Path) -> None:
    real, _ = Storage.open(tmp_path / "node")
    memory = MemoryStorage()
    assert _drive(real) == _drive(memory)
    real.close()
    _, recovered = Storage.open(tmp_path / "node")
    durable = memory.durable_state()
    assert recovered.entries == durable.entries == tuple(_entries(11, 12, 3))
    assert recovered.hard_state == durable.hard_state == HardState(3, "n3", 10)
    assert recovered.snapshot == durable.snapshot == SnapshotMeta(10, 3, VOTERS)
    assert recovered.snapshot_data == memory.snapshot_data == b"leader state@10"


def test_an_own_snapshot_keeps_the_entries_after_it(tmp_path: Path) -> None:
    real, _ = Storage.open(tmp_path / "node")
    memory = MemoryStorage()
    for storage in (real, memory):
        storage.persist(_entries(1, 6, 1), HardState(1, "n1", 6))
        storage.save_snapshot(SnapshotMeta(4, 1, VOTERS), b"state@4")
    real.close()
    _, recovered = Storage.open(tmp_path / "node")
    assert recovered.entries == memory.durable_state().entries == tuple(_entries(5, 6, 1))
