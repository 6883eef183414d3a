"""Negative controls: scripted runs that must end `invalid`, so we know the
checkers can fail.

- stale-read: a follower is cut off behind a partition; a write goes through
  the majority; a stale read from the cut-off follower returns the old value.
  The linearizability checker must reject the history.
- lease-drift: leases with the clock-drift bound set to zero. First a paused
  leader: on resuming it applies every tick that elapsed before it serves, so
  its lease has expired and its read is not stale (the run says so). Then the
  leader's clock is made to run at 0.15 of real speed, which is what the drift
  bound exists for, and the leader is cut off: a new leader takes a write, and the
  old one, still trusting its lease, serves a stale lease read. Invalid.
- power-loss: `fsync = false` in power-loss mode. One node is stopped, the
  other two acknowledge adds, then both lose power: the page cache is gone,
  and so are the acknowledged adds. The set checker must find them lost.
- liar: a Byzantine member. One follower is cut off; the other lies, answering
  every AppendEntries with success while appending nothing, so the leader
  counts it toward a majority and acknowledges adds only it holds. The leader
  is killed; the liar and the honest follower elect one of themselves, and
  the adds are gone. Raft tolerates crashes, not lies (the founding notes):
  the set checker must find them lost.

Each writes the same OUT as a chaos run (history.jsonl, results.json, the
nodes' logs) and its results name the control and what it observed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.messages import AdminCommand, LieAboutLog, SkewClock
from raftctl.chaos import checks as chaos_checks
from raftctl.chaos.report import build_report
from raftctl.chaos.run import (
    CHAOS_CLUSTER_SETTINGS,
    EXIT_CODES,
    EXIT_UNAVAILABLE,
    clock_pair,
    collect_logs,
    overall_verdict,
    write_results,
)
from raftctl.chaos.workloads import Planned, RegisterWorkload, SetWorkload, Verdict, Workload
from raftctl.client import Client
from raftctl.cluster import ClusterDir, wait_for
from raftctl.controller import Controller
from raftctl.errors import Unavailable, UsageError
from raftctl.judges.history import History
from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID

__all__ = ["CONTROLS", "run_control"]

CONTROL_NODES = 3
STEP_TIMEOUT_S = 20.0
POWER_LOSS_ADDS = 30
LIAR_ADDS = 20
# Heartbeats stay inside the followers' election timeout (75 ms / 0.15 = 500 ms
# < 700 ms), while the lease stretches to 700 ms / 0.15 = 4.7 s of real time.
SLOW_CLOCK_RATE = 0.15


class _Control:
    """The scaffolding of one control: its cluster, history, client and notes."""

    def __init__(self, name: str, seed: int, out: Path, workload: Workload, **settings: Any):
        if out.exists() and any(out.iterdir()):
            raise UsageError(f"{out} already holds a run: choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        self.name, self.seed, self.out, self.workload = name, seed, out, workload
        self.path = out / "cluster"
        self.cluster = ClusterDir.create(
            self.path, CONTROL_NODES, 0, **{**CHAOS_CLUSTER_SETTINGS, **settings}
        )
        self.history = History(1, out / "history.jsonl")
        self.notes: list[str] = []
        self.faults: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.clock = clock_pair()
        for node_id in self.cluster.node_ids():
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

    def do(self, op: Planned, consistency: str = "linearizable", node: str | None = None) -> Any:
        """Run one operation through the history; returns its completion."""
        self.history.invoke(0, op.f, op.key, op.value, node)
        done = self.workload.execute(self.client, op, consistency, node, STEP_TIMEOUT_S / 2)
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

    def finish(self) -> tuple[int, dict[str, Any]]:
        self.history.close_open()
        checks: list[Verdict] = [self.workload.check(self.history.client_events())]
        checks.append(chaos_checks.election_safety(self.path))
        checks.append(chaos_checks.tracebacks(self.path))
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
            "expected": INVALID,
            "notes": self.notes,
            "replay": f"raftctl chaos --control {self.name} --seed {self.seed}",
            "seed": self.seed,
            "workload": self.workload.name,
            "nodes": CONTROL_NODES,
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


def _stale_read(run: _Control) -> None:
    leader = run.leader()
    follower = next(n for n in run.cluster.node_ids() if n != leader)
    run.do(Planned("write", "r0", "before"))
    reached = wait_for(
        lambda: (
            (run.client.status(follower, 0.5) or {}).get("applied_index", 0)
            >= (run.client.status(leader, 0.5) or {}).get("commit_index", 1)
        ),
        STEP_TIMEOUT_S,
    )
    if not reached:
        raise Unavailable(f"{follower} did not catch up before the partition")
    run.fault("partition", "start", target="one", groups=[[follower]])
    run.set_network(((follower,),))
    run.do(Planned("write", "r0", "after"))
    done = run.do(Planned("read", "r0", None), "stale", follower)
    run.notes.append(f"the stale read from {follower}, cut off, returned {done.value!r}")
    run.set_network()
    run.fault("partition", "end", target="one", groups=[[follower]])
    run.do(Planned("read", "r0", None))


def _lease_drift(run: _Control) -> None:
    # Phase 1: a paused leader, drift bound 0.
    old = run.leader()
    run.do(Planned("write", "r0", "a"))
    run.do(Planned("read", "r0", None), "lease", old)
    run.fault("pause", "start", target="leader", nodes=[old])
    run.cluster.pause(old)
    run.do(Planned("write", "r0", "b"))  # times out at the paused node, then finds the new one
    run.cluster.resume(old)
    run.fault("pause", "end", target="leader", nodes=[old])
    done = run.do(Planned("read", "r0", None), "lease", old)
    served_by = done.node or "?"
    run.notes.append(
        f"phase 1 (paused leader {old}): its lease read after resuming was answered by "
        f"{served_by} with {done.value!r}: not stale, because a resumed node applies every "
        "tick that elapsed while it was stopped before it serves anything, so its lease had "
        "expired (DESIGN.md, Leases and SIGSTOP)"
    )
    # Phase 2: the leader's clock runs slow; a drift bound of 0 cannot cover it.
    leader = run.leader()
    run.do(Planned("write", "r0", "c"))
    run.do(Planned("read", "r0", None), "lease", leader)  # a fresh lease at the slow leader
    run.fault("clock", "start", target="leader", nodes=[leader], rate=SLOW_CLOCK_RATE)
    run.admin(leader, SkewClock(SLOW_CLOCK_RATE))
    run.do(Planned("read", "r0", None), "lease", leader)
    run.fault("partition", "start", target="leader", groups=[[leader]])
    run.set_network(((leader,),))
    # The majority elects a leader of its own; the write goes straight to it.
    run.client.leader_hint = run.leader()
    run.do(Planned("write", "r0", "d"))
    done = run.do(Planned("read", "r0", None), "lease", leader)
    run.notes.append(
        f"phase 2 (leader {leader}'s clock at {SLOW_CLOCK_RATE}x, cut off): its lease read "
        f"returned {done.value!r} from {done.node} after 'd' was acknowledged by the new majority"
    )
    run.set_network()
    run.fault("partition", "end", target="leader", groups=[[leader]])
    run.admin(leader, SkewClock(1.0))
    run.fault("clock", "end", target="leader", nodes=[leader], rate=SLOW_CLOCK_RATE)
    run.do(Planned("read", "r0", None))


def _power_loss(run: _Control) -> None:
    leader = run.leader()
    lagging = next(n for n in run.cluster.node_ids() if n != leader)
    majority = [n for n in run.cluster.node_ids() if n != lagging]
    run.fault("kill", "start", target="one", nodes=[lagging])
    run.cluster.kill(lagging)
    for number in range(POWER_LOSS_ADDS):
        run.do(Planned("add", "set", f"0.{number}"))
    run.fault("power-cut", "start", target="majority", nodes=majority)
    control = run.control()
    try:
        control.cluster.power_cut(majority)
    finally:
        control.close()
    run.fault("power-cut", "end", target="majority", nodes=majority)
    run.cluster.start(lagging)
    run.fault("kill", "end", target="one", nodes=[lagging])
    run.leader()
    done = run.do(Planned("read", "set", None))
    run.notes.append(
        f"{POWER_LOSS_ADDS} adds acknowledged by {', '.join(majority)} with fsync off; after "
        f"both lost power the set holds {len(done.value or [])} elements"
    )


def _liar(run: _Control) -> None:
    leader = run.leader()
    liar, honest = sorted(n for n in run.cluster.node_ids() if n != leader)
    run.do(Planned("add", "set", "0.before"))
    # Cut off, not paused: a paused node would find the entries in its socket.
    run.fault("partition", "start", target="one", groups=[[honest]])
    run.set_network(((honest,),))
    run.fault("liar", "start", target="one", nodes=[liar])
    run.admin(liar, LieAboutLog(True))
    for number in range(LIAR_ADDS):
        run.do(Planned("add", "set", f"0.{number}"))
    run.fault("kill", "start", target="leader", nodes=[leader])
    run.cluster.kill(leader)
    run.admin(liar, LieAboutLog(False))
    run.fault("liar", "end", target="one", nodes=[liar])
    run.set_network()
    run.fault("partition", "end", target="one", groups=[[honest]])
    run.client.leader_hint = None
    elected = run.leader()
    run.cluster.start(leader)  # back as a follower: its copy of the adds is overwritten
    run.fault("kill", "end", target="leader", nodes=[leader])
    done = run.do(Planned("read", "set", None))
    run.notes.append(
        f"{leader} acknowledged {LIAR_ADDS} adds counting {liar}'s lies while {honest} was "
        f"cut off; after {leader} was killed, {elected} was elected and the set holds "
        f"{len(done.value or [])} elements"
    )


CONTROLS: dict[str, tuple[Callable[[_Control], None], Callable[[], Workload], dict[str, Any]]] = {
    "stale-read": (_stale_read, RegisterWorkload, {}),
    "lease-drift": (_lease_drift, RegisterWorkload, {"lease_drift_ms": 0}),
    "power-loss": (_power_loss, SetWorkload, {"fsync": False, "power_loss_mode": True}),
    "liar": (_liar, SetWorkload, {}),
}


def run_control(
    name: str, seed: int, out: Path, progress: Callable[[str, bool], None] | None = None
) -> tuple[int, dict[str, Any]]:
    """Run the control `name`; (exit code, results). A control that could not
    play its script (no leader) exits 3 and says where it stopped."""
    script, workload, settings = CONTROLS[name]
    run = _Control(name, seed, out, workload(), **settings)
    try:
        if progress:
            progress(f"control {name}: running its script on {CONTROL_NODES} nodes", True)
        try:
            script(run)
        except Unavailable as error:
            _, results = run.finish()
            results.update(verdict="unavailable", exit_code=EXIT_UNAVAILABLE, ok=False, valid=False)
            results["reason"] = f"the script could not go on: {error}"
            write_results(out, results)
            return EXIT_UNAVAILABLE, results
        return run.finish()
    finally:
        run.close()
        if (out / "results.json").exists():
            build_report(out)
