"""The harness proves its own power: each deliberately broken core (mutants.py)
must be caught by the swarm within the default seed count."""

from __future__ import annotations

import pytest

from node.raft import RaftCore
from raftctl.sim.swarm import run_seeds
from tests.sim.mutants import MUTANTS
from tests.sim.test_swarm import SEEDS_DEFAULT

EXPECTED_KINDS = ("violated", "LivenessFailure", "InvariantViolation", "PeerMisbehaved")


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.__name__ for m in MUTANTS])
def test_swarm_catches_mutant(mutant: type[RaftCore]) -> None:
    caught = None
    for result in run_seeds(range(1, SEEDS_DEFAULT + 1), core_factory=mutant):
        if not result.ok:
            caught = result
            break
    assert caught is not None, (
        f"{mutant.__name__} survived {SEEDS_DEFAULT} seeds: the simulation is too weak "
        f"to see this rule broken ({mutant.__doc__})"
    )
    assert caught.failure is not None
    assert any(kind in caught.failure for kind in EXPECTED_KINDS), caught.failure
    print(f"{mutant.__name__} caught at seed {caught.options.seed}: {caught.failure}")
