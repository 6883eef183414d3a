"""Storage figures (part of `make bench`): group commit, fsync rate, recovery.

- entries/s appended through Storage.persist with fsync on, for batches of 1,
  16 and 256 entries of 100 bytes: one batch is one write and one fsync, so the
  bigger the batch the fewer fsyncs per entry (group commit);
- fsyncs/s of this disk;
- the time to recover (open and replay) a log of 100k entries and of 1M.

    python -m raftctl.bench.storage [--json] [--dir DIR] [--seconds S] [--large N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from node.messages import Entry
from node.ready import HardState
from node.storage import Storage, StorageOptions

ENTRY_BYTES = 100


def append_rate(root: Path, batch: int, seconds: float) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp(dir=root))
    storage, _ = Storage.open(directory)
    payload = b"x" * ENTRY_BYTES
    index = 0
    batches = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        entries = [Entry(index + offset + 1, 1, data=payload) for offset in range(batch)]
        storage.persist(entries, HardState(1, "n1", index))
        index += batch
        batches += 1
    elapsed = time.perf_counter() - started
    storage.close()
    shutil.rmtree(directory)
    return {
        "batch": batch,
        "entries_per_second": index / elapsed,
        "fsyncs_per_second": batches / elapsed,
        "batches": batches,
    }


def recovery_time(root: Path, entry_count: int) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp(dir=root))
    storage, _ = Storage.open(directory, StorageOptions(fsync=False))
    payload = b"x" * ENTRY_BYTES
    for first in range(1, entry_count + 1, 1000):
        count = min(1000, entry_count - first + 1)
        storage.persist(
            [Entry(first + offset, 1, data=payload) for offset in range(count)],
            HardState(1, "n1", first),
        )
    storage.close()
    wal_bytes = sum(path.stat().st_size for path in (directory / "wal").iterdir())
    started = time.perf_counter()
    storage, recovered = Storage.open(directory)
    elapsed = time.perf_counter() - started
    if len(recovered.entries) != entry_count:
        raise AssertionError(f"recovered {len(recovered.entries)} of {entry_count} entries")
    storage.close()
    shutil.rmtree(directory)
    return {"entries": entry_count, "seconds": elapsed, "wal_bytes": wal_bytes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m raftctl.bench.storage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to write (default: the system temporary directory)",
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="per append measurement")
    parser.add_argument("--large", type=int, default=1_000_000, help="the large recovery")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(dir=args.dir, prefix="raftctl-bench-"))
    try:
        appends = [append_rate(root, batch, args.seconds) for batch in (1, 16, 256)]
        recoveries = [recovery_time(root, count) for count in (100_000, args.large)]
    finally:
        shutil.rmtree(root)
    report = {"append": appends, "recovery": recoveries, "directory": str(root.parent)}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"storage, fsync on, entries of {ENTRY_BYTES} bytes, in {root.parent}:")
    for row in appends:
        print(
            f"  batches of {row['batch']:>3}: {row['entries_per_second']:>10,.0f} entries/s"
            f"  ({row['fsyncs_per_second']:,.0f} fsyncs/s)"
        )
    for row in recoveries:
        print(
            f"  recovery of {row['entries']:>9,} entries: {row['seconds']:.2f}s "
            f"({row['wal_bytes'] / 1e6:.0f} MB of WAL)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
