"""The simulated clients: registers written, compare-and-set and read
against a SimCluster, every operation recorded in a Jepsen-shaped History in
simulated time.

Rules:
- Like real clients, they stay with the leader that last took a request
  (client 0 loyally, even once it is cut off) or ask a random node and follow
  its redirect; each keeps at most OUTSTANDING_PROPOSALS_MAX writes in flight.
- A write's outcome is known when it is first applied anywhere (every node
  computes the same result); a read's when a node serves it. A write lost with
  a deposed leader's log is proposed again (RETRY_EVERY_MS, by the runner):
  the state machine applies a command once however often it is proposed.
- Stale reads are served by whichever node is reached and exempt from the
  check; linearizable and lease reads are judged like writes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from node.errors import ProposalRejected
from node.messages import Entry
from node.ready import Role
from raftctl.judges.history import History
from raftctl.judges.linearizable import MISMATCH
from raftctl.sim.cluster import SimCluster
from raftctl.sim.machine import Applied, SimMachine, cas_command, write_command
from raftctl.sim.seed import CONSISTENCIES, SeedResult, SwarmOptions

__all__ = ["CLIENTS", "SimClients"]

OUTSTANDING_PROPOSALS_MAX = 4  # per client
CLIENTS = 3  # each with the leader it last reached: some stay with a deposed one


@dataclass(frozen=True, slots=True)
class _OpenOperation:
    """A client operation invoked and not yet completed."""

    client: int
    f: str
    key: str


class SimClients:
    """The clients of one seed's run, and their history."""

    def __init__(
        self, cluster: SimCluster, rng: random.Random, options: SwarmOptions, result: SeedResult
    ) -> None:
        self.cluster = cluster
        self.rng = rng
        self.options = options
        self.result = result
        self.sticky_leaders: list[str | None] = [None] * CLIENTS
        self.pending: dict[bytes, int] = {}  # proposals not yet seen applied -> client
        self.next_value = 0
        # The history, in simulated time; each operation is its own client
        # (writes are pipelined), open ones by operation id.
        self.history = History(0, clock=self._time)
        self.open_ops: dict[str, _OpenOperation] = {}
        self.written: dict[str, list[str]] = {}  # values written per key, for cas
        self._last_time = 0

    def finish(self) -> list[dict[str, Any]]:
        """Close the history: reads still open failed, writes are unknown."""
        for op_id in list(self.open_ops):
            op = self.open_ops[op_id]
            self._complete(op_id, "fail" if op.f == "read" else "info", None)
        return self.history.events

    def _time(self) -> int:
        """History time: simulated nanoseconds, strictly increasing, so that the
        order in which things happened here is the order the checker sees."""
        self._last_time = max(self._last_time + 1, self.cluster.now_ms * 1_000_000)
        return self._last_time

    def _invoke(self, op_id: str, f: str, key: str, value: Any) -> None:
        client = self.history.add_client()
        self.open_ops[op_id] = _OpenOperation(client, f, key)
        self.history.invoke(client, f, key, value)

    def _complete(self, op_id: str, outcome: str, value: Any, error: str | None = None) -> None:
        self.history.complete(self.open_ops.pop(op_id).client, outcome, value, error=error)

    def operate(self) -> None:
        options = self.options
        rng = self.rng
        self.next_value += 1
        op_id = f"o{self.next_value}"
        key = f"k{rng.randrange(options.key_count)}"
        client = rng.randrange(CLIENTS)
        roll = rng.random()
        if roll < options.read_fraction:
            consistency = rng.choices(CONSISTENCIES, weights=options.consistency_weights)[0]
            self._read(client, op_id, key, consistency)
            return
        # Clients wait for answers: a bounded number of writes are outstanding.
        if self.pending_unapplied().count(client) >= OUTSTANDING_PROPOSALS_MAX:
            return
        if roll < options.read_fraction + options.cas_fraction:
            known = self.written.get(key, [])
            expected = rng.choice([None, *known[-3:]])
            value: Any = [expected, op_id]
            data = cas_command(op_id, key, expected, op_id)
            f = "cas"
        else:
            value, data, f = op_id, write_command(op_id, key, op_id), "write"
        if self._propose(client, data):
            self.pending[data] = client
            self.result.proposals += 1
            self.written.setdefault(key, []).append(op_id)
            self._invoke(op_id, f, key, value)

    def on_applied(self, node_id: str, entry: Entry, applied: Applied) -> None:
        """The first application anywhere answers the client (every node
        computes the same result; the write took effect at its commit, earlier)."""
        if applied.op_id not in self.open_ops:
            return  # applied before, on another node
        op = self.open_ops[applied.op_id]
        if op.f == "cas":
            expected_new = [None, applied.op_id]  # the value is only for the record
            if applied.ok:
                self._complete(applied.op_id, "ok", expected_new)
            else:  # the comparison failed: evidence of what the register held
                self._complete(applied.op_id, "fail", expected_new, MISMATCH)
        else:
            self._complete(applied.op_id, "ok", applied.op_id)

    def _read(self, client: int, op_id: str, key: str, consistency: str) -> None:
        cluster = self.cluster
        if consistency == "stale":
            # Served by whichever node the client reaches: exempt from the check.
            up = [node_id for node_id in cluster.node_ids if cluster.is_up(node_id)]
            if up:
                cluster.nodes[self.rng.choice(up)].machine.values.get(key)
                self.result.reads[consistency] += 1
            return
        contact = self._contact(client)
        core = cluster.nodes[contact].core if contact else None
        if contact is None or core is None:
            return
        try:
            core.read_index(op_id.encode(), lease=consistency == "lease")
        except ProposalRejected:
            # Refused at once (not the leader, or a transfer under way): as if
            # never asked, like a refused write.
            self.sticky_leaders[client] = None
            return
        self._invoke(op_id, "read", key, None)
        self.sticky_leaders[client] = contact
        self.result.reads[consistency] += 1
        cluster.drain(contact)

    def on_read(self, node_id: str, context: bytes, machine: SimMachine) -> None:
        op_id = context.decode()
        op = self.open_ops.get(op_id)
        if op is not None:
            self._complete(op_id, "ok", machine.values.get(op.key))

    def on_read_dropped(self, node_id: str, context: bytes, reason: str) -> None:
        op_id = context.decode()
        if op_id in self.open_ops:
            self._complete(op_id, "fail", None)

    def _contact(self, client: int) -> str | None:
        """Like a real client: stay with the leader that last took a request
        (even once it is cut off, until it steps down), else ask a random node
        and follow its redirect."""
        cluster = self.cluster
        sticky = self.sticky_leaders[client]
        # Client 0 is loyal: it keeps its connection to a leader for as long as
        # that node says it leads (a deposed leader's favourite victim).
        if (
            sticky is not None
            and (client == 0 or self.rng.random() >= self.options.random_contact_probability)
            and (core := cluster.nodes[sticky].core) is not None
            and core.role is Role.LEADER
        ):
            return sticky
        contact = self.rng.choice(cluster.node_ids)
        core = cluster.nodes[contact].core
        if core is None:
            return None
        if core.role is not Role.LEADER and core.leader_id is not None:
            contact = core.leader_id
        return contact

    def _propose(self, client: int, value: bytes) -> bool:
        contact = self._contact(client)
        accepted = False
        if contact is not None:
            try:
                accepted = self.cluster.propose(contact, value)
            except ProposalRejected:
                accepted = False  # a leadership transfer is under way
        self.sticky_leaders[client] = contact if accepted else None
        return accepted

    def pending_unapplied(self) -> list[int]:
        """The client of each proposal not yet applied anywhere."""
        applied = self.cluster.checker.applied_data
        for value in [value for value in self.pending if value in applied]:
            del self.pending[value]
        return list(self.pending.values())

    def retry_pending(self) -> None:
        """Propose again what the current leader does not hold (it was lost with
        an old leader's uncommitted tail); values still in its log will commit.
        A command applies once however often it is proposed (SimMachine)."""
        leader = self.cluster.leader_core()
        if leader is None:
            return
        leader_id = leader.id
        held = {
            entry.data
            for entry in leader.log.entries_between(
                leader.log.commit_index + 1, leader.log.last_index
            )
        }
        self.pending_unapplied()
        for value in list(self.pending):
            if value not in held:
                try:
                    self.cluster.propose(leader_id, value)
                except ProposalRejected:
                    return
