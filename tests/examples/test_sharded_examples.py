"""The sharded examples: three shards of three nodes each, so they run on
their own worker rather than beside the others (test_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.scripts import ALL_EXAMPLES, SHARDED, run_script


@pytest.mark.parametrize("name", SHARDED)
def test_sharded_example(name: str, tmp_path: Path) -> None:
    (script,) = [path for path in ALL_EXAMPLES if path.name == name]
    result = run_script(script, tmp_path / "cluster")
    assert result.returncode == 0, f"{script.name}:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip().splitlines()[-1].startswith("OK:")
