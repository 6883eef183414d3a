"""Shared pytest options: --rewrite for scenario scripts, --seed/--seeds for
the swarm, and a deadline for every test.

`make test` runs three pytest-xdist workers on two cores, a test file each at
a time (`--dist loadfile`, so a module's shared cluster starts once). Files
are handed out in collection order (`--no-loadscope-reorder`), and
LONGEST_FIRST puts the files that take longest first (measured with
`--durations=0`), so that the three workers end together: longest
processing time first. Most files wait on clocks; what keeps the suite
short is less work (one Chromium launch per report, commands that import
only their own module) and no worker left alone at the end.

Every test has TEST_DEADLINE_S (`--test-deadline`): past it, SIGALRM raises
TestTimedOut in the test, so a hang (a read from a pipe that never answers)
fails that test with its traceback, and its fixtures still stop what it
started. The longest test takes about a minute on a busy CI box."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest

TEST_DEADLINE_S = 240.0
# The files that take longest in `make test` (seconds on a busy 2-core box, at
# the commit that wrote this list); the rest follow in their usual order.
LONGEST_FIRST = (
    "tests/examples/test_examples.py",  # 135 s
    "tests/chaos/test_chaos.py",  # 104
    "tests/examples/test_tours.py",  # 80
    "tests/proc/test_cluster.py",  # 59
    "tests/examples/test_apart_examples.py",  # 50
    "tests/chaos/test_compare.py",  # 28
    "tests/cli/test_fault_commands.py",  # 25
    "tests/chaos/test_txn_controls.py",  # 23
    "tests/sim/test_swarm.py",  # 21
    "tests/chaos/test_chaos_shards.py",  # 18
    "tests/sim/test_txn_swarm.py",  # 14
    "tests/cli/test_protocol_commands.py",  # 12
    "tests/cli/test_paxos.py",  # 12
    "tests/sim/test_paxos_swarm.py",  # 8
)


class TestTimedOut(Exception):
    """A test ran past its deadline."""


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
    parser.addoption(
        "--test-deadline",
        type=float,
        default=TEST_DEADLINE_S,
        help=f"seconds any one test may take (default {TEST_DEADLINE_S:g}; 0: none)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    deadline = float(item.config.getoption("--test-deadline"))
    if deadline <= 0 or not hasattr(signal, "setitimer"):
        return (yield)

    def expired(signum: int, frame: FrameType | None) -> None:
        raise TestTimedOut(f"{item.nodeid} ran past its deadline of {deadline:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """LONGEST_FIRST's files first, each test keeping its place in its file."""
    rank = {path: position for position, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
