"""Faults that exist only on a sharded cluster: the coordinator of a
transaction killed between its phases, and one shard's leader cut off.

- kill-coordinator: under 2pc-classic and 3pc, the coordinator process is
  killed and restarted when the fault ends (its participants wait, or under
  3PC decide alone). Under 2pc, while it holds, the bank workload runs each transfer
  across shards in a `raftctl txn` child process that SIGKILLs itself at a
  failpoint (raftctl.txn.coordinator: after-prepare, then after-decide, one
  second each in turn). Its locks stay until the participants' resolvers
  finish it from the decision record: the transfer must end applied on every
  shard or on none, and the total must hold.
- partition-shard: the leader of the fault's shard is cut off from its own
  followers; that shard elects again with transactions prepared in its log,
  while the other shards carry on.
"""

from __future__ import annotations

import threading

from node.config import COORDINATOR_ID
from raftctl.chaos.effects import link_totals
from raftctl.chaos.hands import ActiveFault, FaultHands
from raftctl.controller import Controller

__all__ = ["CoordinatorKills", "ShardFaults"]

KILL_POINTS = ("after-prepare", "after-decide")


class CoordinatorKills:
    """The switch between the nemesis and the bank workload: which failpoint
    the next coordinators die at (None: they run in the workload's thread),
    and what they were."""

    def __init__(self) -> None:
        self._failpoint: str | None = None
        self._lock = threading.Lock()
        self.started: list[str] = []  # "<failpoint> <from>-><to>" of each child coordinator
        self.killed: list[str] = []  # ... and of each that died at its failpoint

    @property
    def failpoint(self) -> str | None:
        with self._lock:
            return self._failpoint

    def arm(self, failpoint: str | None) -> None:
        with self._lock:
            self._failpoint = failpoint

    def began(self, what: str) -> None:
        with self._lock:
            self.started.append(what)

    def died(self, what: str) -> None:
        with self._lock:
            self.killed.append(what)


class ShardFaults(FaultHands):
    coordinator_kills: CoordinatorKills

    def _start_kill_coordinator(self, active: ActiveFault) -> None:
        with self._control() as control:
            if control.cluster.config.coordinator is not None:
                self._kill_coordinator_process(control, active)
                return
        kills = self.coordinator_kills
        order = list(KILL_POINTS)
        active.rng.shuffle(order)
        armed: list[str] = []
        already = len(kills.started)

        def next_point() -> None:
            point = order[len(armed) % len(order)]
            armed.append(point)
            kills.arm(point)

        def disarm() -> None:
            kills.arm(None)
            # A child may die after the fault ends (it starts a Python and
            # waits for locks): the ones begun while armed are its effect.
            active.detail["coordinators"] = kills.started[already:]

        active.detail["failpoints"] = armed
        active.step, active.step_every_s, active.undo = next_point, 1.0, disarm
        next_point()

    def _start_partition_shard(self, active: ActiveFault) -> None:
        with self._control() as control:
            leader = control.leader()[0]
            before = link_totals(control)
            control.write_faults(partition=((leader,),), links=())
        active.detail["nodes"] = [leader]
        active.undo = self._observing_network(active, before)

    def _kill_coordinator_process(self, control: Controller, active: ActiveFault) -> None:
        """2pc-classic and 3pc: the coordinator is one process; SIGKILL it
        and start it again when the fault ends (it recovers from its log)."""
        control.cluster.kill(COORDINATOR_ID)
        active.nodes = [COORDINATOR_ID]
        if control.cluster.state(COORDINATOR_ID) == "stopped":  # the effect, seen
            active.detail["coordinators"] = [COORDINATOR_ID]

        def restart() -> None:
            with self._control() as later:
                later.cluster.start(COORDINATOR_ID)

        active.undo = restart
