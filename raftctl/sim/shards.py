"""Simulated shards: one SimCluster per shard, each of real Raft cores that
apply the real key-value store (raftctl.sim.kv_machine), advanced together a
millisecond at a time; and the requests that clients and resolvers send them.

Rules:
- Time is shared: `run_until` steps every shard and every timer in
  millisecond order, so a seed replays bit for bit.
- A request is one node.messages Command for one shard. It is proposed to
  the shard's leader (else to a random node that is up, which refuses it if
  it does not lead) and proposed again every RETRY_MS until it is first
  applied anywhere in its shard; then its sender hears the store's answer.
  An answer that says "locked" (a plain operation meeting a transaction's
  lock) is not an answer: the same command is proposed again later, as the
  real client does. A sender may drop a request (it died, or gave up).
- A sender's link to a shard may be cut (`cut`, by the sender's site: its
  name before any "."): its proposals do not reach that shard, the partition
  between a coordinator, or a resolver, and a shard.
"""

from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.config import shard_of_key
from node.kv import KVStateMachine
from node.messages import Command, Entry, encode_command
from raftctl.sim.cluster import SimCluster
from raftctl.sim.kv_machine import KVSimMachine, command_id
from raftctl.sim.machine import Applied

__all__ = ["RETRY_MS", "SimShards"]

RETRY_MS = 60
KVFactory = Callable[[int], KVStateMachine]  # shard -> a fresh store for one node
Answer = Callable[[dict[str, Any]], None]


@dataclass(slots=True)
class _Request:
    sender: str
    shard: int
    data: bytes
    on_answer: Answer


class SimShards:
    """Every shard, the shared clock and the requests in flight."""

    def __init__(
        self,
        shards: int,
        nodes: int,
        rng: random.Random,
        make_kv: KVFactory = lambda shard: KVStateMachine(shard=shard),
        config_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.rng = rng
        self.count = shards
        self.now_ms = 0
        self.clusters: dict[int, SimCluster] = {}
        for shard in range(1, shards + 1):
            cluster = SimCluster(
                [f"s{shard}n{number}" for number in range(1, nodes + 1)],
                random.Random(rng.getrandbits(64)),
                config_overrides=config_overrides,
                machine_factory=KVSimMachine.factory(functools.partial(make_kv, shard)),
            )
            cluster.on_applied = self._applied_hook(shard)
            self.clusters[shard] = cluster
        self.cut: set[tuple[str, int]] = set()
        self.pending: dict[str, _Request] = {}
        self._timers: list[tuple[int, int, Callable[[], None]]] = []
        self._sequence = 0
        # Answers heard while a node applies, delivered once its Ready is done
        # (a sender's reaction may propose, which a core refuses mid-Ready).
        self._heard: list[Callable[[], None]] = []

    def shard_of(self, key: str) -> int:
        """node.config's placement rule, for these shards."""
        return shard_of_key(key, self.count)

    # -- time -------------------------------------------------------------------

    def run_until(self, time_ms: int) -> None:
        while self.now_ms < time_ms:
            self.now_ms += 1
            while self._timers and self._timers[0][0] <= self.now_ms:
                _, _, callback = heapq.heappop(self._timers)
                callback()
            for cluster in self.clusters.values():
                cluster.run_until(self.now_ms)
                while self._heard:
                    self._heard.pop(0)()

    def after(self, delay_ms: int, callback: Callable[[], None]) -> None:
        self._sequence += 1
        heapq.heappush(self._timers, (self.now_ms + max(1, delay_ms), self._sequence, callback))

    # -- requests ---------------------------------------------------------------

    def send(self, sender: str, shard: int, command: Command, on_answer: Answer) -> str:
        """Propose `command` to `shard` until it is applied; returns its id."""
        data = encode_command(command)
        op_id = command_id(command.client_id, command.sequence, data)
        self.pending[op_id] = _Request(sender, shard, data, on_answer)
        self._propose(op_id)
        return op_id

    def drop(self, op_id: str) -> None:
        """The sender no longer waits (the command may still be applied)."""
        self.pending.pop(op_id, None)

    def drop_sender(self, sender: str) -> None:
        for op_id in [op for op, request in self.pending.items() if request.sender == sender]:
            del self.pending[op_id]

    def _propose(self, op_id: str) -> None:
        request = self.pending.get(op_id)
        if request is None:
            return
        cluster = self.clusters[request.shard]
        site = request.sender.split(".")[0]  # a client's name outlives its lives
        if (site, request.shard) not in self.cut:
            leader = cluster.leader()
            up = [n for n in cluster.node_ids if cluster.is_up(n)]
            target = leader if leader is not None else (self.rng.choice(up) if up else None)
            if target is not None:
                cluster.propose(target, request.data)
        self.after(RETRY_MS, lambda: self._propose(op_id))

    def _applied_hook(self, shard: int) -> Callable[[str, Entry, Applied], None]:
        def applied(node_id: str, entry: Entry, done: Applied) -> None:
            request = self.pending.get(done.op_id)
            if request is None or request.shard != shard or done.result is None:
                return
            if "locked" in done.result:
                return  # not applied: the next proposal runs it again
            del self.pending[done.op_id]
            result = done.result
            self._heard.append(lambda: request.on_answer(result))

        return applied

    # -- what the checks read ---------------------------------------------------

    def leader_store(self, shard: int) -> KVStateMachine | None:
        """The store of `shard`'s leader (None without one)."""
        cluster = self.clusters[shard]
        leader = cluster.leader()
        if leader is None:
            return None
        machine = cluster.nodes[leader].machine
        return machine.kv if isinstance(machine, KVSimMachine) else None
