"""The swarm: seeded random fault schedules against whole simulated clusters.

In the manner of TigerBeetle's VOPR: a seed draws the cluster size and the
fault mix, a safety phase runs clients and a nemesis against the cluster while
SafetyChecker watches every step, then a liveness phase heals everything and
the cluster must elect a leader, commit every pending proposal and converge
within a bounded time. Any failure names its seed and the command that
replays it bit for bit.

    python -m node.sim.swarm --seeds 300          # seeds 1..300
    python -m node.sim.swarm --seed 42            # one seed, with its options
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
from dataclasses import dataclass, field

from node.errors import NodeError
from node.events import BecameLeader, CommitAdvanced, Event
from node.raft import RaftCore, Ready, Role
from node.sim.cluster import CoreFactory, SimCluster, SimNode
from node.sim.network import NetworkOptions

__all__ = [
    "SeedResult",
    "SwarmOptions",
    "options_swarm",
    "replay_command",
    "run_seed",
    "run_seeds",
]

OUTSTANDING_PROPOSALS_MAX = 32
PROFILES = ("mixed", "leader-churn", "crash-recovery")
PARTITION_MODES = ("split", "isolate-leader", "bridge", "one-way", "random-links")


@dataclass(frozen=True, slots=True)
class SwarmOptions:
    """Everything one seed decides before the run starts."""

    seed: int
    profile: str
    node_count: int
    pre_vote: bool
    check_quorum: bool
    election_timeout_ticks_min: int
    election_timeout_ticks_max: int
    heartbeat_interval_ticks: int
    entries_per_message_max: int
    inflight_messages_max: int
    network: NetworkOptions
    nemesis_interval_ms: int
    partition_probability: float
    heal_probability: float
    crash_probability: float
    crash_leader_bias: float
    restart_delay_ms_max: int
    crash_before_persist_probability: float
    leader_kill_probability: float
    leader_kill_delay_ms_max: int
    leader_crash_on_commit_probability: float
    leader_isolate_probability: float
    leader_isolate_ms_max: int
    proposal_interval_ms: int
    safety_phase_ms: int
    liveness_phase_ms_max: int

    def describe(self) -> str:
        return (
            f"SEED={self.seed} profile={self.profile} nodes={self.node_count} "
            f"pre_vote={self.pre_vote} "
            f"check_quorum={self.check_quorum} election={self.election_timeout_ticks_min}-"
            f"{self.election_timeout_ticks_max}ticks heartbeat={self.heartbeat_interval_ticks}"
            f"ticks entries/message<={self.entries_per_message_max} "
            f"inflight<={self.inflight_messages_max}\n  network: {self.network.describe()}\n"
            f"  nemesis every {self.nemesis_interval_ms}ms:"
            f" partition={self.partition_probability:.2f}"
            f" heal={self.heal_probability:.2f} crash={self.crash_probability:.2f}"
            f" (leader bias {self.crash_leader_bias:.2f}, restart <= {self.restart_delay_ms_max}ms)"
            f" crash-before-persist={self.crash_before_persist_probability:.3f}"
            f" kill-new-leader={self.leader_kill_probability:.2f}"
            f"(<={self.leader_kill_delay_ms_max}ms)"
            f" crash-leader-on-commit={self.leader_crash_on_commit_probability:.2f}"
            f" isolate-new-leader={self.leader_isolate_probability:.2f}"
            f"(<={self.leader_isolate_ms_max}ms)\n"
            f"  clients: a proposal every {self.proposal_interval_ms}ms; safety phase "
            f"{self.safety_phase_ms}ms, liveness phase <= {self.liveness_phase_ms_max}ms"
        )


def options_swarm(seed: int, node_count: int | None = None) -> SwarmOptions:
    """Draw a profile, then a fault mix, from `seed` (the VOPR's options_swarm).

    Swarm testing: rather than every fault at a low rate in every run, each
    seed draws one profile that concentrates a class of faults, since that is
    how the rare interleavings behind real Raft bugs become likely.
    - mixed: every fault kind at random rates (half of the seeds);
    - leader-churn: leaders cut off the moment they win, or killed the moment
      their commit index moves, one entry per message (Raft Figure 8);
    - crash-recovery: nodes die between sending and persisting a Ready and come
      back quickly (what an unpersisted vote or ack would betray).
    """
    rng = random.Random(seed)
    profile = rng.choices(PROFILES, weights=(2, 1, 1))[0]
    nodes = node_count or rng.choices((3, 5, 7), weights=(4, 4, 2))[0]
    delay_min = rng.randint(1, 5)
    network = NetworkOptions(
        delay_ms_min=delay_min,
        delay_ms_max=delay_min + rng.randint(2, 30),
        drop_probability=rng.choice((0.0, rng.uniform(0.0, 0.2))),
        duplicate_probability=rng.choice((0.0, rng.uniform(0.0, 0.1))),
        slow_probability=rng.choice((0.0, rng.uniform(0.0, 0.05))),
        slow_delay_ms_max=rng.randint(50, 400),
    )
    churn = profile == "leader-churn"
    crashy = profile == "crash-recovery"
    return SwarmOptions(
        seed=seed,
        profile=profile,
        node_count=nodes,
        pre_vote=rng.random() < 0.75,
        check_quorum=rng.random() < 0.75,
        election_timeout_ticks_min=10,
        # A narrow range makes candidates collide: split votes, same-term races.
        election_timeout_ticks_max=rng.choice((11, 15, 20)),
        heartbeat_interval_ticks=rng.choice((1, 2, 3)),
        # Small messages and windows split a new leader's catch-up over many
        # round trips: the window in which Figure 8 bites.
        entries_per_message_max=1 if churn else rng.choice((1, 2, 8, 64)),
        inflight_messages_max=rng.choice((1, 4, 256)),
        network=network,
        nemesis_interval_ms=rng.choice((20, 50, 100, 200)),
        partition_probability=rng.uniform(0.0, 0.3),
        heal_probability=rng.uniform(0.1, 0.5),
        crash_probability=rng.uniform(0.05, 0.3) if crashy else rng.uniform(0.0, 0.15),
        crash_leader_bias=rng.uniform(0.2, 0.9),
        restart_delay_ms_max=rng.choice((20, 100)) if crashy else rng.choice((20, 100, 300, 1000)),
        crash_before_persist_probability=0.3 if crashy else rng.choice((0.0, 0.05)),
        # Jepsen's "kill whoever leads": leaders die while catching followers up,
        # and new leaders die before their no-op spreads (Raft Figure 8).
        leader_kill_probability=rng.choice((0.0, 0.3, 0.7)),
        leader_kill_delay_ms_max=rng.choice((5, 20, 60)),
        # A failpoint: the leader dies the moment its commit index moves, before
        # anyone else hears of it (Figure 8's crash between (c) and (d)).
        leader_crash_on_commit_probability=0.3 if churn else rng.choice((0.0, 0.1)),
        # A new leader cut off before its first AppendEntries leaves: its no-op
        # stays in its log alone (the stranded entries of Figure 8 (b), (c)).
        leader_isolate_probability=0.6 if churn else rng.choice((0.0, 0.3)),
        leader_isolate_ms_max=rng.choice((100, 300, 1000)),
        proposal_interval_ms=rng.choice((5, 20, 50)),
        safety_phase_ms=4000,
        liveness_phase_ms_max=5000,
    )


@dataclass(slots=True)
class SeedResult:
    """What one seed did, and how it ended."""

    options: SwarmOptions
    failure: str | None = None
    elections: int = 0
    proposals: int = 0
    committed_index: int = 0
    messages_delivered: int = 0
    readies_handled: int = 0
    checks: int = 0
    converged_after_ms: int = 0
    events: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None


class LivenessFailure(AssertionError):
    """The cluster did not recover within the liveness phase."""


class _Run:
    """One seed's run: the cluster, its nemesis and its clients."""

    def __init__(
        self,
        options: SwarmOptions,
        core_factory: CoreFactory,
        observer: Callable[[int, str, Event], None] | None,
    ) -> None:
        self.options = options
        # Its own stream, so that drawing the options never shifts the run.
        self.rng = random.Random(f"run-{options.seed}")
        self.result = SeedResult(options)
        self.observer = observer
        node_ids = [f"n{i}" for i in range(1, options.node_count + 1)]
        self.cluster = SimCluster(
            node_ids,
            random.Random(self.rng.getrandbits(64)),
            network=options.network,
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
        )
        self.cluster.crash_before_persist_probability = options.crash_before_persist_probability
        self.cluster.crash_before_send = self._crash_before_send
        self.restart_at_ms: dict[str, int] = {}
        self.killing_leaders = True
        self.sticky_leader: str | None = None
        self.pending: dict[bytes, int] = {}  # proposals not yet seen applied
        self.next_value = 0

    def _on_event(self, now_ms: int, node_id: str, event: Event) -> None:
        if isinstance(event, BecameLeader):
            self.result.elections += 1
            options = self.options
            if self.killing_leaders and self.rng.random() < options.leader_isolate_probability:
                self._isolate_for_a_while(node_id)
            if self.killing_leaders and self.rng.random() < options.leader_kill_probability:
                delay = self.rng.randint(0, options.leader_kill_delay_ms_max)
                self.cluster.call_at(now_ms + delay, lambda: self._kill_leader(node_id, event.term))
        if self.observer is not None:
            self.observer(now_ms, node_id, event)

    def run(self) -> SeedResult:
        self._safety_phase()
        self._liveness_phase()
        cluster = self.cluster
        self.result.messages_delivered = cluster.messages_delivered
        self.result.readies_handled = cluster.readies_handled
        self.result.checks = cluster.checker.checks
        return self.result

    def _safety_phase(self) -> None:
        options = self.options
        step_ms = min(options.proposal_interval_ms, options.nemesis_interval_ms)
        next_nemesis = options.nemesis_interval_ms
        next_proposal = options.proposal_interval_ms
        while self.cluster.now_ms < options.safety_phase_ms:
            now = self.cluster.now_ms + step_ms
            self.cluster.run_until(now)
            self._restart_due(now)
            if now >= next_nemesis:
                next_nemesis += options.nemesis_interval_ms
                self._nemesis()
            if now >= next_proposal:
                next_proposal += options.proposal_interval_ms
                self._propose_new()

    def _liveness_phase(self) -> None:
        options = self.options
        cluster = self.cluster
        cluster.network.heal()
        cluster.network.set_options(
            NetworkOptions(options.network.delay_ms_min, options.network.delay_ms_max)
        )
        cluster.crash_before_persist_probability = 0.0
        self.killing_leaders = False
        self.restart_at_ms.clear()
        for node_id in cluster.node_ids:
            cluster.start(node_id)
        start = cluster.now_ms
        deadline = start + options.liveness_phase_ms_max
        retry_every_ms = 200
        next_retry = start
        while cluster.now_ms < deadline:
            if cluster.now_ms >= next_retry:
                next_retry += retry_every_ms
                self._retry_pending()
            cluster.run_until(cluster.now_ms + 20)
            if self._converged():
                self.result.converged_after_ms = cluster.now_ms - start
                self._check_nothing_lost()
                return
        raise LivenessFailure(
            f"no convergence within {options.liveness_phase_ms_max}ms of healing: "
            f"{self._cluster_summary()}; {len(self._pending_unapplied())} proposals pending"
        )

    # -- nemesis ------------------------------------------------------------------

    def _nemesis(self) -> None:
        options = self.options
        rng = self.rng
        cluster = self.cluster
        if rng.random() < options.partition_probability:
            self._partition(rng.choice(PARTITION_MODES))
        elif rng.random() < options.heal_probability:
            cluster.network.heal()
        if rng.random() < options.crash_probability:
            up = [node_id for node_id in cluster.node_ids if cluster.is_up(node_id)]
            leader = cluster.leader()
            if up:
                victim = (
                    leader
                    if leader and rng.random() < options.crash_leader_bias
                    else (rng.choice(up))
                )
                cluster.crash(victim)
                self._schedule_restart(victim)

    def _schedule_restart(self, node_id: str) -> None:
        """A crashed node comes back after a random delay of this seed's range."""
        self.restart_at_ms[node_id] = self.cluster.now_ms + self.rng.randint(
            1, self.options.restart_delay_ms_max
        )

    def _crash_before_send(self, node: SimNode, rd: Ready) -> bool:
        """The failpoint: a leader dies in the turn its commit index moves,
        before anyone else hears of the commit (or of anything in that turn)."""
        core = node.core
        if not (self.killing_leaders and core is not None and core.role is Role.LEADER):
            return False
        if not any(isinstance(event, CommitAdvanced) for event in rd.events):
            return False
        if self.rng.random() >= self.options.leader_crash_on_commit_probability:
            return False
        self._schedule_restart(node.node_id)
        return True

    def _isolate_for_a_while(self, node_id: str) -> None:
        network = self.cluster.network
        links = [
            (a, b)
            for other in self.cluster.node_ids
            if other != node_id
            for a, b in ((node_id, other), (other, node_id))
        ]
        network.cut(links)
        duration = self.rng.randint(1, self.options.leader_isolate_ms_max)
        self.cluster.call_at(self.cluster.now_ms + duration, lambda: network.restore(links))

    def _kill_leader(self, node_id: str, term: int) -> None:
        core = self.cluster.nodes[node_id].core
        if (
            not self.killing_leaders
            or core is None
            or core.role is not Role.LEADER
            or (core.term != term)
        ):
            return
        self.cluster.crash(node_id)
        self._schedule_restart(node_id)

    def _partition(self, mode: str) -> None:
        rng = self.rng
        cluster = self.cluster
        ids = list(cluster.node_ids)
        rng.shuffle(ids)
        network = cluster.network
        if mode == "split":
            cut = rng.randint(1, len(ids) - 1)
            network.partition([ids[:cut], ids[cut:]])
        elif mode == "isolate-leader":
            leader = cluster.leader() or ids[0]
            network.partition([[leader], [n for n in ids if n != leader]])
        elif mode == "bridge":
            # Two halves that only the bridge node reaches: non-transitive.
            bridge, rest = ids[0], ids[1:]
            half = len(rest) // 2
            left, right = rest[:half], rest[half:]
            network.heal()
            network.cut([(a, b) for a in left for b in right])
            network.cut([(b, a) for a in left for b in right])
            del bridge
        elif mode == "one-way":
            src = cluster.leader() or ids[0]
            network.heal()
            network.cut([(src, dst) for dst in ids if dst != src and rng.random() < 0.7])
        else:
            network.heal()
            network.cut([(a, b) for a in ids for b in ids if a != b and rng.random() < 0.3])

    def _restart_due(self, now_ms: int) -> None:
        for node_id, when in list(self.restart_at_ms.items()):
            if when <= now_ms:
                del self.restart_at_ms[node_id]
                self.cluster.start(node_id)

    # -- clients ------------------------------------------------------------------

    def _propose_new(self) -> None:
        # Clients wait for answers: a bounded number of writes are outstanding.
        if len(self._pending_unapplied()) >= OUTSTANDING_PROPOSALS_MAX:
            return
        self.next_value += 1
        value = f"s{self.options.seed}v{self.next_value}".encode()
        if self._propose(value):
            self.pending[value] = self.cluster.now_ms
            self.result.proposals += 1

    def _propose(self, value: bytes) -> bool:
        """Like a real client: stay with the leader that last took a write (even
        once it is cut off, until it steps down), else ask a random node and
        follow its redirect."""
        cluster = self.cluster
        if self.sticky_leader is not None and cluster.propose(self.sticky_leader, value):
            return True
        contact = self.rng.choice(cluster.node_ids)
        core = cluster.nodes[contact].core
        if core is None:
            return False
        if core.role is not Role.LEADER and core.leader_id is not None:
            contact = core.leader_id
        accepted = cluster.propose(contact, value)
        self.sticky_leader = contact if accepted else None
        return accepted

    def _pending_unapplied(self) -> list[bytes]:
        applied = self.cluster.checker.applied_data
        for value in [value for value in self.pending if value in applied]:
            del self.pending[value]
        return list(self.pending)

    def _retry_pending(self) -> None:
        """Propose again what the current leader does not hold (it was lost with
        an old leader's uncommitted tail); values still in its log will commit."""
        leader_id = self.cluster.leader()
        if leader_id is None:
            return
        leader = self.cluster.nodes[leader_id].core
        assert leader is not None
        held = {
            entry.data
            for entry in leader.log.entries_between(
                leader.log.commit_index + 1, leader.log.last_index
            )
        }
        for value in self._pending_unapplied():
            if value not in held:
                self.cluster.propose(leader_id, value)

    # -- judging ---------------------------------------------------------------------

    def _converged(self) -> bool:
        cluster = self.cluster
        leader_id = cluster.leader()
        if leader_id is None or self._pending_unapplied():
            return False
        leader = cluster.nodes[leader_id].core
        assert leader is not None
        if leader.log.commit_index != leader.log.last_index:
            return False
        for core in cluster.up_cores():
            if (core.term, core.leader_id, core.log.last_index, core.log.last_term) != (
                leader.term,
                leader_id,
                leader.log.last_index,
                leader.log.last_term,
            ) or core.log.applied_index != leader.log.commit_index:
                return False
        return len(cluster.up_cores()) == len(cluster.node_ids)

    def _check_nothing_lost(self) -> None:
        cluster = self.cluster
        checker = cluster.checker
        highest_applied = max(checker.applied, default=0)
        self.result.committed_index = highest_applied
        for node in cluster.nodes.values():
            if len(node.applied) < highest_applied:
                checker.fail(
                    "No committed entry lost",
                    f"{node.node_id} applied {len(node.applied)} entries after convergence, "
                    f"but index {highest_applied} was applied before",
                )
            for entry in node.applied[:highest_applied]:
                checker.on_apply(node.node_id, entry)

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
                )
        return ", ".join(parts)


def run_seed(
    seed: int,
    core_factory: CoreFactory = RaftCore,
    node_count: int | None = None,
    observer: Callable[[int, str, Event], None] | None = None,
) -> SeedResult:
    """Run one seed; a safety or liveness failure is reported, not raised."""
    options = options_swarm(seed, node_count)
    run = _Run(options, core_factory, observer)
    try:
        return run.run()
    except (AssertionError, NodeError) as failure:
        # SafetyViolation, LivenessFailure, or an InvariantViolation inside the
        # core. Anything else is a bug of the harness and propagates.
        run.result.failure = f"{type(failure).__name__}: {failure}"
    return run.result


def run_seeds(
    seeds: Iterable[int],
    core_factory: CoreFactory = RaftCore,
    node_count: int | None = None,
    workers: int = 1,
    stop_at_first_failure: bool = True,
) -> Iterator[SeedResult]:
    """Run many seeds, on `workers` processes when > 1, yielding results in seed
    order. `core_factory` must be importable by name when workers > 1."""
    if workers <= 1:
        for seed in seeds:
            result = run_seed(seed, core_factory, node_count)
            yield result
            if stop_at_first_failure and not result.ok:
                return
        return
    context = multiprocessing.get_context("spawn")  # no fork: safe beside any threads
    with context.Pool(workers) as pool:
        job = functools.partial(run_seed, core_factory=core_factory, node_count=node_count)
        for result in pool.imap(job, seeds, chunksize=8):
            yield result
            if stop_at_first_failure and not result.ok:
                pool.terminate()
                return


def replay_command(seed: int, node_count: int | None = None) -> str:
    nodes = f" --nodes {node_count}" if node_count else ""
    return f"python -m node.sim.swarm --seed {seed}{nodes}"


def _report_failure(result: SeedResult, node_count: int | None) -> None:
    print(f"FAILED {result.failure}", file=sys.stderr)
    print(result.options.describe(), file=sys.stderr)
    print(
        f"replay: {replay_command(result.options.seed, node_count)}"
        f"   (or: make sim SEED={result.options.seed})",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m node.sim.swarm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, default=300, help="run seeds FIRST..FIRST+N-1")
    parser.add_argument("--first", type=int, default=1, help="first seed of a --seeds run")
    parser.add_argument("--seed", type=int, help="replay this one seed, verbosely")
    parser.add_argument("--nodes", type=int, choices=(3, 5, 7), help="force the cluster size")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes to spread seeds over (default: one per core)",
    )
    args = parser.parse_args(argv)
    if args.seed is not None:
        result = run_seed(args.seed, node_count=args.nodes)
        print(result.options.describe())
        if not result.ok:
            _report_failure(result, args.nodes)
            return 1
        print(
            f"ok: {result.elections} elections, {result.proposals} proposals, "
            f"{result.committed_index} entries committed, {result.messages_delivered} "
            f"messages, converged {result.converged_after_ms}ms after healing"
        )
        return 0
    started = time.perf_counter()
    totals = {"elections": 0, "messages": 0, "committed": 0}
    sizes: dict[int, int] = {}
    seeds = range(args.first, args.first + args.seeds)
    for result in run_seeds(seeds, node_count=args.nodes, workers=args.workers):
        if not result.ok:
            _report_failure(result, args.nodes)
            return 1
        sizes[result.options.node_count] = sizes.get(result.options.node_count, 0) + 1
        totals["elections"] += result.elections
        totals["messages"] += result.messages_delivered
        totals["committed"] += result.committed_index
    elapsed = time.perf_counter() - started
    mix = ", ".join(f"{count}x{size} nodes" for size, count in sorted(sizes.items()))
    print(
        f"{args.seeds} seeds passed in {elapsed:.1f}s ({args.seeds / elapsed:.1f} seeds/s on "
        f"{args.workers} processes; "
        f"{mix}); {totals['elections']} elections, {totals['committed']} entries committed, "
        f"{totals['messages']} messages delivered"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
