"""Scenario scripts: the paper's figures replayed step by step on the real core.

Each tests/sim/scripts/*.txt is a list of commands, each followed by `----`
and the output the core must produce. After a deliberate change in behaviour,
regenerate them with `pytest tests/sim/test_scripts.py --rewrite` and review
the diff like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raftctl.sim.scripted import comments_by_block, render_script, run_script

SCRIPTS = sorted((Path(__file__).parent / "scripts").glob("*.txt"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_script(script: Path, request: pytest.FixtureRequest) -> None:
    text = script.read_text()
    results = run_script(text)
    if request.config.getoption("--rewrite"):
        script.write_text(render_script(results, comments_by_block(text)))
        return
    for block, actual in results:
        assert actual == block.expected, (
            f"{script.name}: output of {block.command!r} differs\n"
            f"--- expected\n{block.expected}\n--- actual\n{actual}"
        )


def test_scripts_exist() -> None:
    assert len(SCRIPTS) >= 4
