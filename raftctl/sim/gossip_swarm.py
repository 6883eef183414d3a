"""The gossip swarm: whole clusters of the real gossip core (node.gossip) on
the simulator's seeded network (raftctl.sim.network), under partitions,
loss, duplication, crashes and restarts, with clients writing registers
and adding to sets everywhere. A seed passes when, after the last fault is
healed and every node is back:

- convergence: every replica holds the same state (equal digests, equal
  registers and sets) within CONVERGE_ROUNDS_MAX anti-entropy rounds; the
  rounds it took are reported;
- no acknowledged add lost: every element whose add a replica acknowledged
  is in the set on every replica (the set "adds" only grows);
- last writer wins, truly: each register ends with the value of the
  greatest-stamped write any replica acknowledged for it (a tombstone
  included: a delete that comes undone is caught here);
- and, counted, the acknowledged writes a later-stamped one replaced (some
  of them concurrent: the writes last-writer-wins loses).

A crash loses what a node had not made durable (its GossipReady's items are
persisted when drained, so a crash between `ready()` and the persist loses
them, with their acknowledgements). A restart rebuilds the core from what
was persisted, with a higher incarnation.

    python -m raftctl.sim.gossip_swarm --seeds 50
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from node.gossip.core import GossipCore, GossipOptions
from node.gossip.crdt import Register, Stamp
from node.gossip.store import Item
from node.gossip.swim import SwimOptions
from node.messages.gossip import GossipMessage
from raftctl.sim.network import NetworkOptions, SimNetwork

__all__ = ["GossipSeedResult", "run_gossip_seed"]

TICK_MS = 25
OPTIONS = GossipOptions(
    tick_ms=TICK_MS,
    gossip_every_ticks=4,
    fanout=2,
    swim=SwimOptions(period_ticks=8, ack_timeout_ticks=3, suspect_timeout_ticks=40),
)
FAULTY_MS = 6_000  # faults and clients
CONVERGE_ROUNDS_MAX = 60
CRASH_BEFORE_PERSIST = 0.02
KEYS = ("k0", "k1", "k2", "k3")

CoreFactory = Callable[..., GossipCore]


@dataclass(slots=True)
class GossipSeedResult:
    seed: int
    nodes: int
    failure: str | None = None
    converge_rounds: int | None = None
    writes_acked: int = 0
    adds_acked: int = 0
    superseded: int = 0  # acknowledged writes a later-stamped one replaced
    crashes: int = 0
    partitions: int = 0
    items_sent: int = 0

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(slots=True)
class _Node:
    core: GossipCore | None
    persisted: list[Item] = field(default_factory=list)
    incarnation: int = 0
    # What a client asked and this node has not acknowledged yet: token -> the op.
    pending: dict[int, tuple[str, str, str | None, Stamp | None]] = field(default_factory=dict)


class _Sim:
    def __init__(self, seed: int, core_factory: CoreFactory) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.ids = [f"n{i}" for i in range(1, self.rng.choice((3, 4, 5, 7)) + 1)]
        self.core_factory = core_factory
        drop = self.rng.choice((0.0, 0.02, 0.1))
        self.network = SimNetwork(
            random.Random(self.rng.getrandbits(64)),
            NetworkOptions(
                delay_ms_min=1, delay_ms_max=20, drop_probability=drop, duplicate_probability=0.02
            ),
        )
        self.nodes = {node_id: _Node(None) for node_id in self.ids}
        self.now = 0
        for node_id in self.ids:
            self._start(node_id)
        self.queue: list[tuple[int, int, str, object]] = []
        self.sequence = 0
        self.result = GossipSeedResult(seed, len(self.ids))
        self.acked_writes: dict[str, list[Register]] = {key: [] for key in KEYS}
        self.acked_adds: set[str] = set()
        for number, node_id in enumerate(self.ids):
            self._at(number * 7 % TICK_MS + 1, "tick", node_id)

    # -- the event loop -------------------------------------------------------------

    def _at(self, when: int, kind: str, payload: object) -> None:
        self.sequence += 1
        heapq.heappush(self.queue, (when, self.sequence, kind, payload))

    def run_until(self, until: int, faults: bool) -> None:
        while self.queue and self.queue[0][0] <= until:
            when, _, kind, payload = heapq.heappop(self.queue)
            self.now = when
            if kind == "tick":
                node_id = str(payload)
                node = self.nodes[node_id]
                if node.core is not None:
                    node.core.tick()
                    if faults:
                        self._client(node_id)
                    self._drain(node_id, faults)
                self._at(when + TICK_MS, "tick", node_id)
            elif kind == "deliver":
                message: GossipMessage = payload  # type: ignore[assignment]
                target = self.nodes[message.dst]
                if target.core is not None and self.network.connected(message.src, message.dst):
                    target.core.step(message)
                    self._drain(message.dst, faults)
            if faults and kind == "tick" and self.rng.random() < 0.004:
                self._fault()

    def _drain(self, node_id: str, faults: bool) -> None:
        node = self.nodes[node_id]
        core = node.core
        while core is not None and core.has_ready():
            rd = core.ready()
            for message in rd.messages:
                for delay in self.network.delays_ms(message.src, message.dst):
                    self._at(self.now + delay, "deliver", message)
            durable = rd.persist or rd.acknowledged
            if faults and durable and self.rng.random() < CRASH_BEFORE_PERSIST:
                self._crash(node_id)  # the items and their acknowledgements are lost
                return
            node.persisted += rd.persist
            for token in rd.acknowledged:
                self._acknowledge(node, token)

    def _acknowledge(self, node: _Node, token: int) -> None:
        kind, key, value, stamp = node.pending.pop(token)
        if kind == "put" and stamp is not None:
            self.acked_writes[key].append(Register(value, stamp))
            self.result.writes_acked += 1
        elif kind == "add":
            self.acked_adds.add(str(value))
            self.result.adds_acked += 1

    # -- clients and faults -------------------------------------------------------------

    def _client(self, node_id: str) -> None:
        core = self.nodes[node_id].core
        if core is None or self.rng.random() > 0.3:
            return
        node = self.nodes[node_id]
        if self.rng.random() < 0.5:
            key = self.rng.choice(KEYS)
            value = None if self.rng.random() < 0.2 else f"{node_id}-{self.now}"
            token = core.put(key, value)
            node.pending[token] = ("put", key, value, core.clock)  # the stamp it was given
        else:
            element = f"{node_id}-{self.now}-{self.rng.randrange(1000)}"
            token = core.add("adds", element)
            node.pending[token] = ("add", "adds", element, None)

    def _fault(self) -> None:
        choice = self.rng.random()
        if choice < 0.4:
            ids = list(self.ids)
            self.rng.shuffle(ids)
            cut = self.rng.randint(1, len(ids) - 1)
            self.network.partition([ids[:cut], ids[cut:]])
            self.result.partitions += 1
        elif choice < 0.6:
            self.network.heal()
        else:
            victim = self.rng.choice(self.ids)
            if self.nodes[victim].core is None:
                self._start(victim)
            else:
                self._crash(victim)

    def _crash(self, node_id: str) -> None:
        node = self.nodes[node_id]
        node.core = None
        node.pending.clear()  # never acknowledged: the client times out
        self.result.crashes += 1

    def _start(self, node_id: str) -> None:
        node = self.nodes[node_id]
        node.incarnation += 1
        node.core = self.core_factory(
            node_id,
            self.ids,
            random.Random(self.rng.getrandbits(64)),
            OPTIONS,
            recovered=list(node.persisted),
            incarnation=node.incarnation,
            start_ms=0,
        )
        node.core.ticks = self.now // TICK_MS  # its clock reads the simulated time

    # -- the end ------------------------------------------------------------------------

    def settle(self) -> None:
        self.network.heal()
        self.network.set_options(NetworkOptions(delay_ms_min=1, delay_ms_max=20))
        for node_id, node in self.nodes.items():
            if node.core is None:
                self._start(node_id)
        round_ms = OPTIONS.gossip_every_ticks * TICK_MS
        for number in range(1, CONVERGE_ROUNDS_MAX + 1):
            self.run_until(self.now + round_ms, faults=False)
            if self._converged():
                self.result.converge_rounds = number
                return
        self.result.failure = (
            f"no convergence within {CONVERGE_ROUNDS_MAX} anti-entropy rounds after the heal: "
            + self._difference()
        )

    def _cores(self) -> list[GossipCore]:
        return [node.core for node in self.nodes.values() if node.core is not None]

    def _converged(self) -> bool:
        cores = self._cores()
        return len({core.store.digest.summary() for core in cores}) == 1

    def _difference(self) -> str:
        cores = self._cores()
        first = cores[0].store
        for core in cores[1:]:
            for key in sorted(set(first.registers) | set(core.store.registers)):
                if first.get(key) != core.store.get(key):
                    return (
                        f"{key}: {first.get(key)} at {cores[0].node_id}, "
                        f"{core.store.get(key)} at {core.node_id}"
                    )
        return "the sets differ"

    def judge(self) -> None:
        if self.result.failure is not None:
            return
        cores = self._cores()
        for core in cores:
            missing = self.acked_adds - core.store.members("adds")
            if missing:
                self.result.failure = (
                    f"acknowledged adds lost at {core.node_id}: {sorted(missing)[:3]}"
                )
                return
        store = cores[0].store
        for key, writes in self.acked_writes.items():
            if not writes:
                continue
            latest = max(writes, key=lambda register: register.stamp)
            final = store.get(key)
            if final is None or final.stamp < latest.stamp:
                self.result.failure = (
                    f"{key} ended as {final}, older than the acknowledged write {latest}: "
                    "last writer did not win"
                )
                return
            self.result.superseded += sum(1 for w in writes if w.stamp < final.stamp)
        self.result.items_sent = sum(core.sent_items for core in cores)


def run_gossip_seed(seed: int, core_factory: CoreFactory = GossipCore) -> GossipSeedResult:
    sim = _Sim(seed, core_factory)
    try:
        sim.run_until(FAULTY_MS, faults=True)
        sim.settle()
        sim.judge()
    except AssertionError as error:  # a core's own invariant
        sim.result.failure = f"{type(error).__name__}: {error}"
    return sim.result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raftctl.sim.gossip_swarm")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    chosen = [args.seed] if args.seed is not None else range(1, args.seeds + 1)
    for seed in chosen:
        result = run_gossip_seed(seed)
        print(result)
        if not result.ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
