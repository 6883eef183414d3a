"""Multi-Paxos from the command line, on real node processes: the protocol
switch and its status (ballots, roles, the chosen index); writes, reads and
`inspect log` per slot and acceptor; the distinguished proposer handed over
and failed over; the acceptor set changed through the log; the options'
mistakes; and a cluster without a distinguished proposer taking writes at
every node."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.harness import run, run_json, started_cluster

BALLOT = re.compile(r"\d+\.\d+")


@pytest.fixture(scope="module")
def paxos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    path = tmp_path_factory.mktemp("paxos") / "cluster"
    with started_cluster(path, "--protocol", "paxos") as started:
        yield ["--dir", str(started)]


def leader_of(where: list[str]) -> str:
    code, status = run_json(*where, "wait", "--leader", "--timeout", "30")
    assert code == 0, status
    leader: str = status["leader"]
    return leader


def test_status_speaks_paxos(paxos: list[str]) -> None:
    assert run(*paxos, "put", "k0", "v0").returncode == 0
    code, status = run_json(*paxos, "status")
    assert code == 0 and status["protocol"] == "paxos"
    assert status["paxos"] == {"leader": True, "backoff": False}
    roles = {row["id"]: row["role"] for row in status["nodes"]}
    assert roles[status["leader"]] == "leader"
    assert sorted(roles.values()) == ["acceptor", "acceptor", "leader"]
    leader_row = next(row for row in status["nodes"] if row["id"] == status["leader"])
    # The ballot reads as round.node; `term` holds its one-integer form.
    round_, node = leader_row["ballot"].split(".")
    assert leader_row["term"] == int(round_) * 1000 + int(node) == status["term"]
    assert status["leader"] == f"n{node}"
    assert (
        leader_row["chosen_index"] >= 2 and leader_row["chosen_index"] == leader_row["commit_index"]
    )
    table = run(*paxos, "status").stdout
    assert "protocol paxos: leader" in table and "ballot" in table and "acceptor" in table


def test_writes_and_reads_go_through_the_log_and_inspect_log_shows_ballots(
    paxos: list[str],
) -> None:
    for number in range(1, 6):
        assert run(*paxos, "put", f"k{number}", f"v{number}").returncode == 0
    for consistency in ("linearizable", "lease", "stale"):
        read = run(*paxos, "get", "k5", "--consistency", consistency)
        assert read.returncode == 0 and read.stdout.strip() == "v5", consistency
    code, logs = run_json(*paxos, "inspect", "log", "--from", "1")
    assert code == 0 and logs["protocol"] == "paxos"
    for row in logs["nodes"]:
        assert row["answered"] and row["commit_index"] >= 6
        kinds = {entry["kind"] for entry in row["entries"]}
        assert {"noop", "command"} <= kinds  # the new leader's no-op, then the writes
        assert all(BALLOT.fullmatch(entry["ballot"]) for entry in row["entries"])
    table = run(*paxos, "inspect", "log", "--from", "1").stdout
    assert "ballot (round.node)" in table and "L " in table and "A " in table


def test_transfer_hands_the_proposer_role_over_and_a_kill_fails_over(paxos: list[str]) -> None:
    leader = leader_of(paxos)
    target = next(n for n in ("n1", "n2", "n3") if n != leader)
    moved = run(*paxos, "transfer-leader", target)
    assert moved.returncode == 0, moved.stderr
    assert leader_of(paxos) == target
    _, status = run_json(*paxos, "status")
    ballot = next(row["ballot"] for row in status["nodes"] if row["id"] == target)
    assert ballot.endswith(f".{target[1:]}")  # a ballot of the new proposer's
    assert run(*paxos, "kill", target).returncode == 0
    survivor = leader_of(paxos)
    assert survivor != target
    assert run(*paxos, "put", "after-kill", "yes").returncode == 0
    assert run(*paxos, "restart", target).returncode == 0
    assert run(*paxos, "wait", "--caught-up", "--timeout", "30").returncode == 0
    assert run(*paxos, "get", "after-kill").stdout.strip() == "yes"


def test_the_acceptor_set_changes_through_the_log(paxos: list[str]) -> None:
    code, added = run_json(*paxos, "add-node", "--timeout", "40")
    assert code == 0, added
    new = added["node"]
    code, status = run_json(*paxos, "status")
    leader_row = next(row for row in status["nodes"] if row["id"] == status["leader"])
    assert new in leader_row["voters"]
    assert run(*paxos, "put", "with-four", "1").returncode == 0
    code, removed = run_json(*paxos, "remove-node", new, "--timeout", "40")
    assert code == 0, removed
    code, status = run_json(*paxos, "status")
    leader_row = next(row for row in status["nodes"] if row["id"] == status["leader"])
    assert new not in leader_row["voters"] and len(leader_row["voters"]) == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--no-leader"], "need --protocol paxos"),
        (["--protocol", "paxos", "--backoff"], "need --no-leader"),
        (["--protocol", "paxos", "--shards", "2"], "one shard"),
        (["--protocol", "raft", "--backoff"], "need --protocol paxos"),
    ],
)
def test_option_mistakes_exit_2_with_one_line(
    tmp_path: Path, options: list[str], message: str
) -> None:
    result = run("--dir", str(tmp_path / "c"), "start", "--base-port", "0", *options)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c" / "cluster.toml").exists()


def test_without_a_distinguished_proposer_every_node_takes_writes(tmp_path: Path) -> None:
    with started_cluster(tmp_path / "c", "--protocol", "paxos", "--no-leader", "--backoff") as p:
        where = ["--dir", str(p)]
        code, status = run_json(*where, "status")
        assert code == 0 and status["paxos"] == {"leader": False, "backoff": True}
        for node in ("n1", "n2", "n3", "n1"):
            written = run(*where, "put", f"at-{node}", node, "--node", node, "--timeout", "20")
            assert written.returncode == 0, written.stderr
        assert run(*where, "get", "at-n3").stdout.strip() == "n3"
        table = run(*where, "status").stdout
        assert "no distinguished proposer (with backoff)" in table
