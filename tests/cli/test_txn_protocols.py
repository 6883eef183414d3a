"""`start --txn-protocol` from the command line: the choice in cluster.toml
and status, the coordinator process `coord` that the fault commands take
like a node, transactions across shards routed through it, and the usage
errors. Two shards of one node keep it cheap; the protocols' failures are
the chaos controls' and the tours' business."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from raftctl.cluster import wait_for
from tests.cli.harness import run, run_json, started_cluster

# bank/a1 lives on shard 1 of 2, bank/a0 on shard 2 (the placement rule).
ACROSS = json.dumps({
    "compare": [],
    "success": [{"op": "put", "key": "bank/a1", "value": "1"},
                {"op": "put", "key": "bank/a0", "value": "2"}],
    "failure": [],
})  # fmt: skip


@pytest.fixture(scope="module")
def classic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("classic") / "cluster"
    options = ("--shards", "2", "--nodes", "1", "--txn-protocol", "2pc-classic")
    with started_cluster(path, *options) as started:
        yield started


def test_the_protocol_is_in_cluster_toml_and_status(classic: Path) -> None:
    settings = tomllib.loads((classic / "cluster.toml").read_text())["cluster"]
    assert settings["txn_protocol"] == "2pc-classic" and settings["coordinator_port"] > 0
    code, document = run_json("--dir", str(classic), "status")
    assert code == 0 and document["txn_protocol"] == "2pc-classic"
    coordinator = document["coordinator"]
    assert (coordinator["id"], coordinator["process"], coordinator["role"]) == (
        "coord", "running", "coordinator",
    )  # fmt: skip
    assert "coord" not in {row["id"] for row in document["nodes"]}  # Raft members only
    assert "coordinator coord (2pc-classic): running" in run("--dir", str(classic), "status").stdout


def test_a_transaction_across_shards_goes_through_the_coordinator(classic: Path) -> None:
    code, answer = run_json("--dir", str(classic), "txn", stdin=ACROSS)
    assert code == 0 and answer["succeeded"] and answer["shards"] == [1, 2]
    assert answer["txn_id"].startswith("coord-")
    _, document = run_json("--dir", str(classic), "status")
    assert document["coordinator"]["committed"] >= 1


def test_the_fault_commands_take_the_coordinator_like_a_node(classic: Path) -> None:
    directory = ("--dir", str(classic))
    assert run(*directory, "kill", "coord").returncode == 0
    _, document = run_json(*directory, "status")
    assert document["coordinator"]["process"] == "stopped"
    result = run(*directory, "txn", "--timeout", "2", stdin=ACROSS)
    assert result.returncode == 3 and "coordinator process did not answer" in result.stderr
    assert run(*directory, "restart", "coord").returncode == 0
    # Whatever the killed coordinator left undecided, it finishes on its own now.
    assert wait_for(
        lambda: run_json(*directory, "txn", stdin=ACROSS)[0] == 0, timeout_s=30, interval_s=0.2
    )
    code, document = run_json(*directory, "partition", "coord")
    assert code == 0 and ["coord"] in document["groups"]
    assert run(*directory, "heal").returncode == 0
    assert run(*directory, "pause", "coord").returncode == 0
    assert run(*directory, "resume", "coord").returncode == 0


def test_protocol_mistakes_are_usage_errors(classic: Path, tmp_path: Path) -> None:
    result = run("--dir", str(tmp_path / "new"), "start", "--txn-protocol", "4pc")
    assert result.returncode == 2 and "2pc, 2pc-classic, 3pc" in result.stderr
    assert not (tmp_path / "new" / "cluster.toml").exists()
    result = run("--dir", str(classic), "start", "--txn-protocol", "3pc")
    assert result.returncode == 2 and "txn_protocol = 2pc-classic" in result.stderr
    result = run("--dir", str(classic), "kill", "coordinator")
    assert result.returncode == 4 and "coord" in result.stderr


def test_a_transaction_asked_again_after_the_coordinator_restarts_runs_once(
    classic: Path,
) -> None:
    """The coordinator dies right after logging a commit; the client, still
    within its deadline, asks again once it is back: it must be answered from
    the logged decision, not run a second time (whose comparison would fail)."""
    from node.config import load
    from node.messages import ArmFailpoint, Compare, Put, Txn
    from raftctl.client import Client
    from raftctl.txn.coordinator import execute_txn

    directory = ("--dir", str(classic))
    assert run_json(*directory, "txn", stdin=ACROSS)[0] == 0  # bank/a1 = "1"
    config = load(classic / "cluster.toml")
    transfer = Txn((Compare("bank/a1", "1"),), (Put("bank/a1", "once"), Put("bank/a0", "once")), ())
    with Client(config, "asks-again") as client, ThreadPoolExecutor(1) as pool:
        assert client.admin("coord", ArmFailpoint("crash-after-decide"), timeout_s=2.0)
        answer = pool.submit(execute_txn, client, transfer, 30.0)
        assert wait_for(lambda: run_json(*directory, "status")[1]["coordinator"]["process"]
                        == "stopped", timeout_s=20)  # fmt: skip
        assert run(*directory, "restart", "coord").returncode == 0
        result = answer.result(timeout=40)
    assert result["succeeded"] is True, result  # the logged commit, not a second run
    assert [r["key"] for r in result["results"]] == ["bank/a1", "bank/a0"]
    code, read = run_json(*directory, "get", "bank/a1")
    assert code == 0 and read["value"] == "once"
