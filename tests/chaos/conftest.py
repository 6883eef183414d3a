"""Chaos runs as a user starts them: the raftctl command in a subprocess.
Whatever a run leaves behind is stopped by pid, even when the test fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.harness import stop_cluster

RUN_TIMEOUT_S = 240


@dataclass
class ChaosResult:
    exit_code: int
    stdout: str
    stderr: str
    out: Path

    @property
    def results(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.out / "results.json").read_text())
        return document

    def history(self) -> list[dict[str, Any]]:
        lines = (self.out / "history.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


def run_chaos(out: Path, *arguments: str) -> ChaosResult:
    """`raftctl chaos --out OUT ARGUMENTS...` as a user runs it."""
    completed = subprocess.run(
        [sys.executable, "-m", "raftctl", "chaos", "--out", str(out), *arguments],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, "RAFTCTL_DIR": str(out.parent / "unused")},
    )
    return ChaosResult(completed.returncode, completed.stdout, completed.stderr, out)


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[Any]:
    outs: list[Path] = []

    def run(*arguments: str, name: str = "run") -> ChaosResult:
        out = tmp_path / name
        outs.append(out)
        return run_chaos(out, *arguments)

    run.outs = outs  # type: ignore[attr-defined]
    yield run
    for out in outs:
        stop_cluster(out / "cluster")  # by pid; removed nodes too
