"""SimCluster: real RaftCores on a simulated network, disk and clock.

Rules:
- Time is an integer of milliseconds; each node ticks every `tick_ms` from its
  own random phase. Events (ticks, deliveries) run in (time, sequence) order.
- A node handles every Ready exactly as the real server will (raft.py Rule 2):
  send `messages`, persist, send `messages_after_persist`, apply, advance.
- A crash loses everything not persisted: the core is dropped and rebuilt from
  MemoryStorage on restart. A crash may hit between sending a Ready's
  messages and persisting it, the window an unsafe core would betray itself in.
- With a latent disk (disk.py), a Ready's persist ends later, in order behind
  the node's earlier ones; meanwhile the node is stepped and ticked and hands
  over further Readies (node.ready_driver.hand_over), and a crash loses every
  write still on its way.
- With `snapshot_every` set, a node snapshots its SimMachine and compacts its
  log whenever that many entries were applied since its last snapshot; a
  leader's SnapshotSend becomes one InstallSnapshot message on the network.
- Clients hear through hooks: `on_applied` for the first application of each
  command anywhere, `on_read` when a node serves a read, `on_read_dropped`.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from node.consensus import ConsensusCore
from node.errors import invariant, known
from node.events import (
    Event,
)
from node.messages import (
    Entry,
    InstallSnapshot,
    Message,
    RequestVote,
    RequestVoteResponse,
    SnapshotMeta,
)
from node.raft import RaftCore
from node.raft_config import RaftConfig
from node.ready import DurableState, HardState, Outgoing, Ready, Role, SnapshotSend
from node.ready_driver import complete, drain, hand_over
from raftctl.sim.disk import DiskOptions, SimDisk
from raftctl.sim.errors import BudgetExceeded
from raftctl.sim.invariants import Checker, SafetyChecker
from raftctl.sim.machine import Applied, SimMachine
from raftctl.sim.network import NetworkOptions, SimNetwork

__all__ = ["CoreFactory", "MemoryStorage", "SimCluster", "SimNode"]

CoreFactory = Callable[[RaftConfig, DurableState, random.Random], ConsensusCore]
Observer = Callable[[int, str, Event], None]

_TICK = 0
_DELIVER = 1
_CALL = 2
_PERSISTED = 3


class MemoryStorage:
    """A node's durable state in memory: survives crashes of the simulated node.
    `entries` follow the snapshot: entries[i] is at snapshot index + 1 + i."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        # A commit index alone is kept back until the next entries or promise,
        # as node.storage does: a crash forgets it (HardState.promises_more_than).
        self.latest_hard_state = HardState()
        self.entries: list[Entry] = []
        self.snapshot: SnapshotMeta | None = None
        self.snapshot_data = b""

    @property
    def snapshot_index(self) -> int:
        return self.snapshot.index if self.snapshot else 0

    @property
    def last_index(self) -> int:
        return self.snapshot_index + len(self.entries)

    def persist(self, entries: Sequence[Entry], hard_state: HardState | None) -> list[Entry]:
        """Store a Ready's entries and hard state; returns the entries replaced."""
        replaced: list[Entry] = []
        # A batch handed over before this node's own snapshot was taken may
        # start inside it (a Paxos acceptor writes its tail again): those
        # slots are the snapshot's now, as node.storage's recovery reads them.
        entries = [entry for entry in entries if entry.index > self.snapshot_index]
        if entries:
            start = entries[0].index - self.snapshot_index - 1
            replaced = self.entries[start:]
            del self.entries[start:]
            self.entries.extend(entries)
        if hard_state is not None:
            self.latest_hard_state = hard_state
        if entries or self.latest_hard_state.promises_more_than(self.hard_state):
            self.hard_state = self.latest_hard_state
        return replaced

    def save_snapshot(self, meta: SnapshotMeta, data: bytes) -> None:
        """This node's own snapshot: the log up to it is no longer needed."""
        del self.entries[: meta.index - self.snapshot_index]
        self.snapshot, self.snapshot_data = meta, data

    def install_snapshot(self, meta: SnapshotMeta, data: bytes) -> list[Entry]:
        """A leader's snapshot replaces the whole log; returns what was dropped."""
        dropped = [entry for entry in self.entries if entry.index > meta.index]
        self.entries = []
        self.snapshot, self.snapshot_data = meta, data
        return dropped

    def load_snapshot(self) -> tuple[SnapshotMeta, bytes] | None:
        return None if self.snapshot is None else (self.snapshot, self.snapshot_data)

    def term_at(self, index: int) -> int | None:
        if index == self.snapshot_index:
            return self.snapshot.term if self.snapshot else 0
        offset = index - self.snapshot_index - 1
        if 0 <= offset < len(self.entries):
            return self.entries[offset].term
        return None

    def entry_at(self, index: int) -> Entry | None:
        offset = index - self.snapshot_index - 1
        return self.entries[offset] if 0 <= offset < len(self.entries) else None

    def holds(self, index: int, term: int) -> bool:
        """True when the entry (index, term) is durable here, in the log or
        inside the snapshot (which holds only committed entries)."""
        return index <= self.snapshot_index or self.term_at(index) == term

    def durable_state(self) -> DurableState:
        return DurableState(self.hard_state, tuple(self.entries), self.snapshot)


@dataclass(slots=True)
class SimNode:
    """One simulated node: its storage always, its core while it is up."""

    node_id: str
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    core: ConsensusCore | None = None
    generation: int = 0  # bumped at each restart, so stale ticks are ignored
    machine: SimMachine = field(default_factory=SimMachine)
    # Reads whose leadership is confirmed, waiting for their index to apply.
    waiting_reads: list[tuple[bytes, int]] = field(default_factory=list)
    # The voters it was created with: () for a node added by a membership change.
    initial_voters: tuple[str, ...] = ()
    # When its disk is done with the writes queued so far (a latent disk).
    disk_free_ms: int = 0


class SimCluster:
    """A whole cluster in one process, driven by one seeded random.Random."""

    def __init__(
        self,
        node_ids: Sequence[str],
        rng: random.Random,
        network: NetworkOptions | None = None,
        disk: DiskOptions | None = None,
        config_overrides: dict[str, Any] | None = None,
        core_factory: CoreFactory = RaftCore,
        tick_ms: int = 10,
        observer: Observer | None = None,
        machine_factory: Callable[[], SimMachine] = SimMachine,
        checker_factory: Callable[[tuple[str, ...]], Checker] = SafetyChecker,
    ) -> None:
        # What each node applies: the registers, or (raftctl.sim.kv_machine) the
        # real key-value store, transaction tables and all.
        self.machine_factory = machine_factory
        self.node_ids = list(node_ids)
        self.initial_voters = tuple(node_ids)
        self.rng = rng
        self.network = SimNetwork(random.Random(rng.getrandbits(64)), network or NetworkOptions())
        disk = disk or DiskOptions()
        # An instant disk draws nothing, so a seed without latency runs as before.
        self.disk = None if disk.instant else SimDisk(random.Random(rng.getrandbits(64)), disk)
        self.config_overrides = dict(config_overrides or {})
        self.core_factory = core_factory
        self.tick_ms = tick_ms
        self.observer = observer
        self.checker = checker_factory(self.initial_voters)
        self.nodes = {
            node_id: SimNode(node_id, initial_voters=self.initial_voters, machine=machine_factory())
            for node_id in self.node_ids
        }
        self.now_ms = 0
        self.crash_before_persist_probability = 0.0
        # A failpoint: asked for each Ready before anything of it happens.
        self.crash_before_send: Callable[[SimNode, Ready], bool] | None = None
        # Compact a node's log once this many entries were applied past its snapshot.
        self.snapshot_every: int | None = None
        self.on_applied: Callable[[str, Entry, Applied], None] | None = None
        self.on_read: Callable[[str, bytes, SimMachine], None] | None = None
        self.on_read_dropped: Callable[[str, bytes, str], None] | None = None
        # Told of a crash the cluster itself caused (the failpoints above).
        self.on_failpoint_crash: Callable[[str], None] | None = None
        self.messages_delivered = 0
        # The seed's budget (swarm.py sets it): past either bound the run
        # fails with BudgetExceeded, so a message storm is a failure with its
        # seed instead of a hang.
        self.messages_max: int | None = None
        self.wall_deadline: float | None = None
        self.readies_handled = 0
        # Messages stepped into a node while one of its writes was on its way
        # (a latent disk): the interleavings an instant disk never shows.
        self.deliveries_during_writes = 0
        self.snapshots_sent = 0
        self.snapshots_taken = 0
        self._queue: list[tuple[int, int, int, object]] = []
        self._sequence = 0
        for node_id in self.node_ids:
            self.start(node_id)

    def add_node(self, node_id: str) -> None:
        """A new, empty node that knows no configuration: it waits for a leader
        to add it as a learner (dissertation §4.2.1)."""
        if node_id in self.nodes:
            raise ValueError(f"{node_id} already exists")
        self.node_ids.append(node_id)
        self.nodes[node_id] = SimNode(node_id, machine=self.machine_factory())
        self.start(node_id)

    # -- running --------------------------------------------------------------

    def run_until(self, time_ms: int) -> None:
        queue = self._queue
        while queue and queue[0][0] <= time_ms:
            when, _, kind, payload = heapq.heappop(queue)
            self.now_ms = when
            if kind == _TICK:
                node_id, generation = cast(tuple[str, int], payload)
                node = self.nodes[node_id]
                if node.core is None or node.generation != generation:
                    continue
                node.core.tick()
                self._schedule(when + self.tick_ms, _TICK, payload)
            elif kind == _CALL:
                callback: Callable[[], None] = payload  # type: ignore[assignment]
                callback()
                continue
            elif kind == _PERSISTED:
                node_id, generation, rd = cast(tuple[str, int, Ready], payload)
                node = self.nodes[node_id]
                if node.core is None or node.generation != generation:
                    continue  # the node died with the write on its way
                complete(node.core, _NodeReadies(self, node), rd)
            else:
                message: Message = payload  # type: ignore[assignment]
                node = self.nodes[message.dst]
                if node.core is None or not self.network.connected(message.src, message.dst):
                    continue
                self.messages_delivered += 1
                if node.disk_free_ms > when:
                    self.deliveries_during_writes += 1
                if self.messages_delivered & 0x3FF == 0:
                    self._within_budget()
                node.core.step(message)
            self._drain(node)
        self.now_ms = max(self.now_ms, time_ms)

    def _within_budget(self) -> None:
        if self.messages_max is not None and self.messages_delivered > self.messages_max:
            raise BudgetExceeded(
                f"message budget exceeded: {self.messages_delivered} deliveries by "
                f"{self.now_ms} ms of simulated time (a storm?)"
            )
        if self.wall_deadline is not None and time.monotonic() > self.wall_deadline:
            raise BudgetExceeded(
                f"wall-time budget exceeded at {self.now_ms} ms of simulated time, "
                f"{self.messages_delivered} deliveries"
            )

    def call_at(self, when_ms: int, callback: Callable[[], None]) -> None:
        """Run `callback` at simulated time `when_ms` (for timed faults)."""
        self._schedule(max(when_ms, self.now_ms), _CALL, callback)

    def _schedule(self, when: int, kind: int, payload: object) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (when, self._sequence, kind, payload))

    def _send(self, messages: Sequence[Outgoing]) -> None:
        for message in messages:
            vote = isinstance(message, RequestVote | RequestVoteResponse)
            for delay in self.network.delays_ms(message.src, message.dst, vote):
                self._schedule(self.now_ms + delay, _DELIVER, message)

    def drain(self, node_id: str) -> None:
        """Handle `node_id`'s Readies after its core was driven directly."""
        self._drain(self.nodes[node_id])

    def _drain(self, node: SimNode) -> None:
        """Handle Readies until the core has nothing more to say (raft.py Rule 2);
        with a latent disk, hand each over and finish it when its write is done."""
        core = node.core
        if core is None:
            return
        if self.disk is None:
            drain(core, _NodeReadies(self, node))
            return
        while node.core is core and core.has_ready():
            rd = hand_over(core, _NodeReadies(self, node))
            if rd is None:
                return
            # Group commit: a write takes its own latency from now, and never
            # completes before the writes handed over before it.
            done = max(self.now_ms + self.disk.write_ms(node.node_id, rd), node.disk_free_ms)
            node.disk_free_ms = done
            self._schedule(done, _PERSISTED, (node.node_id, node.generation, rd))

    def _failpoint_crash(self, node: SimNode) -> None:
        self.crash(node.node_id)
        if self.on_failpoint_crash is not None:
            self.on_failpoint_crash(node.node_id)

    def _apply(self, node: SimNode, entries: Sequence[Entry]) -> None:
        machine = node.machine
        for entry in entries:
            if entry.index != machine.applied_index + 1:
                self.checker.fail(
                    "Apply order",
                    f"{node.node_id} applied {entry.index} after {machine.applied_index}",
                )
            applied = machine.apply(entry)
            self.checker.on_apply(node.node_id, entry)
            if applied is not None and self.on_applied is not None:
                self.on_applied(node.node_id, entry, applied)

    def _serve_reads(self, node: SimNode) -> None:
        if not node.waiting_reads:
            return
        applied = node.machine.applied_index
        still_waiting = []
        for context, index in node.waiting_reads:
            if index <= applied:
                if self.on_read is not None:
                    self.on_read(node.node_id, context, node.machine)
            else:
                still_waiting.append((context, index))
        node.waiting_reads = still_waiting

    def _send_snapshot(self, node: SimNode, peer: str, term: int, index: int) -> None:
        """What the server does by streaming chunks, in one message."""
        meta = known(node.storage.snapshot, "a snapshot to send", node=node.node_id)
        invariant(meta.index >= index, "the snapshot to send is too old", meta=meta, index=index)
        self.snapshots_sent += 1
        self._send(
            [InstallSnapshot(term, node.node_id, peer, meta, 0, node.storage.snapshot_data, True)]
        )

    def _maybe_snapshot(self, node: SimNode, core: ConsensusCore) -> None:
        every = self.snapshot_every
        # The machine's own mark: with a latent disk the core has handed out
        # entries to apply that the machine has not applied yet.
        applied = node.machine.applied_index
        if every and applied - core.log.snapshot_index >= every:
            data = node.machine.snapshot()
            meta = core.compact(applied)
            node.storage.save_snapshot(meta, data)
            self.snapshots_taken += 1

    @staticmethod
    def _persists_a_promise(node: SimNode, rd: Ready) -> bool:
        """True when `rd` writes entries, a term or a vote: the persists that a
        crash can make an unsafe core break its word on (a commit index alone
        can always be learned again)."""
        if rd.entries:
            return True
        return rd.hard_state is not None and rd.hard_state.promises_more_than(
            node.storage.hard_state
        )

    def _observe(self, node: SimNode, core: ConsensusCore, rd: Ready) -> None:
        durable = {n.node_id: n.storage for n in self.nodes.values()}
        self.checker.observe(node.node_id, core, rd.events, durable)
        if self.observer is not None:
            for event in rd.events:
                self.observer(self.now_ms, node.node_id, event)

    # -- faults and clients -------------------------------------------------------

    def start(self, node_id: str) -> None:
        """Start (or restart) a node from its durable state."""
        node = self.nodes[node_id]
        if node.core is not None:
            return
        config = RaftConfig(node_id=node_id, voters=node.initial_voters, **self.config_overrides)
        node.generation += 1
        # The state machine is restored from the snapshot, then the log re-applied.
        node.machine = self.machine_factory()
        if node.storage.snapshot is not None:
            node.machine.restore(node.storage.snapshot_data)
        node.waiting_reads = []
        node.disk_free_ms = self.now_ms  # the writes of its last life died with it
        durable = replace(node.storage.durable_state(), incarnation=node.generation)
        node.core = self.core_factory(config, durable, random.Random(self.rng.getrandbits(64)))
        phase = self.rng.randrange(self.tick_ms)
        self._schedule(self.now_ms + phase + 1, _TICK, (node_id, node.generation))
        self._drain(node)

    def crash(self, node_id: str) -> None:
        """Stop a node at once: whatever it had not persisted is gone."""
        self.nodes[node_id].core = None

    def is_up(self, node_id: str) -> bool:
        return self.nodes[node_id].core is not None

    def propose(self, node_id: str, data: bytes) -> bool:
        """Hand `data` to `node_id` if it is an up leader; True when accepted."""
        core = self.nodes[node_id].core
        if core is None or core.role is not Role.LEADER:
            return False
        core.propose([data])
        self._drain(self.nodes[node_id])
        return True

    def campaign(self, node_id: str) -> None:
        node = self.nodes[node_id]
        if node.core is not None:
            node.core.campaign()
            self._drain(node)

    def leader(self) -> str | None:
        """The up leader with the highest term, if any."""
        best: tuple[int, str] | None = None
        for node in self.nodes.values():
            core = node.core
            if (
                core is not None
                and core.role is Role.LEADER
                and (best is None or core.term > best[0])
            ):
                best = (core.term, node.node_id)
        return best[1] if best else None

    def leader_core(self) -> ConsensusCore | None:
        """The core of `leader()`, if there is one."""
        leader_id = self.leader()
        return None if leader_id is None else self.nodes[leader_id].core

    def up_cores(self) -> list[ConsensusCore]:
        return [node.core for node in self.nodes.values() if node.core is not None]


class _NodeReadies:
    """One simulated node's Readies, step by step (node.ready_driver), as the
    real server handles them, with the safety checker watching and the
    failpoints that may crash the node on the way."""

    def __init__(self, cluster: SimCluster, node: SimNode) -> None:
        self.cluster = cluster
        self.node = node

    def begin(self, rd: Ready) -> bool:
        cluster, node = self.cluster, self.node
        cluster.readies_handled += 1
        core = known(node.core, "a Ready from a node that is down", node=node.node_id)
        cluster._observe(node, core, rd)
        if cluster.crash_before_send is not None and cluster.crash_before_send(node, rd):
            cluster._failpoint_crash(node)  # the process died mid-turn: nothing left it
            return False
        return True

    def send(self, messages: tuple[Outgoing, ...]) -> None:
        self.cluster.checker.on_send(self.node.node_id, messages)
        self.cluster._send(messages)

    def persist(self, rd: Ready) -> bool:
        cluster, node = self.cluster, self.node
        if (
            cluster.crash_before_persist_probability
            and cluster._persists_a_promise(node, rd)
            and (cluster.rng.random() < cluster.crash_before_persist_probability)
        ):
            cluster._failpoint_crash(node)
            return False
        storage, checker = node.storage, cluster.checker
        if rd.snapshot is not None:
            meta = rd.snapshot.meta
            dropped = storage.install_snapshot(meta, rd.snapshot.data)
            checker.on_dropped(node.node_id, dropped, f"installing snapshot {meta.index}")
            node.machine.restore(rd.snapshot.data)
        replaced = storage.persist(rd.entries, rd.hard_state)
        if replaced:
            gone = [entry for entry in replaced if storage.term_at(entry.index) != entry.term]
            checker.on_dropped(node.node_id, gone, "truncating its log")
        if rd.entries:
            checker.on_persist(node.node_id, rd.entries, storage)
        return True

    def send_snapshots(self, requests: tuple[SnapshotSend, ...]) -> None:
        for request in requests:
            self.cluster._send_snapshot(self.node, request.peer, request.term, request.index)

    def apply(self, rd: Ready) -> None:
        self.cluster._apply(self.node, rd.committed_entries)

    def serve_reads(self, rd: Ready) -> None:
        cluster, node = self.cluster, self.node
        node.waiting_reads.extend((state.context, state.index) for state in rd.read_states)
        cluster._serve_reads(node)
        if cluster.on_read_dropped is not None:
            for context, reason in rd.reads_dropped:
                cluster.on_read_dropped(node.node_id, context, reason)

    def advanced(self, rd: Ready) -> None:
        if self.node.core is not None:
            self.cluster._maybe_snapshot(self.node, self.node.core)
