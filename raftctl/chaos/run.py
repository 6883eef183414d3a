"""`raftctl chaos`: a workload and a nemesis against a real local cluster, then a verdict.

Rules:
- A run starts a fresh cluster in OUT/cluster (or uses the one at an explicit
  `--dir`), waits for a leader, sets the workload up, then runs the clients
  (one thread and one client session each, one operation open at a time), the
  nemesis and a monitor together for the duration.
- At the end (or on Ctrl-C) the clients finish their open operation, the
  nemesis heals everything, the cluster settles (a leader, a probe write), the
  workload's final reads run, and every checker judges what was recorded.
- OUT holds history.jsonl (written as it happens), results.json, and each
  node's node.log and events.jsonl under OUT/nodes/.
- Exit codes: 0 valid, 1 invalid, 3 the cluster never became available (no
  leader at the start, or none after healing), 5 unknown (a checker ran out
  of budget).
- The seed fixes the fault schedule and what each client does; the replay
  command printed with the verdict runs the same schedule again.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from node.messages import Put
from raftctl.chaos import cap_checks, dueling, txn_checks
from raftctl.chaos import checks as chaos_checks
from raftctl.chaos.nemesis import Nemesis
from raftctl.chaos.options import CHAOS_CLUSTER_SETTINGS, ChaosOptions
from raftctl.chaos.report import build_report
from raftctl.chaos.schedule import ScheduledFault, parse_nemesis, schedule
from raftctl.chaos.shard_faults import CoordinatorKills
from raftctl.chaos.workloads import BankWorkload, Planned, Verdict, Workload, make_workload
from raftctl.client import Client
from raftctl.cluster import ClusterDir
from raftctl.controller import Controller
from raftctl.errors import Unavailable, UsageError
from raftctl.judges.history import History
from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID
from raftctl.sides import reachable_from
from raftctl.txn.coordinator import PhaseLog

__all__ = [
    "CHAOS_CLUSTER_SETTINGS",
    "EXIT_CODES",
    "EXIT_INVALID",
    "EXIT_UNAVAILABLE",
    "EXIT_UNKNOWN",
    "ChaosOptions",
    "ChaosRun",
    "clock_pair",
    "collect_logs",
    "overall_verdict",
    "write_results",
]

EXIT_VALID, EXIT_INVALID, EXIT_UNAVAILABLE, EXIT_UNKNOWN = 0, 1, 3, 5
UNAVAILABLE = "unavailable"
EXIT_CODES = {
    VALID: EXIT_VALID,
    INVALID: EXIT_INVALID,
    UNAVAILABLE: EXIT_UNAVAILABLE,
    UNKNOWN: EXIT_UNKNOWN,
}

START_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 30.0
FINAL_READ_TIMEOUT_S = 10.0
MONITOR_EVERY_S = 0.3
SCHEDULE_OVERRUN_MAX_S = 20.0  # the most a run goes past --duration for late faults


class _Leadership(NamedTuple):
    """Who leads now, as the monitor last saw it (for the terminal view)."""

    leader: str | None = None
    term: int | None = None
    ballot: int = 0


class ChaosRun:
    """One experiment; `run()` returns its exit code and writes OUT."""

    def __init__(
        self,
        options: ChaosOptions,
        progress: Callable[[str, bool], None] | None = None,
    ) -> None:
        options.validate()
        self.options = options
        self.out = options.out
        self.workload: Workload = make_workload(options.workload, options.shards)
        self.workload.gossip = options.protocol == "gossip"
        self.workload.homed = options.leaderless
        self.coordinator_kills = CoordinatorKills()
        if isinstance(self.workload, BankWorkload):
            self.workload.coordinator_kills = self.coordinator_kills
            if options.shards > 1:
                self.workload.phases = PhaseLog(options.out / "txn-phases.jsonl")
        self.specs = parse_nemesis(options.nemesis, options.shards, options.leaderless)
        self.schedule: list[ScheduledFault] = schedule(
            self.specs, options.duration_s, options.seed, options.faults_at_once
        )
        self.progress = progress or (lambda text, final: None)
        self.stop = threading.Event()
        self.interrupted = False
        self.now_leading = _Leadership()
        self.leaders: list[dict[str, Any]] = []
        self.failures: list[BaseException] = []
        self.created_cluster = False
        self.clock = clock_pair()
        self.results: dict[str, Any] | None = None
        self.overrun_s = 0.0
        self.converged: Verdict | None = None  # gossip: how the replicas agreed after the heal

    # -- the cluster -------------------------------------------------------------------

    def cluster_path(self) -> Path:
        return self.options.cluster_dir or self.out / "cluster"

    def prepare(self) -> ClusterDir:
        """Create OUT and the cluster (or adopt the explicit one) and start it."""
        if self.out.exists() and any(self.out.iterdir()):
            raise UsageError(f"{self.out} already holds a run: choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.cluster_path()
        if not (path / "cluster.toml").exists():
            settings = {**CHAOS_CLUSTER_SETTINGS, **self.options.cluster_settings}
            if self.options.txn_protocol != "2pc":
                settings["txn_protocol"] = self.options.txn_protocol
            settings.update(self.options.protocol_settings())
            if self.options.insecure:
                settings["curve"] = False
            if any("power-cut" in spec.kinds for spec in self.specs):
                settings.setdefault("power_loss_mode", True)
            ClusterDir.create(path, self.options.nodes, 0, self.options.shards, **settings)
            self.created_cluster = True
        cluster = ClusterDir(path)
        wanted = self.options.protocol_settings(every=True)
        held = {name: getattr(cluster.config, name) for name in wanted}
        if not self.created_cluster and held != wanted:
            raise UsageError(f"{path} runs {held}, not the {wanted} this run asks for")
        if cluster.config.curve and any("byzantine" in spec.kinds for spec in self.specs):
            raise UsageError(f"{path} uses CURVE: --nemesis byzantine needs an --insecure cluster")
        for node_id in cluster.process_ids():
            if cluster.state(node_id) == "paused":
                cluster.resume(node_id)
            cluster.start(node_id)
        return cluster

    def wait_for_leader(self, timeout_s: float) -> bool:
        """A leader in every shard within `timeout_s` (gossip: every node answering)."""
        control = Controller(self.cluster_path(), timeout_s)
        try:
            if not self.options.elects_leader:
                control.wait_until(
                    lambda: all(row["role"] for row in control.status()["nodes"]), "every node"
                )
                return True
            for shard in range(1, control.cluster.config.shards + 1):
                control.leader(shard=shard)
            return True
        except Unavailable:
            return False
        finally:
            control.close()

    # -- the run -----------------------------------------------------------------------

    def run(self) -> int:
        cluster = self.prepare()
        history = History(self.options.clients, self.out / "history.jsonl")
        started_wall = time.time()
        try:
            if not self.wait_for_leader(START_TIMEOUT_S):
                return self._finish(
                    history, [], None, None, UNAVAILABLE, "no leader within 30 s of starting"
                )
            with Client(cluster.config, f"chaos-{self.options.seed}-setup") as client:
                try:
                    self.workload.setup(client, self.options.op_timeout_s * 3)
                except Unavailable as error:
                    return self._finish(
                        history, [], None, None, UNAVAILABLE, f"the workload's setup: {error}"
                    )
            nemesis = Nemesis(
                self.cluster_path(),
                history,
                self.schedule,
                self.coordinator_kills,
                self.options.leaderless,
            )
            with self._interruptible():  # a first Ctrl-C anywhere from here still checks
                run_start = time.monotonic_ns()
                self._run_phase(history, nemesis)
                run_end = time.monotonic_ns()
                for failure in self.failures:
                    raise failure
                self.progress("healing the cluster and letting it settle", True)
                nemesis.heal_all()
                heal_at = time.monotonic_ns()
                recovered = self._settle(cluster, heal_at)
                if recovered:
                    self._final_reads(history, cluster)
                history.close_open()
                window = (run_start, run_end, heal_at)
                return self._judge(history, nemesis, window, recovered, started_wall)
        finally:
            history.close()
            collect_logs(self.cluster_path(), self.out)
            if self.created_cluster and self.options.cluster_dir is None:
                ClusterDir(self.cluster_path()).stop_all(grace_s=3.0)
            if self.results is not None:
                build_report(self.out, self.results)

    def _run_phase(self, history: History, nemesis: Nemesis) -> None:
        options = self.options
        started = time.monotonic()
        threads = [
            threading.Thread(target=self._guard(self._client_loop), args=(history, c, started))
            for c in range(options.clients)
        ]
        threads.append(threading.Thread(target=self._guard(nemesis.run), args=(started, self.stop)))
        monitor = threading.Thread(target=self._guard(self._monitor), daemon=True)
        for thread in threads:
            thread.start()
        monitor.start()
        deadline = started + options.duration_s
        # A fault's undo may run late (a membership change on a busy machine):
        # the workload goes on, up to SCHEDULE_OVERRUN_MAX_S, until every
        # scheduled fault has happened, rather than dropping the last ones.
        overrun_until = deadline + SCHEDULE_OVERRUN_MAX_S
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= deadline and (nemesis.finished.is_set() or now >= overrun_until):
                break
            self.stop.wait(min(0.5, max(0.05, deadline - now)))
            self.progress(self._progress_line(started, nemesis, history), False)
        self.overrun_s = max(0.0, time.monotonic() - deadline)
        self.stop.set()
        for thread in threads:
            thread.join()
        monitor.join(timeout=5)
        self.progress(self._progress_line(started, nemesis, history), True)

    def _guard(self, target: Callable[..., None]) -> Callable[..., None]:
        """A thread's bug stops the run and is raised again on the main thread."""

        def guarded(*args: Any) -> None:
            try:
                target(*args)
            except BaseException as error:
                self.failures.append(error)
                self.stop.set()

        return guarded

    def _client_loop(self, history: History, index: int, started: float) -> None:
        options = self.options
        rng = random.Random(f"client-{options.seed}-{index}")
        interval = options.clients / options.rate if options.rate else 0.0
        due = started + rng.uniform(0, interval)
        seen: dict[Any, Any] = {}
        config = ClusterDir(self.cluster_path()).config
        node_ids = config.node_ids
        client = Client(config, f"chaos-{options.seed}-{index}-{os.getpid()}")
        if options.leaderless:  # homed beside its node: in a partition it reaches its side
            node_ids = (node_ids[index % len(node_ids)],)
            client.reachable = reachable_from(node_ids[0], config.node_ids, self.cluster_path())
        try:
            counter = 0
            while not self.stop.is_set():  # set at the end of the run (and its overrun)
                if interval:
                    due = max(due + interval, time.monotonic() - interval)
                    if self.stop.wait(max(0.0, due - time.monotonic())):
                        break
                counter += 1
                op = self.workload.plan(rng, index, counter, seen)
                self._perform(history, client, index, op, rng, node_ids, seen)
        finally:
            client.close()

    def _perform(
        self,
        history: History,
        client: Client,
        index: int,
        op: Planned,
        rng: random.Random,
        node_ids: tuple[str, ...],
        seen: dict[Any, Any],
    ) -> None:
        consistency = self.options.effective_read_consistency
        config = client.config
        if config.shards > 1 and isinstance(op.key, str):  # a stale read asks the key's shard
            node_ids = config.shard_node_ids(config.shard_of_key(op.key))
        homed = self.options.leaderless
        node = rng.choice(node_ids) if (consistency == "stale" or homed) and node_ids else None
        history.invoke(index, op.f, op.key, op.value, node)
        done = self.workload.execute(client, op, consistency, node, self.options.op_timeout_s)
        history.complete(index, done.type, done.value, done.node, done.error)
        self.workload.observe(seen, op, done)

    def _monitor(self) -> None:
        """Who leads, in which term: for the terminal view and the report."""
        while not self.stop.is_set():
            control = Controller(self.cluster_path(), 5.0)
            try:
                rows = control.status()["nodes"]
            finally:
                control.close()
            # Shard 1's leader on a sharded cluster, as a bare `leader` means.
            leader = Controller.established_leader([r for r in rows if r["shard"] == 1], None)
            name, term = leader if leader else (None, None)
            # The highest term (Paxos: ballot) any node holds: a duel's climb.
            ballot = max((row["term"] or 0 for row in rows), default=0)
            if (name, term, ballot) != self.now_leading:
                self.now_leading = _Leadership(name, term, ballot)
                self.leaders.append(
                    {"time": time.monotonic_ns(), "leader": name, "term": term, "ballot": ballot}
                )
            self.stop.wait(MONITOR_EVERY_S)

    def _progress_line(self, started: float, nemesis: Nemesis, history: History) -> str:
        elapsed = time.monotonic() - started
        counts = history.completed
        total = sum(counts.values())
        faults = ", ".join(nemesis.active_names()) or "none"
        leader = self.now_leading.leader or "-"
        term: Any = self.now_leading.term if self.now_leading.term is not None else "-"
        if self.options.protocol == "paxos" and term != "-":
            term = f"ballot {dueling.ballot_text(term)}"  # (the line says "term" for Raft)
        else:
            term = f"term {term}"
        return (
            f"chaos {min(elapsed, self.options.duration_s):5.1f}/{self.options.duration_s:g}s  "
            f"ops {total} ({counts['ok']} ok, {counts['fail']} fail, {counts['info']} info)  "
            f"{total / max(elapsed, 1e-9):5.0f} ops/s  leader {leader} {term}  "
            f"faults: {faults}"
        )

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """Ctrl-C ends the run early but still heals and checks; a second one aborts."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def interrupt(signum: int, frame: object) -> None:
            self.interrupted = True
            self.stop.set()
            signal.signal(signal.SIGINT, previous)
            print("\nraftctl: interrupted: healing, then checking", file=sys.stderr)

        previous = signal.signal(signal.SIGINT, interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- the end -----------------------------------------------------------------------

    def _settle(self, cluster: ClusterDir, heal_at: int) -> bool:
        """A leader again, and a write that gets through: the cluster recovered.
        Gossip: a write through every node; whether the replicas then agree
        is a check of its own (convergence), judged with the others."""
        if not self.wait_for_leader(SETTLE_TIMEOUT_S):
            return False
        config = ClusterDir(cluster.path).config
        if self.options.protocol == "gossip":
            with Client(config, f"chaos-{self.options.seed}-probe") as c:
                try:
                    for node_id in config.node_ids:
                        c.call(Put(f"chaos-probe-{node_id}", "1"), "stale", node_id, 5.0)
                except Unavailable:
                    return False
            self.converged = cap_checks.convergence(cluster.path, heal_at, SETTLE_TIMEOUT_S)
            return True
        probes = {config.shard_of_key(f"chaos-probe-{n}"): f"chaos-probe-{n}" for n in range(64)}
        with Client(config, f"chaos-{self.options.seed}-probe") as c:
            try:
                for key in probes.values():  # one write through each shard
                    c.call(Put(key, str(time.time())), timeout_s=SETTLE_TIMEOUT_S)
            except Unavailable:
                return False
        return True

    def _final_reads(self, history: History, cluster: ClusterDir) -> None:
        config = ClusterDir(cluster.path).config
        with Client(config, f"chaos-{self.options.seed}-final-{os.getpid()}") as client:
            for op in self.workload.final_reads():
                # Final reads are linearizable whatever the run's reads were.
                # (Gossip: from one replica, after they agreed: none is more right.)
                node, consistency = (
                    (config.node_ids[0], "stale")
                    if self.options.protocol == "gossip"
                    else (None, "linearizable")
                )
                history.invoke(0, op.f, op.key, op.value, node)
                done = self.workload.execute(client, op, consistency, node, FINAL_READ_TIMEOUT_S)
                history.complete(0, done.type, done.value, done.node, done.error)

    def _judge(
        self,
        history: History,
        nemesis: Nemesis,
        window: tuple[int, int, int],
        recovered: bool,
        started_wall: float,
    ) -> int:
        run_start, run_end, heal_at = window
        events = history.client_events()
        checks: list[Verdict] = []
        began = time.monotonic()
        checks.append(self.workload.check(events))
        checker_ms = round((time.monotonic() - began) * 1000)
        checks[0].details["elapsed_ms"] = checker_ms
        path = self.cluster_path()
        gossip = self.options.protocol == "gossip"
        if gossip and checks[0].checker == "linearizability":
            checks[0].details["expected_to_fail"] = True  # not gossip's promise: said so
        if not gossip:
            checks.append(chaos_checks.election_safety(path))
        if self.converged is not None:
            checks.append(self.converged)
        if self.workload.name == "register":
            checks.append(cap_checks.lost_writes(events))
            if gossip:  # last-writer-wins keeps one of two writes: counted, not promised
                checks[-1].details["expected_to_fail"] = True
        if recovered and not gossip:
            with Client(ClusterDir(path).config, f"chaos-{self.options.seed}-digest") as client:
                if self.options.shards > 1:
                    checks.append(txn_checks.transactions(path, client, SETTLE_TIMEOUT_S))
                checks.append(chaos_checks.state_digests_by_shard(path, client, SETTLE_TIMEOUT_S))
        checks.append(chaos_checks.tracebacks(path))
        figures = chaos_checks.availability(history.events, run_start, run_end, heal_at)
        figures["run_start_ns"] = run_start
        if self.options.leaderless:
            figures["by_side"] = cap_checks.availability_by_side(history.events, run_start)
        figures["leadership"] = dueling.leadership_figures(self.leaders, run_start, run_end)
        if self.options.dueling:
            checks.append(
                dueling.progress(
                    history.events, run_start, run_end, self.leaders, self.options.rate
                )
            )
        if self.options.shards > 1:
            figures["transactions"] = self._transaction_figures(events, (run_end - run_start) / 1e9)
        verdict = overall_verdict(checks, recovered)
        reason = None if recovered else "no leader, or no write getting through, after healing"
        return self._finish(
            history,
            checks,
            figures,
            nemesis,
            verdict,
            reason,
            started_wall=started_wall,
        )

    def _transaction_figures(self, events: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
        """In-doubt transactions a resolver finished, the longest lock hold, and
        transfers across shards against within one (per second)."""
        collect_logs(self.cluster_path(), self.out)  # the resolvers' lines are in node.log
        resolved = txn_checks.resolved_in_doubt(self.out / "nodes")
        blocked = txn_checks.resolved_in_doubt(self.out / "nodes", "TxnBlocked")
        control = Controller(self.cluster_path(), 5.0)
        try:
            status = control.status()
        finally:
            control.close()
        holds = [row.get("txn_longest_hold_ms") or 0 for row in status["nodes"]]
        coordinator = status.get("coordinator")
        # 2pc-classic and 3pc: the coordinator process's own kills and counts.
        process_kills = sum(
            1 for f in self.schedule for part in f.parts() if part.kind == "kill-coordinator"
        )
        return {
            "txn_protocol": self.options.txn_protocol,
            "in_doubt_resolved": len(resolved),
            "in_doubt_committed": sum(1 for o in resolved.values() if o == "committed"),
            "in_doubt_blocked": len(blocked),
            "coordinators_killed": len(self.coordinator_kills.killed)
            + (process_kills if coordinator is not None else 0),
            "longest_lock_hold_ms": max(holds, default=0),
            "coordinator": coordinator,
            **txn_checks.transfer_rates(events, seconds),
        }

    def _finish(
        self,
        history: History,
        checks: list[Verdict],
        figures: dict[str, Any] | None,
        nemesis: Nemesis | None,
        verdict: str,
        reason: str | None,
        started_wall: float | None = None,
    ) -> int:
        options = self.options
        exit_code = EXIT_CODES[verdict]
        self.results = {
            "ok": verdict == VALID,
            "verdict": verdict,
            "valid": "unknown" if verdict == UNKNOWN else verdict == VALID,  # Jepsen's :valid?
            "exit_code": exit_code,
            "reason": reason,
            "replay": options.replay_command(),
            "seed": options.seed,
            "workload": options.workload,
            "nodes": options.nodes,
            "shards": options.shards,
            "txn_protocol": options.txn_protocol,
            "protocol": options.protocol,
            "compared": options.compared,
            "clients": options.clients,
            "rate": options.rate,
            "duration_s": options.duration_s,
            # Seconds the run went on past --duration so that every scheduled
            # fault happened (a late undo); 0 when none ran late.
            "overrun_s": round(self.overrun_s, 3),
            "read_consistency": options.read_consistency,
            "nemesis": [spec.describe() for spec in self.specs],
            "interrupted": self.interrupted,
            "out": str(self.out),
            "cluster_dir": str(self.cluster_path()),
            "started_at": started_wall,
            "clock": self.clock,
            "operations": (figures or {}).get("operations", {}),
            "availability": figures,
            "checks": [check.to_dict() for check in checks],
            "faults": nemesis.done if nemesis is not None else [],
            # Faults that did not take effect, and why: what the run did not test.
            "faults_without_effect": [
                {"kind": fault["kind"], "start_s": fault["start_s"], "why": why}
                for fault in (nemesis.done if nemesis is not None else [])
                for why in [fault["detail"].get("skipped") or fault["detail"].get("no_effect")]
                if why
            ],
            "schedule": [fault.to_dict() for fault in self.schedule],
            "leaders": self.leaders,
            "history_events": len(history.events),
        }
        write_results(self.out, self.results)
        return exit_code


def clock_pair() -> dict[str, float]:
    """One wall-clock and one monotonic reading taken together: node events
    carry wall time, the history monotonic time; the report lines them up."""
    return {"wall": time.time(), "monotonic_ns": time.monotonic_ns()}


def overall_verdict(checks: list[Verdict], recovered: bool = True) -> str:
    """Invalid if any check is; else unavailable if the cluster never came
    back; else unknown if any check ran out of budget; else valid."""
    verdicts = {check.verdict for check in checks}
    if INVALID in verdicts:
        return INVALID
    if not recovered:
        return UNAVAILABLE
    return UNKNOWN if UNKNOWN in verdicts else VALID


def write_results(out: Path, results: dict[str, Any]) -> None:
    temporary = out / "results.json.tmp"
    temporary.write_text(json.dumps(results, indent=2, default=str) + "\n")
    temporary.replace(out / "results.json")


def collect_logs(cluster_path: Path, out: Path) -> None:
    """Every node's log and events under OUT/nodes/<id>/ (removed nodes too)."""
    if not cluster_path.is_dir():
        return
    for node_dir in sorted(p for p in cluster_path.iterdir() if p.is_dir()):
        for name in ("node.log", "events.jsonl", "exit.json", "phases.jsonl"):
            if (node_dir / name).exists():
                target = out / "nodes" / node_dir.name
                target.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(node_dir / name, target / name)
