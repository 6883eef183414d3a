"""The transactions swarm: seeded fault schedules against several simulated
shards (real Raft cores, the real key-value store and its transaction
tables), bank clients moving money across them by the real coordinator's
protocol, and each shard's resolver; judged by the bank checker (the total
never changes, no balance goes negative, every transfer steps the bank as
one object: serializable and in real-time order) and by the atomicity judge
(every transaction finished alike on every shard).

A seed draws the shard count, the clients' crash and stall rates at phase
boundaries, and the fault mix: Raft faults inside a shard (nodes crash and
come back, a leader is cut off from its followers) and cuts between a client
or a resolver and a shard. A safety phase runs clients and faults; then
everything heals, no new transfer starts, and within a bounded time every
prepared transaction must be finished (no lock outlives its transaction),
before a final read of every balance.

    python -m raftctl.sim.txn_swarm --seeds 200      # seeds 1..200
    python -m raftctl.sim.txn_swarm --seed 7         # one seed, with its options
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from node.errors import NodeError
from node.kv import KVStateMachine
from node.transactions import FINISHED_MAX
from raftctl.judges.bank import check_bank
from raftctl.judges.history import History
from raftctl.judges.transactions import check_atomicity
from raftctl.judges.verdicts import INVALID, UNKNOWN
from raftctl.sim.bank_clients import BankFaults, SimBankClient
from raftctl.sim.errors import HistoryViolation, LivenessFailure, SimulationFailure
from raftctl.sim.resolvers import WATCH_MS, SimResolver
from raftctl.sim.shards import SimShards
from raftctl.txn.attempt import Attempt

__all__ = ["TxnSeedResult", "TxnSwarmOptions", "draw_options", "run_txn_seed"]

BALANCE = 50
SETTLE_MS_MAX = 30_000
FAULT_EVERY_MS = (200, 700)


@dataclass(frozen=True, slots=True)
class TxnSwarmOptions:
    seed: int
    shards: int
    nodes: int = 3
    clients: int = 3
    duration_ms: int = 5000
    resolve_after_ms: int = 300
    faults: BankFaults = field(default_factory=BankFaults)
    raft_faults: bool = True
    cuts: bool = True

    def describe(self) -> str:
        f = self.faults
        return (
            f"seed {self.seed}: {self.shards} shards of {self.nodes}, {self.clients} clients, "
            f"coordinator crash {f.crash:.2f} stall {f.stall:.2f} (<= {f.stall_ms_max} ms), "
            f"resolve after {self.resolve_after_ms} ms, raft faults {self.raft_faults}, "
            f"cuts {self.cuts}"
        )


@dataclass(slots=True)
class TxnSeedResult:
    options: TxnSwarmOptions
    failure: str | None = None
    committed: int = 0
    aborted: int = 0
    transfers_ok: int = 0
    coordinators_crashed: int = 0
    resolved: int = 0
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None


def draw_options(seed: int) -> TxnSwarmOptions:
    rng = random.Random(f"txn-options-{seed}")
    resolve_after = rng.choice((150, 300, 600))
    return TxnSwarmOptions(
        seed=seed,
        shards=rng.choice((2, 3, 3)),
        clients=rng.choice((2, 3, 4)),
        resolve_after_ms=resolve_after,
        faults=BankFaults(
            crash=rng.choice((0.0, 0.05, 0.15)),
            stall=rng.choice((0.0, 0.1, 0.3)),
            stall_ms_max=resolve_after * 3,
        ),
        raft_faults=rng.random() < 0.7,
        cuts=rng.random() < 0.6,
    )


class _Run:
    """One seed: the shards, clients, resolvers and faults, then the verdicts."""

    def __init__(
        self,
        options: TxnSwarmOptions,
        make_kv: Callable[[int], KVStateMachine],
        attempt_class: type[Attempt],
        resolver_class: type[SimResolver],
    ) -> None:
        self.options = options
        self.rng = random.Random(f"txn-run-{options.seed}")
        self.shards = SimShards(options.shards, options.nodes, self.rng, make_kv)
        self._last_time = 0
        self.history = History(options.clients + 1, clock=self._time)
        self.accounts = [f"a{n}" for n in range(2 * options.shards)]
        self.clients = [
            SimBankClient(
                index,
                self.shards,
                self.history,
                self.accounts,
                random.Random(self.rng.getrandbits(64)),
                options.faults,
                attempt_class,
            )
            for index in range(options.clients)
        ]
        self.resolvers = [
            resolver_class(shard, self.shards, options.resolve_after_ms)
            for shard in range(1, options.shards + 1)
        ]
        self.down: list[tuple[int, str]] = []
        self.faults_injected = 0

    def _time(self) -> int:
        self._last_time = max(self._last_time + 1, self.shards.now_ms * 1_000_000)
        return self._last_time

    # -- the run ------------------------------------------------------------------

    def run(self) -> TxnSeedResult:
        result = TxnSeedResult(self.options)
        self._setup()
        self._every(5, self._clients_go)
        self._every(WATCH_MS, self._resolvers_watch)
        if self.options.raft_faults or self.options.cuts:
            self.shards.after(self.rng.randint(*FAULT_EVERY_MS), self._fault)
        self.shards.run_until(self.options.duration_ms)
        self._heal()
        self._settle()
        self._final_read()
        self._judge(result)
        return result

    def _every(self, period_ms: int, action: Callable[[], None]) -> None:
        def again() -> None:
            action()
            self.shards.after(period_ms, again)

        self.shards.after(period_ms, again)

    def _setup(self) -> None:
        """Every account holds BALANCE before the history starts."""
        from node.messages import Command, Put

        waiting = set(self.accounts)
        for number, account in enumerate(self.accounts, start=1):
            key = f"bank/{account}"
            self.shards.send(
                "setup",
                self.shards.shard_of(key),
                Command("setup", number, 0, Put(key, str(BALANCE))),
                functools.partial(lambda account, result: waiting.discard(account), account),
            )
        deadline = self.shards.now_ms + SETTLE_MS_MAX
        while waiting and self.shards.now_ms < deadline:
            self.shards.run_until(self.shards.now_ms + 50)
        if waiting:
            raise LivenessFailure(f"the accounts {sorted(waiting)} were never set up")

    def _clients_go(self) -> None:
        for client in self.clients:
            if not client.busy and self.rng.random() < 0.5:
                client.next_operation()

    def _resolvers_watch(self) -> None:
        for resolver in self.resolvers:
            resolver.watch()

    def _fault(self) -> None:
        """One fault now; each is undone a while later."""
        if self.shards.now_ms >= self.options.duration_ms:
            return
        self.faults_injected += 1
        kinds = (["crash", "isolate"] if self.options.raft_faults else []) + (
            ["cut"] if self.options.cuts else []
        )
        kind = self.rng.choice(kinds)
        shard = self.rng.randint(1, self.options.shards)
        cluster = self.shards.clusters[shard]
        hold = self.rng.randint(100, 1500)
        if kind == "crash":
            victim = cluster.leader() if self.rng.random() < 0.5 else None
            victim = victim or self.rng.choice(cluster.node_ids)
            cluster.crash(victim)
            self.shards.after(hold, lambda: cluster.start(victim))
        elif kind == "isolate":
            leader = cluster.leader()
            if leader is not None:
                others = [n for n in cluster.node_ids if n != leader]
                cluster.network.partition([[leader], others])
                self.shards.after(hold, cluster.network.heal)
        else:
            site = self.rng.choice(
                [f"bank{c}" for c in range(self.options.clients)]
                + [f"resolver{s}" for s in range(1, self.options.shards + 1)]
            )
            self.shards.cut.add((site, shard))
            self.shards.after(hold, lambda: self.shards.cut.discard((site, shard)))
        self.shards.after(self.rng.randint(*FAULT_EVERY_MS), self._fault)

    # -- the end ------------------------------------------------------------------

    def _heal(self) -> None:
        for client in self.clients:
            client.stopped = True
        self.shards.cut.clear()
        for cluster in self.shards.clusters.values():
            cluster.network.heal()
            for node_id in cluster.node_ids:
                cluster.start(node_id)

    def _settle(self) -> None:
        """No client busy and no transaction prepared anywhere, in bounded time."""
        deadline = self.shards.now_ms + SETTLE_MS_MAX

        def settled() -> bool:
            if any(client.busy for client in self.clients):
                return False
            for shard in self.shards.clusters:
                store = self.shards.leader_store(shard)
                if store is None or store.txns.prepared:
                    return False
            return True

        while not settled():
            if self.shards.now_ms >= deadline:
                held = {
                    shard: sorted(store.txns.prepared) if store else "no leader"
                    for shard in self.shards.clusters
                    for store in [self.shards.leader_store(shard)]
                }
                raise LivenessFailure(
                    f"transactions still in doubt {SETTLE_MS_MAX} ms after healing: {held}"
                )
            self.shards.run_until(self.shards.now_ms + 50)

    def _final_read(self) -> None:
        reader = SimBankClient(
            self.options.clients,
            self.shards,
            self.history,
            self.accounts,
            random.Random(self.rng.getrandbits(64)),
            BankFaults(),
        )
        reader.busy = True
        reader.read_all(final=True)
        deadline = self.shards.now_ms + SETTLE_MS_MAX
        while reader.busy and self.shards.now_ms < deadline:
            self.shards.run_until(self.shards.now_ms + 50)
        if reader.busy:
            raise LivenessFailure("the final read of every balance did not end")

    def _judge(self, result: TxnSeedResult) -> None:
        self.history.close_open()
        events = self.history.client_events()
        initial = dict.fromkeys(self.accounts, BALANCE)
        bank = check_bank(events, BALANCE * len(self.accounts), initial, steps_max=500_000)
        finished = {}
        for shard in self.shards.clusters:
            store = self.shards.leader_store(shard)
            if store is None:
                raise LivenessFailure(f"shard {shard} has no leader at the end")
            finished[shard] = store.txns.outcomes()
        atomicity = check_atomicity(finished, FINISHED_MAX)
        result.committed, result.aborted = atomicity.committed, atomicity.aborted
        result.transfers_ok = bank.transfers_ok
        result.coordinators_crashed = sum(client.crashed for client in self.clients)
        result.resolved = sum(len(r.resolved) for r in self.resolvers)
        result.stats = {"faults": self.faults_injected, "events": len(events)}
        if atomicity.verdict == INVALID:
            raise HistoryViolation(f"atomicity: {atomicity.explain()}")
        if bank.verdict == INVALID:
            raise HistoryViolation(f"bank: {bank.explain()}")
        if bank.verdict == UNKNOWN:
            result.stats["bank_unknown"] = 1


def run_txn_seed(
    seed: int,
    options: TxnSwarmOptions | None = None,
    make_kv: Callable[[int], KVStateMachine] = lambda shard: KVStateMachine(shard=shard),
    attempt_class: type[Attempt] = Attempt,
    resolver_class: type[SimResolver] = SimResolver,
) -> TxnSeedResult:
    """Run one seed; its result names the failure, if any."""
    chosen = options or draw_options(seed)
    try:
        return _Run(chosen, make_kv, attempt_class, resolver_class).run()
    except (SimulationFailure, NodeError) as failure:
        return TxnSeedResult(chosen, f"{type(failure).__name__}: {failure}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raftctl.sim.txn_swarm")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seed", type=int, help="one seed, with its options")
    group.add_argument("--seeds", type=int, default=50, help="seeds 1..N")
    args = parser.parse_args(argv)
    seeds = range(args.seed, args.seed + 1) if args.seed is not None else range(1, args.seeds + 1)
    started = time.monotonic()
    failed = 0
    totals = {"committed": 0, "crashed": 0, "resolved": 0}
    for seed in seeds:
        result = run_txn_seed(seed)
        totals["committed"] += result.committed
        totals["crashed"] += result.coordinators_crashed
        totals["resolved"] += result.resolved
        if args.seed is not None or not result.ok:
            print(result.options.describe())
        if not result.ok:
            failed += 1
            print(f"  FAILED: {result.failure}")
            print(f"  replay: python -m raftctl.sim.txn_swarm --seed {seed}")
    print(
        f"{len(seeds) - failed}/{len(seeds)} seeds passed in {time.monotonic() - started:.1f}s: "
        f"{totals['committed']} transactions committed, {totals['crashed']} coordinators "
        f"crashed, {totals['resolved']} transactions resolved"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
