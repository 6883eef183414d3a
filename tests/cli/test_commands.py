"""The command-line contract, end to end, on a real cluster: the data
commands, status, wait, output formats, errors. Every command, its JSON and
its exit codes (the faults in test_fault_commands.py, the protocol's own
operations in test_protocol_commands.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.messages import Changes, Compare, Get, Put, Txn, data_bytes, data_text
from raftctl.client import Client
from raftctl.cluster import ClusterDir
from tests.cli.harness import RAFTCTL, run, run_bytes, run_json, run_process, stop_cluster


def test_start_prints_status_and_refuses_contradictions(cluster: Path) -> None:
    code, document = run_json("--dir", str(cluster), "start", "--timeout", "30")
    assert code == 0 and document["leader"] in ("n1", "n2", "n3")
    assert document["started"] == [] and len(document["nodes"]) == 3
    result = run("--dir", str(cluster), "start", "--nodes", "5")
    assert result.returncode == 2 and "contradicts" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run("--dir", str(cluster), "start", "--election-timeout", "300-600")
    assert result.returncode == 2


def test_status_document_has_the_contract_fields(cluster: Path) -> None:
    code, document = run_json("status", "--dir", str(cluster))
    assert code == 0
    assert set(document) >= {"leader", "term", "nodes"}
    for row in document["nodes"]:
        assert set(row) >= {
            "id",
            "pid",
            "process",
            "role",
            "term",
            "leader",
            "commit_index",
            "applied_index",
            "last_log_index",
            "snapshot_index",
            "group",
            "voters",
            "learners",
            "fsync",
        }
        assert row["process"] == "running" and row["group"] == ["n1", "n2", "n3"]
    assert sum(row["role"] == "leader" for row in document["nodes"]) == 1


def test_data_commands_and_their_exit_codes(cluster: Path) -> None:
    where = ["--dir", str(cluster)]
    assert run_json(*where, "put", "color", "red") == (
        0,
        {"ok": True, "key": "color", "previous": None, "encoding": "utf-8"},
    )
    assert run(*where, "get", "color").stdout == "red"  # exactly the bytes: no tty, no newline
    code, document = run_json(*where, "get", "color", "--consistency", "stale", "--node", "n2")
    assert code == 0 and document["found"] and document["value"] == "red"
    code, document = run_json(*where, "get", "no-such-key")
    assert code == 1 and document["value"] is None and document["found"] is False
    assert run_json(*where, "cas", "color", "blue", "green")[0] == 1
    assert run_json(*where, "cas", "color", "red", "green")[0] == 0
    assert run(*where, "put", "color", "-", stdin="from stdin").returncode == 0
    assert run(*where, "get", "color").stdout == "from stdin"
    run(*where, "put", "user/1", "a")
    run(*where, "put", "user/2", "b")
    assert run_json(*where, "keys", "user/")[1]["keys"] == ["user/1", "user/2"]
    assert run_json(*where, "delete", "user/1")[0] == 0
    assert run_json(*where, "delete", "user/1")[0] == 1
    # Over cluster.toml's value_bytes_max (1 MiB): refused, exit 2, never applied.
    code, document = run_json(*where, "put", "huge", "-", stdin="x" * ((1 << 20) + 1))
    assert code == 2 and document["error"]["kind"] == "refused", document
    assert "value_bytes_max" in document["error"]["message"]
    assert run_json(*where, "get", "huge")[0] == 1


def test_keys_and_values_are_bytes_end_to_end(cluster: Path) -> None:
    where = ["--dir", str(cluster)]
    blob = bytes(range(256)) * 64 + b"\xff\xfe\x00\x01binary\x80"
    assert run_bytes(*where, "put", "bin", "-", stdin=blob).returncode == 0
    got = run_bytes(*where, "get", "bin")
    assert (
        got.returncode == 0 and hashlib.sha256(got.stdout).digest() == hashlib.sha256(blob).digest()
    )
    code, document = run_json(*where, "get", "bin")
    assert code == 0 and document["encoding"] == "base64"
    assert base64.b64decode(document["value"]) == blob
    # A value that ends in a newline keeps it, and one that does not gets none.
    run_bytes(*where, "put", "nl", "-", stdin=b"hi\n")
    assert run_bytes(*where, "get", "nl").stdout == b"hi\n"
    # A key that is not UTF-8, from argv (as a shell's $'k\xffbad' passes it).
    odd_key = os.fsdecode(b"k\xffbad")
    assert run(*where, "put", odd_key, "v").returncode == 0
    assert run_bytes(*where, "get", odd_key).stdout == b"v"
    code, document = run_json(*where, "keys", "k")
    assert document["encoding"] == "base64"
    assert base64.b64decode(document["keys"][0]) == b"k\xffbad"
    assert "$'k\\xffbad'" in run(*where, "keys", "k").stdout.splitlines()
    # A newline in a key does not break the listing.
    assert run(*where, "put", "two\nlines", "v").returncode == 0
    assert "$'two\\nlines'" in run(*where, "keys", "two").stdout.splitlines()
    # Through a transaction, in base64 both ways.
    code, document = run_json(
        *where,
        "txn",
        stdin=json.dumps(
            {
                "encoding": "base64",
                "success": [{"op": "get", "key": base64.b64encode(b"k\xffbad").decode()}],
            }
        ),
    )
    assert code == 0 and document["encoding"] == "base64"
    assert base64.b64decode(document["results"][0]["value"]) == b"v"
    # The empty key is refused, and a value that looks like an option is told the way.
    result = run(*where, "put", "", "v")
    assert result.returncode == 2 and "cannot be empty" in result.stderr
    result = run(*where, "put", "temp", "-5")
    assert result.returncode == 2 and "put temp -- -5" in result.stderr
    assert run(*where, "put", "temp", "--", "-5").returncode == 0
    assert run(*where, "get", "temp").stdout == "-5"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(min_size=1, max_size=40), st.binary(max_size=200))
def test_any_bytes_round_trip_through_the_cluster(cluster: Path, key: bytes, value: bytes) -> None:
    """Arbitrary bytes through a real cluster: put, get, a txn, a watch's changes."""
    key_text, value_text = "bytes/" + data_text(key), data_text(value)
    with Client(ClusterDir(cluster).config) as client:
        written = client.call(Put(key_text, value_text))
        assert client.call(Get(key_text))["value"] == value_text
        both = client.call(Txn((Compare(key_text, value_text),), (Get(key_text),), ()))
        assert both["succeeded"] and both["results"][0]["value"] == value_text
        changes = client.call(Changes(key_text, False, written["revision"] - 1))["changes"]
        assert changes[0] == [written["revision"], key_text, value_text]
    assert data_bytes(changes[0][2]) == value


def test_prefixes_and_watch_like_etcdctl(cluster: Path) -> None:
    where = ["--dir", str(cluster)]
    for name in ("a", "b", "c"):
        assert run(*where, "put", f"fruit/{name}", name.upper()).returncode == 0
    code, document = run_json(*where, "get", "fruit/", "--prefix")
    assert code == 0 and [p["key"] for p in document["pairs"]] == ["fruit/a", "fruit/b", "fruit/c"]
    first = document["revision"] - 2  # the revision of fruit/a's put
    assert run(*where, "get", "fruit/", "--prefix").stdout.splitlines()[:2] == ["fruit/a", "A"]
    assert run_json(*where, "get", "nothing/", "--prefix")[0] == 1
    # A watch from a revision replays the changes since, in order, then follows.
    since = ["--from-revision", str(first), "--count", "5", "--json"]
    follower = subprocess.Popen(
        [RAFTCTL, *where, "watch", "fruit/", "--prefix", *since],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        code, deleted = run_json(*where, "delete", "fruit/", "--prefix")
        assert code == 0 and deleted["deleted"] == ["fruit/a", "fruit/b", "fruit/c"]
        out, _ = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["type"], e["key"]) for e in events] == [
        ("put", "fruit/a"),
        ("put", "fruit/b"),
        ("put", "fruit/c"),
        ("delete", "fruit/a"),
        ("delete", "fruit/b"),
    ]
    assert events[3]["revision"] == events[4]["revision"] == deleted["revision"]  # one delete
    assert run_json(*where, "delete", "fruit/", "--prefix")[0] == 1  # nothing left to delete
    assert run(*where, "delete", "", "--prefix").returncode == 2
    result = run(*where, "watch", "fruit/a", "--from-revision", "0")
    assert result.returncode == 2 and "--from-revision" in result.stderr


def test_output_formats_and_environment_like_etcdctl(cluster: Path) -> None:
    where = ["--dir", str(cluster)]
    rows = run(*where, "status", "-w", "simple").stdout.splitlines()
    assert len(rows) == 3 and all(row.split("\t")[0] in ("n1", "n2", "n3") for row in rows)
    fields = run(*where, "put", "shape", "round", "--output", "fields").stdout.splitlines()
    assert '"ok" : true' in fields and '"key" : "shape"' in fields
    status_fields = run(*where, "status", "-w", "fields").stdout
    assert '"nodes[2].id" : "n3"' in status_fields
    # --json is -w json, and of the two the later wins, before or after the command.
    assert (
        json.loads(run(*where, "-w", "table", "get", "shape", "--json").stdout)["value"] == "round"
    )
    assert run(*where, "--json", "get", "shape", "-w", "simple").stdout == "round"
    # Every global option has its environment variable; an option given wins over it.
    env = {"RAFTCTL_DIR": str(cluster), "RAFTCTL_JSON": "1", "RAFTCTL_TIMEOUT": "30"}
    assert json.loads(run("get", "shape", env=env).stdout)["found"] is True
    assert run("get", "shape", env={**env, "RAFTCTL_OUTPUT": "simple"}).stdout == "round"
    assert run("get", "shape", "-w", "simple", env=env).stdout == "round"
    bad = run("get", "shape", env={**env, "RAFTCTL_TIMEOUT": "soon"})
    assert bad.returncode == 2 and "RAFTCTL_TIMEOUT takes seconds" in bad.stderr
    assert "Usage:" in run("put", "-h").stdout


def test_txn_takes_one_branch_and_reports_it(cluster: Path) -> None:
    where = ["--dir", str(cluster)]
    run(*where, "put", "balance", "10")
    transfer = json.dumps(
        {
            "compare": [{"key": "balance", "value": "10"}, {"key": "absent", "value": None}],
            "success": [
                {"op": "put", "key": "balance", "value": "7"},
                {"op": "get", "key": "balance"},
            ],
            "failure": [{"op": "get", "key": "balance"}],
        }
    )
    code, document = run_json(*where, "txn", stdin=transfer)
    assert code == 0 and document["succeeded"] is True
    assert document["results"][1] == {"key": "balance", "value": "7", "found": True}
    code, document = run_json(*where, "txn", stdin=transfer)
    assert code == 0 and document["succeeded"] is False  # exits 0 whichever branch ran
    assert run(*where, "txn", stdin="not json").returncode == 2


def test_global_options_before_or_after_and_the_later_wins(cluster: Path) -> None:
    assert run("--dir", str(cluster), "leader").returncode == 0
    assert run("leader", "--dir", str(cluster)).returncode == 0
    assert run("leader", env={"RAFTCTL_DIR": str(cluster)}).returncode == 0
    # An explicit --dir beats the environment, and the later --dir beats the earlier.
    assert run("--dir", str(cluster), "leader", env={"RAFTCTL_DIR": "/nonexistent"}).returncode == 0
    assert run("--dir", "/nonexistent", "leader", "--dir", str(cluster)).returncode == 0
    assert run("--dir", str(cluster), "leader", "--dir", "/nonexistent").returncode == 4


def test_wait_conditions(cluster: Path) -> None:
    where = ["--dir", str(cluster)]
    assert run(*where, "wait", "--leader").returncode == 0
    assert run(*where, "wait", "--caught-up", "--timeout", "30").returncode == 0
    assert run(*where, "wait", "--applied", "1", "--node", "n3").returncode == 0
    result = run(*where, "wait", "--applied", "1000000000", "--timeout", "1")
    assert result.returncode == 3 and "within 1s" in result.stderr
    assert run(*where, "wait").returncode == 2


def test_errors_are_one_line_with_the_right_code(cluster: Path, tmp_path: Path) -> None:
    # The installed console script itself, in its own process, as scripts run it.
    result = run_process("--dir", str(tmp_path / "nothing"), "status")
    assert result.returncode == 4 and len(result.stderr.strip().splitlines()) == 1
    result = run_process("--dir", str(cluster), "put", "temp", "-5")
    assert result.returncode == 2 and "put temp -- -5" in result.stderr
    code, document = run_json("--dir", str(tmp_path / "nothing"), "status")
    assert code == 4 and document["ok"] is False and document["error"]["kind"] == "no_cluster"
    result = run("--dir", str(cluster), "kill", "n9")
    assert result.returncode == 4 and "n9" in result.stderr
    result = run("--dir", str(cluster), "get")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert run("--dir", str(cluster), "get", "k", "--consistency", "eventual").returncode == 2
    assert "Traceback" not in result.stderr


def test_logs_show_the_node_story(cluster: Path) -> None:
    result = run("--dir", str(cluster), "logs", "n1")
    assert result.returncode == 0 and "n1 started" in result.stdout
    code, document = run_json("--dir", str(cluster), "logs", "leader")
    assert code == 0 and any("became leader" in line for line in document["lines"])


def test_status_watch_streams_json_lines(cluster: Path) -> None:
    watch = subprocess.Popen(
        [RAFTCTL, "--dir", str(cluster), "status", "--watch", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        documents = [json.loads(watch.stdout.readline()) for _ in range(2)]  # type: ignore[union-attr]
    finally:
        watch.kill()
        watch.wait()
        watch.stdout.close()  # type: ignore[union-attr]
    assert all(len(document["nodes"]) == 3 for document in documents)
    # Piped as text, the table comes at once (not when the watch ends).
    watch = subprocess.Popen(
        [RAFTCTL, "--dir", str(cluster), "status", "--watch", "-w", "simple"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        rows = [watch.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
    finally:
        watch.kill()
        watch.wait()
        watch.stdout.close()  # type: ignore[union-attr]
    assert [row.split("\t")[0] for row in rows] == ["n1", "n2", "n3"]


def test_inspect_log_shows_every_log_side_by_side(cluster: Path) -> None:
    where = ["--dir", str(cluster)]
    assert run(*where, "put", "inspected", "yes").returncode == 0
    code, document = run_json(*where, "inspect", "log", "--from", "1", "--count", "5")
    # Never wider than the longest log: no empty columns past it.
    assert code == 0 and document["from"] == 1 and document["count"] == min(5, document["longest"])
    rows = {row["id"]: row for row in document["nodes"]}
    assert set(rows) == {"n1", "n2", "n3"} and all(row["answered"] for row in rows.values())
    for row in rows.values():
        first = row["entries"][0] if row["entries"] else None
        assert first is None or first["index"] >= 1
        assert row["commit_index"] >= 1 and row["last_index"] >= row["commit_index"]
    # Every node holds the same term at the indexes they all have committed.
    committed = min(row["commit_index"] for row in rows.values())
    terms = {
        index: {
            entry["term"]
            for row in rows.values()
            for entry in row["entries"]
            if entry["index"] == index
        }
        for index in range(1, min(committed, 5) + 1)
    }
    assert all(len(seen) <= 1 for seen in terms.values())
    # Not on nothing: the entry just written is in every log, with one term.
    written = min(row["commit_index"] for row in rows.values())
    code, document = run_json(*where, "inspect", "log", "--from", str(written), "--count", "1")
    entries = [row["entries"] for row in document["nodes"]]
    assert code == 0 and all(len(found) == 1 for found in entries), entries
    assert len({found[0]["term"] for found in entries}) == 1
    assert {found[0]["index"] for found in entries} == {written}
    human = run(*where, "inspect", "log", "--count", "5")
    assert human.returncode == 0 and "n1" in human.stdout and "committed" in human.stdout
    assert run(*where, "inspect", "log", "--count", "0").returncode == 2
    past = run(*where, "inspect", "log", "--from", "99999")
    assert past.returncode == 2 and "past every log" in past.stderr
    narrow = run(*where, "inspect", "log", env={"COLUMNS": "80"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80


def test_a_node_directory_that_is_not_one_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "cluster"
    ClusterDir.create(path, 3, base_port=0)
    (path / "n1").write_text("not a directory")
    try:
        result = run("--dir", str(path), "start", "--timeout", "20")
        assert result.returncode == 2, result.stderr
        assert "cannot hold node n1" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        code, status = run_json("--dir", str(path), "status")
        assert code == 0 and status["nodes"][0]["process"] == "stopped"
        assert run("--dir", str(path), "destroy", "--yes").returncode == 0
    finally:
        stop_cluster(path)
