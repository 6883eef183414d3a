"""Benchmarks of a real cluster: throughput, latency, failover, memory, catch-up,
the stall of a snapshot, catch-up through InstallSnapshot, leadership transfer.

Rules: figures are wall-clock on this machine, reported with the settings that
produced them; they are benchmarks, never assertions of a test. Every loop is
bounded in time. The cluster of `main()` lives in a temporary directory, binds
127.0.0.1 on free ports and is stopped, by pid, whatever happens.

    python -m raftctl.bench.live [--json] [--duration S] [--keys N] [--failovers N]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node.messages import Get, Operation, Put, TakeSnapshot, TransferLeader
from raftctl.client import Client, Outcome
from raftctl.cluster import ClusterDir, wait_for
from raftctl.controller import Controller
from raftctl.errors import Unavailable

__all__ = ["WorkloadOptions", "WorkloadReport", "percentile", "run_workload"]


@dataclass(frozen=True, slots=True)
class WorkloadOptions:
    """`clients` operations in flight for `duration_s`; reads are `read_ratio`."""

    clients: int = 1
    duration_s: float = 5.0
    value_size: int = 100
    read_ratio: float = 0.0
    key_space: int = 10_000
    seed: int = 1
    operation_timeout_s: float = 10.0  # one operation's deadline, retries included


@dataclass(frozen=True, slots=True)
class WorkloadReport:
    options: WorkloadOptions
    operations: int
    errors: int
    elapsed_s: float
    throughput_per_s: float
    latency_ms_p50: float
    latency_ms_p90: float
    latency_ms_p99: float
    latency_ms_max: float
    interrupted: bool = False  # Ctrl-C: the figures cover what finished before it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _answers(client: Client, node_id: str) -> Callable[[], bool]:
    """True once `node_id` answers a status request."""
    return lambda: client.status(node_id, 0.3) is not None


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def _operations(options: WorkloadOptions) -> Iterator[Operation]:
    rng = random.Random(options.seed)
    value = "v" * options.value_size
    while True:
        key = f"bench/{rng.randrange(options.key_space)}"
        yield Get(key) if rng.random() < options.read_ratio else Put(key, value)


def run_workload(
    client: Client, options: WorkloadOptions, on_done: Callable[[Outcome], None] | None = None
) -> WorkloadReport:
    """Keep `options.clients` operations in flight until the duration is over.
    Ctrl-C ends it early: the report covers the operations finished by then."""
    started = time.monotonic()
    outcomes: list[Outcome] = []

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)

    interrupted = False
    try:
        client.pipeline(
            _operations(options),
            options.clients,
            timeout_s=options.operation_timeout_s,
            on_done=done,
            stop_at=started + options.duration_s,
        )
    except KeyboardInterrupt:
        interrupted = True
    elapsed = time.monotonic() - started
    succeeded = sorted(o.latency_s * 1000 for o in outcomes if o.ok)
    return WorkloadReport(
        options=options,
        operations=len(succeeded),
        errors=len(outcomes) - len(succeeded),
        elapsed_s=elapsed,
        throughput_per_s=len(succeeded) / elapsed if elapsed else 0.0,
        latency_ms_p50=percentile(succeeded, 0.50),
        latency_ms_p90=percentile(succeeded, 0.90),
        latency_ms_p99=percentile(succeeded, 0.99),
        latency_ms_max=succeeded[-1] if succeeded else 0.0,
        interrupted=interrupted,
    )


def leader_of(cluster: ClusterDir, timeout_s: float = 30.0) -> str:
    """The leader a majority follows (the controller's own rule), within `timeout_s`."""
    control = Controller(cluster.path, timeout_s)
    try:
        return control.leader()[0]
    finally:
        control.close()


def failover_window_s(cluster: ClusterDir, client: Client, rounds: int) -> list[float]:
    """SIGKILL the leader; time until a write is acknowledged again."""
    windows = []
    for round_number in range(rounds):
        leader = leader_of(cluster)
        client.call(Put("failover", f"before-{round_number}"))
        killed_at = time.monotonic()
        cluster.kill(leader)
        client.call(Put("failover", f"after-{round_number}"), timeout_s=30)
        windows.append(time.monotonic() - killed_at)
        cluster.start(leader)
        wait_for(_answers(client, leader), 30)
    return windows


def write_keys(client: Client, count: int, value_size: int = 100) -> list[Outcome]:
    value = "v" * value_size
    return client.pipeline((Put(f"key/{i}", value) for i in range(count)), 64, timeout_s=30)


def catch_up_s(cluster: ClusterDir, client: Client) -> float:
    """Restart a follower holding the whole log; time until it applied it all."""
    leader = leader_of(cluster)
    follower = next(n for n in cluster.node_ids() if n != leader)
    cluster.stop(follower)
    return _restart_until_caught_up(cluster, client, leader, follower)


def _restart_until_caught_up(
    cluster: ClusterDir, client: Client, leader: str, follower: str
) -> float:
    """Start `follower`; seconds until it applied all the leader has committed."""
    target = client.status(leader)["commit_index"]  # type: ignore[index]
    started = time.monotonic()
    cluster.start(follower)

    def caught_up() -> bool:
        status = client.status(follower, 0.3)
        return status is not None and status["applied_index"] >= target

    if not wait_for(caught_up, 120, interval_s=0.02):
        raise Unavailable(f"{follower} did not catch up within 120s")
    return time.monotonic() - started


def snapshot_stall_ms(cluster: ClusterDir, client: Client) -> dict[str, Any]:
    """Ask the leader for a snapshot of everything applied; the node reports how
    long serialising and saving held its event loop."""
    answer = client.admin(leader_of(cluster), TakeSnapshot(), timeout_s=60)
    if answer is None or not answer.get("ok"):
        raise Unavailable(f"the leader did not take a snapshot: {answer}")
    return answer


def snapshot_catch_up_s(cluster: ClusterDir, client: Client, writes: int) -> float:
    """A follower down while `writes` more keys are written and the log is
    compacted past it; time from its restart until it applied everything."""
    leader = leader_of(cluster)
    follower = next(n for n in cluster.node_ids() if n != leader)
    cluster.stop(follower)
    client.pipeline((Put(f"late/{i}", "v" * 100) for i in range(writes)), 64, timeout_s=60)
    snapshot_stall_ms(cluster, client)
    return _restart_until_caught_up(cluster, client, leader, follower)


def transfer_ms(cluster: ClusterDir, client: Client, rounds: int) -> list[float]:
    """Hand leadership to another voter and time until it leads."""
    times = []
    for _ in range(rounds):
        leader = leader_of(cluster)
        target = random.choice([n for n in cluster.node_ids() if n != leader])
        started = time.monotonic()
        client.admin(leader, TransferLeader(target))

        def target_leads(target: str = target) -> bool:
            status = client.status(target, 0.3)
            return status is not None and status["role"] == "leader"

        if not wait_for(target_leads, 10, interval_s=0.002):
            raise Unavailable(f"{target} did not take over within 10s")
        times.append((time.monotonic() - started) * 1000)
    return times


def rss_mb(cluster: ClusterDir) -> dict[str, float]:
    sizes = {}
    for node_id in cluster.node_ids():
        process = cluster.process(node_id)
        if process is not None:
            sizes[node_id] = process.memory_info().rss / 1e6
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m raftctl.bench.live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per workload")
    parser.add_argument("--keys", type=int, default=100_000, help="keys for memory and catch-up")
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="raftctl-bench-"))
    cluster = ClusterDir.create(root / "cluster", args.nodes, base_port=0, fsync=True)
    report: dict[str, Any] = {"nodes": args.nodes, "fsync": True}
    client = Client(cluster.config)
    try:
        for node_id in cluster.node_ids():
            cluster.start(node_id)
        leader_of(cluster)
        report["workloads"] = [
            run_workload(client, WorkloadOptions(clients=c, duration_s=args.duration)).to_json()
            for c in (1, 64)
        ]
        windows = failover_window_s(cluster, client, args.failovers)
        report["failover_s"] = {"median": statistics.median(windows), "all": windows}
        started = time.monotonic()
        written = write_keys(client, args.keys)
        report["load"] = {"keys": sum(o.ok for o in written), "seconds": time.monotonic() - started}
        report["rss_mb_after_keys"] = rss_mb(cluster)
        report["catch_up_s"] = catch_up_s(cluster, client)
        report["snapshot"] = snapshot_stall_ms(cluster, client)
        report["snapshot_catch_up_s"] = snapshot_catch_up_s(cluster, client, 10_000)
        transfers = transfer_ms(cluster, client, args.failovers)
        report["transfer_ms"] = {"median": statistics.median(transfers), "all": transfers}
    finally:
        client.close()
        cluster.stop_all(grace_s=3)
        for node_id in cluster.node_ids():
            cluster.kill(node_id)
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(report))
    else:
        _print_report(report)
    return 0


def _print_report(report: dict[str, Any]) -> None:
    print(f"cluster: {report['nodes']} nodes, fsync on, 127.0.0.1")
    for workload in report["workloads"]:
        options = workload["options"]
        print(
            f"  writes, {options['clients']:>2} in flight, {options['value_size']} B values: "
            f"{workload['throughput_per_s']:>8,.0f} ops/s   p50 {workload['latency_ms_p50']:.1f} "
            f"ms  p90 {workload['latency_ms_p90']:.1f}  p99 {workload['latency_ms_p99']:.1f}  "
            f"max {workload['latency_ms_max']:.1f}  ({workload['errors']} errors)"
        )
    failover = report["failover_s"]
    print(
        f"  failover after SIGKILL of the leader: median {failover['median']:.2f} s "
        f"({', '.join(f'{w:.2f}' for w in failover['all'])})"
    )
    load = report["load"]
    print(
        f"  {load['keys']:,} keys written in {load['seconds']:.1f} s; RSS per node: "
        + ", ".join(f"{n} {mb:.0f} MB" for n, mb in report["rss_mb_after_keys"].items())
    )
    print(f"  restart to caught up after {load['keys']:,} writes: {report['catch_up_s']:.2f} s")
    snapshot = report["snapshot"]
    print(
        f"  snapshot of the leader at index {snapshot['index']:,}: {snapshot['bytes']:,} bytes, "
        f"event loop held {snapshot['stall_ms']:.1f} ms"
    )
    print(
        "  follower down through 10,000 writes and a compaction, restart to caught up "
        f"through InstallSnapshot: {report['snapshot_catch_up_s']:.2f} s"
    )
    transfer = report["transfer_ms"]
    print(
        f"  leadership transfer: median {transfer['median']:.0f} ms "
        f"({', '.join(f'{t:.0f}' for t in transfer['all'])})"
    )


if __name__ == "__main__":
    sys.exit(main())
