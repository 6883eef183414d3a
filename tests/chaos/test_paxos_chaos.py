"""A short `raftctl chaos --protocol paxos` run under leader faults: the
Multi-Paxos cluster is judged by the same checkers as Raft's and must be
valid, and its report speaks of ballots. (The dueling-proposers control,
with and without backoff, is played by `raftctl tour paxos`, in
tests/examples/test_tours.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.chaos.conftest import run_chaos
from tests.cli.harness import stop_cluster


def test_a_short_paxos_run_under_leader_faults_is_valid(tmp_path: Path) -> None:
    out = tmp_path / "run"
    try:
        run = run_chaos(
            out,
            "--protocol",
            "paxos",
            "--nemesis",
            "kill-leader,partition:majority",
            "--nodes",
            "3",
            "--duration",
            "10",
            "--rate",
            "60",
            "--seed",
            "1",  # a majority partition at 2.3 s, the leader killed at 5.9 s
        )
    finally:
        stop_cluster(out / "cluster")
    assert run.exit_code == 0, run.stdout + run.stderr
    results = run.results
    assert results["protocol"] == "paxos" and results["verdict"] == "valid"
    checks = {check["checker"]: check["verdict"] for check in results["checks"]}
    assert checks["linearizability"] == "valid" and checks["state-machine-safety"] == "valid"
    assert [fault["kind"] for fault in results["faults"]] == ["partition", "kill-leader"]
    assert results["operations"]["ok"] > 50
    ballots: list[Any] = [sample["ballot"] for sample in results["leaders"]]
    assert ballots == sorted(ballots) and ballots[-1] > ballots[0]  # a new leader, a new ballot
    assert results["availability"]["leadership"]["leader_changes"] >= 1
    assert "--protocol paxos" in results["replay"]
    report = (out / "report.html").read_text()
    assert 'id="ballots"' in report and "leader, ballot" in report
