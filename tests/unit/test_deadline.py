"""The suite's per-test deadline (tests/conftest.py): a hang fails its test,
with its traceback, instead of hanging the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def test_a_test_that_hangs_fails_at_its_deadline(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(
        """
        import os

        def test_reads_a_pipe_nobody_writes():
            reader, writer = os.pipe()
            os.read(reader, 1)  # blocks: only the deadline ends it

        def test_quick():
            assert True
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:xdist", "--test-deadline", "1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*TestTimedOut*ran past its deadline of 1 s*"])
