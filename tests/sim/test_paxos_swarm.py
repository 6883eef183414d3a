"""The swarm over the Multi-Paxos core (node/paxos/core.py): the same fault
schedules, clients and linearizability judge as Raft's swarm, with Paxos's
own safety checker (raftctl/sim/paxos_invariants.py); and each deliberately
broken core of paxos_mutants.py is caught.

    python -m raftctl.sim.swarm --protocol paxos --seeds 2000   # more seeds
"""

from __future__ import annotations

import pytest

from node.paxos.core import PaxosCore
from raftctl.sim.swarm import SeedResult, replay_command, run_seed, run_seeds
from tests.sim.paxos_mutants import PAXOS_MUTANTS

SEEDS = range(1, 17)  # make test's share (make soak runs 2000)
MUTANT_SEEDS = range(1, 61)


@pytest.fixture(scope="module")
def paxos_results() -> list[SeedResult]:
    return list(run_seeds(SEEDS, PaxosCore, protocol="paxos"))


def test_every_paxos_seed_is_safe_live_and_linearizable(paxos_results: list[SeedResult]) -> None:
    for result in paxos_results:
        if not result.ok:
            seed = result.options.seed
            pytest.fail(
                f"SEED={seed} {result.failure}\n{result.options.describe()}\n"
                f"replay: {replay_command(seed, protocol='paxos')}",
                pytrace=False,
            )
    assert len(paxos_results) == len(SEEDS)


def test_paxos_seeds_do_real_work(paxos_results: list[SeedResult]) -> None:
    """Leaders change, slots are chosen, and everything the Raft swarm throws
    (snapshots, membership changes, transfers, every read) happens."""
    results = paxos_results
    assert sum(r.elections for r in results) >= 2 * len(results)
    assert sum(r.committed_index for r in results) >= 1000
    assert sum(r.snapshots_sent for r in results) > 0
    assert sum(r.membership_changes for r in results) > 0
    assert sum(r.transfers for r in results) > 0
    for consistency in ("linearizable", "lease", "stale"):
        assert sum(r.reads[consistency] for r in results) > 0, consistency
    assert sum(r.history_verdict == "valid" for r in results) >= len(results) // 2


def test_a_paxos_seed_replays_bit_for_bit() -> None:
    first, second = (run_seed(5, PaxosCore, protocol="paxos") for _ in range(2))
    assert first.ok and (first.messages_delivered, first.committed_index) == (
        second.messages_delivered,
        second.committed_index,
    )


@pytest.mark.parametrize("mutant", PAXOS_MUTANTS, ids=[m.__name__ for m in PAXOS_MUTANTS])
def test_the_swarm_catches_a_broken_paxos_core(mutant: type[PaxosCore]) -> None:
    caught = next(
        (r for seed in MUTANT_SEEDS if not (r := run_seed(seed, mutant, protocol="paxos")).ok),
        None,
    )
    assert caught is not None, f"{mutant.__name__} survived seeds 1-60: {mutant.__doc__}"
    assert caught.failure is not None and "violated" in caught.failure, caught.failure
