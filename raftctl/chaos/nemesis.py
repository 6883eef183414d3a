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
- On a sharded cluster each fault hits one shard, drawn from its seed: its
  targets (leader, minority, a partition's groups...) are that shard's, as if
  the shard were the whole cluster. The faults that exist only with shards
  (raftctl.chaos.shard_faults) choose for themselves.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.faults import LinkFault
from node.messages import TakeSnapshot
from raftctl import cluster_ops
from raftctl.chaos.effects import effect_missing, link_totals
from raftctl.chaos.hands import ActiveFault
from raftctl.chaos.impostor import Impostor
from raftctl.chaos.schedule import ScheduledFault
from raftctl.chaos.shard_faults import CoordinatorKills, ShardFaults
from raftctl.chaos.storage_faults import StorageFaults
from raftctl.cluster import ClusterDir, wait_for
from raftctl.errors import RaftctlError, Unavailable, UsageError
from raftctl.judges.history import History

__all__ = ["Nemesis"]


class Nemesis(StorageFaults, ShardFaults):
    """Injects a schedule of faults into the cluster at `path`, recording each."""

    def __init__(
        self,
        path: Path,
        history: History,
        faults: list[ScheduledFault],
        coordinator_kills: CoordinatorKills | None = None,
        leaderless: bool = False,
    ) -> None:
        self.path = path
        self.leaderless = leaderless
        self.coordinator_kills = coordinator_kills or CoordinatorKills()
        self.history = history
        self.faults = faults
        self.active: list[ActiveFault] = []  # the parts of the fault in force
        self.done: list[dict[str, Any]] = []  # every fault, with its window and detail
        self.failure: BaseException | None = None
        self.finished = threading.Event()  # every scheduled fault started and ended
        self._lock = threading.Lock()
        self.shards = ClusterDir(path).config.shards
        self.scope: int | None = None  # the shard the fault in force hits (None: one shard)

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
        self.scope = None
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

    def _start(self, fault: ScheduledFault) -> None:
        """Start `fault` and every part held with it (on one shard, drawn)."""
        self.scope = random.Random(fault.seed).randint(1, self.shards) if self.shards > 1 else None
        shard = {"shard": self.scope} if self.scope is not None else {}
        for part in fault.parts():
            active = ActiveFault(part, random.Random(part.seed))
            active.detail.update(shard)
            self.history.fault(part.kind, "start", target=part.target, **shard)
            starter: Callable[[ActiveFault], None] = getattr(
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

    def _guarded(self, active: ActiveFault, action: Callable[[], None]) -> None:
        """A fault the cluster's state does not allow (no leader, a refusal) is
        skipped and says why; anything else is a bug and propagates."""
        try:
            action()
        except RaftctlError as error:
            active.detail.setdefault("skipped", []).append(str(error))

    # -- process faults --------------------------------------------------------------

    def _process_fault(
        self,
        active: ActiveFault,
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

    def _start_kill(self, active: ActiveFault) -> None:
        self._process_fault(active, ClusterDir.kill, ClusterDir.start)

    def _start_pause(self, active: ActiveFault) -> None:
        self._process_fault(active, ClusterDir.pause, ClusterDir.resume)

    def _start_kill_leader(self, active: ActiveFault) -> None:
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

    def _start_byzantine(self, active: ActiveFault) -> None:
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

    def _start_partition(self, active: ActiveFault) -> None:
        shape = active.fault.target
        with self._control() as control:
            ids = list(control.cluster.node_ids())
            rng = active.rng
            links: tuple[LinkFault, ...] = ()
            groups: tuple[tuple[str, ...], ...] = ()
            if shape in ("leader", "minority", "majority", "one-way"):
                leader = self._leader(control, active)
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

    def _start_links(self, active: ActiveFault, **trouble: Any) -> None:
        with self._control() as control:
            ids = tuple(control.cluster.node_ids())
            before = link_totals(control)
            control.write_faults(links=(LinkFault(ids, ids, **trouble),))
        active.detail.update(trouble)

        active.undo = self._observing_network(active, before)

    def _start_delay(self, active: ActiveFault) -> None:
        delay = active.rng.randint(20, 150)
        self._start_links(active, delay_ms=delay, jitter_ms=delay // 2)

    def _start_loss(self, active: ActiveFault) -> None:
        self._start_links(active, drop=round(active.rng.uniform(0.1, 0.35), 2))

    def _start_duplicate(self, active: ActiveFault) -> None:
        self._start_links(active, duplicate=round(active.rng.uniform(0.2, 0.5), 2))

    # -- Raft faults -----------------------------------------------------------------

    def _start_snapshot_storm(self, active: ActiveFault) -> None:
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

    def _start_isolate_compact(self, active: ActiveFault) -> None:
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

    def _start_transfer(self, active: ActiveFault) -> None:
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

    def _start_membership(self, active: ActiveFault) -> None:
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
