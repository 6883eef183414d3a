"""The chaos nemesis: the hands that inject a schedule of faults
(raftctl.chaos.schedule) into a real cluster.

Rules:
- Choices that depend on the cluster at the moment (who leads, which nodes
  run) are drawn from a generator seeded per fault.
- One fault at a time (a compound fault's parts start, hold and end
  together, each recorded as its own fault); every fault is undone at its end, and `heal_all`
  undoes anything still in force (paused or stopped nodes, network faults,
  failpoints, slow disks, skewed clocks), so a run always ends healed.
- Every start and end is an event of the history's "nemesis" process, with
  what was done to whom; a fault that could not be injected (no leader to
  isolate, a refused transfer) says so in its end event (`skipped`).
- Faults go through the documented doors only: signals via psutil by pid,
  faults.toml, and the nodes' admin channel.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.faults import LinkFault
from node.messages import ArmFailpoint, DisarmFailpoints, SkewClock, SlowDisk, TakeSnapshot
from raftctl import cluster_ops
from raftctl.chaos.effects import LinkTotals, effect_missing, link_totals, observed
from raftctl.chaos.impostor import Impostor
from raftctl.chaos.schedule import PROCESS_TARGETS, ScheduledFault
from raftctl.cluster import ClusterDir, wait_for
from raftctl.controller import Controller
from raftctl.errors import RaftctlError, Unavailable, UsageError
from raftctl.judges.history import History

__all__ = ["Nemesis"]

ACTION_TIMEOUT_S = 8.0  # how long one injection may take


@dataclass(slots=True)
class _Active:
    """A fault in force: what to undo at its end, and what happened."""

    fault: ScheduledFault
    rng: random.Random
    nodes: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    undo: Callable[[], None] | None = None
    step: Callable[[], None] | None = None
    step_every_s: float = 1.0
    next_step_at: float = 0.0


class Nemesis:
    """Injects a schedule of faults into the cluster at `path`, recording each."""

    def __init__(self, path: Path, history: History, faults: list[ScheduledFault]) -> None:
        self.path = path
        self.history = history
        self.faults = faults
        self.active: list[_Active] = []  # the parts of the fault in force
        self.done: list[dict[str, Any]] = []  # every fault, with its window and detail
        self.failure: BaseException | None = None
        self.finished = threading.Event()  # every scheduled fault started and ended
        self._lock = threading.Lock()

    # -- the run -------------------------------------------------------------------

    def run(self, started: float, stop: threading.Event) -> None:
        """Run the schedule from `started` (time.monotonic()) until done or `stop`."""
        try:
            for fault in self.faults:
                if stop.wait(max(0.0, started + fault.start_s - time.monotonic())):
                    break
                self._start(fault)
                end_at = started + fault.start_s + fault.hold_s
                stepping = [active for active in self.active if active.step is not None]
                for active in stepping:
                    active.next_step_at = time.monotonic() + active.step_every_s
                while not stop.is_set() and time.monotonic() < end_at:
                    due = min([end_at, *(active.next_step_at for active in stepping)])
                    if stop.wait(max(0.0, due - time.monotonic())):
                        break
                    for active in stepping:
                        if active.step is not None and time.monotonic() >= active.next_step_at:
                            self._guarded(active, active.step)
                            active.next_step_at = time.monotonic() + active.step_every_s
                self._end()
            else:
                self.finished.set()
        except BaseException as error:  # a bug: the main thread re-raises it
            self.failure = error
            raise

    def active_names(self) -> list[str]:
        with self._lock:
            return [self._label(active.fault) for active in self.active]

    def heal_all(self) -> dict[str, Any]:
        """Undo whatever is in force, then make sure every node runs, unpaused,
        with no network fault, failpoint, slow disk or skewed clock."""
        if self.active:
            self._end()
        healed: dict[str, Any] = {"restarted": [], "resumed": []}
        with self._control() as control:
            cluster = control.cluster
            try:
                control.write_faults(partition=(), links=())
            except RaftctlError as error:  # written; a node still applying it is noted
                healed["network"] = str(error)
            for node_id in cluster.node_ids():
                state = cluster.state(node_id)
                if state == "paused":
                    cluster.resume(node_id)
                    healed["resumed"].append(node_id)
                elif state == "stopped":
                    cluster.start(node_id)
                    healed["restarted"].append(node_id)
            for node_id in cluster.node_ids():
                self._reset_switches(control, node_id)
        self.history.fault("heal", "end", **healed)
        return healed

    # -- starting and ending one fault ---------------------------------------------

    @staticmethod
    def _label(fault: ScheduledFault) -> str:
        return f"{fault.kind}:{fault.target}" if fault.target else fault.kind

    def _control(self, timeout_s: float = ACTION_TIMEOUT_S) -> _ControlScope:
        return _ControlScope(self.path, timeout_s)

    def _start(self, fault: ScheduledFault) -> None:
        """Start `fault` and every part held with it."""
        for part in fault.parts():
            active = _Active(part, random.Random(part.seed))
            self.history.fault(part.kind, "start", target=part.target)
            starter: Callable[[_Active], None] = getattr(
                self, "_start_" + part.kind.replace("-", "_")
            )
            self._guarded(active, functools.partial(starter, active))
            with self._lock:
                self.active.append(active)

    def _end(self) -> None:
        """End every part in force, in the order they started."""
        with self._lock:
            ending, self.active = self.active, []
        for active in ending:
            if active.undo is not None:
                self._guarded(active, active.undo)
            fault = active.fault
            missing = active.detail.get("no_effect") or effect_missing(fault.kind, active.detail)
            if missing:
                active.detail["no_effect"] = missing
            self.history.fault(fault.kind, "end", target=fault.target, **active.detail)
            self.done.append({**fault.to_dict(), "detail": dict(active.detail)})

    def _guarded(self, active: _Active, action: Callable[[], None]) -> None:
        """A fault the cluster's state does not allow (no leader, a refusal) is
        skipped and says why; anything else is a bug and propagates."""
        try:
            action()
        except RaftctlError as error:
            active.detail.setdefault("skipped", []).append(str(error))

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _running(control: Controller) -> list[str]:
        cluster = control.cluster
        return [n for n in cluster.node_ids() if cluster.state(n) == "running"]

    def _targets(self, control: Controller, active: _Active) -> list[str]:
        """The nodes a process fault hits: a word resolved now, or ids."""
        target = active.fault.target
        ids = list(control.cluster.node_ids())
        if target not in PROCESS_TARGETS:
            return [n for n in target.split("+") if n in ids]
        if target == "all":
            return ids
        if target == "leader":
            return [control.leader()[0]]
        if target == "one":
            return [active.rng.choice(ids)]
        size = (len(ids) - 1) // 2 if target == "minority" else len(ids) // 2 + 1
        return sorted(active.rng.sample(ids, size))

    @staticmethod
    def _reset_switches(control: Controller, node_id: str) -> None:
        if control.cluster.state(node_id) != "running":
            return
        client = control.client
        client.admin(node_id, DisarmFailpoints(), timeout_s=0.5)
        client.admin(node_id, SlowDisk(fsync_delay_ms=0), timeout_s=0.5)
        client.admin(node_id, SkewClock(rate=1.0), timeout_s=0.5)

    # -- process faults --------------------------------------------------------------

    def _process_fault(
        self,
        active: _Active,
        hit: Callable[[ClusterDir, str], object],
        mend: Callable[[ClusterDir, str], object],
    ) -> None:
        """`hit` each target now, `mend` each at the fault's end."""
        expected = "paused" if hit is ClusterDir.pause else "stopped"
        with self._control() as control:
            victims = self._targets(control, active)
            for node_id in victims:
                hit(control.cluster, node_id)
            # Proof, not assumption: the processes were seen down, then back.
            cluster = control.cluster
            wait_for(lambda: all(cluster.state(n) == expected for n in victims), 3.0, 0.05)
            active.detail["down"] = [n for n in victims if cluster.state(n) == expected]
        active.detail["nodes"] = victims

        def undo() -> None:
            with self._control() as control:
                for node_id in victims:
                    mend(control.cluster, node_id)
                cluster = control.cluster
                wait_for(lambda: all(cluster.state(n) == "running" for n in victims), 5.0, 0.05)
                active.detail["back"] = [n for n in victims if cluster.state(n) == "running"]

        active.undo = undo

    def _start_kill(self, active: _Active) -> None:
        self._process_fault(active, ClusterDir.kill, ClusterDir.start)

    def _start_pause(self, active: _Active) -> None:
        self._process_fault(active, ClusterDir.pause, ClusterDir.resume)

    def _start_kill_leader(self, active: _Active) -> None:
        killed: list[str] = []
        active.detail["nodes"] = killed

        def kill_whoever_leads() -> None:
            with self._control(3.0) as control:
                for node_id in killed:  # only one down at a time: the rest elect
                    control.cluster.start(node_id)
                leader, _ = control.leader()
                control.cluster.kill(leader)
                killed.append(leader)

        def restart() -> None:
            with self._control() as control:
                for node_id in set(killed):
                    control.cluster.start(node_id)

        active.step, active.step_every_s, active.undo = kill_whoever_leads, 1.5, restart
        kill_whoever_leads()

    # -- a hostile member ----------------------------------------------------------

    def _start_byzantine(self, active: _Active) -> None:
        """Kill a follower and send under its name stale, duplicated and
        inflated-term messages (raftctl.chaos.impostor) every half second; at
        the end the impostor leaves and the member comes back."""
        with self._control() as control:
            cluster = control.cluster
            if cluster.config.curve:
                raise UsageError("byzantine needs an --insecure cluster")
            leader, term = control.leader()
            followers = [n for n in self._running(control) if n != leader]
            if not followers:
                raise Unavailable("no running follower to impersonate")
            name = active.rng.choice(followers)
            cluster.kill(name)
            endpoints = {node.id: node.endpoint for node in cluster.config.nodes if node.id != name}
        impostor = Impostor(name, endpoints, random.Random(active.rng.getrandbits(64)))
        active.detail["nodes"] = [name]

        def one_round() -> None:
            with self._control(2.0) as control:
                rows = control.status()["nodes"]
            impostor.send_round(max((row["term"] or 0 for row in rows), default=term))

        def undo() -> None:
            impostor.close()
            active.detail["sent"] = dict(impostor.sent)
            active.detail["highest_term_sent"] = impostor.highest_term
            with self._control() as control:
                control.cluster.start(name)

        active.step, active.step_every_s, active.undo = one_round, 0.5, undo
        one_round()

    # -- network faults --------------------------------------------------------------

    def _start_partition(self, active: _Active) -> None:
        shape = active.fault.target
        with self._control() as control:
            ids = list(control.cluster.node_ids())
            rng = active.rng
            links: tuple[LinkFault, ...] = ()
            groups: tuple[tuple[str, ...], ...] = ()
            if shape in ("leader", "minority", "majority", "one-way"):
                leader = control.leader()[0]
                others = [n for n in ids if n != leader]
            if shape == "leader":
                groups = ((leader,),)
            elif shape == "one":
                groups = ((rng.choice(ids),),)
            elif shape in ("minority", "majority"):
                small = (len(ids) - 1) // 2
                if shape == "minority":  # the leader cut off with a minority
                    side = (leader, *rng.sample(others, small - 1)) if small else (leader,)
                else:  # the leader keeps a majority; a minority of followers is cut
                    side = tuple(rng.sample(others, max(1, small)))
                groups = (tuple(sorted(side)),)
            elif shape == "ring":
                order = rng.sample(ids, len(ids))
                links = _cut_all_but(order, _ring_neighbours(order))
            elif shape == "bridge":
                order = rng.sample(ids, len(ids))
                middle = len(order) // 2
                bridge, left, right = order[middle], order[:middle], order[middle + 1 :]
                links = (
                    LinkFault(tuple(left), tuple(right), drop=1.0),
                    LinkFault(tuple(right), tuple(left), drop=1.0),
                )
                active.detail["bridge"] = bridge
            else:  # one-way: the leader talks, nobody hears, or it hears, nobody hears it
                if rng.random() < 0.5:
                    links = (LinkFault(tuple(others), (leader,), drop=1.0),)
                    active.detail["direction"] = f"followers -> {leader} cut"
                else:
                    links = (LinkFault((leader,), tuple(others), drop=1.0),)
                    active.detail["direction"] = f"{leader} -> followers cut"
            before = link_totals(control)
            control.write_faults(partition=groups, links=links)
        if groups:
            rest = [n for n in ids if all(n not in g for g in groups)]
            active.detail["groups"] = [list(g) for g in groups] + [rest]
        if links:
            active.detail["links"] = [
                {"from": list(link.sources), "to": list(link.targets)} for link in links
            ]

        active.undo = self._observing_network(active, before)

    def _observing_network(self, active: _Active, before: LinkTotals) -> Callable[[], None]:
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

    def _start_links(self, active: _Active, **trouble: Any) -> None:
        with self._control() as control:
            ids = tuple(control.cluster.node_ids())
            before = link_totals(control)
            control.write_faults(links=(LinkFault(ids, ids, **trouble),))
        active.detail.update(trouble)

        active.undo = self._observing_network(active, before)

    def _start_delay(self, active: _Active) -> None:
        delay = active.rng.randint(20, 150)
        self._start_links(active, delay_ms=delay, jitter_ms=delay // 2)

    def _start_loss(self, active: _Active) -> None:
        self._start_links(active, drop=round(active.rng.uniform(0.1, 0.35), 2))

    def _start_duplicate(self, active: _Active) -> None:
        self._start_links(active, duplicate=round(active.rng.uniform(0.2, 0.5), 2))

    # -- Raft faults -----------------------------------------------------------------

    def _start_snapshot_storm(self, active: _Active) -> None:
        taken: list[str] = []
        active.detail["snapshots"] = taken

        def snapshot_someone() -> None:
            with self._control(3.0) as control:
                running = self._running(control)
                if running:
                    node_id = active.rng.choice(running)
                    answer = control.client.admin(node_id, TakeSnapshot(), timeout_s=2.0)
                    if answer is not None and answer.get("taken"):
                        taken.append(f"{node_id}@{answer['index']}")

        active.step, active.step_every_s = snapshot_someone, 0.3
        snapshot_someone()

    def _start_isolate_compact(self, active: _Active) -> None:
        """Cut a follower off, let the log grow past it, compact everyone else:
        when it comes back, only InstallSnapshot can catch it up."""
        with self._control() as control:
            leader = control.leader()[0]
            followers = [n for n in self._running(control) if n != leader]
            if not followers:
                raise UsageError("no running follower to isolate")
            victim = active.rng.choice(followers)
            control.write_faults(partition=((victim,),), links=())
            # Read after the cut is in force: nothing reaches it from here on.
            status = control.client.status(victim, 0.5) or {}
            behind = int(status.get("last_log_index") or 0)
        active.detail.update(node=victim, its_last_index=behind, compacted_at=None)

        def compact_past_it() -> None:
            if active.detail["compacted_at"] is not None:
                return
            with self._control(3.0) as control:
                others = [n for n in self._running(control) if n != victim]
                marks = [control.client.status(n, 0.5) for n in others]
                if not all(marks) or min(m["applied_index"] for m in marks if m) <= behind:
                    return  # nothing committed past it yet: wait for the workload
                answers = cluster_ops.snapshot(control, others)
                indexes = [a["index"] for a in answers if a.get("ok")]
                if indexes and min(indexes) > behind:
                    active.detail["compacted_at"] = min(indexes)

        def heal_and_watch() -> None:
            self._clear_network()
            compacted = active.detail["compacted_at"]
            if compacted is None:
                return
            with self._control() as control:

                def installed() -> bool:
                    status = control.client.status(victim, 0.5) or {}
                    return bool(int(status.get("snapshot_index") or 0) >= compacted)

                active.detail["caught_up_by_snapshot"] = wait_for(installed, 5.0, 0.2)

        active.step, active.step_every_s, active.undo = compact_past_it, 0.5, heal_and_watch

    def _start_transfer(self, active: _Active) -> None:
        transfers: list[str] = []
        active.detail["transfers"] = transfers

        def hand_over() -> None:
            with self._control(4.0) as control:
                leader = control.leader()[0]
                followers = [n for n in self._running(control) if n != leader]
                voters = (control.client.status(leader, 0.5) or {}).get("voters") or followers
                eligible = [n for n in followers if n in voters]
                if eligible:
                    target = active.rng.choice(eligible)
                    result = cluster_ops.transfer_leader(control, target)
                    transfers.append(f"{result['previous']}->{target} {result['elapsed_ms']}ms")

        active.step, active.step_every_s = hand_over, 1.0
        hand_over()

    def _start_membership(self, active: _Active) -> None:
        """Remove a voter (the leader itself, now and then); at the end, add a
        fresh node in its place, so the cluster keeps its size."""
        with self._control(12.0) as control:
            ids = list(control.cluster.node_ids())
            if len(ids) < 3:
                raise UsageError("membership changes need at least 3 nodes")
            leader = control.leader()[0]
            victim = leader if active.rng.random() < 0.25 else active.rng.choice(ids)

            def add_back() -> None:
                """Replace the victim with a fresh node; when the removal did
                not finish in time but took effect later, finish it first."""
                with self._control(20.0) as later:
                    row = cluster_ops.leader_row(later)
                    if row is not None and victim in (*row["voters"], *row["learners"]):
                        return  # the removal never took: nothing to replace
                    if victim in later.cluster.node_ids():
                        later.cluster.stop(victim, grace_s=later.stop_grace_s())
                        later.cluster.forget_node(victim)
                        later.forget_client()
                    active.detail["added"] = cluster_ops.add_node(later)["node"]

            active.undo = add_back  # set first: a removal that times out still ends
            cluster_ops.remove_node(control, victim)
        active.detail["removed"] = victim

    # -- storage faults and failpoints --------------------------------------------------

    def _start_power_cut(self, active: _Active) -> None:
        with self._control() as control:
            if not control.cluster.config.power_loss_mode:
                raise UsageError("power cuts need power_loss_mode in cluster.toml")
            ids = list(control.cluster.node_ids())
            size = len(ids) if active.fault.target == "all" else len(ids) // 2 + 1
            victims = sorted(active.rng.sample(ids, size))
            cluster = control.cluster
            before = {n: getattr(cluster.process(n), "pid", None) for n in victims}
            cluster.power_cut(victims)

            def restarted(node_id: str) -> bool:
                process = cluster.process(node_id)
                return process is not None and process.pid != before[node_id]

            # Proof: every victim is a new process (killed, then started again).
            wait_for(lambda: all(restarted(n) for n in victims), 5.0, 0.05)
            active.detail["back"] = [n for n in victims if restarted(n)]
        active.detail["nodes"] = victims

    def _start_slow_fsync(self, active: _Active) -> None:
        delay = active.rng.randint(50, 300)
        with self._control() as control:
            # A minority of one or two nodes is nobody: then slow one of them.
            ids = list(control.cluster.node_ids())
            victims = self._targets(control, active) or [active.rng.choice(ids)]
            slowed: list[str] = []

            def all_slowed() -> bool:
                # A victim busy in slowed fsyncs may answer late: ask again (the
                # request is idempotent) until its status says so.
                for node_id in sorted(set(victims) - set(slowed)):
                    control.client.admin(node_id, SlowDisk(delay), timeout_s=1.0)
                    status = control.client.status(node_id, 1.0) or {}
                    if status.get("fsync_delay_ms") == delay:
                        slowed.append(node_id)
                return len(slowed) == len(victims)

            wait_for(all_slowed, 5.0, 0.05)  # proof: each victim's status says so
            slowed.sort()
        active.detail.update(nodes=victims, fsync_delay_ms=delay, slowed=slowed)

        def restore() -> None:
            with self._control() as control:
                for node_id in victims:
                    self._reset_switches(control, node_id)

        active.undo = restore

    def _start_failpoint(self, active: _Active) -> None:
        name = active.fault.target
        after = active.rng.randint(0, 30)
        with self._control() as control:
            running = self._running(control)
            if not running:
                raise UsageError("no running node to arm a failpoint in")
            node_id = active.rng.choice(running)
            control.client.admin(node_id, ArmFailpoint(name, after), 1.0)
        active.detail.update(node=node_id, failpoint=name, after=after, crashed=False)

        def restart_if_crashed() -> None:
            with self._control() as control:
                if control.cluster.state(node_id) == "stopped":
                    record = control.cluster.exit_record(node_id) or {}
                    active.detail["crashed"] = True
                    active.detail["exit"] = record.get("reason")
                    control.cluster.start(node_id)

        def disarm() -> None:
            restart_if_crashed()
            with self._control() as control:
                self._reset_switches(control, node_id)

        active.step, active.step_every_s, active.undo = restart_if_crashed, 0.5, disarm


def _ring_neighbours(order: list[str]) -> set[tuple[str, str]]:
    size = len(order)
    pairs = set()
    for position, node in enumerate(order):
        for step in (-1, 1):
            pairs.add((node, order[(position + step) % size]))
    return pairs


def _cut_all_but(order: list[str], allowed: set[tuple[str, str]]) -> tuple[LinkFault, ...]:
    """One drop-everything rule per link not in `allowed` (non-transitive cuts)."""
    return tuple(
        LinkFault((source,), (target,), drop=1.0)
        for source in order
        for target in order
        if source != target and (source, target) not in allowed
    )


class _ControlScope:
    """A Controller with its own deadline, closed on exit: one per action, so a
    slow action never eats the next one's time."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.controller = Controller(path, timeout_s)

    def __enter__(self) -> Controller:
        return self.controller

    def __exit__(self, *exc_info: object) -> None:
        self.controller.close()
