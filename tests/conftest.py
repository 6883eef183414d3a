"""Shared pytest options: --rewrite for scenario scripts, --seed/--seeds for
the swarm.

`make test` runs two pytest-xdist workers, a test file each at a time
(`--dist loadfile`, so a module's shared cluster starts once); xdist hands out
the files with the most tests first. The suite is CPU-bound on two cores:
what keeps it short is less work (one Chromium launch per report, commands
that import only their own module), not the order."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rewrite", action="store_true", help="regenerate the expected output of tests/sim/scripts"
    )
    parser.addoption(
        "--seed", type=int, default=None, help="replay one swarm seed (tests/sim/test_swarm.py)"
    )
    parser.addoption(
        "--seeds",
        type=int,
        default=None,
        help="how many swarm seeds to run (default 200; make soak runs 1000)",
    )
