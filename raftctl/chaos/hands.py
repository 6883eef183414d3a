"""The nemesis's hands: a fault in force, a controller scoped to one action
(and, on a sharded cluster, to the shard the fault hits), and the helpers
every kind of fault uses to pick its targets and reset what it changed.
raftctl.chaos.nemesis runs the schedule; the faults live beside it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.messages import DisarmFailpoints, SkewClock, SlowDisk
from raftctl.chaos.effects import LinkTotals, link_totals, observed
from raftctl.chaos.schedule import PROCESS_TARGETS, ScheduledFault
from raftctl.controller import Controller

__all__ = ["ACTION_TIMEOUT_S", "ActiveFault", "ControlScope", "FaultHands"]

ACTION_TIMEOUT_S = 8.0  # how long one injection may take


@dataclass(slots=True)
class ActiveFault:
    """A fault in force: what to undo at its end, and what happened."""

    fault: ScheduledFault
    rng: random.Random
    nodes: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    undo: Callable[[], None] | None = None
    step: Callable[[], None] | None = None
    step_every_s: float = 1.0
    next_step_at: float = 0.0


class FaultHands:
    """What every fault's code may call: `path` is the cluster directory and
    `scope` the shard the fault in force hits (None: the whole cluster)."""

    path: Path
    scope: int | None
    # True: no fault looks for a leader. A gossip cluster has none, and a
    # comparison (chaos --compare) must cut both clusters alike: a node drawn
    # from the fault's seed stands in wherever a shape names the leader.
    leaderless: bool = False

    def _control(self, timeout_s: float = ACTION_TIMEOUT_S) -> ControlScope:
        return ControlScope(self.path, timeout_s, self.scope)

    @staticmethod
    def _running(control: Controller) -> list[str]:
        cluster = control.cluster
        return [n for n in cluster.node_ids() if cluster.state(n) == "running"]

    def _targets(self, control: Controller, active: ActiveFault) -> list[str]:
        """The nodes a process fault hits: a word resolved now, or ids."""
        target = active.fault.target
        ids = list(control.cluster.node_ids())
        if target not in PROCESS_TARGETS:
            return [n for n in target.split("+") if n in ids]
        if target == "all":
            return ids
        if target == "leader":
            return [self._leader(control, active)]
        if target == "one":
            return [active.rng.choice(ids)]
        size = (len(ids) - 1) // 2 if target == "minority" else len(ids) // 2 + 1
        return sorted(active.rng.sample(ids, size))

    def _leader(self, control: Controller, active: ActiveFault) -> str:
        """The leader, or (leaderless) the node the fault's seed stands in for it."""
        if self.leaderless:
            return active.rng.choice(list(control.cluster.node_ids()))
        return control.leader()[0]

    @staticmethod
    def _reset_switches(control: Controller, node_id: str) -> None:
        if control.cluster.state(node_id) != "running":
            return
        client = control.client
        client.admin(node_id, DisarmFailpoints(), timeout_s=0.5)
        client.admin(node_id, SlowDisk(fsync_delay_ms=0), timeout_s=0.5)
        client.admin(node_id, SkewClock(rate=1.0), timeout_s=0.5)

    def _observing_network(self, active: ActiveFault, before: LinkTotals) -> Callable[[], None]:
        """The undo of a network fault: record what the nodes' filters did
        while it held (judged by effects.effect_missing), then clear it."""

        def undo() -> None:
            with self._control() as control:
                active.detail["observed"] = observed(before, link_totals(control))
            self._clear_network()

        return undo

    def _clear_network(self) -> None:
        with self._control() as control:
            control.write_faults(partition=(), links=())


class ControlScope:
    """A Controller with its own deadline, closed on exit: one per action, so a
    slow action never eats the next one's time."""

    def __init__(self, path: Path, timeout_s: float, shard: int | None = None) -> None:
        self.controller = Controller(path, timeout_s, shard)

    def __enter__(self) -> Controller:
        return self.controller

    def __exit__(self, *exc_info: object) -> None:
        self.controller.close()
