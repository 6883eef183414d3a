"""Every examples/*.sh experiment, and the demo, run and must succeed.

They spend most of their time waiting for elections and deadlines, so they
run three at a time (each with its own RAFTCTL_DIR and free ports); each test
then waits for its own script. Whatever a script leaves behind is stopped by
pid in the finalizer even if the script is killed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.examples.scripts import ALL_EXAMPLES, APART, SCRIPT_TIMEOUT_S, run_script

# The sharded example (nine nodes) and the gossip one run in a file of their
# own, which another worker takes: test_apart_examples.py.
EXAMPLES = [path for path in ALL_EXAMPLES if path.name not in APART]
AT_ONCE = 3
DEMO = "demo"
# The longest first, so that three at a time finish together.
LONGEST_FIRST = (DEMO, "prevote", "chaos", "split-brain", "membership")


def _run_demo() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftctl.tours.raft"],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    base = tmp_path_factory.mktemp("examples")
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    ordered = sorted(EXAMPLES, key=lambda path: rank.get(path.stem, len(rank)))
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        futures = {DEMO: pool.submit(_run_demo)}
        for script in ordered:
            futures[script.stem] = pool.submit(run_script, script, base / script.stem)
        yield futures


def test_every_issue_example_is_there() -> None:
    names = {path.name for path in EXAMPLES}
    assert {
        "failover.sh",
        "split-brain.sh",
        "lossy-network.sh",
        "bank-transfer.sh",
        "snapshot-catchup.sh",
        "membership.sh",
        "leader-transfer.sh",
        "prevote.sh",
        "chaos.sh",
    } <= names


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example(script: Path, runs: dict[str, Future[subprocess.CompletedProcess[str]]]) -> None:
    result = runs[script.stem].result(timeout=SCRIPT_TIMEOUT_S * len(runs))
    assert result.returncode == 0, f"{script.name}:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip().splitlines()[-1].startswith("OK:")


def test_the_demo_tells_its_story(
    runs: dict[str, Future[subprocess.CompletedProcess[str]]],
) -> None:
    result = runs[DEMO].result(timeout=SCRIPT_TIMEOUT_S * len(runs))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "became leader" in result.stdout and "truncated" in result.stdout
    assert "Every node was stopped" in result.stdout
