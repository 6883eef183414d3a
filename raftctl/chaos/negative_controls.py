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
nodes' logs) and its results name the control and what it observed
(raftctl.chaos.controls runs them; raftctl.chaos.txn_controls holds the
transactions' controls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.messages import LieAboutLog, SkewClock
from raftctl.chaos.control_run import STEP_TIMEOUT_S, ControlRun, ControlScript
from raftctl.chaos.workloads import Planned, RegisterWorkload, SetWorkload, Workload
from raftctl.cluster import wait_for
from raftctl.errors import Unavailable

__all__ = ["RAFT_CONTROLS"]

POWER_LOSS_ADDS = 30
LIAR_ADDS = 20
# Heartbeats stay inside the followers' election timeout (75 ms / 0.15 = 500 ms
# < 700 ms), while the lease stretches to 700 ms / 0.15 = 4.7 s of real time.
SLOW_CLOCK_RATE = 0.15


def _stale_read(run: ControlRun) -> None:
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


def _lease_drift(run: ControlRun) -> None:
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


def _power_loss(run: ControlRun) -> None:
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


def _liar(run: ControlRun) -> None:
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


RAFT_CONTROLS: dict[str, tuple[ControlScript, Callable[[], Workload], dict[str, Any]]] = {
    "stale-read": (_stale_read, RegisterWorkload, {}),
    "lease-drift": (_lease_drift, RegisterWorkload, {"lease_drift_ms": 0}),
    "power-loss": (_power_loss, SetWorkload, {"fsync": False, "power_loss_mode": True}),
    "liar": (_liar, SetWorkload, {}),
}
