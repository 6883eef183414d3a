"""The gossip swarm (raftctl.sim.gossip_swarm): seeded clusters of the real
gossip core under partitions, loss, crashes and restarts converge after the
heal, lose no acknowledged add, and keep each register's latest acknowledged
write; and each deliberately broken replica (gossip_mutants.py) is caught."""

from __future__ import annotations

import pytest

from node.gossip.core import GossipCore
from raftctl.sim.gossip_swarm import CONVERGE_ROUNDS_MAX, run_gossip_seed
from tests.sim.gossip_mutants import GOSSIP_MUTANTS

SEEDS = range(1, 21)  # raftctl sim --gossip --seeds 200 runs more
MUTANT_SEEDS = range(1, 21)


def test_every_seed_converges_and_loses_nothing_acknowledged() -> None:
    results = [run_gossip_seed(seed) for seed in SEEDS]
    failed = [r for r in results if not r.ok]
    assert not failed, f"seed {failed[0].seed}: {failed[0].failure}"
    assert all(r.converge_rounds is not None and r.converge_rounds <= CONVERGE_ROUNDS_MAX
               for r in results)  # fmt: skip
    # The swarm did what it says: faults, writes and adds on every seed.
    assert sum(r.crashes for r in results) > len(SEEDS) and sum(r.partitions for r in results) > 0
    assert all(r.writes_acked > 0 and r.adds_acked > 0 for r in results)


def test_a_seed_replays_the_same_run() -> None:
    assert run_gossip_seed(7) == run_gossip_seed(7)


@pytest.mark.parametrize("mutant", GOSSIP_MUTANTS, ids=[m.__name__ for m in GOSSIP_MUTANTS])
def test_the_swarm_catches_a_broken_replica(mutant: type[GossipCore]) -> None:
    caught = next((r for seed in MUTANT_SEEDS if not (r := run_gossip_seed(seed, mutant)).ok), None)
    assert caught is not None, f"{mutant.__name__} survived seeds 1-20: {mutant.__doc__}"
