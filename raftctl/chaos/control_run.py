"""The scaffolding of a negative control (raftctl.chaos.controls): a fresh
cluster in OUT/cluster, one client, the history, and the same OUT as a chaos
run (history.jsonl, results.json, the nodes' logs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.messages import AdminCommand
from raftctl.chaos import checks as chaos_checks
from raftctl.chaos.run import (
    CHAOS_CLUSTER_SETTINGS,
    EXIT_CODES,
    clock_pair,
    collect_logs,
    overall_verdict,
    write_results,
)
from raftctl.chaos.workloads import Planned, Verdict, Workload
from raftctl.client import Client
from raftctl.cluster import ClusterDir
from raftctl.controller import Controller
from raftctl.errors import Unavailable, UsageError
from raftctl.judges.history import History
from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID

__all__ = ["CONTROL_NODES", "STEP_TIMEOUT_S", "ControlRun", "ControlScript"]

CONTROL_NODES = 3
STEP_TIMEOUT_S = 20.0
HISTORY_CLIENTS = 3


class ControlRun:
    """The scaffolding of one control: its cluster, history, client and notes."""

    def __init__(
        self,
        name: str,
        seed: int,
        out: Path,
        workload: Workload,
        nodes: int = CONTROL_NODES,
        shards: int = 1,
        expected: str = INVALID,
        **settings: Any,
    ):
        if out.exists() and any(out.iterdir()):
            raise UsageError(f"{out} already holds a run: choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        self.name, self.seed, self.out, self.workload = name, seed, out, workload
        self.nodes, self.shards, self.expected = nodes, shards, expected
        self.path = out / "cluster"
        self.cluster = ClusterDir.create(
            self.path, nodes, 0, shards, **{**CHAOS_CLUSTER_SETTINGS, **settings}
        )
        # Client 0 is `do`'s; a script may play more by hand (no-isolation's two).
        self.history = History(HISTORY_CLIENTS, out / "history.jsonl")
        self.notes: list[str] = []
        self.faults: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.clock = clock_pair()
        for node_id in self.cluster.process_ids():
            self.cluster.start(node_id)
        self.client = Client(self.cluster.config, f"control-{name}-{seed}")

    def control(self) -> Controller:
        return Controller(self.path, STEP_TIMEOUT_S)

    def leader(self) -> str:
        control = self.control()
        try:
            return control.leader()[0]
        finally:
            control.close()

    def do(
        self,
        op: Planned,
        consistency: str = "linearizable",
        node: str | None = None,
        timeout_s: float = STEP_TIMEOUT_S / 2,
    ) -> Any:
        """Run one operation through the history (as client 0); returns its completion."""
        self.history.invoke(0, op.f, op.key, op.value, node)
        done = self.workload.execute(self.client, op, consistency, node, timeout_s)
        self.history.complete(0, done.type, done.value, done.node, done.error)
        return done

    def fault(self, name: str, phase: str, **detail: Any) -> None:
        self.history.fault(name, phase, **detail)
        if phase == "end":
            self.faults.append({"kind": name, "detail": detail})

    def set_network(self, partition: tuple[tuple[str, ...], ...] = ()) -> None:
        control = self.control()
        try:
            control.write_faults(partition=partition, links=())
        finally:
            control.close()

    def admin(self, node_id: str, command: AdminCommand) -> None:
        answer = self.client.admin(node_id, command, timeout_s=2.0)
        if not answer or not answer.get("ok"):
            raise Unavailable(f"{node_id} did not accept {command}: {answer}")

    def finish(self, extra: list[Verdict] | None = None) -> tuple[int, dict[str, Any]]:
        self.history.close_open()
        checks: list[Verdict] = [self.workload.check(self.history.client_events())]
        checks.append(chaos_checks.election_safety(self.path))
        checks.append(chaos_checks.tracebacks(self.path))
        checks += extra or []
        verdict = overall_verdict(checks)
        exit_code = EXIT_CODES[verdict]
        events = self.history.events
        first, last = (events[0]["time"], events[-1]["time"]) if events else (0, 0)
        figures = chaos_checks.availability(events, first, last, None)
        results = {
            "ok": verdict == VALID,
            "verdict": verdict,
            "valid": "unknown" if verdict == UNKNOWN else verdict == VALID,
            "exit_code": exit_code,
            "reason": None,
            "control": self.name,
            "expected": self.expected,
            "notes": self.notes,
            "replay": f"raftctl chaos --control {self.name} --seed {self.seed}",
            "seed": self.seed,
            "workload": self.workload.name,
            "nodes": self.nodes,
            "shards": self.shards,
            "txn_protocol": self.cluster.config.txn_protocol,
            "clients": 1,
            "duration_s": round(time.monotonic() - self.started, 1),
            "read_consistency": None,
            "nemesis": [],
            "interrupted": False,
            "out": str(self.out),
            "cluster_dir": str(self.path),
            "operations": figures["operations"],
            "availability": figures,
            "checks": [check.to_dict() for check in checks],
            "faults": self.faults,
            "schedule": [],
            "leaders": [],
            "clock": self.clock,
            "history_events": len(events),
        }
        write_results(self.out, results)
        return exit_code, results

    def close(self) -> None:
        self.client.close()
        self.history.close()
        collect_logs(self.path, self.out)
        self.cluster.stop_all(grace_s=3.0)


# A control's script plays its faults on the run; it may return more verdicts
# for the results (a finding that is not a history's: 2pc-blocking's window).
ControlScript = Callable[[ControlRun], list[Verdict] | None]
