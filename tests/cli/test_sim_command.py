"""`raftctl sim` and `raftctl --version` through typer's CliRunner."""

from __future__ import annotations

import json

from raftctl import __version__
from tests.cli.harness import invoke, run, run_json


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"raftctl {__version__}"


def test_sim_one_seed_tells_its_story() -> None:
    result = invoke(["sim", "--seed", "3", "--story"])
    assert result.exit_code == 0, result.output
    assert "became leader at term" in result.stdout
    assert "SEED=3" in result.stdout and "every safety check passed" in result.stdout


def test_sim_json_is_one_document() -> None:
    result = invoke(["sim", "--seed", "5", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "seeds": 1, "failure": None}


def test_sim_rejects_a_bad_cluster_size_with_usage_exit_code() -> None:
    result = invoke(["sim", "--nodes", "4"])
    assert result.exit_code == 2
    assert "--nodes must be 3, 5 or 7" in result.stderr


def test_sim_faults_keeps_only_the_kinds_named() -> None:
    everything = invoke(["sim", "--seed", "6", "--story"])
    only_partitions = invoke(["sim", "--seed", "6", "--story", "--faults", "partition"])
    assert everything.exit_code == 0 and only_partitions.exit_code == 0
    assert "membership appended" in everything.stdout  # seed 6 changes the membership
    assert "membership appended" not in only_partitions.stdout
    assert "0 membership changes" in only_partitions.stdout
    result = invoke(["sim", "--faults", "partition,meteor"])
    assert result.exit_code == 2 and "meteor" in result.stderr


def test_sim_transactions_runs_the_transactions_swarm() -> None:
    result = invoke(["sim", "--transactions", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["seeds"] == 1
    assert document["committed"] > 0 and document["coordinators_crashed"] > 0
    refused = invoke(["sim", "--transactions", "--nodes", "3"])
    assert refused.exit_code == 2 and "--transactions" in refused.stderr


def test_sim_epidemic_prints_rounds_against_log_n() -> None:
    code, document = run_json("sim", "--epidemic", "10,100", "--seeds", "2")
    assert code == 0
    assert [row["replicas"] for row in document["epidemic"]] == [10, 100]
    assert all(len(row["rounds"]) == 2 and "log5_n" in row for row in document["epidemic"])
    table = run("sim", "--epidemic", "10,100", "--fanout", "1").stdout
    assert "log3 N" in table and "rounds grow with log N" in table
    for wrong in (["--epidemic", "1"], ["--epidemic", "ten"], ["--epidemic", "10", "--seed", "3"]):
        result = run("sim", *wrong)
        assert result.returncode == 2, wrong


def test_sim_gossip_runs_the_gossip_swarm() -> None:
    code, document = run_json("sim", "--gossip", "--seeds", "3")
    assert code == 0 and document["ok"] is True and document["seeds"] == 3
    assert document["writes_acked"] > 0 and document["converge_rounds_max"] >= 1
    result = run("sim", "--gossip", "--nodes", "3")
    assert result.returncode == 2 and "--gossip" in result.stderr
