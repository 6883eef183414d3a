"""The sharded contract from the command line: `start --shards`, node ids
and shard fields in status, NODE@shard words, routing of single-key commands
to the owning shard, prefix commands merged across shards, and per-shard
leaders, logs and membership. One shard of one node each keeps it cheap; the
transactions across shards have their own tests."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.harness import run, run_json, started_cluster

SHARDS = 3


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("shards") / "cluster"
    with started_cluster(path, "--shards", str(SHARDS), "--nodes", "1") as started:
        yield started


def owner(key: str) -> int:
    """The placement rule as the README states it, computed independently here."""
    return 1 + int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % SHARDS


def keys_of_every_shard() -> dict[int, str]:
    found: dict[int, str] = {}
    for number in range(100):
        found.setdefault(owner(f"k{number}"), f"k{number}")
    assert len(found) == SHARDS
    return found


def test_cluster_toml_holds_the_shard_map(sharded: Path) -> None:
    document = tomllib.loads((sharded / "cluster.toml").read_text())
    assert document["cluster"]["shards"] == SHARDS
    placed = {node["id"]: node["shard"] for node in document["nodes"]}
    assert placed == {"s1n1": 1, "s2n1": 2, "s3n1": 3}


def test_status_names_every_shard_and_its_leader(sharded: Path) -> None:
    code, document = run_json("--dir", str(sharded), "status")
    assert code == 0
    assert [shard["id"] for shard in document["shards"]] == [1, 2, 3]
    for shard in document["shards"]:
        assert shard["nodes"] == [f"s{shard['id']}n1"]
        assert shard["leader"] == f"s{shard['id']}n1" and shard["term"] >= 1
    assert {row["id"]: row["shard"] for row in document["nodes"]} == {
        "s1n1": 1,
        "s2n1": 2,
        "s3n1": 3,
    }
    # The top-level leader is shard 1's; each node's group is its own shard.
    assert document["leader"] == "s1n1"
    assert all(row["group"] == [row["id"]] for row in document["nodes"])
    table = run("--dir", str(sharded), "status").stdout
    assert "shard 2: leader s2n1" in table


def test_node_words_take_a_shard_qualifier(sharded: Path) -> None:
    for shard in (1, 2, 3):
        code, document = run_json("--dir", str(sharded), "leader", "--shard", str(shard))
        assert code == 0 and document["leader"] == f"s{shard}n1"
        result = run("--dir", str(sharded), "logs", f"leader@s{shard}")
        assert result.returncode == 0 and f"s{shard}n1" in result.stdout
    result = run("--dir", str(sharded), "logs", "leader")  # bare: shard 1
    assert result.returncode == 0 and "s1n1" in result.stdout
    result = run("--dir", str(sharded), "logs", "leader@s9")
    assert result.returncode == 4 and "no shard 9" in result.stderr
    result = run("--dir", str(sharded), "logs", "leader@x")
    assert result.returncode == 2 and "@s<N>" in result.stderr
    result = run("--dir", str(sharded), "leader", "--shard", "4")
    assert result.returncode == 2


def test_single_key_commands_go_to_the_owning_shard(sharded: Path) -> None:
    directory = str(sharded)
    for shard, key in keys_of_every_shard().items():
        assert run("--dir", directory, "put", key, f"v{shard}").returncode == 0
        assert run("--dir", directory, "get", key).stdout == f"v{shard}"
        # A stale read from the owner's node sees it; another shard's node is refused.
        stale = run(
            "--dir", directory, "get", key, "--consistency", "stale", "--node", f"s{shard}n1"
        )
        assert stale.returncode == 0 and stale.stdout == f"v{shard}"
        other = 1 + shard % SHARDS
        refused = run("--dir", directory, "get", key, "--node", f"s{other}n1")
        assert refused.returncode == 2 and f"lives in shard {shard}" in refused.stderr
        assert run("--dir", directory, "cas", key, f"v{shard}", f"w{shard}").returncode == 0
    # Each shard's log holds its own keys only: the others' commits never move.
    code, document = run_json("--dir", directory, "inspect", "log", "--shard", "2")
    assert code == 0 and document["shard"] == 2
    assert [row["id"] for row in document["nodes"]] == ["s2n1"]


def test_prefix_commands_merge_every_shard_in_key_order(sharded: Path) -> None:
    directory = str(sharded)
    names = [f"merge/{number:02d}" for number in range(12)]
    assert {owner(name) for name in names} == {1, 2, 3}
    for name in names:
        assert run("--dir", directory, "put", name, name.upper()).returncode == 0
    code, document = run_json("--dir", directory, "keys", "merge/")
    assert code == 0 and document["keys"] == names
    code, document = run_json("--dir", directory, "get", "merge/", "--prefix")
    assert code == 0 and [pair["key"] for pair in document["pairs"]] == names
    assert document["count"] == 12 and set(document["revisions"]) == {"1", "2", "3"}
    code, document = run_json("--dir", directory, "delete", "merge/", "--prefix")
    assert code == 0 and document["deleted"] == names
    assert run("--dir", directory, "keys", "merge/").stdout == ""


def test_watch_follows_a_key_on_its_shard_and_a_prefix_on_every_shard(sharded: Path) -> None:
    directory = str(sharded)
    names = [f"watched/{number}" for number in range(9)]
    assert {owner(name) for name in names} == {1, 2, 3}
    for name in names:
        assert run("--dir", directory, "put", name, "v").returncode == 0
    result = run(
        "--dir",
        directory,
        "--json",
        "watch",
        "watched/",
        "--prefix",
        "--from-revision",
        "1",
        "--count",
        "9",
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(event["key"] for event in events) == names
    for event in events:  # each event names its shard, whose own revision it carries
        assert event["shard"] == owner(event["key"]) and event["type"] == "put"
    one = names[0]
    result = run("--dir", directory, "--json", "watch", one, "--from-revision", "1", "--count", "1")
    (event,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (event["key"], event["shard"]) == (one, owner(one))


def test_a_single_shard_transaction_runs_on_its_shard(sharded: Path) -> None:
    key = keys_of_every_shard()[2]
    body = json.dumps(
        {
            "compare": [],
            "success": [{"op": "put", "key": key, "value": "t"}, {"op": "get", "key": key}],
        }
    )
    code, document = run_json("--dir", str(sharded), "txn", stdin=body)
    assert code == 0 and document["succeeded"] is True
    assert document["results"][1]["value"] == "t"


def test_start_refuses_to_change_the_shard_count(sharded: Path) -> None:
    result = run("--dir", str(sharded), "start", "--shards", "2")
    assert result.returncode == 2 and "3 shards" in result.stderr
    result = run("--dir", str(sharded), "start", "--shards", "1", "--nodes", "1")
    assert result.returncode == 2


def test_a_new_cluster_refuses_a_shard_count_out_of_range(tmp_path: Path) -> None:
    result = run("--dir", str(tmp_path / "c"), "start", "--shards", "0")
    assert result.returncode == 2 and "--shards" in result.stderr
    assert not (tmp_path / "c" / "cluster.toml").exists()


def test_member_list_shows_each_shards_configuration(sharded: Path) -> None:
    code, document = run_json("--dir", str(sharded), "member", "list")
    assert code == 0
    assert [(m["id"], m["shard"], m["membership"]) for m in document["members"]] == [
        ("s1n1", 1, "voter"),
        ("s2n1", 2, "voter"),
        ("s3n1", 3, "voter"),
    ]
    assert [shard["voters"] for shard in document["shards"]] == [["s1n1"], ["s2n1"], ["s3n1"]]
    assert document["voters"] == ["s1n1"]  # the top level is shard 1's


def test_add_node_joins_the_shard_it_is_given(sharded: Path) -> None:
    """Last in this file: it grows the shared cluster's shard 2."""
    directory = str(sharded)
    code, document = run_json("--dir", directory, "add-node", "--shard", "2", "--timeout", "40")
    assert code == 0 and document["node"].startswith("s2n")
    assert sorted(document["voters"]) == sorted(["s2n1", document["node"]])
    code, status = run_json("--dir", directory, "status")
    assert status["shards"][1]["nodes"] == ["s2n1", document["node"]]
    assert status["shards"][0]["nodes"] == ["s1n1"]
    result = run("--dir", directory, "add-node", "--shard", "4")
    assert result.returncode == 2 and "no shard 4" in result.stderr
