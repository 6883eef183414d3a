"""Every examples/*.sh experiment, and the demo, run and must succeed.

They spend most of their time waiting for elections and deadlines, so they
run three at a time (each with its own RAFTCTL_DIR and free ports); each test
then waits for its own script. Whatever a script leaves behind is stopped by
pid in the finalizer even if the script is killed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli.harness import stop_cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.sh"))
BIN = str(Path(sys.executable).parent)
AT_ONCE = 3
SCRIPT_TIMEOUT_S = 300
DEMO = "demo"
# The longest first, so that three at a time finish together.
LONGEST_FIRST = (DEMO, "prevote", "chaos", "split-brain", "membership")


def _run_script(script: Path, cluster: Path) -> subprocess.CompletedProcess[str]:
    chaos_out = cluster.parent / f"{cluster.name}-chaos"
    environment = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "RAFTCTL_DIR": str(cluster),
        "CHAOS_OUT": str(chaos_out),  # chaos.sh's runs, so that leftovers are stopped
    }
    try:
        return subprocess.run(
            ["bash", str(script)],
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            env=environment,
            stdin=subprocess.DEVNULL,
        )
    finally:
        stop_cluster(cluster)
        for toml in sorted(chaos_out.glob("*/cluster/cluster.toml")):
            stop_cluster(toml.parent)


def _run_demo() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftctl.demo.live"],
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
            futures[script.stem] = pool.submit(_run_script, script, base / script.stem)
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
