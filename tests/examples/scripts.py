"""How the example tests run an examples/*.sh script: with raftctl on PATH,
its own RAFTCTL_DIR and chaos output, and whatever it leaves behind stopped
by pid afterwards, however it ended."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli.harness import stop_cluster

__all__ = ["ALL_EXAMPLES", "APART", "SCRIPT_TIMEOUT_S", "run_script"]

ROOT = Path(__file__).resolve().parents[2]
ALL_EXAMPLES = sorted((ROOT / "examples").glob("*.sh"))
# Run on a worker of their own (test_apart_examples.py), beside the main pool:
# the sharded one has nine nodes; the gossip one keeps the main pool short.
APART = ("cross-shard-bank.sh", "cap.sh")
BIN = str(Path(sys.executable).parent)
SCRIPT_TIMEOUT_S = 300


def run_script(script: Path, cluster: Path) -> subprocess.CompletedProcess[str]:
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
