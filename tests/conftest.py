"""Shared pytest options: --rewrite for scenario scripts, --seed/--seeds for
the swarm, and a deadline for every test.

`make test` runs three pytest-xdist workers on two cores, a test file each at
a time (`--dist loadfile`, so a module's shared cluster starts once); xdist
hands out the files with the most tests first. Most files wait on clocks;
what keeps the suite short is less work (one Chromium launch per report,
commands that import only their own module), not the order.

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
