"""A seed's decisions and its outcome: SwarmOptions (drawn before the run, in
the manner of TigerBeetle's VOPR options_swarm) and SeedResult (what the run
did and how it ended).

Rule: the options are drawn from `random.Random(seed)` alone, in a fixed
order, so a seed always means the same run; `restrict_faults` switches fault
kinds off after the draw without shifting it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from node.messages import Consistency
from raftctl.sim.disk import DiskOptions
from raftctl.sim.network import NetworkOptions

__all__ = [
    "CONSISTENCIES",
    "FAULT_KINDS",
    "PROFILES",
    "SeedResult",
    "SwarmOptions",
    "options_swarm",
    "restrict_faults",
]

CONSISTENCIES = tuple(Consistency)
INSTANT_DISK = DiskOptions()  # drawn with the weights below, in this order

PROFILES = (
    "mixed",
    "leader-churn",
    "crash-recovery",
    "reconfigure",
    "deposed-leader",
    "config-race",
    "late-votes",
)


# The checker's budget per key: running out gives "unknown", never a failure.
PARTITION_MODES = ("split", "isolate-leader", "bridge", "one-way", "random-links", "mute-leader")


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
    disk: DiskOptions = INSTANT_DISK
    campaign_race_probability: float = 0.0
    remove_lost_voter_probability: float = 0.0
    # Of the leaders struck right after a change: cut off (rather than killed).
    isolate_after_change_probability: float = 0.5
    # Of the changes: a removal of another voter, before any other choice.
    remove_bias: float = 0.0

    def _snapshots(self) -> str:
        every = self.snapshot_every
        return f"every {every} applied entries" if every else "never"

    def describe(self) -> str:
        return (
            f"SEED={self.seed} profile={self.profile} nodes={self.node_count} "
            f"pre_vote={self.pre_vote} "
            f"check_quorum={self.check_quorum} election={self.election_timeout_ticks_min}-"
            f"{self.election_timeout_ticks_max}ticks heartbeat={self.heartbeat_interval_ticks}"
            f"ticks entries/message<={self.entries_per_message_max} "
            f"inflight<={self.inflight_messages_max}\n  network: {self.network.describe()}"
            f"; disk: {self.disk.describe()}\n"
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
            f"  snapshots: {self._snapshots()};"
            f" membership change={self.membership_probability:.2f}"
            f" (remove-leader bias {self.remove_leader_bias:.2f}, shut removed down"
            f" {self.retire_probability:.2f}, kill the leader after a change"
            f" {self.kill_after_change_probability:.2f}, cut a new leader's voter off"
            f" {self.lose_voter_probability:.2f}) transfer={self.transfer_probability:.2f}"
            f" campaign-race={self.campaign_race_probability:.2f}"
            f" remove-lost-voter={self.remove_lost_voter_probability:.2f}"
            f" remove-bias={self.remove_bias:.2f}\n"
            f"  clients: an operation every {self.proposal_interval_ms}ms on {self.key_count} keys"
            f" (reads {self.read_fraction:.2f}, cas {self.cas_fraction:.2f}, read consistency"
            f" weights linearizable/lease/stale {self.consistency_weights}, random contact"
            f" {self.random_contact_probability:.2f}); safety phase {self.safety_phase_ms}ms,"
            f" liveness phase <= {self.liveness_phase_ms_max}ms"
        )


FAULT_KINDS = (
    "network",
    "partition",
    "crash",
    "snapshot",
    "membership",
    "transfer",
    "disk",
    "election",
)


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
    if "disk" not in keep:
        changes["disk"] = INSTANT_DISK
    if "election" not in keep:
        changes["campaign_race_probability"] = 0.0
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
    - crash-recovery: nodes die between sending and persisting a Ready (or
      with writes on their way to a slow disk) and come back quickly, while
      rival candidates race (what an unpersisted vote or ack would betray);
    - reconfigure: membership changes and leadership transfers at every turn,
      right after elections too, with frequent snapshots;
    - deposed-leader: the leader is cut off again and again on a fast network
      while a loyal client keeps reading from it and others write through the
      new leader: what a read served without confirmed leadership betrays;
    - config-race: four voters on a fast network, a change at every election
      and every turn, leaders killed or cut off just after appending one: two
      configurations racing on two sides of an election (Ongaro's 2015 bug).
    - late-votes: three voters, no PreVote nor CheckQuorum, colliding election
      timeouts and many slow and duplicated messages: vote requests and
      answers arriving a term or two late, what a core that does not check
      terms first would count or grant.
    """
    rng = random.Random(seed)
    profile = rng.choices(PROFILES, weights=(2, 1, 2, 1, 1, 3, 1))[0]
    nodes = node_count or rng.choices((3, 5, 7), weights=(4, 4, 2))[0]
    network = _draw_network(rng)
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
        options = _config_race(options, rng, node_count)
    elif profile == "deposed-leader":
        options = _deposed_leader(options, rng)
    elif profile == "late-votes":
        options = _late_votes(options, rng, node_count)
    elif crashy:
        # Rival candidates of one term, and a rival's vote request that lands
        # after the voter that lost its vote in a crash is back: what an
        # unpersisted vote betrays.
        options = replace(
            options,
            # Three nodes: two candidates that share one voter split the rest.
            node_count=node_count or 3,
            campaign_race_probability=rng.uniform(0.1, 0.5),
            restart_delay_ms_max=rng.choice((5, 20)),
            network=replace(options.network, vote_slow_probability=rng.uniform(0.2, 0.5)),
        )
    # Drawn last, so that every earlier draw of a seed stays what it was.
    # Crashes with writes on their way are what a latent disk is for.
    latent_share = 0.9 if profile == "late-votes" else 0.5
    return replace(options, disk=_draw_disk(rng, latent_share, sick=crashy))


def _draw_disk(rng: random.Random, latent_share: float, sick: bool) -> DiskOptions:
    """Some seeds persist at once; the others take time to fsync, now and
    then long enough to span many deliveries and an election timeout
    (`sick`: more nodes whose every fsync outlasts a round trip, the window
    a crash exploits)."""
    if rng.random() >= latent_share:
        return DiskOptions()
    fsync_ms_max = rng.choice((1, 3, 10))
    return DiskOptions(
        fsync_ms_min=rng.randint(0, fsync_ms_max),
        fsync_ms_max=fsync_ms_max,
        slow_probability=rng.choice((0.0, 0.02, 0.1)),
        slow_ms_max=rng.choice((50, 200, 600)),
        sick_probability=rng.uniform(0.2, 0.5) if sick else rng.choice((0.0, 0.2)),
        sick_factor=rng.choice((3, 10)),
    )


def _draw_network(rng: random.Random) -> NetworkOptions:
    """Delays, and sometimes loss, duplication and slow messages."""
    delay_min = rng.randint(1, 5)
    return NetworkOptions(
        delay_ms_min=delay_min,
        delay_ms_max=delay_min + rng.randint(2, 30),
        drop_probability=rng.choice((0.0, rng.uniform(0.0, 0.2))),
        duplicate_probability=rng.choice((0.0, rng.uniform(0.0, 0.1))),
        slow_probability=rng.choice((0.0, rng.uniform(0.0, 0.05))),
        slow_delay_ms_max=rng.randint(50, 400),
    )


def _config_race(options: SwarmOptions, rng: random.Random, node_count: int | None) -> SwarmOptions:
    """Four voters on a fast network, a change at every election and turn;
    short runs, since the race is likeliest while the logs are short."""
    return replace(
        options,
        node_count=node_count or 4,
        safety_phase_ms=1500,
        network=NetworkOptions(delay_ms_min=1, delay_ms_max=rng.randint(2, 8)),
        nemesis_interval_ms=rng.choice((20, 50)),
        # Only timed cuts, which a random heal would undo too soon.
        partition_probability=0.0,
        heal_probability=0.0,
        leader_isolate_ms_max=rng.choice((300, 1000)),
        crash_probability=rng.uniform(0.0, 0.05),
        restart_delay_ms_max=rng.choice((20, 100)),
        crash_before_persist_probability=0.0,
        leader_kill_probability=0.0,
        leader_crash_on_commit_probability=0.0,
        leader_isolate_probability=0.0,
        membership_probability=rng.uniform(0.7, 1.0),
        retire_probability=0.0,
        # A leader that changes the configuration is cut off at once, and
        # comes back later still holding its change: a rival configuration
        # alive beside the next leader's.
        kill_after_change_probability=rng.uniform(0.6, 1.0),
        isolate_after_change_probability=1.0,
        # The next leader loses a voter as it wins, and removes it at once.
        lose_voter_probability=rng.uniform(0.6, 1.0),
        remove_lost_voter_probability=rng.uniform(0.7, 1.0),
        remove_bias=rng.uniform(0.3, 0.7),
        transfer_probability=0.0,
        proposal_interval_ms=20,
        read_fraction=0.2,
    )


def _deposed_leader(options: SwarmOptions, rng: random.Random) -> SwarmOptions:
    """The leader cut off again and again while a loyal client reads from it."""
    return replace(
        options,
        network=NetworkOptions(delay_ms_min=1, delay_ms_max=rng.randint(2, 5)),
        election_timeout_ticks_max=rng.choice((11, 12)),
        heartbeat_interval_ticks=1,
        nemesis_interval_ms=rng.choice((100, 200, 300)),
        partition_probability=rng.uniform(0.5, 0.9),
        # Two-way cuts, and one-way ones that leave the old leader slow
        # answers from a few followers (a lease must count from the send).
        partition_modes=("isolate-leader", "mute-leader"),
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


def _late_votes(options: SwarmOptions, rng: random.Random, node_count: int | None) -> SwarmOptions:
    """Votes and their answers a term or two late."""
    return replace(
        options,
        node_count=node_count or rng.choice((3, 5)),
        # Cheap seeds (few messages), and the races need many elections.
        safety_phase_ms=6000,
        pre_vote=False,
        check_quorum=False,
        election_timeout_ticks_max=rng.choice((11, 12)),
        heartbeat_interval_ticks=3,
        network=NetworkOptions(
            delay_ms_min=1,
            delay_ms_max=rng.randint(3, 10),
            drop_probability=rng.choice((0.0, 0.05)),
            duplicate_probability=rng.uniform(0.1, 0.3),
            slow_probability=rng.choice((0.0, 0.05)),
            slow_delay_ms_max=rng.randint(150, 300),
            vote_slow_probability=rng.uniform(0.3, 0.6),
        ),
        # Elections all the time: leaders cut off or killed soon after winning.
        nemesis_interval_ms=rng.choice((50, 100)),
        partition_probability=rng.uniform(0.0, 0.2),
        leader_isolate_probability=rng.uniform(0.3, 0.8),
        leader_isolate_ms_max=rng.choice((100, 300)),
        leader_kill_probability=rng.choice((0.0, 0.3)),
        # A crash with a vote on its way to the disk, now and then.
        crash_before_persist_probability=rng.choice((0.0, 0.05)),
        membership_probability=0.0,
        transfer_probability=rng.choice((0.0, 0.05)),
        campaign_race_probability=rng.uniform(0.3, 0.8),
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
    deliveries_during_writes: int = 0
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
