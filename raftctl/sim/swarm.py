"""The swarm: seeded random fault schedules against whole simulated clusters,
and the runner that judges them (options and results in seed.py, the faults
in nemesis.py, the clients in clients.py).

In the manner of TigerBeetle's VOPR: a seed draws the cluster size and the
fault mix, a safety phase runs clients and a nemesis against the cluster while
SafetyChecker watches every step, then a liveness phase heals everything and
the cluster must elect a leader, commit every pending proposal and converge
within a bounded time. Any failure names its seed and the command that
replays it bit for bit.

The nemesis partitions, crashes, restarts and kills leaders; it also changes
the membership (adds learners, promotes them, removes voters, the leader
included) and hands leadership over, while nodes snapshot and compact their
logs. Clients write, compare-and-set and read (linearizable, lease and stale
reads) registers; every operation goes into a Jepsen-style history that
raftctl's linearizability checker judges at the end (stale reads exempt).

    python -m raftctl.sim.swarm --seeds 300          # seeds 1..300
    python -m raftctl.sim.swarm --seed 42            # one seed, with its options
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator

from node.consensus import ConsensusCore
from node.errors import NodeError, known
from node.events import BecameLeader, Event
from node.paxos.core import PaxosCore
from node.raft import RaftCore
from raftctl.judges.linearizable import check
from raftctl.sim.clients import SimClients
from raftctl.sim.cluster import CoreFactory, SimCluster
from raftctl.sim.errors import HistoryViolation, LivenessFailure
from raftctl.sim.invariants import SafetyChecker
from raftctl.sim.nemesis import SimNemesis
from raftctl.sim.network import NetworkOptions
from raftctl.sim.paxos_invariants import PaxosSafetyChecker
from raftctl.sim.seed import (
    CONSISTENCIES,
    FAULT_KINDS,
    SeedResult,
    SwarmOptions,
    options_swarm,
)

__all__ = [
    "FAULT_KINDS",
    "SeedResult",
    "SwarmOptions",
    "options_swarm",
    "replay_command",
    "run_seed",
    "run_seeds",
]

RETRY_EVERY_MS = 200  # how long a client waits before asking again
SEED_MESSAGES_MAX = 200_000  # deliveries per seed, past which it fails (a storm)
SEED_WALL_S_MAX = 60.0  # wall seconds per seed, past which it fails
# The linearizability search's steps per key: a tangle of operations left
# open by a cut-off leader could cost seconds; past this it says "unknown"
# (reported apart from "valid"), so the swarm spends its time on more seeds.
SEED_CHECK_STEPS_PER_KEY = 100_000


class _Run:
    """One seed's run: the cluster, its nemesis and its clients, then judging."""

    def __init__(
        self,
        options: SwarmOptions,
        core_factory: CoreFactory,
        observer: Callable[[int, str, Event], None] | None,
        protocol: str = "raft",
    ) -> None:
        self.options = options
        self.protocol = protocol
        # Its own stream, so that drawing the options never shifts the run; the
        # nemesis and the clients draw from it too, in the order things happen.
        self.rng = random.Random(f"run-{options.seed}")
        self.result = SeedResult(options)
        self.observer = observer
        node_ids = [f"n{i}" for i in range(1, options.node_count + 1)]
        self.cluster = SimCluster(
            node_ids,
            random.Random(self.rng.getrandbits(64)),
            network=options.network,
            disk=options.disk,
            config_overrides={
                "pre_vote": options.pre_vote,
                "check_quorum": options.check_quorum,
                "election_timeout_ticks_min": options.election_timeout_ticks_min,
                "election_timeout_ticks_max": options.election_timeout_ticks_max,
                "heartbeat_interval_ticks": options.heartbeat_interval_ticks,
                "entries_per_message_max": options.entries_per_message_max,
                "inflight_messages_max": options.inflight_messages_max,
            },
            core_factory=core_factory,
            observer=self._on_event,
            checker_factory=PaxosSafetyChecker if protocol == "paxos" else SafetyChecker,
        )
        self.nemesis = SimNemesis(self.cluster, self.rng, options, self.result)
        self.clients = SimClients(self.cluster, self.rng, options, self.result)
        cluster = self.cluster
        # The seed's budget: the busiest of 400 seeds delivered 28k messages.
        cluster.messages_max = SEED_MESSAGES_MAX
        cluster.wall_deadline = time.monotonic() + SEED_WALL_S_MAX
        cluster.crash_before_persist_probability = options.crash_before_persist_probability
        cluster.crash_before_send = self.nemesis.crash_before_send
        cluster.snapshot_every = options.snapshot_every
        cluster.on_applied = self.clients.on_applied
        cluster.on_read = self.clients.on_read
        cluster.on_read_dropped = self.clients.on_read_dropped
        cluster.on_failpoint_crash = self.nemesis.schedule_restart

    def _on_event(self, now_ms: int, node_id: str, event: Event) -> None:
        if isinstance(event, BecameLeader):
            self.result.elections += 1
            self.nemesis.on_became_leader(now_ms, node_id, event)
        if self.observer is not None:
            self.observer(now_ms, node_id, event)

    def run(self) -> SeedResult:
        self._safety_phase()
        self._liveness_phase()
        self._check_history()
        cluster = self.cluster
        result = self.result
        result.messages_delivered = cluster.messages_delivered
        result.readies_handled = cluster.readies_handled
        result.deliveries_during_writes = cluster.deliveries_during_writes
        result.checks = cluster.checker.checks
        result.snapshots_sent = cluster.snapshots_sent
        result.snapshots_taken = cluster.snapshots_taken
        return result

    def _safety_phase(self) -> None:
        options = self.options
        step_ms = min(options.proposal_interval_ms, options.nemesis_interval_ms)
        next_nemesis = options.nemesis_interval_ms
        next_proposal = options.proposal_interval_ms
        next_retry = RETRY_EVERY_MS
        while self.cluster.now_ms < options.safety_phase_ms:
            now = self.cluster.now_ms + step_ms
            self.cluster.run_until(now)
            self.nemesis.restart_due(now)
            if now >= next_retry:
                # Clients time out and ask again: a write lost with a deposed
                # leader's log takes effect soon, not at the very end (which
                # would leave it concurrent with everything for the checker).
                next_retry += RETRY_EVERY_MS
                self.clients.retry_pending()
            if now >= next_nemesis:
                next_nemesis += options.nemesis_interval_ms
                self.nemesis.strike()
            if now >= next_proposal:
                next_proposal += options.proposal_interval_ms
                self.clients.operate()

    def _liveness_phase(self) -> None:
        options = self.options
        cluster = self.cluster
        cluster.network.heal()
        cluster.network.set_options(
            NetworkOptions(options.network.delay_ms_min, options.network.delay_ms_max)
        )
        cluster.crash_before_persist_probability = 0.0
        if cluster.disk is not None:
            cluster.disk.calm()
        self.nemesis.stop()
        for node_id in cluster.node_ids:
            if node_id not in self.nemesis.retired:
                cluster.start(node_id)
        start = cluster.now_ms
        deadline = start + options.liveness_phase_ms_max
        next_retry = start
        while cluster.now_ms < deadline:
            if cluster.now_ms >= next_retry:
                next_retry += RETRY_EVERY_MS
                self.clients.retry_pending()
            cluster.run_until(cluster.now_ms + 20)
            self._reconcile_members()
            if self._converged():
                self.result.converged_after_ms = cluster.now_ms - start
                self._check_nothing_lost()
                return
        raise LivenessFailure(
            f"no convergence within {options.liveness_phase_ms_max}ms of healing: "
            f"{self._cluster_summary()}; {len(self.clients.pending_unapplied())} proposals pending"
        )

    def _reconcile_members(self) -> None:
        """What an operator does once the dust settles: every member of the
        leader's configuration runs, and nothing else does."""
        cluster = self.cluster
        leader = cluster.leader_core()
        if leader is None:
            return
        leader_id = leader.id
        members = leader.membership.members
        for node_id in cluster.node_ids:
            if node_id in members:
                cluster.start(node_id)
            elif node_id != leader_id:
                cluster.crash(node_id)

    # -- nemesis ------------------------------------------------------------------

    # -- clients and their history --------------------------------------------------

    # -- judging ---------------------------------------------------------------------

    def _converged(self) -> bool:
        cluster = self.cluster
        leader = cluster.leader_core()
        if leader is None or self.clients.pending_unapplied():
            return False
        leader_id = leader.id
        if leader.log.commit_index != leader.log.last_index:
            return False
        for member in leader.membership.members:
            core = cluster.nodes[member].core
            if core is None:
                return False
            if (core.term, core.leader_id, *self._log_mark(core)) != (
                leader.term,
                leader_id,
                *self._log_mark(leader),
            ) or cluster.nodes[member].machine.applied_index != leader.log.commit_index:
                return False  # (the machine's mark: a latent disk may hold entries back)
        return True

    def _log_mark(self, core: ConsensusCore) -> tuple[int, int]:
        """What converged logs share: Raft's last entry; Paxos's chosen index
        (an acceptor may keep slots past the leader's that no one chose)."""
        log = core.log
        if self.protocol == "paxos":
            return log.commit_index, log.commit_index
        return log.last_index, log.last_term

    def _check_nothing_lost(self) -> None:
        """Every member applied everything, and their state machines agree."""
        cluster = self.cluster
        checker = cluster.checker
        leader_id = known(cluster.leader(), "a leader after convergence")
        leader_node = cluster.nodes[leader_id]
        leader_core = known(leader_node.core, "the converged leader is up", leader=leader_id)
        self.result.committed_index = max(checker.applied, default=0)
        for member in leader_core.membership.members:
            machine = cluster.nodes[member].machine
            if machine.applied_index < self.result.committed_index:
                checker.fail(
                    "No committed entry lost",
                    f"{member} applied {machine.applied_index} entries after convergence, "
                    f"but index {self.result.committed_index} was applied before",
                )
            if (machine.values, machine.done) != (
                leader_node.machine.values,
                leader_node.machine.done,
            ):
                checker.fail(
                    "State Machine Safety",
                    f"{member} and {leader_id} applied the same log to different states",
                )

    def _check_history(self) -> None:
        """Linearizable and lease reads, writes and cas must be linearizable."""
        events = self.clients.finish()
        self.result.history_operations = sum(1 for event in events if event["type"] == "invoke")
        result = check(events, SEED_CHECK_STEPS_PER_KEY)  # the judge chaos runs use too
        self.result.history_verdict = result.verdict
        if result.verdict == "invalid":
            raise HistoryViolation(f"Linearizability violated: {result.explain()}")

    def _cluster_summary(self) -> str:
        parts = []
        for node_id, node in self.cluster.nodes.items():
            core = node.core
            if core is None:
                parts.append(f"{node_id} down")
            else:
                parts.append(
                    f"{node_id} {core.role.value} t{core.term} commit={core.log.commit_index}"
                    f" last={core.log.last_index}/{core.log.last_term}"
                    f" {core.membership.describe()}"
                )
        return ", ".join(parts)


def run_seed(
    seed: int,
    core_factory: CoreFactory = RaftCore,
    node_count: int | None = None,
    observer: Callable[[int, str, Event], None] | None = None,
    faults: Iterable[str] | None = None,
    protocol: str = "raft",
) -> SeedResult:
    """Run one seed; a safety or liveness failure is reported, not raised.
    `protocol` names the core's (raft or paxos): it picks the safety checker."""
    options = options_swarm(seed, node_count, faults)
    run = _Run(options, core_factory, observer, protocol)
    try:
        return run.run()
    except (AssertionError, NodeError) as failure:
        # A SimulationFailure, an InvariantViolation inside the core, or another
        # broken assertion on the way. Anything else is a bug of the harness and
        # propagates.
        run.result.failure = f"{type(failure).__name__}: {failure}"
    return run.result


def run_seeds(
    seeds: Iterable[int],
    core_factory: CoreFactory = RaftCore,
    node_count: int | None = None,
    workers: int = 1,
    stop_at_first_failure: bool = True,
    faults: Iterable[str] | None = None,
    protocol: str = "raft",
) -> Iterator[SeedResult]:
    """Run many seeds, on `workers` processes when > 1, yielding results in seed
    order. `core_factory` must be importable by name when workers > 1."""
    if workers <= 1:
        for seed in seeds:
            result = run_seed(seed, core_factory, node_count, faults=faults, protocol=protocol)
            yield result
            if stop_at_first_failure and not result.ok:
                return
        return
    context = multiprocessing.get_context("spawn")  # no fork: safe beside any threads
    with context.Pool(workers) as pool:
        job = functools.partial(
            run_seed,
            core_factory=core_factory,
            node_count=node_count,
            faults=None if faults is None else tuple(faults),
            protocol=protocol,
        )
        for result in pool.imap(job, seeds, chunksize=8):
            yield result
            if stop_at_first_failure and not result.ok:
                pool.terminate()
                return


def replay_command(seed: int, node_count: int | None = None, protocol: str = "raft") -> str:
    nodes = f" --nodes {node_count}" if node_count else ""
    paxos = " --protocol paxos" if protocol == "paxos" else ""
    return f"python -m raftctl.sim.swarm --seed {seed}{nodes}{paxos}"


CORES: dict[str, CoreFactory] = {"raft": RaftCore, "paxos": PaxosCore}


def _report_failure(result: SeedResult, node_count: int | None, protocol: str) -> None:
    print(f"FAILED {result.failure}", file=sys.stderr)
    print(result.options.describe(), file=sys.stderr)
    print(
        f"replay: {replay_command(result.options.seed, node_count, protocol)}"
        f"   (or: make sim SEED={result.options.seed}"
        + (f" PROTOCOL={protocol})" if protocol != "raft" else ")"),
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m raftctl.sim.swarm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, default=300, help="run seeds FIRST..FIRST+N-1")
    parser.add_argument("--first", type=int, default=1, help="first seed of a --seeds run")
    parser.add_argument("--seed", type=int, help="replay this one seed, verbosely")
    parser.add_argument("--nodes", type=int, choices=(3, 5, 7), help="force the cluster size")
    parser.add_argument(
        "--protocol", choices=sorted(CORES), default="raft", help="the core to run (default raft)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes to spread seeds over (default: one per core)",
    )
    args = parser.parse_args(argv)
    if args.seed is not None:
        result = run_seed(
            args.seed, CORES[args.protocol], node_count=args.nodes, protocol=args.protocol
        )
        print(result.options.describe())
        if not result.ok:
            _report_failure(result, args.nodes, args.protocol)
            return 1
        print(
            f"ok: {result.elections} elections, {result.proposals} proposals, "
            f"{result.committed_index} entries committed, {result.messages_delivered} "
            f"messages, converged {result.converged_after_ms}ms after healing"
        )
        return 0
    started = time.perf_counter()
    totals: dict[str, int] = dict.fromkeys(
        (
            "elections",
            "messages",
            "during_writes",
            "committed",
            "snapshots",
            "changes",
            "transfers",
            "ops",
        ),
        0,
    )
    reads: dict[str, int] = dict.fromkeys(CONSISTENCIES, 0)
    sizes: dict[int, int] = {}
    profiles: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    idle: list[int] = []  # seeds whose clients ran no operation: they proved little
    seeds = range(args.first, args.first + args.seeds)
    for result in run_seeds(
        seeds,
        CORES[args.protocol],
        node_count=args.nodes,
        workers=args.workers,
        protocol=args.protocol,
    ):
        if not result.ok:
            _report_failure(result, args.nodes, args.protocol)
            return 1
        options = result.options
        sizes[options.node_count] = sizes.get(options.node_count, 0) + 1
        profiles[options.profile] = profiles.get(options.profile, 0) + 1
        verdicts[result.history_verdict] = verdicts.get(result.history_verdict, 0) + 1
        totals["elections"] += result.elections
        totals["messages"] += result.messages_delivered
        totals["during_writes"] += result.deliveries_during_writes
        totals["committed"] += result.committed_index
        totals["snapshots"] += result.snapshots_sent
        totals["changes"] += result.membership_changes
        totals["transfers"] += result.transfers
        totals["ops"] += result.history_operations
        if not result.history_operations:
            idle.append(options.seed)
        for consistency, count in result.reads.items():
            reads[consistency] += count
    elapsed = time.perf_counter() - started
    mix = ", ".join(f"{count}x{size} nodes" for size, count in sorted(sizes.items()))
    profile_mix = ", ".join(f"{count} {name}" for name, count in sorted(profiles.items()))
    read_mix = ", ".join(f"{count} {name}" for name, count in reads.items())
    verdict_mix = ", ".join(f"{count} {name}" for name, count in sorted(verdicts.items()))
    print(
        f"{args.seeds} seeds passed safety and liveness in {elapsed:.1f}s "
        f"({args.seeds / elapsed:.1f} seeds/s on "
        f"{args.workers} processes; {mix})\n"
        f"  profiles: {profile_mix}\n"
        f"  {totals['elections']} elections, {totals['committed']} entries committed, "
        f"{totals['messages']} messages delivered ({totals['during_writes']} while the"
        f" receiver's own write was on its way), {totals['snapshots']} snapshots sent, "
        f"{totals['changes']} membership changes, {totals['transfers']} transfers\n"
        f"  reads: {read_mix}; {totals['ops']} operations checked for linearizability "
        f"(histories: {verdict_mix}; 'unknown' is not 'valid': it proved nothing)\n"
        f"  seeds with no client operation: {len(idle)}"
        + (f" ({', '.join(map(str, idle[:10]))}{' ...' if len(idle) > 10 else ''})" if idle else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
