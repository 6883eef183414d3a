"""What every node's loop does each turn, whatever its protocol (node.server
for Raft, node.gossip_server for gossip): count the ticks that elapsed, and
now and then re-read faults.toml and the address book.

Rules:
- Ticks come from monotonic elapsed time: a turn applies every tick that
  elapsed since the last one (a resumed process catches up on time before
  it serves anything). `tick_s` may change under it (a skewed clock).
- Every FAULTS_CHECK_S the fault filter re-reads faults.toml when its
  version changed, and cluster.toml is re-read when its mtime changed
  (`raftctl add-node` writes a node into it just before starting it); a
  message for a member with no address yet re-reads it at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from node.admission import Admission
from node.config import ClusterConfig, ConfigError, load
from node.faults import FaultFilter
from node.journal import Journal
from node.transport import Transport

__all__ = ["FAULTS_CHECK_S", "AddressBook", "Ticker"]

FAULTS_CHECK_S = 0.2


class Ticker:
    def __init__(self, tick_s: float) -> None:
        self.tick_s = tick_s
        self.next_tick = time.monotonic() + tick_s

    def wait_s(self, now: float) -> float:
        """How long the loop may wait for frames before the next tick."""
        return self.next_tick - now

    def elapsed(self, now: float) -> int:
        """The ticks due by `now` (0 or more), counted as taken."""
        if now < self.next_tick:
            return 0
        ticks = int((now - self.next_tick) / self.tick_s) + 1
        self.next_tick += ticks * self.tick_s
        return ticks


class AddressBook:
    """cluster.toml as one node reads it (`view`: what of it the node sees,
    its own shard under Raft), kept fresh, and the faults in force."""

    def __init__(
        self,
        cluster_dir: Path,
        node_id: str,
        view: Callable[[ClusterConfig], ClusterConfig],
        journal: Journal,
        fault_filter: FaultFilter,
    ) -> None:
        self.path = cluster_dir / "cluster.toml"
        self.node_id = node_id
        self.view = view
        self.journal = journal
        self.filter = fault_filter
        self.config = view(load(self.path))
        self.stamp = self.path.stat().st_mtime
        self.next_check = 0.0

    def check(self, now: float, transport: Transport, admission: Admission) -> ClusterConfig | None:
        """Every FAULTS_CHECK_S: faults.toml's new version, and cluster.toml
        if it changed (returned: the node's view of it)."""
        if now < self.next_check:
            return None
        self.next_check = now + FAULTS_CHECK_S
        if self.filter.reload():
            self.journal.line(f"faults version {self.filter.faults.version} in force")
        return self.refresh(transport, admission)

    def refresh(self, transport: Transport, admission: Admission) -> ClusterConfig | None:
        """Re-read cluster.toml if it changed, connect to the nodes it added,
        and return the node's new view of it (None: unchanged or unreadable)."""
        if self._current_stamp() == self.stamp:
            return None
        self.stamp = self._current_stamp()
        try:
            self.config = self.view(load(self.path))
        except ConfigError as error:
            self.journal.line(f"warning: cannot re-read cluster.toml: {error}")
            return None
        self.filter.all_ids = self.config.node_ids
        admission.node_ids = frozenset(self.config.node_ids)
        added = transport.add_peers(self.config)
        if added:
            self.journal.line(f"{self.node_id} connects to new nodes {', '.join(added)}")
        return self.config

    def _current_stamp(self) -> float:
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return self.stamp
