"""SimCluster: real RaftCores on a simulated network, disk and clock.

Rules:
- Time is an integer of milliseconds; each node ticks every `tick_ms` from its
  own random phase. Events (ticks, deliveries) run in (time, sequence) order.
- A node handles every Ready exactly as the real server will (raft.py Rule 2):
  send `messages`, persist, send `messages_after_persist`, apply, advance.
- A crash loses everything not persisted: the core is dropped and rebuilt from
  MemoryStorage on restart. A crash may hit between sending a Ready's
  messages and persisting it, the window an unsafe core would betray itself in.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from node.events import BecameLeader, CommitAdvanced, Event
from node.messages import Entry, Message
from node.raft import DurableState, HardState, RaftConfig, RaftCore, Ready, Role
from node.sim.invariants import SafetyChecker
from node.sim.network import NetworkOptions, SimNetwork

__all__ = ["CoreFactory", "MemoryStorage", "SimCluster", "SimNode"]

CoreFactory = Callable[[RaftConfig, DurableState, random.Random], RaftCore]
Observer = Callable[[int, str, Event], None]

_TICK = 0
_DELIVER = 1
_CALL = 2


class MemoryStorage:
    """A node's durable state in memory: survives crashes of the simulated node."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.entries: list[Entry] = []

    def persist(self, entries: Sequence[Entry], hard_state: HardState | None) -> None:
        if entries:
            del self.entries[entries[0].index - 1 :]
            self.entries.extend(entries)
        if hard_state is not None:
            self.hard_state = hard_state

    def term_at(self, index: int) -> int | None:
        if index == 0:
            return 0
        if 0 < index <= len(self.entries):
            return self.entries[index - 1].term
        return None

    def durable_state(self) -> DurableState:
        return DurableState(self.hard_state, tuple(self.entries))


@dataclass(slots=True)
class SimNode:
    """One simulated node: its storage always, its core while it is up."""

    node_id: str
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    core: RaftCore | None = None
    generation: int = 0  # bumped at each restart, so stale ticks are ignored
    applied: list[Entry] = field(default_factory=list)


class SimCluster:
    """A whole cluster in one process, driven by one seeded random.Random."""

    def __init__(
        self,
        node_ids: Sequence[str],
        rng: random.Random,
        network: NetworkOptions | None = None,
        config_overrides: dict[str, Any] | None = None,
        core_factory: CoreFactory = RaftCore,
        tick_ms: int = 10,
        observer: Observer | None = None,
    ) -> None:
        self.node_ids = tuple(node_ids)
        self.rng = rng
        self.network = SimNetwork(random.Random(rng.getrandbits(64)), network or NetworkOptions())
        self.config_overrides = dict(config_overrides or {})
        self.core_factory = core_factory
        self.tick_ms = tick_ms
        self.observer = observer
        self.checker = SafetyChecker(self.node_ids)
        self.nodes = {node_id: SimNode(node_id) for node_id in self.node_ids}
        self.now_ms = 0
        self.crash_before_persist_probability = 0.0
        # A failpoint: asked for each Ready before anything of it happens.
        self.crash_before_send: Callable[[SimNode, Ready], bool] | None = None
        self.messages_delivered = 0
        self.readies_handled = 0
        self._queue: list[tuple[int, int, int, object]] = []
        self._sequence = 0
        for node_id in self.node_ids:
            self.start(node_id)

    # -- running --------------------------------------------------------------

    def run_until(self, time_ms: int) -> None:
        queue = self._queue
        while queue and queue[0][0] <= time_ms:
            when, _, kind, payload = heapq.heappop(queue)
            self.now_ms = when
            if kind == _TICK:
                node_id, generation = payload  # type: ignore[misc]
                node = self.nodes[node_id]
                if node.core is None or node.generation != generation:
                    continue
                node.core.tick()
                self._schedule(when + self.tick_ms, _TICK, payload)
            elif kind == _CALL:
                callback: Callable[[], None] = payload  # type: ignore[assignment]
                callback()
                continue
            else:
                message: Message = payload  # type: ignore[assignment]
                node = self.nodes[message.dst]
                if node.core is None or not self.network.connected(message.src, message.dst):
                    continue
                self.messages_delivered += 1
                node.core.step(message)
            self._drain(node)
        self.now_ms = max(self.now_ms, time_ms)

    def call_at(self, when_ms: int, callback: Callable[[], None]) -> None:
        """Run `callback` at simulated time `when_ms` (for timed faults)."""
        self._schedule(max(when_ms, self.now_ms), _CALL, callback)

    def _schedule(self, when: int, kind: int, payload: object) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (when, self._sequence, kind, payload))

    def _send(self, messages: Sequence[Message]) -> None:
        for message in messages:
            for delay in self.network.delays_ms(message.src, message.dst):
                self._schedule(self.now_ms + delay, _DELIVER, message)

    def drain(self, node_id: str) -> None:
        """Handle `node_id`'s Readies after its core was driven directly."""
        self._drain(self.nodes[node_id])

    def _drain(self, node: SimNode) -> None:
        """Handle Readies until the core has nothing more to say (raft.py Rule 2)."""
        core = node.core
        while core is not None and core.has_ready():
            rd = core.ready()
            self.readies_handled += 1
            self._observe(node, core, rd)
            if self.crash_before_send is not None and self.crash_before_send(node, rd):
                self.crash(node.node_id)  # the process died mid-turn: nothing left it
                return
            self._send(rd.messages)
            if (
                self.crash_before_persist_probability
                and self._persists_a_promise(node, rd)
                and (self.rng.random() < self.crash_before_persist_probability)
            ):
                self.crash(node.node_id)
                return
            node.storage.persist(rd.entries, rd.hard_state)
            if rd.entries:
                self.checker.on_persist(node.node_id, rd.entries, node.storage)
            self._send(rd.messages_after_persist)
            for entry in rd.committed_entries:
                invariant_applied = len(node.applied) + 1
                if entry.index != invariant_applied:
                    self.checker.fail(
                        "Apply order",
                        f"{node.node_id} applied {entry.index} after {invariant_applied - 1}",
                    )
                node.applied.append(entry)
                self.checker.on_apply(node.node_id, entry)
            core.advance(rd)

    @staticmethod
    def _persists_a_promise(node: SimNode, rd: Ready) -> bool:
        """True when `rd` writes entries, a term or a vote: the persists that a
        crash can make an unsafe core break its word on (a commit index alone
        can always be learned again)."""
        if rd.entries:
            return True
        hard_state, stored = rd.hard_state, node.storage.hard_state
        return hard_state is not None and (
            (hard_state.term, hard_state.vote) != (stored.term, stored.vote)
        )

    def _observe(self, node: SimNode, core: RaftCore, rd: Ready) -> None:
        for event in rd.events:
            if isinstance(event, BecameLeader):
                self.checker.on_became_leader(node.node_id, event.term, core.log.term_at)
            elif isinstance(event, CommitAdvanced):
                durable = {n.node_id: n.storage for n in self.nodes.values()}
                self.checker.on_commit(
                    node.node_id, event.old_index, event.new_index, core.log.term_at, durable
                )
            if self.observer is not None:
                self.observer(self.now_ms, node.node_id, event)

    # -- faults and clients -------------------------------------------------------

    def start(self, node_id: str) -> None:
        """Start (or restart) a node from its durable state."""
        node = self.nodes[node_id]
        if node.core is not None:
            return
        config = RaftConfig(node_id=node_id, voters=self.node_ids, **self.config_overrides)
        node.generation += 1
        node.core = self.core_factory(
            config, node.storage.durable_state(), random.Random(self.rng.getrandbits(64))
        )
        # The state machine is rebuilt by re-applying the log from the start.
        node.applied = []
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

    def up_cores(self) -> list[RaftCore]:
        return [node.core for node in self.nodes.values() if node.core is not None]
