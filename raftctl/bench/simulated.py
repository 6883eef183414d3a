"""Part of `make bench`: what the pure core costs, measured in the simulator.

Three figures, wall-clock on this machine:
- swarm seeds per second (one process): how much fault-testing a minute buys;
- entries committed per second by a healthy 3-node cluster when each loop turn
  proposes one entry, and when it proposes a batch (DESIGN.md: batch every
  proposal of a turn into one append), with their ratio;
- core Ready batches handled per second.
Network, disk and process costs come with the node server; this measures the
protocol's own per-message and per-entry overhead.

    python -m raftctl.bench.simulated [--json] [--seeds N] [--entries N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from raftctl.sim.cluster import SimCluster
from raftctl.sim.network import NetworkOptions
from raftctl.sim.swarm import run_seed


def swarm_rate(seed_count: int) -> dict[str, float]:
    started = time.perf_counter()
    messages = 0
    for seed in range(1, seed_count + 1):
        result = run_seed(seed)
        if not result.ok:
            raise SystemExit(f"bench aborted: seed {seed} failed: {result.failure}")
        messages += result.messages_delivered
    elapsed = time.perf_counter() - started
    return {
        "seeds": seed_count,
        "seconds": elapsed,
        "seeds_per_second": seed_count / elapsed,
        "messages_per_second": messages / elapsed,
    }


def commit_rate(entry_count: int, batch: int) -> dict[str, float]:
    """Commit `entry_count` entries of 100 bytes, `batch` per loop turn."""
    cluster = SimCluster(
        ["n1", "n2", "n3"],
        random.Random(1),
        network=NetworkOptions(delay_ms_min=1, delay_ms_max=2),
        config_overrides={"pre_vote": False},
    )
    cluster.campaign("n1")
    cluster.run_until(50)
    leader = cluster.nodes["n1"].core
    if leader is None or cluster.leader() != "n1":
        raise AssertionError("the benchmark's cluster did not elect n1")
    payload = b"v" * 100
    target = leader.log.last_index + entry_count
    readies_before = cluster.readies_handled
    started = time.perf_counter()
    proposed = 0
    while leader.log.commit_index < target:
        if proposed < entry_count:
            count = min(batch, entry_count - proposed)
            leader.propose([payload] * count)
            proposed += count
            cluster.drain("n1")
        cluster.run_until(cluster.now_ms + 1)
    elapsed = time.perf_counter() - started
    return {
        "entries": entry_count,
        "batch": batch,
        "seconds": elapsed,
        "entries_per_second": entry_count / elapsed,
        "readies_per_second": (cluster.readies_handled - readies_before) / elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m raftctl.bench.simulated",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--entries", type=int, default=20000)
    args = parser.parse_args(argv)
    swarm = swarm_rate(args.seeds)
    single = commit_rate(args.entries, 1)
    batched = commit_rate(args.entries, 64)
    report = {
        "swarm": swarm,
        "commit_one_per_turn": single,
        "commit_batch_64": batched,
        "batching_speedup": batched["entries_per_second"] / single["entries_per_second"],
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"swarm: {swarm['seeds_per_second']:.1f} seeds/s on one process "
        f"({swarm['messages_per_second']:,.0f} simulated messages/s)"
    )
    print(
        f"3-node commit, 1 entry per turn:   {single['entries_per_second']:>10,.0f} entries/s "
        f"({single['readies_per_second']:,.0f} Readies/s)"
    )
    print(
        f"3-node commit, 64 entries per turn: {batched['entries_per_second']:>9,.0f} entries/s "
        f"({batched['readies_per_second']:,.0f} Readies/s)"
    )
    print(f"batching speed-up: {report['batching_speedup']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
