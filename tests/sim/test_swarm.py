"""The swarm: the real core against seeded random fault schedules.

pytest tests/sim/test_swarm.py               # seeds 1..200 on every core (make test)
pytest tests/sim/test_swarm.py --seed=42     # replay one seed
pytest tests/sim/test_swarm.py --seeds=1000  # more seeds (make soak)
"""

from __future__ import annotations

import os

import pytest

from raftctl.sim.swarm import SeedResult, replay_command, run_seed, run_seeds

# make test's share; `make soak` runs many more. Every mutant in MUTANTS of
# tests/sim/mutants.py is caught by one of these seeds (test_mutations.py
# keeps it so; the lowest catching seed of each is in the README).
SEEDS_DEFAULT = 120


def _asked_seeds(config: pytest.Config) -> tuple[int | None, int, list[int]]:
    """(--seed, the count asked for, the seeds to run)."""
    seed = config.getoption("--seed")
    count = config.getoption("--seeds") or SEEDS_DEFAULT
    return seed, count, [seed] if seed is not None else list(range(1, count + 1))


@pytest.fixture(scope="module")
def swarm_results(request: pytest.FixtureRequest) -> list[SeedResult]:
    """The seeds asked for (--seed, --seeds, or 1..SEEDS_DEFAULT) on every
    core, up to the first failure; run once for the whole module."""
    seed, _, seeds = _asked_seeds(request.config)
    return list(run_seeds(seeds, workers=1 if seed is not None else os.cpu_count() or 1))


def test_swarm(request: pytest.FixtureRequest, swarm_results: list[SeedResult]) -> None:
    seed, count, seeds = _asked_seeds(request.config)
    sizes: set[int] = set()
    passed = 0
    for result in swarm_results:
        if not result.ok:
            number = result.options.seed
            pytest.fail(
                f"SEED={number} {result.failure}\n{result.options.describe()}\n"
                f"replay: pytest tests/sim/test_swarm.py --seed={number}   or: "
                f"{replay_command(number)}",
                pytrace=False,
            )
        sizes.add(result.options.node_count)
        passed += 1
    assert passed == len(seeds)
    if seed is None and count >= 100:
        assert {3, 5, 7} <= sizes


def test_a_seed_replays_bit_for_bit() -> None:
    first, second = run_seed(7), run_seed(7)
    assert first.ok and second.ok
    assert (
        first.elections,
        first.proposals,
        first.committed_index,
        first.messages_delivered,
        first.readies_handled,
    ) == (
        second.elections,
        second.proposals,
        second.committed_index,
        second.messages_delivered,
        second.readies_handled,
    )


@pytest.fixture(scope="module")
def first_seeds(swarm_results: list[SeedResult]) -> list[SeedResult]:
    """Seeds 1..40: the swarm's own run when it covers them, else run here."""
    wanted = list(range(1, 41))
    if [result.options.seed for result in swarm_results[:40]] == wanted:
        return swarm_results[:40]
    results = list(run_seeds(wanted, workers=os.cpu_count() or 1))
    assert [result.options.seed for result in results] == wanted, "a seed failed"
    return results


def test_seeds_do_real_work(first_seeds: list[SeedResult]) -> None:
    """A harness that never elects or commits would pass every safety check."""
    results = first_seeds[:20]
    assert sum(r.elections for r in results) >= 20
    assert sum(r.committed_index for r in results) >= 200
    assert all(r.converged_after_ms > 0 for r in results)


def test_seeds_exercise_every_new_fault_kind(first_seeds: list[SeedResult]) -> None:
    """Snapshots, membership changes, transfers and reads of each consistency
    really happen, and the histories they leave are judged."""
    results = first_seeds
    assert sum(r.snapshots_sent for r in results) > 0
    assert sum(r.membership_changes for r in results) > 0
    assert sum(r.transfers for r in results) > 0
    # A latent disk: messages arrive while a node's write is on its way.
    assert sum(r.deliveries_during_writes for r in results) > 1000
    assert {"late-votes", "config-race", "deposed-leader"} <= {r.options.profile for r in results}
    for consistency in ("linearizable", "lease", "stale"):
        assert sum(r.reads[consistency] for r in results) > 0, consistency
    assert sum(r.history_operations for r in results) > 1000
    assert all(r.history_verdict in ("valid", "unknown") for r in results)
    assert sum(r.history_verdict == "valid" for r in results) >= 30
