"""Storage against a model, power-loss mode, injected disk faults and snapshots."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.disk import DiskFaults
from node.errors import CorruptSnapshot, DiskFailure, LostState
from node.lives import Lives
from node.messages import Entry
from node.ready import HardState
from node.storage import SnapshotMeta, Storage, StorageOptions
from raftctl.cluster import ClusterDir
from raftctl.errors import Unavailable

SMALL_SEGMENTS = StorageOptions(segment_bytes_max=700)


def make_entries(first: int, count: int, term: int) -> list[Entry]:
    return [
        Entry(index, term, data=f"{index}:{term}".encode() * 3)
        for index in range(first, first + count)
    ]


# -- the model test -----------------------------------------------------------------

operation = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 8), st.integers(1, 6), st.booleans()),
    st.tuples(st.just("snapshot"), st.integers(0, 100)),
    st.tuples(st.just("torn-crash"), st.integers(1, 10_000)),
    st.tuples(
        st.just("crash"),
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=40))
def test_recovery_always_equals_the_synced_model(operations: list[tuple]) -> None:  # type: ignore[type-arg]
    """Random batches (appends that may overwrite a suffix), hard states,
    snapshots, and crashes, some in the middle of writing a batch: what comes
    back is always exactly what was synced."""
    root = Path(tempfile.mkdtemp())
    try:
        storage, _ = Storage.open(root, SMALL_SEGMENTS)
        model: list[Entry] = []  # entries after the snapshot
        snapshot_index = 0
        hard_state = HardState()
        term = 1
        for op in operations:
            if op[0] == "append":
                _, back, count, with_hard_state = op
                first = max(snapshot_index + 1, snapshot_index + len(model) + 1 - back)
                term += 1
                new = make_entries(first, count, term)
                new_hard_state = HardState(term, "n1", snapshot_index) if with_hard_state else None
                storage.persist(new, new_hard_state)
                del model[first - snapshot_index - 1 :]
                model.extend(new)
                hard_state = new_hard_state or hard_state
            elif op[0] == "snapshot":
                last = snapshot_index + len(model)
                index = snapshot_index + (op[1] % (len(model) + 1))
                if index > snapshot_index:
                    meta_term = model[index - snapshot_index - 1].term
                    storage.save_snapshot(SnapshotMeta(index, meta_term, ("n1",)), b"state")
                    model = model[index - snapshot_index :]
                    snapshot_index = index
                assert last == snapshot_index + len(model)
            else:
                if op[0] == "torn-crash":
                    # The next batch was being written when the process died.
                    segment = storage.wal.segment_paths()[-1]
                    before = segment.stat().st_size
                    torn = make_entries(snapshot_index + len(model) + 1, 2, 999)
                    # The process dies inside this write: what persist does
                    # after the WAL (marking node.lives) never happens.
                    lives = (root / "lives").read_bytes()
                    storage.persist(torn, None)
                    (root / "lives").write_bytes(lives)
                    if storage.wal.segment_paths()[-1] == segment:
                        after = segment.stat().st_size
                        segment.write_bytes(
                            segment.read_bytes()[: before + op[1] % (after - before)]
                        )
                    else:
                        model.extend(torn)  # it opened a new segment and was synced whole
                storage.close()
                storage, recovered = Storage.open(root, SMALL_SEGMENTS)
                assert list(recovered.entries) == model
                assert recovered.hard_state == hard_state
                assert (recovered.snapshot.index if recovered.snapshot else 0) == snapshot_index
        storage.close()
        _, recovered = Storage.open(root, SMALL_SEGMENTS)
        assert list(recovered.entries) == model
    finally:
        shutil.rmtree(root)


# -- power-loss mode ------------------------------------------------------------------


def write_and_cut_power(root: Path, fsync: bool, batches: int = 20) -> list[Entry]:
    options = StorageOptions(fsync=fsync, power_loss_mode=True)
    storage, _ = Storage.open(root, options)
    written = []
    for batch in range(batches):
        new = make_entries(batch * 2 + 1, 2, 1)
        storage.persist(new, HardState(1, "n1", 0))
        written.extend(new)
    # Power cut: no close, no flush; the next start cuts files to the ledger.
    return written


def test_power_loss_with_fsync_keeps_everything_synced(tmp_path: Path) -> None:
    written = write_and_cut_power(tmp_path, fsync=True)
    storage, recovered = Storage.open(
        tmp_path, StorageOptions(power_loss_mode=True), after_power_loss=True
    )
    assert list(recovered.entries) == written
    assert recovered.hard_state == HardState(1, "n1", 0)
    storage.close()


def test_power_loss_without_fsync_loses_data_the_mode_has_teeth(tmp_path: Path) -> None:
    written = write_and_cut_power(tmp_path, fsync=False)
    _, after_kill = Storage.open(tmp_path)  # kill -9 alone: the page cache survives
    assert list(after_kill.entries) == written
    # (Reopened as it was written, fsync off: with fsync on, a node that lost
    # the state it held refuses to start, LostState below.)
    _, after_power_cut = Storage.open(tmp_path, StorageOptions(fsync=False), after_power_loss=True)
    assert list(after_power_cut.entries) == []
    assert any("never synced" in warning for warning in after_power_cut.warnings)


def test_power_loss_drops_the_batch_whose_fsync_never_completed(tmp_path: Path) -> None:
    options = StorageOptions(
        power_loss_mode=True, faults=DiskFaults(fsync_error="EIO", fsync_error_after_calls=4)
    )
    storage, _ = Storage.open(tmp_path, options)  # the segment header takes one fsync
    kept = []
    for batch in range(3):
        new = make_entries(batch + 1, 1, 1)
        storage.persist(new, None)
        kept.append(new[0])
    with pytest.raises(DiskFailure):
        storage.persist(make_entries(4, 1, 1), None)
    _, recovered = Storage.open(tmp_path, after_power_loss=True)
    assert list(recovered.entries) == kept


# -- injected disk faults ----------------------------------------------------------------


@pytest.mark.parametrize("error", ["ENOSPC", "EIO"])
@pytest.mark.parametrize("limit", [100, 333, 1000, 2500])
def test_a_failed_write_refuses_cleanly_and_never_corrupts(
    tmp_path: Path, error: str, limit: int
) -> None:
    options = StorageOptions(faults=DiskFaults(write_error=error, write_error_after_bytes=limit))
    acknowledged: list[Entry] = []
    try:
        storage, _ = Storage.open(tmp_path, options)
        for batch in range(100):
            new = make_entries(batch * 3 + 1, 3, 1)
            storage.persist(new, None)
            acknowledged.extend(new)
    except DiskFailure as failure:
        assert error in str(failure)
    else:
        pytest.fail("the injected fault never fired")
    if acknowledged:
        with pytest.raises(DiskFailure, match="refusing to go on"):
            storage.persist(make_entries(len(acknowledged) + 1, 1, 1), None)
    _, recovered = Storage.open(tmp_path)
    assert list(recovered.entries) == acknowledged


def test_a_failed_fsync_poisons_the_disk(tmp_path: Path) -> None:
    options = StorageOptions(faults=DiskFaults(fsync_error="EIO", fsync_error_after_calls=3))
    storage, _ = Storage.open(tmp_path, options)
    storage.persist(make_entries(1, 1, 1), None)
    storage.persist(make_entries(2, 1, 1), None)
    with pytest.raises(DiskFailure, match=r"fsync .* EIO"):
        storage.persist(make_entries(3, 1, 1), None)
    with pytest.raises(DiskFailure, match="refusing to go on"):
        storage.persist(make_entries(3, 1, 1), None)  # a retry is refused too
    _, recovered = Storage.open(tmp_path)
    # The failed batch may or may not be on disk: it was never acknowledged.
    assert [e.index for e in recovered.entries][:2] == [1, 2]


def test_slow_fsync_delays_every_sync(tmp_path: Path) -> None:
    slept: list[float] = []
    storage, _ = Storage.open(tmp_path)
    storage.disk.faults = DiskFaults(fsync_delay_ms=50)
    storage.disk._sleep = slept.append
    storage.persist(make_entries(1, 1, 1), None)
    assert slept == [0.05]


def test_fsync_off_is_reported_and_skips_syncs(tmp_path: Path) -> None:
    storage, _ = Storage.open(tmp_path, StorageOptions(fsync=False))
    storage.persist(make_entries(1, 5, 1), None)
    assert not storage.fsync_enabled and storage.disk.fsyncs == 0


# -- snapshots -------------------------------------------------------------------------


def test_snapshot_round_trip_and_compaction(tmp_path: Path) -> None:
    storage, _ = Storage.open(tmp_path, SMALL_SEGMENTS)
    written = []
    for batch in range(40):
        new = make_entries(batch * 2 + 1, 2, 1)
        storage.persist(new, HardState(1, "n1", batch * 2))
        written.extend(new)
    segments_before = len(storage.wal.segment_paths())
    released = storage.save_snapshot(SnapshotMeta(60, 1, ("n1", "n2", "n3")), b"kv" * 1000)
    storage.close()
    assert released > 0 and len(storage.wal.segment_paths()) < segments_before
    _, recovered = Storage.open(tmp_path, SMALL_SEGMENTS)
    assert recovered.snapshot == SnapshotMeta(60, 1, ("n1", "n2", "n3"))
    assert recovered.snapshot_data == b"kv" * 1000
    assert list(recovered.entries) == written[60:]
    assert [p.name for p in (tmp_path / "snapshots").iterdir()] == [
        "0000000000000001-000000000000003c.snap"
    ]


def test_an_installed_snapshot_replaces_the_whole_log(tmp_path: Path) -> None:
    """A follower's log disagreed with the leader's snapshot: entries past the
    snapshot's index, which the core threw away, must not come back at restart."""
    storage, _ = Storage.open(tmp_path, SMALL_SEGMENTS)
    storage.persist(make_entries(1, 30, 1), HardState(1, None, 5))
    meta = SnapshotMeta(20, 2, ("n1", "n2", "n3"), ("n4",))
    storage.install_snapshot(meta, b"leader state")
    storage.persist([], HardState(2, None, 20))
    storage.close()
    storage, recovered = Storage.open(tmp_path, SMALL_SEGMENTS)
    assert recovered.snapshot == meta and recovered.snapshot_data == b"leader state"
    assert list(recovered.entries) == []
    after = make_entries(21, 3, 2)
    storage.persist(after, None)
    storage.close()
    _, recovered = Storage.open(tmp_path, SMALL_SEGMENTS)
    assert list(recovered.entries) == after
    # A compaction later still leaves the replaced entries out.
    storage, _ = Storage.open(tmp_path, SMALL_SEGMENTS)
    storage.save_snapshot(SnapshotMeta(22, 2, ("n1", "n2", "n3")), b"later")
    storage.close()
    _, recovered = Storage.open(tmp_path, SMALL_SEGMENTS)
    assert list(recovered.entries) == after[2:]


def test_a_damaged_snapshot_refuses_to_start(tmp_path: Path) -> None:
    storage, _ = Storage.open(tmp_path)
    storage.persist(make_entries(1, 5, 1), None)
    storage.save_snapshot(SnapshotMeta(3, 1, ("n1",)), b"state" * 10)
    storage.close()
    (path,) = (tmp_path / "snapshots").iterdir()
    data = bytearray(path.read_bytes())
    data[30] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshot, match="checksum"):
        Storage.open(tmp_path)


def test_a_snapshot_never_marked_is_ignored(tmp_path: Path) -> None:
    """A crash after the snapshot file's rename but before the WAL mark leaves
    the old state in force; the unmarked file is removed."""
    storage, _ = Storage.open(tmp_path)
    storage.persist(make_entries(1, 5, 1), None)
    storage.save_snapshot(SnapshotMeta(2, 1, ("n1",)), b"old")
    (tmp_path / "snapshots" / "0000000000000001-0000000000000004.snap").write_bytes(b"junk")
    (tmp_path / "snapshots" / "x.snap.tmp").write_bytes(b"junk")
    storage.close()
    _, recovered = Storage.open(tmp_path)
    assert recovered.snapshot is not None and recovered.snapshot.index == 2
    assert [e.index for e in recovered.entries] == [3, 4, 5]
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [
        "0000000000000001-0000000000000002.snap"
    ]


# -- lives: the incarnation and lost state (node.lives) ----------------------------------


def test_each_start_has_a_higher_incarnation_even_when_the_clock_steps_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, first = Storage.open(tmp_path)
    monkeypatch.setattr("node.lives.time.time_ns", lambda: 0)  # the clock went back
    _, second = Storage.open(tmp_path)
    _, third = Storage.open(tmp_path)
    assert first.incarnation < second.incarnation < third.incarnation


def test_a_node_killed_before_it_held_any_state_starts_again(tmp_path: Path) -> None:
    Storage.open(tmp_path)
    _, recovered = Storage.open(tmp_path)  # nothing was ever persisted: nothing to forget
    assert recovered.hard_state == HardState() and not recovered.entries


def test_a_node_whose_state_is_gone_refuses_to_start_unless_rejoining(tmp_path: Path) -> None:
    storage, _ = Storage.open(tmp_path)
    storage.persist([], HardState(3, "n2", 0))  # it voted
    storage.close()
    shutil.rmtree(tmp_path / "wal")
    shutil.rmtree(tmp_path / "snapshots")
    with pytest.raises(LostState, match="must not vote again"):
        Storage.open(tmp_path)
    storage, recovered = Storage.open(tmp_path, rejoining=True)
    assert recovered.hard_state == HardState() and not storage.lives.held_state
    storage.persist(make_entries(1, 1, 4), HardState(4, None, 0))
    assert Lives.read(tmp_path).held_state  # from now on, losing it is refused again


def test_a_voter_whose_whole_directory_vanished_is_not_started(tmp_path: Path) -> None:
    """With its directory went its record of lives, so the node cannot know;
    its peers' records say that the cluster has run, and the controller
    refuses to start it as a fresh voter (no process is spawned)."""
    cluster = ClusterDir.create(tmp_path / "cluster", 3, base_port=0, curve=False)
    (tmp_path / "cluster" / "n1").mkdir()
    Lives(7, held_state=True).write(tmp_path / "cluster" / "n1", fsync=False)
    with pytest.raises(Unavailable, match="raftctl rejoin n3"):
        cluster.start("n3")
    assert not (tmp_path / "cluster" / "n3").exists()


def test_a_commit_index_alone_is_kept_back_until_a_promise_or_a_clean_stop(
    tmp_path: Path,
) -> None:
    """etcd's MustSync: entries, a term and a vote are synced at once; a hard
    state that only moves the commit index is written with the next batch
    (or at close). A crash in between restarts with the older commit index,
    which the leader tells again."""
    storage, _ = Storage.open(tmp_path)
    storage.persist(make_entries(1, 3, 1), HardState(1, "n1", 0))
    storage.persist([], HardState(1, "n1", 2))  # commit only: kept back
    _, crashed = Storage.open(tmp_path)  # no close: as after kill -9
    assert crashed.hard_state == HardState(1, "n1", 0) and len(crashed.entries) == 3

    storage.persist(make_entries(4, 1, 1), None)  # the next batch carries it
    _, recovered = Storage.open(tmp_path)
    assert recovered.hard_state == HardState(1, "n1", 2) and len(recovered.entries) == 4

    storage.persist([], HardState(1, "n1", 4))
    storage.persist([], HardState(2, None, 4))  # a new term is a promise: at once
    _, recovered = Storage.open(tmp_path)
    assert recovered.hard_state == HardState(2, None, 4)

    storage.persist([], HardState(2, None, 5))
    storage.close()  # a clean stop writes what it kept back
    _, recovered = Storage.open(tmp_path)
    assert recovered.hard_state == HardState(2, None, 5)
