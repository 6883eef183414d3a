"""The harness proves its own power: each deliberately broken core (mutants.py)
must be caught by the swarm within the default seed count."""

from __future__ import annotations

import pytest

from node.raft import RaftCore
from raftctl.sim import swarm
from raftctl.sim.seed import options_swarm
from raftctl.sim.swarm import run_seed, run_seeds
from tests.sim.mutants import (
    MUTANTS,
    CommitsEarlierTermByCounting,
    GrantsTwoVotesPerTerm,
    HeartbeatsOnEveryAnswer,
    KeepsConflictingEntries,
    LeaseReadAfterExpiry,
    MembershipChangeBeforeOwnTermCommit,
    ReadIndexWithoutConfirmation,
    TwoMembershipChangesPending,
    VotesWithoutUpToDateCheck,
)
from tests.sim.test_swarm import SEEDS_DEFAULT

EXPECTED_KINDS = (
    "violated",
    "LivenessFailure",
    "InvariantViolation",
    "PeerMisbehaved",
    "BudgetExceeded",
)


# Roughly what a seed of each profile costs (CPU seconds per seed, averaged
# over seeds 1..120: config-race 0.05, crash-recovery 0.11, late-votes 0.24,
# leader-churn 0.26, reconfigure 0.26, mixed 0.29, deposed-leader 0.54).
PROFILE_COST = {
    "config-race": 1,
    "crash-recovery": 2,
    "late-votes": 5,
    "leader-churn": 5,
    "reconfigure": 5,
    "mixed": 6,
    "deposed-leader": 4,
}


def cost_fair(seeds: range) -> list[int]:
    """CI's swarm seeds in an order that gives each profile the same CPU:
    a mutant must be caught by one of the seeds `make test` runs, most are
    the prey of one profile, and this order reaches each profile's seeds
    early, the cheap profiles' more of them."""
    taken: dict[str, int] = {}
    keyed = []
    for seed in seeds:
        profile = options_swarm(seed).profile
        taken[profile] = taken.get(profile, 0) + 1
        keyed.append((taken[profile] * PROFILE_COST[profile], seed))
    return [seed for _, seed in sorted(keyed)]


# The mutants are hunted in two files, so that `make test`'s workers share
# them (about a minute of CPU each way); test_mutations_second.py has the rest.
FIRST_HALF = (
    CommitsEarlierTermByCounting,
    LeaseReadAfterExpiry,
    MembershipChangeBeforeOwnTermCommit,
    ReadIndexWithoutConfirmation,
    VotesWithoutUpToDateCheck,
    KeepsConflictingEntries,
    GrantsTwoVotesPerTerm,
    TwoMembershipChangesPending,
)
SECOND_HALF = tuple(mutant for mutant in MUTANTS if mutant not in FIRST_HALF)


@pytest.mark.parametrize("mutant", FIRST_HALF, ids=[m.__name__ for m in FIRST_HALF])
def test_swarm_catches_mutant(mutant: type[RaftCore]) -> None:
    assert_caught(mutant)


# The CI seed that caught each mutant when this table was written (the hunt
# run in full, `cost_fair` order): tried first, it spares the suite most of
# the hunt. A change to the simulator that moves the catch falls back to the
# whole hunt, which still must catch the mutant among CI's seeds, and prints
# the new seed for this table.
CAUGHT_AT = {
    "VotesWithoutUpToDateCheck": 6,
    "CommitsEarlierTermByCounting": 23,
    "KeepsConflictingEntries": 6,
    "AnswersVoteBeforePersisting": 47,
    "GrantsTwoVotesPerTerm": 6,
    "ReadIndexWithoutConfirmation": 10,
    "LeaseReadAfterExpiry": 33,
    "TwoMembershipChangesPending": 19,
    "MembershipChangeBeforeOwnTermCommit": 106,
    "InstallSnapshotDiscardsMatchingLog": 34,
    "SnapshotLosesLastTerm": 7,
    "CountsOwnEntryBeforeFsync": 5,
    "TruncationKeepsConfiguration": 20,
    "CountsStaleVotes": 2,
    "GrantsStaleTermVote": 60,
    "LeaseFromAnswerArrival": 58,
}


def assert_caught(mutant: type[RaftCore]) -> None:
    """One of CI's swarm seeds catches `mutant`, with a failure of a known kind."""
    caught = None
    known = CAUGHT_AT.get(mutant.__name__)
    if known is not None and 1 <= known <= SEEDS_DEFAULT:
        first = run_seed(known, core_factory=mutant)
        caught = None if first.ok else first
    if caught is None:
        for result in run_seeds(cost_fair(range(1, SEEDS_DEFAULT + 1)), core_factory=mutant):
            if not result.ok:
                caught = result
                break
    assert caught is not None, (
        f"{mutant.__name__} survived the {SEEDS_DEFAULT} seeds of CI's swarm: the "
        f"simulation is too weak to see this rule broken ({mutant.__doc__})"
    )
    assert caught.failure is not None
    assert any(kind in caught.failure for kind in EXPECTED_KINDS), caught.failure
    print(f"{mutant.__name__} caught at seed {caught.options.seed}: {caught.failure}")


def test_a_message_storm_fails_its_seed_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    """A leader that answers every heartbeat answer with a new round breaks no
    safety rule, and its seed would never end: the seed's budget turns it into
    a failure that names the seed. (The default budget, 200k deliveries,
    catches it at seed 1 too, in 17 s; a smaller one keeps CI quick.)"""
    monkeypatch.setattr(swarm, "SEED_MESSAGES_MAX", 20_000)
    result = run_seed(1, core_factory=HeartbeatsOnEveryAnswer)
    assert result.failure is not None and "BudgetExceeded: message budget" in result.failure
    assert result.options.seed == 1
    # (The real core passes every seed of test_swarm.py under the default
    # budget: its busiest of 400 seeds delivered 28k messages.)


def test_a_seed_past_its_wall_time_fails_with_its_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(swarm, "SEED_WALL_S_MAX", 0.0)
    result = run_seed(1)
    assert result.failure is not None and "wall-time budget exceeded" in result.failure
