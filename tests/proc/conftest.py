"""Real node processes: fixtures that always stop what they start, by pid."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from node.faults import Faults
from raftctl.client import Client
from raftctl.cluster import ClusterDir, wait_for
from raftctl.controller import Controller

# DESIGN.md: a busy 2-core CI needs election timeouts of 1-2 s.
SETTINGS: dict[str, Any] = {
    "tick_ms": 50,
    "heartbeat_interval_ms": 100,
    "election_timeout_ms_min": 1000,
    "election_timeout_ms_max": 2000,
}


class LiveCluster:
    """A started cluster, a client for it, and helpers that wait with deadlines."""

    def __init__(self, directory: ClusterDir) -> None:
        self.dir = directory
        self.client = Client(directory.config)

    def statuses(self) -> dict[str, dict[str, Any] | None]:
        return {node_id: self.client.status(node_id, 0.5) for node_id in self.dir.node_ids()}

    def leader(self, timeout_s: float = 30.0, among: list[str] | None = None) -> str:
        """Wait for one leader that every running node of `among` follows."""
        found: list[str] = []

        def agreed() -> bool:
            statuses = self.statuses()
            members = among or [n for n in self.dir.node_ids() if self.dir.state(n) == "running"]
            leaders = {s["leader"] for n, s in statuses.items() if n in members and s}
            answered = all(statuses.get(n) for n in members)
            if answered and len(leaders) == 1 and None not in leaders:
                (leader,) = leaders
                found[:] = [leader]
                return statuses[leader] is not None and statuses[leader]["role"] == "leader"
            return False

        assert wait_for(agreed, timeout_s), (
            f"no agreed leader within {timeout_s}s: {self.statuses()}"
        )
        return found[0]

    def converged(self, timeout_s: float = 30.0) -> dict[str, dict[str, Any]]:
        """Wait until every node applied the same, whole log."""
        last: dict[str, Any] = {}

        def same() -> bool:
            statuses = self.statuses()
            last.update(statuses)
            if not all(statuses.values()):
                return False
            marks = {
                (s["commit_index"], s["applied_index"], s["last_log_index"], s["term"])
                for s in statuses.values()
                if s
            }
            (commit, applied, last_index, _), *rest = marks
            return not rest and commit == applied == last_index

        assert wait_for(same, timeout_s), f"logs did not converge within {timeout_s}s: {last}"
        return {node_id: status for node_id, status in last.items() if status}

    def set_faults(self, faults: Faults, timeout_s: float = 10.0) -> None:
        """Write faults.toml, tell every node, and wait until all apply it."""
        control = Controller(self.dir.path, timeout_s)
        try:
            control.write_faults(partition=faults.partition, links=faults.links)
        finally:
            control.close()


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[..., LiveCluster]]:
    started: list[LiveCluster] = []

    def make(node_count: int = 3, **settings: Any) -> LiveCluster:
        directory = ClusterDir.create(
            tmp_path / f"cluster{len(started)}", node_count, base_port=0, **{**SETTINGS, **settings}
        )
        live = LiveCluster(directory)
        started.append(live)
        for node_id in directory.node_ids():
            directory.start(node_id)
        return live

    yield make
    for live in started:
        live.client.close()
        live.dir.stop_all(grace_s=3)
        for node_id in live.dir.node_ids():
            live.dir.kill(node_id)  # by confirmed pid; a no-op when already gone
