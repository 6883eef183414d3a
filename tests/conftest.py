"""Shared pytest options (--rewrite for scenario scripts, --seed/--seeds for
the swarm) and the order tests start in."""

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


# The files that mostly wait on the clock (scripts waiting out elections,
# chaos runs lasting their duration) start first: `make test` runs two workers
# (pytest-xdist, a file per worker at a time), and a long file left to the end
# would run alone while the other worker idles.
STARTS_FIRST = ("tests/examples/", "tests/chaos/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid
        return next((i for i, prefix in enumerate(STARTS_FIRST) if path.startswith(prefix)), 99)

    items.sort(key=rank)  # stable: the order within each file stays
