"""The swarm: seeded random fault schedules against whole simulated clusters.

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
from dataclasses import dataclass, field, replace
from typing import Any

from node.errors import NodeError, ProposalRejected, known
from node.events import BecameLeader, CommitAdvanced, Event
from node.messages import Consistency, Entry
from node.raft import RaftCore
from node.ready import MembershipChange, Ready, Role
from raftctl.judges.history import History
from raftctl.judges.linearizable import check
from raftctl.sim.cluster import CoreFactory, SimCluster, SimNode
from raftctl.sim.errors import HistoryViolation, LivenessFailure
from raftctl.sim.machine import Applied, SimMachine, cas_command, write_command
from raftctl.sim.network import NetworkOptions

__all__ = [
    "SeedResult",
    "SwarmOptions",
    "options_swarm",
    "replay_command",
    "run_seed",
    "run_seeds",
]

OUTSTANDING_PROPOSALS_MAX = 4  # per client
PROFILES = (
    "mixed",
    "leader-churn",
    "crash-recovery",
    "reconfigure",
    "deposed-leader",
    "config-race",
)
CONSISTENCIES = tuple(Consistency)  # drawn with the weights below, in this order
RETRY_EVERY_MS = 200  # how long a client waits before asking again
CLIENTS = 3  # each with the leader it last reached: some stay with a deposed one
NEW_NODES_MAX = 8  # nodes a seed may add by membership change
VOTERS_MIN = 2  # removals stop here
# The checker's budget per key: running out gives "unknown", never a failure.
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
    snapshot_every: int | None
    membership_probability: float
    remove_leader_bias: float
    retire_probability: float
    transfer_probability: float
    kill_after_change_probability: float
    lose_voter_probability: float
    key_count: int
    read_fraction: float
    cas_fraction: float
    consistency_weights: tuple[int, int, int]
    random_contact_probability: float
    partition_modes: tuple[str, ...] = PARTITION_MODES

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
            f"  snapshots: every {self.snapshot_every or 'never'} applied entries;"
            f" membership change={self.membership_probability:.2f}"
            f" (remove-leader bias {self.remove_leader_bias:.2f}, shut removed down"
            f" {self.retire_probability:.2f}, kill the leader after a change"
            f" {self.kill_after_change_probability:.2f}, cut a new leader's voter off"
            f" {self.lose_voter_probability:.2f}) transfer={self.transfer_probability:.2f}\n"
            f"  clients: an operation every {self.proposal_interval_ms}ms on {self.key_count} keys"
            f" (reads {self.read_fraction:.2f}, cas {self.cas_fraction:.2f}, read consistency"
            f" weights linearizable/lease/stale {self.consistency_weights}, random contact"
            f" {self.random_contact_probability:.2f}); safety phase {self.safety_phase_ms}ms,"
            f" liveness phase <= {self.liveness_phase_ms_max}ms"
        )


FAULT_KINDS = ("network", "partition", "crash", "snapshot", "membership", "transfer")


def restrict_faults(options: SwarmOptions, kinds: Iterable[str]) -> SwarmOptions:
    """Keep only the fault kinds named (see FAULT_KINDS); the others are off."""
    keep = set(kinds)
    unknown = keep - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}: use {', '.join(FAULT_KINDS)}")
    changes: dict[str, Any] = {}
    if "network" not in keep:
        network = options.network
        changes["network"] = NetworkOptions(network.delay_ms_min, network.delay_ms_max)
    if "partition" not in keep:
        changes |= dict.fromkeys(
            ("partition_probability", "leader_isolate_probability", "lose_voter_probability"), 0.0
        )
    if "crash" not in keep:
        changes |= dict.fromkeys(
            (
                "crash_probability",
                "crash_before_persist_probability",
                "leader_kill_probability",
                "leader_crash_on_commit_probability",
                "kill_after_change_probability",
            ),
            0.0,
        )
    if "snapshot" not in keep:
        changes["snapshot_every"] = None
    if "membership" not in keep:
        changes["membership_probability"] = 0.0
    if "transfer" not in keep:
        changes["transfer_probability"] = 0.0
    return replace(options, **changes)


def options_swarm(
    seed: int, node_count: int | None = None, faults: Iterable[str] | None = None
) -> SwarmOptions:
    """The options of `seed`, with only the fault kinds `faults` when given."""
    options = _draw_options(seed, node_count)
    return options if faults is None else restrict_faults(options, faults)


def _draw_options(seed: int, node_count: int | None = None) -> SwarmOptions:
    """Draw a profile, then a fault mix, from `seed` (the VOPR's options_swarm).

    Swarm testing: rather than every fault at a low rate in every run, each
    seed draws one profile that concentrates a class of faults, since that is
    how the rare interleavings behind real Raft bugs become likely.
    - mixed: every fault kind at random rates (half of the seeds);
    - leader-churn: leaders cut off the moment they win, or killed the moment
      their commit index moves, one entry per message (Raft Figure 8);
    - crash-recovery: nodes die between sending and persisting a Ready and come
      back quickly (what an unpersisted vote or ack would betray);
    - reconfigure: membership changes and leadership transfers at every turn,
      right after elections too, with frequent snapshots;
    - deposed-leader: the leader is cut off again and again on a fast network
      while a loyal client keeps reading from it and others write through the
      new leader: what a read served without confirmed leadership betrays;
    - config-race: four voters on a fast network, a change at every election
      and every turn, leaders killed or cut off just after appending one: two
      configurations racing on two sides of an election (Ongaro's 2015 bug).
    """
    rng = random.Random(seed)
    profile = rng.choices(PROFILES, weights=(2, 1, 1, 1, 1, 1))[0]
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
    reconfigure = profile == "reconfigure"
    options = SwarmOptions(
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
        snapshot_every=rng.choice((3, 10, 50)) if reconfigure else rng.choice((None, 5, 20, 100)),
        membership_probability=rng.uniform(0.3, 0.9) if reconfigure else rng.choice((0.0, 0.1)),
        remove_leader_bias=rng.uniform(0.0, 0.5),
        retire_probability=rng.choice((0.0, 0.5, 1.0)),
        transfer_probability=rng.uniform(0.05, 0.3) if reconfigure else rng.choice((0.0, 0.05)),
        # The leader dies just after appending a change, before it spreads:
        # what leaves two configurations alive on two sides of an election.
        kill_after_change_probability=rng.uniform(0.2, 0.7) if reconfigure else 0.0,
        # A voter of the new leader loses its link to it right after voting:
        # it holds the new term but none of the new leader's entries.
        lose_voter_probability=rng.choice((0.0, 0.3)) if reconfigure else 0.0,
        key_count=rng.choice((1, 3, 8)),
        read_fraction=rng.uniform(0.2, 0.6),
        cas_fraction=rng.uniform(0.0, 0.3),
        consistency_weights=rng.choice(((1, 1, 1), (3, 1, 0), (1, 3, 0), (1, 0, 0), (0, 1, 0))),
        random_contact_probability=rng.choice((0.0, 0.3, 0.7)),
    )
    if profile == "config-race":
        return replace(
            options,
            node_count=node_count or 4,
            network=NetworkOptions(delay_ms_min=1, delay_ms_max=rng.randint(2, 8)),
            nemesis_interval_ms=rng.choice((20, 50)),
            # Only timed cuts, which a random heal would undo too soon.
            partition_probability=0.0,
            heal_probability=0.0,
            leader_isolate_ms_max=rng.choice((300, 1000)),
            crash_probability=rng.uniform(0.0, 0.1),
            restart_delay_ms_max=rng.choice((20, 100)),
            crash_before_persist_probability=0.0,
            leader_kill_probability=rng.choice((0.0, 0.3)),
            leader_crash_on_commit_probability=0.0,
            leader_isolate_probability=rng.choice((0.0, 0.3)),
            membership_probability=rng.uniform(0.5, 1.0),
            retire_probability=0.0,
            kill_after_change_probability=rng.uniform(0.3, 0.8),
            lose_voter_probability=rng.uniform(0.3, 0.7),
            transfer_probability=0.0,
            proposal_interval_ms=20,
            read_fraction=0.2,
        )
    if profile != "deposed-leader":
        return options
    return replace(
        options,
        network=NetworkOptions(delay_ms_min=1, delay_ms_max=rng.randint(2, 5)),
        election_timeout_ticks_max=rng.choice((11, 12)),
        heartbeat_interval_ticks=1,
        nemesis_interval_ms=rng.choice((100, 200, 300)),
        partition_probability=rng.uniform(0.5, 0.9),
        partition_modes=("isolate-leader",),
        heal_probability=rng.uniform(0.3, 0.6),
        crash_probability=0.0,
        crash_before_persist_probability=0.0,
        leader_kill_probability=0.0,
        leader_crash_on_commit_probability=0.0,
        leader_isolate_probability=0.0,
        membership_probability=0.0,
        transfer_probability=0.0,
        proposal_interval_ms=5,
        key_count=2,
        read_fraction=rng.uniform(0.4, 0.6),
        consistency_weights=(1, 1, 0),
        random_contact_probability=0.7,
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
    snapshots_sent: int = 0
    snapshots_taken: int = 0
    membership_changes: int = 0
    membership_refused: int = 0
    transfers: int = 0
    reads: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONSISTENCIES, 0))
    history_operations: int = 0
    history_verdict: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True, slots=True)
class _OpenOperation:
    """A client operation invoked and not yet completed."""

    client: int
    f: str
    key: str


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
        cluster = self.cluster
        cluster.crash_before_persist_probability = options.crash_before_persist_probability
        cluster.crash_before_send = self._crash_before_send
        cluster.snapshot_every = options.snapshot_every
        cluster.on_applied = self._on_applied
        cluster.on_read = self._on_read
        cluster.on_read_dropped = self._on_read_dropped
        cluster.on_failpoint_crash = self._schedule_restart
        self.restart_at_ms: dict[str, int] = {}
        self.retired: set[str] = set()  # removed and shut down for good
        self.nodes_added = 0
        self.killing_leaders = True
        self.sticky_leaders: list[str | None] = [None] * CLIENTS
        self.pending: dict[bytes, int] = {}  # proposals not yet seen applied -> client
        self.next_value = 0
        # The history, in simulated time; each operation is its own client
        # (writes are pipelined), open ones by operation id.
        self.history = History(0, clock=self._time)
        self.open_ops: dict[str, _OpenOperation] = {}
        self.written: dict[str, list[str]] = {}  # values written per key, for cas
        self._last_time = 0

    def _on_event(self, now_ms: int, node_id: str, event: Event) -> None:
        if isinstance(event, BecameLeader):
            self.result.elections += 1
            options = self.options
            if self.killing_leaders and self.rng.random() < options.leader_isolate_probability:
                self._isolate_for_a_while(node_id)
            if self.killing_leaders and self.rng.random() < options.leader_kill_probability:
                delay = self.rng.randint(0, options.leader_kill_delay_ms_max)
                self.cluster.call_at(now_ms + delay, lambda: self._kill_leader(node_id, event.term))
            voters = [voter for voter in event.votes if voter != node_id]
            if (
                self.killing_leaders
                and voters
                and self.rng.random() < options.lose_voter_probability
            ):
                self._cut_for_a_while(node_id, self.rng.choice(voters))
            if self.killing_leaders and self.rng.random() < options.membership_probability:
                # Right after an election, before the new leader's no-op commits
                # (the moment Ongaro's 2015 correction is about), or a round
                # trip later, once it knows which learners have caught up.
                delay = self.rng.choice((0, self.rng.randint(1, 30)))
                self.cluster.call_at(now_ms + delay, self._reconfigure)
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
            self._restart_due(now)
            if now >= next_retry:
                # Clients time out and ask again: a write lost with a deposed
                # leader's log takes effect soon, not at the very end (which
                # would leave it concurrent with everything for the checker).
                next_retry += RETRY_EVERY_MS
                self._retry_pending()
            if now >= next_nemesis:
                next_nemesis += options.nemesis_interval_ms
                self._nemesis()
            if now >= next_proposal:
                next_proposal += options.proposal_interval_ms
                self._client_operation()

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
            if node_id not in self.retired:
                cluster.start(node_id)
        start = cluster.now_ms
        deadline = start + options.liveness_phase_ms_max
        next_retry = start
        while cluster.now_ms < deadline:
            if cluster.now_ms >= next_retry:
                next_retry += RETRY_EVERY_MS
                self._retry_pending()
            cluster.run_until(cluster.now_ms + 20)
            self._reconcile_members()
            if self._converged():
                self.result.converged_after_ms = cluster.now_ms - start
                self._check_nothing_lost()
                return
        raise LivenessFailure(
            f"no convergence within {options.liveness_phase_ms_max}ms of healing: "
            f"{self._cluster_summary()}; {len(self._pending_unapplied())} proposals pending"
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

    def _nemesis(self) -> None:
        options = self.options
        rng = self.rng
        cluster = self.cluster
        if rng.random() < options.partition_probability:
            self._partition(rng.choice(options.partition_modes))
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
        if rng.random() < options.membership_probability:
            self._reconfigure()
        if rng.random() < options.transfer_probability:
            self._transfer()
        self._retire_removed()

    def _reconfigure(self) -> None:
        """An impatient operator: one to three single-server changes in a row
        (all but the first must be refused while the first is pending)."""
        for _ in range(self.rng.randint(1, 3)):
            self._change_membership()

    def _change_membership(self) -> None:
        """One single-server change on the leader: add a new node as a learner,
        promote a learner, or remove a voter (perhaps the leader) or learner."""
        cluster = self.cluster
        rng = self.rng
        core = cluster.leader_core()
        if core is None or not self.killing_leaders:
            return
        leader_id = core.id
        voters, learners = core.voters, core.learners
        roll = rng.random()
        if learners and roll < 0.4:
            change = MembershipChange("promote", rng.choice(learners))
        elif roll < 0.7 and self.nodes_added < NEW_NODES_MAX:
            node_id = self._idle_node() or self._new_node()
            change = MembershipChange("add-learner", node_id)
        else:
            removable = list(learners)
            if len(voters) > VOTERS_MIN:
                others = [voter for voter in voters if voter != leader_id]
                removable += others
                if leader_id in voters and rng.random() < self.options.remove_leader_bias:
                    removable = [leader_id]
            if not removable:
                return
            change = MembershipChange("remove", rng.choice(removable))
        try:
            core.propose_membership(change)
        except ProposalRejected:
            self.result.membership_refused += 1
            return
        self.result.membership_changes += 1
        cluster.drain(leader_id)
        if self.rng.random() < self.options.kill_after_change_probability:
            # Its AppendEntries are on the wire: cut off now, none arrives, and
            # it comes back later still holding the change; killed a little
            # later, some do.
            if self.rng.random() < 0.5:
                self._isolate_for_a_while(leader_id)
            else:
                delay = self.rng.randint(0, 10)
                term = core.term
                cluster.call_at(cluster.now_ms + delay, lambda: self._kill_leader(leader_id, term))

    def _new_node(self) -> str:
        self.nodes_added += 1
        node_id = f"n{self.options.node_count + self.nodes_added}"
        self.cluster.add_node(node_id)
        return node_id

    def _idle_node(self) -> str | None:
        """An added node that is in no configuration (its addition was refused or
        reverted), up and not retired: it can be added again."""
        cluster = self.cluster
        known = self._members_known()
        for node_id in cluster.node_ids[self.options.node_count :]:
            if node_id not in known and node_id not in self.retired and cluster.is_up(node_id):
                return node_id
        return None

    def _retire_removed(self) -> None:
        """Shut down, some of the time, a node whose removal the leader has
        committed; the others keep running, and must not disrupt (§4.2.3)."""
        cluster = self.cluster
        leader = cluster.leader_core()
        if leader is None:
            return
        if leader._pending_membership_change() is not None:
            return
        members = leader.membership.members
        for node_id in cluster.node_ids[: self.options.node_count + self.nodes_added]:
            if (
                node_id not in members
                and node_id not in self.retired
                and node_id in self._ever_members()
                and self.rng.random() < self.options.retire_probability
            ):
                self.retired.add(node_id)
                self.restart_at_ms.pop(node_id, None)
                cluster.crash(node_id)

    def _ever_members(self) -> set[str]:
        """Initial nodes, and added nodes some up node knows as members."""
        return set(self.cluster.initial_voters) | self._members_known()

    def _members_known(self) -> set[str]:
        """Every member of the configuration of some up node."""
        known: set[str] = set()
        for core in self.cluster.up_cores():
            known.update(core.membership.members)
        return known

    def _transfer(self) -> None:
        cluster = self.cluster
        core = cluster.leader_core()
        if core is None or not self.killing_leaders:
            return
        leader_id = core.id
        targets = [voter for voter in core.voters if voter != leader_id]
        if not targets:
            return
        try:
            core.transfer_leadership(self.rng.choice(targets))
        except ProposalRejected:
            return
        self.result.transfers += 1
        cluster.drain(leader_id)

    def _schedule_restart(self, node_id: str) -> None:
        """A crashed node comes back after a random delay of this seed's range."""
        if node_id in self.retired:
            return
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
        return self.rng.random() < self.options.leader_crash_on_commit_probability

    def _isolate_for_a_while(self, node_id: str) -> None:
        links = [
            (a, b)
            for other in self.cluster.node_ids
            if other != node_id
            for a, b in ((node_id, other), (other, node_id))
        ]
        self._cut_links_for_a_while(links)

    def _cut_for_a_while(self, a: str, b: str) -> None:
        self._cut_links_for_a_while([(a, b), (b, a)])

    def _cut_links_for_a_while(self, links: list[tuple[str, str]]) -> None:
        network = self.cluster.network
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

    # -- clients and their history --------------------------------------------------

    def _time(self) -> int:
        """History time: simulated nanoseconds, strictly increasing, so that the
        order in which things happened here is the order the checker sees."""
        self._last_time = max(self._last_time + 1, self.cluster.now_ms * 1_000_000)
        return self._last_time

    def _invoke(self, op_id: str, f: str, key: str, value: Any) -> None:
        client = self.history.add_client()
        self.open_ops[op_id] = _OpenOperation(client, f, key)
        self.history.invoke(client, f, key, value)

    def _complete(self, op_id: str, outcome: str, value: Any) -> None:
        self.history.complete(self.open_ops.pop(op_id).client, outcome, value)

    def _client_operation(self) -> None:
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
        if self._pending_unapplied().count(client) >= OUTSTANDING_PROPOSALS_MAX:
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

    def _on_applied(self, node_id: str, entry: Entry, applied: Applied) -> None:
        """The first application anywhere answers the client (every node
        computes the same result; the write took effect at its commit, earlier)."""
        if applied.op_id not in self.open_ops:
            return  # applied before, on another node
        op = self.open_ops[applied.op_id]
        if op.f == "cas":
            expected_new = [None, applied.op_id]  # the value is only for the record
            self._complete(applied.op_id, "ok" if applied.ok else "fail", expected_new)
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

    def _on_read(self, node_id: str, context: bytes, machine: SimMachine) -> None:
        op_id = context.decode()
        op = self.open_ops.get(op_id)
        if op is not None:
            self._complete(op_id, "ok", machine.values.get(op.key))

    def _on_read_dropped(self, node_id: str, context: bytes, reason: str) -> None:
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

    def _pending_unapplied(self) -> list[int]:
        """The client of each proposal not yet applied anywhere."""
        applied = self.cluster.checker.applied_data
        for value in [value for value in self.pending if value in applied]:
            del self.pending[value]
        return list(self.pending.values())

    def _retry_pending(self) -> None:
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
        self._pending_unapplied()
        for value in list(self.pending):
            if value not in held:
                try:
                    self.cluster.propose(leader_id, value)
                except ProposalRejected:
                    return

    # -- judging ---------------------------------------------------------------------

    def _converged(self) -> bool:
        cluster = self.cluster
        leader = cluster.leader_core()
        if leader is None or self._pending_unapplied():
            return False
        leader_id = leader.id
        if leader.log.commit_index != leader.log.last_index:
            return False
        for member in leader.membership.members:
            core = cluster.nodes[member].core
            if core is None:
                return False
            if (core.term, core.leader_id, core.log.last_index, core.log.last_term) != (
                leader.term,
                leader_id,
                leader.log.last_index,
                leader.log.last_term,
            ) or core.log.applied_index != leader.log.commit_index:
                return False
        return True

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
        for op_id in list(self.open_ops):
            op = self.open_ops[op_id]
            self._complete(op_id, "fail" if op.f == "read" else "info", None)
        events = self.history.events
        self.result.history_operations = sum(1 for event in events if event["type"] == "invoke")
        result = check(events)  # the one judge, shared with chaos runs
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
) -> SeedResult:
    """Run one seed; a safety or liveness failure is reported, not raised."""
    options = options_swarm(seed, node_count, faults)
    run = _Run(options, core_factory, observer)
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
) -> Iterator[SeedResult]:
    """Run many seeds, on `workers` processes when > 1, yielding results in seed
    order. `core_factory` must be importable by name when workers > 1."""
    if workers <= 1:
        for seed in seeds:
            result = run_seed(seed, core_factory, node_count, faults=faults)
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
        )
        for result in pool.imap(job, seeds, chunksize=8):
            yield result
            if stop_at_first_failure and not result.ok:
                pool.terminate()
                return


def replay_command(seed: int, node_count: int | None = None) -> str:
    nodes = f" --nodes {node_count}" if node_count else ""
    return f"python -m raftctl.sim.swarm --seed {seed}{nodes}"


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
        prog="python -m raftctl.sim.swarm",
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
    totals: dict[str, int] = dict.fromkeys(
        ("elections", "messages", "committed", "snapshots", "changes", "transfers", "ops"), 0
    )
    reads: dict[str, int] = dict.fromkeys(CONSISTENCIES, 0)
    sizes: dict[int, int] = {}
    profiles: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    seeds = range(args.first, args.first + args.seeds)
    for result in run_seeds(seeds, node_count=args.nodes, workers=args.workers):
        if not result.ok:
            _report_failure(result, args.nodes)
            return 1
        options = result.options
        sizes[options.node_count] = sizes.get(options.node_count, 0) + 1
        profiles[options.profile] = profiles.get(options.profile, 0) + 1
        verdicts[result.history_verdict] = verdicts.get(result.history_verdict, 0) + 1
        totals["elections"] += result.elections
        totals["messages"] += result.messages_delivered
        totals["committed"] += result.committed_index
        totals["snapshots"] += result.snapshots_sent
        totals["changes"] += result.membership_changes
        totals["transfers"] += result.transfers
        totals["ops"] += result.history_operations
        for consistency, count in result.reads.items():
            reads[consistency] += count
    elapsed = time.perf_counter() - started
    mix = ", ".join(f"{count}x{size} nodes" for size, count in sorted(sizes.items()))
    profile_mix = ", ".join(f"{count} {name}" for name, count in sorted(profiles.items()))
    read_mix = ", ".join(f"{count} {name}" for name, count in reads.items())
    verdict_mix = ", ".join(f"{count} {name}" for name, count in sorted(verdicts.items()))
    print(
        f"{args.seeds} seeds passed in {elapsed:.1f}s ({args.seeds / elapsed:.1f} seeds/s on "
        f"{args.workers} processes; {mix})\n"
        f"  profiles: {profile_mix}\n"
        f"  {totals['elections']} elections, {totals['committed']} entries committed, "
        f"{totals['messages']} messages delivered, {totals['snapshots']} snapshots sent, "
        f"{totals['changes']} membership changes, {totals['transfers']} transfers\n"
        f"  reads: {read_mix}; {totals['ops']} operations checked for linearizability "
        f"(histories: {verdict_mix})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
