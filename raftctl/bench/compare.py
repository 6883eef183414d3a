"""raftctl beside etcd, in one run: `make bench-compare`.

Both clusters have three members on loopback with fsync on and default
settings, and take the same workloads, interleaved round by round so that
the machine's mood falls on both alike: writes with 1, 16, 64 and 256 in
flight; a 90 % read mix (linearizable reads on both); a fresh-process CLI
put; the leader killed (SIGKILL) and the time until a write is acknowledged
again; the resident memory of a member after 100,000 keys. Each figure is
the median over the rounds, with its range, and the ratio raftctl/etcd.
With --pysyncobj PYTHON (its venv's interpreter) PySyncObj takes the writes
and the memory figure too, where its API allows (raftctl/bench/pysyncobj_cluster.py).
A second raftctl cluster runs `--protocol paxos` (the same store by
Multi-Paxos, node/paxos) and takes every workload too: the Paxos column,
with its ratio to raftctl's Raft (--no-paxos leaves it out).
It measures and prints; it asserts nothing about speed.

    python -m raftctl.bench.compare [--rounds 3] [--duration 3] [--keys 100000]
                                    [--saturate 60] [--pysyncobj PYTHON] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from raftctl.bench.etcd import EtcdCluster, etcdctl_put_ms, failover_s, run_etcd_load
from raftctl.bench.live import (
    WorkloadOptions,
    WorkloadReport,
    failover_window_s,
    leader_of,
    percentile,
    run_workload,
)
from raftctl.bench.pysyncobj_cluster import PySyncObjCluster
from raftctl.client import Client
from raftctl.cluster import ClusterDir

__all__ = ["Figure", "main"]

IN_FLIGHT = (1, 16, 64, 256)
# PySyncObj answers a write in about two of its 100 ms append periods: its
# keys go in with this many in flight, or 100,000 would take minutes.
PYSYNCOBJ_KEYS_IN_FLIGHT = 2048
RAFTCTL = str(Path(sys.executable).parent / "raftctl")


@dataclass(slots=True)
class Figure:
    """One row of the table: what it measures, and each system's samples."""

    name: str
    unit: str
    higher_is_better: bool
    samples: dict[str, list[float]] = field(
        default_factory=lambda: {"raftctl": [], "paxos": [], "etcd": [], "pysyncobj": []}
    )

    def median(self, system: str) -> float | None:
        values = self.samples.get(system)
        return statistics.median(values) if values else None

    def ratio(self, other: str = "etcd", ours_of: str = "raftctl") -> float | None:
        """`ours_of` / `other` of the medians."""
        ours, theirs = self.median(ours_of), self.median(other)
        return ours / theirs if ours is not None and theirs else None

    def cell(self, system: str) -> str:
        values = self.samples.get(system)
        if not values:
            return "-"
        middle = _number(statistics.median(values))
        if len(values) == 1:
            return f"{middle} {self.unit}"
        return f"{middle} {self.unit} ({_number(min(values))}-{_number(max(values))})"

    def verdict(self, other: str = "etcd", ours_of: str = "raftctl") -> str:
        ratio = self.ratio(other, ours_of)
        if ratio is None:
            return "-"
        better = ratio > 1 if self.higher_is_better else ratio < 1
        return f"{ratio:.2f}x ({'better' if better else 'worse'})"


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: list[Figure]) -> str:
    """The markdown table; Paxos's and PySyncObj's columns when they took part."""
    third = any(figure.samples.get("pysyncobj") for figure in figures)
    paxos = any(figure.samples.get("paxos") for figure in figures)
    lines = [
        "| figure | raftctl | etcd | raftctl/etcd |"
        + (" PySyncObj | raftctl/PySyncObj |" if third else "")
        + (" raftctl paxos | paxos/raft |" if paxos else ""),
        "|---|---|---|---|" + ("---|---|" if third else "") + ("---|---|" if paxos else ""),
    ]
    for figure in figures:
        lines.append(
            f"| {figure.name} | {figure.cell('raftctl')} | {figure.cell('etcd')} "
            f"| {figure.verdict()} |"
            + (f" {figure.cell('pysyncobj')} | {figure.verdict('pysyncobj')} |" if third else "")
            + (f" {figure.cell('paxos')} | {figure.verdict('raftctl', 'paxos')} |" if paxos else "")
        )
    return "\n".join(lines)


def _raftctl_cli_put_ms(path: Path, rounds: int) -> list[float]:
    times = []
    for number in range(rounds):
        started = time.perf_counter()
        subprocess.run(
            [RAFTCTL, "--dir", str(path), "put", "cli", str(number)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        times.append((time.perf_counter() - started) * 1000)
    return times


def _uninterrupted(report: WorkloadReport) -> WorkloadReport:
    """run_workload keeps a Ctrl-C's partial figures (for `raftctl bench`);
    here Ctrl-C ends the whole comparison."""
    if report.interrupted:
        raise KeyboardInterrupt
    return report


def _rss_mib(pids: list[int]) -> float:
    sizes: list[float] = [psutil.Process(pid).memory_info().rss / 2**20 for pid in pids]
    return statistics.median(sizes)


class Bench:
    """The two clusters and the figures they fill."""

    def __init__(
        self, duration_s: float, pysyncobj_python: str | None = None, paxos: bool = True
    ) -> None:
        self.duration_s = duration_s
        self.figures: dict[str, Figure] = {}
        root = Path(tempfile.mkdtemp(prefix="raftctl-compare-"))
        self.root = root
        self.raft = ClusterDir.create(root / "cluster", 3, base_port=0, fsync=True)
        self.paxos = (
            ClusterDir.create(root / "paxos", 3, base_port=0, fsync=True, protocol="paxos")
            if paxos
            else None
        )
        self.paxos_client: Client | None = None
        self.etcd = EtcdCluster.create(3)
        self.pysyncobj = PySyncObjCluster.create(pysyncobj_python) if pysyncobj_python else None
        self.client: Client | None = None

    def figure(self, name: str, unit: str, higher_is_better: bool) -> Figure:
        return self.figures.setdefault(name, Figure(name, unit, higher_is_better))

    def start(self) -> None:
        for node_id in self.raft.node_ids():
            self.raft.start(node_id)
        leader_of(self.raft)
        self.client = Client(self.raft.config)
        if self.paxos is not None:
            for node_id in self.paxos.node_ids():
                self.paxos.start(node_id)
            leader_of(self.paxos)
            self.paxos_client = Client(self.paxos.config)
        self.etcd.start()
        if self.pysyncobj is not None:
            self.pysyncobj.start()

    def stop(self) -> None:
        for client in (self.client, self.paxos_client):
            if client is not None:
                client.close()
        for cluster in (self.raft, self.paxos):
            if cluster is not None:
                cluster.stop_all(grace_s=3)
                for node_id in cluster.node_ids():
                    cluster.kill(node_id)
        self.etcd.stop()
        if self.pysyncobj is not None:
            self.pysyncobj.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def endpoints(self) -> list[str]:
        return [self.etcd.endpoint(name) for name in self.etcd.names]

    def round(self, cli_puts: int) -> None:
        """Every workload once on each system, raftctl first, then etcd."""
        assert self.client is not None
        for in_flight in IN_FLIGHT:
            options = WorkloadOptions(clients=in_flight, duration_s=self.duration_s)
            ours = {"raftctl": _uninterrupted(run_workload(self.client, options))}
            if self.paxos_client is not None:
                ours["paxos"] = _uninterrupted(run_workload(self.paxos_client, options))
            others = {"etcd": run_etcd_load(self.endpoints(), in_flight, self.duration_s)}
            if self.pysyncobj is not None:
                others["pysyncobj"] = self.pysyncobj.load(in_flight, self.duration_s)
            self._record_load(f"writes, {in_flight} in flight", ours, others)
        mix = WorkloadOptions(clients=64, duration_s=self.duration_s, read_ratio=0.9)
        throughput = self.figure("90 % reads, 64 in flight", "ops/s", True)
        cli = self.figure("`put k v` as a fresh process, median", "ms", False)
        failover = self.figure("leader SIGKILL -> next acknowledged write", "s", False)
        for system, cluster, client in self._raftctl_systems():
            mixed = _uninterrupted(run_workload(client, mix))
            throughput.samples[system].append(mixed.throughput_per_s)
            cli.samples[system].append(
                statistics.median(_raftctl_cli_put_ms(cluster.path, cli_puts))
            )
            failover.samples[system].append(failover_window_s(cluster, client, 1)[0])
        theirs, _errors = run_etcd_load(self.endpoints(), 64, self.duration_s, read_ratio=0.9)
        throughput.samples["etcd"].append(len(theirs) / self.duration_s)
        cli.samples["etcd"].append(statistics.median(etcdctl_put_ms(self.endpoints(), cli_puts)))
        failover.samples["etcd"].append(failover_s(self.etcd))

    def _raftctl_systems(self) -> list[tuple[str, ClusterDir, Client]]:
        """raftctl's Raft cluster, and its Paxos cluster when there is one."""
        assert self.client is not None
        systems = [("raftctl", self.raft, self.client)]
        if self.paxos is not None and self.paxos_client is not None:
            systems.append(("paxos", self.paxos, self.paxos_client))
        return systems

    def _record_load(
        self,
        name: str,
        ours: dict[str, WorkloadReport],
        others: dict[str, tuple[list[float], int]],
    ) -> None:
        """raftctl's reports (Raft's, Paxos's), and each other system's
        latencies (s) and errors."""
        throughput = self.figure(f"{name}: ops/s", "ops/s", True)
        p50, p99 = (
            self.figure(f"{name}: p50", "ms", False),
            self.figure(f"{name}: p99", "ms", False),
        )
        for system, report in ours.items():
            throughput.samples[system].append(report.throughput_per_s)
            p50.samples[system].append(report.latency_ms_p50)
            p99.samples[system].append(report.latency_ms_p99)
        for system, (latencies, _errors) in others.items():
            throughput.samples[system].append(len(latencies) / self.duration_s)
            ordered = sorted(seconds * 1000 for seconds in latencies)
            if ordered:
                p50.samples[system].append(percentile(ordered, 0.5))
                p99.samples[system].append(percentile(ordered, 0.99))
        if any(r.errors for r in ours.values()) or any(e for _l, e in others.values()):
            failed = self.figure(f"{name}: errors", "", False)
            for system, report in ours.items():
                failed.samples[system].append(report.errors)
            for system, (_latencies, errors) in others.items():
                failed.samples[system].append(errors)

    def saturate(self, seconds: float) -> dict[str, dict[str, float]]:
        """`seconds` at 256 writes in flight on each; the terms before and
        after (a change is an election the load caused: there should be none)."""
        assert self.client is not None
        report: dict[str, dict[str, float]] = {}
        before = self._raft_term()
        load = run_workload(self.client, WorkloadOptions(clients=256, duration_s=seconds))
        report["raftctl"] = {
            "ops_per_s": _uninterrupted(load).throughput_per_s,
            "term_changes": self._raft_term() - before,
        }
        before = self._etcd_term()
        answered, _errors = run_etcd_load(self.endpoints(), 256, seconds)
        report["etcd"] = {
            "ops_per_s": len(answered) / seconds,
            "term_changes": self._etcd_term() - before,
        }
        return report

    def _raft_term(self) -> int:
        assert self.client is not None
        terms = [
            (self.client.status(node_id, 1.0) or {}).get("term") or 0
            for node_id in self.raft.node_ids()
        ]
        return max(terms)

    def _etcd_term(self) -> int:
        terms = [
            int(((self.etcd.status(name) or {}).get("raft_term")) or 0) for name in self.etcd.names
        ]
        return max(terms)

    def memory(self, keys: int) -> None:
        """Write `keys` distinct keys of 100 bytes to each; a member's RSS after."""
        assert self.client is not None
        value = "v" * 100
        from node.messages import Put

        self.client.pipeline((Put(f"key/{i}", value) for i in range(keys)), 64, timeout_s=60)
        _load_etcd_keys(self.endpoints(), keys)
        memory = self.figure(f"RSS per member after {keys:,} keys, median", "MiB", False)
        raft_pids = [p.pid for p in map(self.raft.process, self.raft.node_ids()) if p]
        memory.samples["raftctl"].append(_rss_mib(raft_pids))
        if self.paxos is not None and self.paxos_client is not None:
            self.paxos_client.pipeline(
                (Put(f"key/{i}", value) for i in range(keys)), 64, timeout_s=60
            )
            paxos_pids = [p.pid for p in map(self.paxos.process, self.paxos.node_ids()) if p]
            memory.samples["paxos"].append(_rss_mib(paxos_pids))
        memory.samples["etcd"].append(_rss_mib(list(self.etcd.pids().values())))
        if self.pysyncobj is not None:
            self.pysyncobj.load(PYSYNCOBJ_KEYS_IN_FLIGHT, keys=keys)
            memory.samples["pysyncobj"].append(_rss_mib(self.pysyncobj.member_pids()))


def _load_etcd_keys(endpoints: list[str], keys: int) -> None:
    """key/0 .. key/keys-1 into etcd, 64 in flight."""
    run_etcd_load(endpoints, 64, duration_s=0, distinct=keys)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m raftctl.bench.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per workload")
    parser.add_argument("--keys", type=int, default=100_000, help="keys before measuring memory")
    parser.add_argument("--cli-puts", type=int, default=5, help="fresh-process puts per round")
    parser.add_argument(
        "--saturate", type=float, default=0, help="then S seconds at 256 in flight each"
    )
    parser.add_argument(
        "--pysyncobj",
        metavar="PYTHON",
        help="the interpreter of a venv holding pysyncobj: a third column",
    )
    parser.add_argument(
        "--no-paxos", action="store_true", help="leave out the Paxos cluster's column"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("etcd") is None or shutil.which("etcdctl") is None:
        print("etcd and etcdctl are needed: make bench-compare installs them", file=sys.stderr)
        return 2
    bench = Bench(args.duration, args.pysyncobj, paxos=not args.no_paxos)
    started = time.monotonic()
    try:
        bench.start()
        for number in range(args.rounds):
            print(f"round {number + 1} of {args.rounds}...", file=sys.stderr, flush=True)
            bench.round(args.cli_puts)
        saturated = {}
        if args.saturate:
            print(f"{args.saturate:g} s at 256 in flight each...", file=sys.stderr, flush=True)
            saturated = bench.saturate(args.saturate)
        if args.keys:
            print(f"writing {args.keys:,} keys to each...", file=sys.stderr, flush=True)
            bench.memory(args.keys)
    finally:
        bench.stop()
    figures = list(bench.figures.values())
    if args.json:
        print(json.dumps({"figures": {f.name: f.samples for f in figures}, "saturated": saturated}))
    else:
        print(
            f"3 members each, loopback, fsync on, 100-byte values; {args.rounds} rounds of "
            f"{args.duration:g} s per workload, medians (range); "
            f"{time.monotonic() - started:.0f} s in all"
        )
        print(table(figures))
        for system, figures_of in saturated.items():
            print(
                f"{system}: {args.saturate:g} s at 256 writes in flight, "
                f"{figures_of['ops_per_s']:,.0f} ops/s, "
                f"{figures_of['term_changes']:.0f} term changes (elections the load caused)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
