"""The mistakes people make, through typer's CliRunner: each is one line on
stderr (or the JSON error document) and the contract's exit code, never a
traceback, and nothing is written where no cluster is (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.harness import invoke

# Commands that change faults or read the cluster, aimed where no cluster is.
NO_CLUSTER = (["heal"], ["net", "clear"], ["partition", "n1"], ["status"], ["get", "k"])


def one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1 and "Traceback" not in text


@pytest.mark.parametrize("command", NO_CLUSTER, ids=" ".join)
def test_no_cluster_is_exit_4_and_writes_nothing(tmp_path: Path, command: list[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(["--dir", str(empty), *command])
    assert result.exit_code == 4, result.output
    assert one_line(result.stderr) and "no cluster" in result.stderr
    assert list(empty.iterdir()) == []  # no faults.toml left behind
    missing = tmp_path / "missing"
    result = invoke(["--json", "--dir", str(missing), *command])
    assert result.exit_code == 4
    assert json.loads(result.stdout)["error"]["kind"] == "no_cluster"
    assert not missing.exists()


@pytest.mark.parametrize("command", [["status"], ["start"], ["destroy", "--yes"], ["heal"]])
def test_a_file_as_dir_is_a_usage_error(tmp_path: Path, command: list[str]) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a cluster")
    result = invoke(["--dir", str(a_file), *command])
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) and "is a file, not a cluster directory" in result.stderr
    assert a_file.read_text() == "not a cluster"


def test_sim_with_no_seeds_is_a_usage_error() -> None:
    result = invoke(["sim", "--seeds", "0"])
    assert result.exit_code == 2 and one_line(result.stderr)
    assert "--seeds must be at least 1" in result.stderr


def test_help_shows_plain_brackets() -> None:
    result = invoke(["put", "--help"])
    assert result.exit_code == 0
    assert "[required]" in result.stdout and "\\[" not in result.stdout


@pytest.mark.parametrize("timeout", ["nan", "-1", "0", "inf"])
def test_a_timeout_that_is_no_deadline_is_a_usage_error(tmp_path: Path, timeout: str) -> None:
    result = invoke(["--dir", str(tmp_path), "status", "--timeout", timeout])
    assert result.exit_code == 2 and one_line(result.stderr)
    assert "--timeout takes a positive number of seconds" in result.stderr


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--nodes", "100000"], "more than this machine holds"),
        (["--nodes", "0"], "--nodes must be at least 1"),
        (["--base-port", "99999"], "ports 100000-100002"),
        (["--base-port", "80"], "within 1024-65535"),
        (["--election-timeout", "5-1"], "MIN must not exceed MAX"),
        (["--election-timeout", "50-60"], "must exceed the heartbeat interval"),
        (["--election-timeout", "soon"], "MIN-MAX in milliseconds"),
        (["--heartbeat", "0"], "--heartbeat takes a positive number"),
    ],
)
def test_start_refuses_what_it_cannot_run_and_writes_nothing(
    tmp_path: Path, options: list[str], said: str
) -> None:
    where = tmp_path / "cluster"
    result = invoke(["--dir", str(where), "start", *options])
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) and said in result.stderr
    assert not (where / "cluster.toml").exists()
