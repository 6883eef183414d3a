"""Storage faults and failpoints for the nemesis: power cuts, slow fsyncs,
named crash points (each undone at its fault's end)."""

from __future__ import annotations

from node.messages import ArmFailpoint, SlowDisk
from raftctl.chaos.hands import ActiveFault, FaultHands
from raftctl.cluster import wait_for
from raftctl.errors import UsageError

__all__ = ["StorageFaults"]


class StorageFaults(FaultHands):
    def _start_power_cut(self, active: ActiveFault) -> None:
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

    def _start_slow_fsync(self, active: ActiveFault) -> None:
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

    def _start_failpoint(self, active: ActiveFault) -> None:
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
