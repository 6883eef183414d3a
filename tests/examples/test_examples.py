"""Every examples/*.sh experiment, and the demo, run and must succeed.

Each script gets its own RAFTCTL_DIR here, so that whatever it leaves behind
is stopped by pid in the finalizer even if the script is killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_commands import stop_cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.sh"))
BIN = str(Path(sys.executable).parent)


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
    } <= names


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example(script: Path, tmp_path: Path) -> None:
    cluster = tmp_path / "cluster"
    environment = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "RAFTCTL_DIR": str(cluster),
    }
    try:
        result = subprocess.run(
            ["bash", str(script)],
            capture_output=True,
            text=True,
            timeout=300,
            env=environment,
            stdin=subprocess.DEVNULL,
        )
    finally:
        stop_cluster(cluster)
    assert result.returncode == 0, f"{script.name}:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip().splitlines()[-1].startswith("OK:")


def test_the_demo_tells_its_story() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "raftctl.demo"],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "became leader" in result.stdout and "truncated" in result.stdout
    assert "Every node was stopped" in result.stdout
