"""The gossip protocol from the command line, on real node processes: the
protocol switch and its status; Raft's own commands refused with exit 2
naming the protocol; both sides of a partition taking writes and every
replica agreeing after the heal (the later of two concurrent writes wins
everywhere); the observed-remove set losing no add; SWIM marking a killed
node dead and a paused one suspect, and both alive again once back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from node.messages import SetAdd, SetMembers
from raftctl.client import Client
from raftctl.cluster import ClusterDir
from tests.cli.harness import run, run_json, started_cluster

WAIT_S = 30.0


@pytest.fixture
def gossip(tmp_path: Path) -> Iterator[list[str]]:
    """A fresh gossip cluster, for a test whose story starts from nothing."""
    with started_cluster(tmp_path / "cluster", "--protocol", "gossip") as path:
        yield ["--dir", str(path)]


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    with started_cluster(
        tmp_path_factory.mktemp("gossip") / "cluster", "--protocol", "gossip"
    ) as path:
        yield ["--dir", str(path)]


@pytest.fixture
def shared(shared_cluster: list[str]) -> Iterator[list[str]]:
    """One cluster for the tests that heal what they cut (each its own keys),
    healed after each whatever happened."""
    yield shared_cluster
    run(*shared_cluster, "heal")


def views(where: list[str]) -> dict[str, Any]:
    code, status = run_json(*where, "status")
    assert code == 0
    return {row["id"]: row["members"] for row in status["nodes"]}


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {WAIT_S:g}s")


def test_status_shows_the_protocol_and_each_replica_s_view(shared: list[str]) -> None:
    gossip = shared
    assert run(*gossip, "put", "k", "v", "--node", "n1").returncode == 0
    assert run(*gossip, "wait", "--converged", "--timeout", "30").returncode == 0
    code, status = run_json(*gossip, "status")
    assert code == 0 and status["protocol"] == "gossip" and status["leader"] is None
    assert status["gossip"] == {"fanout": 2, "interval_ms": 200, "ack": 1, "read": 1}
    for row in status["nodes"]:
        others = {"n1", "n2", "n3"} - {row["id"]}
        assert row["role"] == "replica" and row["term"] is None
        assert row["members"] == dict.fromkeys(sorted(others), "alive")
        assert row["keys"] >= 1 and set(row["behind_by"]) <= others
    assert len({row["digest"] for row in status["nodes"]}) == 1
    assert len({row["keys"] for row in status["nodes"]}) == 1
    table = run(*gossip, "status")
    assert "protocol gossip" in table.stdout and "alive" in table.stdout


def test_raft_only_commands_are_usage_errors_naming_the_protocol(shared: list[str]) -> None:
    gossip = shared
    refused = [
        ["transfer-leader", "n1"],
        ["leader"],
        ["cas", "k", "a", "b"],
        ["get", "k", "--consistency", "linearizable"],
        ["wait", "--leader"],
        ["inspect", "log"],
        ["watch", "k"],
        ["member", "list"],
        ["remove-node", "n1"],
        ["rejoin", "n1"],
        ["kill", "leader"],
        ["add-node", "--learner"],
    ]
    assert run(*gossip, "put", "k", "v", "--from", "n1", "--node", "n2").returncode == 2
    for command in refused:
        result = run(*gossip, *command)
        assert result.returncode == 2, (command, result.stderr)
        assert "gossip" in result.stderr, (command, result.stderr)
    result = run(*gossip, "txn", stdin='{"success": [{"op": "get", "key": "k"}]}')
    assert result.returncode == 2 and "protocol gossip" in result.stderr


def test_both_sides_of_a_partition_take_writes_and_agree_after_the_heal(
    shared: list[str],
) -> None:
    gossip = shared
    assert run(*gossip, "partition", "n1", "n2,n3").returncode == 0
    assert run(*gossip, "put", "p/x", "minority", "--node", "n1").returncode == 0
    assert run(*gossip, "put", "p/x", "majority", "--node", "n3").returncode == 0  # later: wins
    assert run(*gossip, "put", "p/only-left", "1", "--node", "n1").returncode == 0
    assert run(*gossip, "get", "p/x", "--node", "n1").stdout == "minority"  # each side its own
    assert run(*gossip, "heal").returncode == 0
    converged = run(*gossip, "wait", "--converged", "--timeout", "30")
    assert converged.returncode == 0, converged.stderr
    for node in ("n1", "n2", "n3"):
        assert run(*gossip, "get", "p/x", "--node", node).stdout == "majority"
        assert run(*gossip, "get", "p/only-left", "--node", node).stdout == "1"
    assert run(*gossip, "delete", "p/only-left", "--node", "n2").returncode == 0
    assert run(*gossip, "wait", "--converged", "--timeout", "30").returncode == 0
    assert run(*gossip, "get", "p/only-left", "--node", "n1").returncode == 1
    assert run(*gossip, "keys", "p/", "--node", "n3").stdout.split() == ["p/x"]


def test_the_observed_remove_set_loses_no_add_made_on_either_side(shared: list[str]) -> None:
    gossip = shared
    config = ClusterDir(Path(gossip[1])).config
    assert run(*gossip, "partition", "n1", "n2,n3").returncode == 0
    with Client(config, "set-test") as client:
        client.call(SetAdd("s", "left"), node="n1", timeout_s=10)
        client.call(SetAdd("s", "right"), node="n2", timeout_s=10)
        assert client.call(SetMembers("s"), "stale", "n1", 10)["members"] == ["left"]
        assert run(*gossip, "heal").returncode == 0
        assert run(*gossip, "wait", "--converged", "--timeout", "30").returncode == 0
        for node in ("n1", "n2", "n3"):
            members = client.call(SetMembers("s"), "stale", node, 10)["members"]
            assert members == ["left", "right"]


def test_swim_marks_a_killed_node_dead_and_a_paused_one_suspect(gossip: list[str]) -> None:
    assert run(*gossip, "kill", "n3").returncode == 0
    eventually(lambda: views(gossip)["n1"]["n3"] == "dead", "n1 holding n3 dead")
    eventually(lambda: views(gossip)["n2"]["n3"] == "dead", "n2 holding n3 dead")
    assert run(*gossip, "restart", "n3").returncode == 0
    assert run(*gossip, "wait", "--converged", "--timeout", "30").returncode == 0
    seen: set[str] = set()

    def suspected() -> bool:
        seen.add(views(gossip)["n1"]["n2"])
        return bool(seen - {"alive"})

    assert run(*gossip, "pause", "n2").returncode == 0
    try:
        eventually(suspected, "n1 suspecting the paused n2")
    finally:
        assert run(*gossip, "resume", "n2").returncode == 0
    assert "suspect" in seen  # suspicion comes before any death
    assert run(*gossip, "wait", "--converged", "--timeout", "30").returncode == 0
    assert all(set(view.values()) == {"alive"} for view in views(gossip).values())


def test_add_node_joins_through_swim_and_is_filled_by_gossip(gossip: list[str]) -> None:
    assert run(*gossip, "put", "before", "1").returncode == 0
    code, added = run_json(*gossip, "add-node", "--timeout", "30")
    assert code == 0 and added["node"] == "n4" and added["role"] == "replica"
    assert run(*gossip, "wait", "--converged", "--timeout", "30").returncode == 0
    assert run(*gossip, "get", "before", "--node", "n4").stdout == "1"


def test_a_quorum_write_and_read_answer_only_with_enough_replicas(shared: list[str]) -> None:
    gossip = shared
    assert run(*gossip, "put", "q", "v", "--node", "n1", "--ack", "3").returncode == 0
    assert run(*gossip, "get", "q", "--node", "n3", "--read", "2").stdout == "v"
    assert run(*gossip, "partition", "n1", "n2,n3").returncode == 0
    cut_off = run(*gossip, "put", "q", "w", "--from", "n1", "--ack", "2", "--timeout", "5")
    assert cut_off.returncode == 3 and "only 1 of 2 replicas acknowledged" in cut_off.stderr
    lonely = run(*gossip, "get", "q", "--from", "n1", "--read", "2", "--timeout", "5")
    assert lonely.returncode == 3 and "only 1 of 2 replicas answered" in lonely.stderr
    assert run(*gossip, "put", "q", "x", "--from", "n2", "--ack", "2").returncode == 0
    assert run(*gossip, "put", "q", "y", "--ack", "4").returncode == 2  # more than N = 3


def test_start_refuses_gossip_options_that_do_not_fit(tmp_path: Path) -> None:
    where = ["--dir", str(tmp_path / "c")]
    for options in (
        ["--fanout", "3"],
        ["--protocol", "paxos-someday"],
        ["--protocol", "gossip", "--shards", "2"],
        ["--protocol", "gossip", "--fanout", "0"],
        ["--protocol", "gossip", "--gossip-interval", "5"],
        ["--ack", "2"],
        ["--protocol", "gossip", "--read", "4"],
    ):
        result = run(*where, "start", "--base-port", "0", *options)
        assert result.returncode == 2, (options, result.stderr)
    assert not (tmp_path / "c" / "cluster.toml").exists()
