"""The second half of the mutants (test_mutations.py has the first and the
harness): each must be caught by one of CI's swarm seeds. A file of its own so
that `make test`'s workers hunt the two halves side by side."""

from __future__ import annotations

import pytest

from node.raft import RaftCore
from tests.sim.test_mutations import SECOND_HALF, assert_caught


@pytest.mark.parametrize("mutant", SECOND_HALF, ids=[m.__name__ for m in SECOND_HALF])
def test_swarm_catches_mutant(mutant: type[RaftCore]) -> None:
    assert_caught(mutant)
