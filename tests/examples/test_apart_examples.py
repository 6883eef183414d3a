"""The examples that run apart from the main pool (test_examples.py), on a
worker of their own: the sharded bank (three shards of three nodes) and the
gossip cluster's CAP experiment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.scripts import ALL_EXAMPLES, APART, run_script


@pytest.mark.parametrize("name", APART)
def test_apart_example(name: str, tmp_path: Path) -> None:
    (script,) = [path for path in ALL_EXAMPLES if path.name == name]
    result = run_script(script, tmp_path / "cluster")
    assert result.returncode == 0, f"{script.name}:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip().splitlines()[-1].startswith("OK:")
