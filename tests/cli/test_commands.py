"""The command-line contract, end to end: the installed `raftctl` executable
against real node processes. Every command, its JSON and its exit codes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.messages import Changes, Compare, Get, Put, Txn, data_bytes, data_text
from raftctl.client import Client
from raftctl.cluster import ClusterDir, wait_for

RAFTCTL = str(Path(sys.executable).parent / "raftctl")
FAST = ["--election-timeout", "1000-2000"]


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RAFTCTL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
    )


def run_json(*args: str, stdin: str | None = None) -> tuple[int, Any]:
    result = run(*args, "--json", stdin=stdin)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON document, got {result.stdout!r} {result.stderr!r}"
    return result.returncode, json.loads(lines[0])


def stop_cluster(path: Path) -> None:
    """By pid, whatever state the test left it in."""
    if (path / "cluster.toml").exists():
        cluster = ClusterDir(path)
        cluster.stop_all(grace_s=3)
        # Removed nodes are gone from cluster.toml but keep their pid files.
        pid_files = {entry.name for entry in path.iterdir() if (entry / "node.pid").exists()}
        for node_id in sorted(set(cluster.node_ids()) | pid_files):
            cluster.kill(node_id)


@contextlib.contextmanager
def started_cluster(path: Path) -> Iterator[Path]:
    """A cluster started through the CLI, stopped by pid however the test ends."""
    try:
        result = run("--dir", str(path), "start", "--base-port", "0", *FAST, "--timeout", "40")
        assert result.returncode == 0, result.stderr
        yield path
    finally:
        stop_cluster(path)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with started_cluster(tmp_path_factory.mktemp("cli") / "cluster") as path:
        yield path


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[Path]:
    with started_cluster(tmp_path / "cluster") as path:
        yield path


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


def run_bytes(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([RAFTCTL, *args], input=stdin, capture_output=True, timeout=60)


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
    result = run("--dir", str(tmp_path / "nothing"), "status")
    assert result.returncode == 4 and len(result.stderr.strip().splitlines()) == 1
    code, document = run_json("--dir", str(tmp_path / "nothing"), "status")
    assert code == 4 and document["ok"] is False and document["error"]["kind"] == "no_cluster"
    result = run("--dir", str(cluster), "kill", "n9")
    assert result.returncode == 4 and "n9" in result.stderr
    result = run("--dir", str(cluster), "get")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert run("--dir", str(cluster), "get", "k", "--consistency", "eventual").returncode == 2
    assert "Traceback" not in result.stderr


def test_a_node_whose_storage_is_gone_refuses_and_rejoins(cluster: Path) -> None:
    """Issue 15: a node that held state and finds none refuses to start (one
    line, exit 3, naming `raftctl rejoin`), and rejoin brings it back as a
    voter with every write. (examples/lost-disk.sh also cuts a WAL in half:
    the same leader repairs it; tests/sim/test_lost_storage.py, the rule.)"""
    where = ["--dir", str(cluster)]
    config = ClusterDir(cluster).config
    with Client(config, "lost-log-writer") as client:
        writes = [Put(f"lost-{number}", f"v{number}") for number in range(40)]
        assert all(o.error is None for o in client.pipeline(writes, 8, timeout_s=30))
    leader = run(*where, "leader").stdout.strip()
    victim = next(n for n in ("n1", "n2", "n3") if n != leader)
    run(*where, "kill", victim)
    shutil.rmtree(cluster / victim / "wal")
    shutil.rmtree(cluster / victim / "snapshots")
    result = run(*where, "restart", victim, "--timeout", "30")
    assert result.returncode == 3 and len(result.stderr.strip().splitlines()) == 1
    assert f"raftctl rejoin {victim}" in result.stderr, result.stderr
    code, document = run_json(*where, "rejoin", victim, "--timeout", "60")
    assert code == 0, document
    assert document["role"] == "voter" and victim in document["voters"]
    assert f"{victim}/wal" in document["wiped"]
    assert run(*where, "wait", "--caught-up", "--timeout", "30").returncode == 0
    read = run(*where, "get", "lost-39", "--node", victim, "--consistency", "stale")
    assert read.stdout == "v39"
    assert not (cluster / victim / "rejoining").exists()


def test_logs_show_the_node_story(cluster: Path) -> None:
    result = run("--dir", str(cluster), "logs", "n1")
    assert result.returncode == 0 and "n1 started" in result.stdout
    code, document = run_json("--dir", str(cluster), "logs", "leader")
    assert code == 0 and any("became leader" in line for line in document["lines"])


def test_process_and_network_faults(fresh_cluster: Path) -> None:
    where = ["--dir", str(fresh_cluster)]
    old_leader = run(*where, "leader").stdout.strip()
    code, document = run_json(*where, "kill", "leader")
    assert code == 0 and document["node"] == old_leader
    again = run(*where, "kill", old_leader)  # changes nothing, and says so
    assert again.returncode == 0 and again.stdout.strip() == f"{old_leader} is already stopped"
    code, document = run_json(*where, "pause", old_leader)
    assert code == 2 and "is stopped: nothing to pause" in document["error"]["message"]
    assert run(*where, "wait", "--leader", "--timeout", "30").returncode == 0
    assert run(*where, "put", "after-kill", "1").returncode == 0
    # A word picks among the nodes the action applies to: the stopped one.
    code, document = run_json(*where, "restart", "follower", "--timeout", "30")
    assert code == 0 and document["node"] == old_leader
    assert run(*where, "wait", "--caught-up", "--timeout", "30").returncode == 0

    code, document = run_json(*where, "pause", "follower")
    paused = document["node"]
    status = run_json(*where, "status")[1]
    assert {row["id"]: row["process"] for row in status["nodes"]}[paused] == "paused"
    assert run(*where, "put", "while-paused", "1").returncode == 0  # a majority remains
    # Aimed at the paused node, commands answer at once instead of waiting it out.
    for command in (["snapshot", paused], ["transfer-leader", paused], ["wait", "--caught-up"]):
        code, document = run_json(*where, *command, "--timeout", "60")
        assert code == 3 and f"{paused} is paused" in document["error"]["message"], command
    code, document = run_json(*where, "snapshot", "--all")
    assert code == 0 and document["skipped"] == [{"node": paused, "process": "paused"}]
    code, document = run_json(*where, "pause", paused)
    assert code == 0 and document["changed"] is False
    assert run_json(*where, "resume", paused)[0] == 0
    again = run(*where, "resume", paused)
    assert again.returncode == 0 and again.stdout.strip() == f"{paused} is already running"

    leader = run(*where, "leader").stdout.strip()
    others = [n for n in ("n1", "n2", "n3") if n != leader]
    code, document = run_json(*where, "partition", leader)
    assert code == 0 and sorted(document["groups"]) == sorted([[leader], others])
    rows = {row["id"]: row for row in run_json(*where, "status")[1]["nodes"]}
    assert rows[leader]["group"] == [leader]
    assert run(*where, "wait", "--leader", "--node", others[0], "--timeout", "30").returncode == 0
    assert run(*where, "heal").returncode == 0
    assert run(*where, "wait", "--caught-up", "--timeout", "30").returncode == 0
    assert run(*where, "get", "while-paused").stdout == "1"


def test_no_quorum_is_unavailable_and_destroy(fresh_cluster: Path) -> None:
    where = ["--dir", str(fresh_cluster)]
    run(*where, "kill", "n1")
    run(*where, "kill", "n2")
    result = run(*where, "put", "x", "1", "--timeout", "3")
    assert result.returncode == 3 and "outcome is unknown" in result.stderr
    # Ctrl-C while a write waits: exit 130, and the outcome is said to be unknown.
    waiting = subprocess.Popen(
        [RAFTCTL, *where, "put", "x", "2", "--timeout", "60", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        process = psutil.Process(waiting.pid)
        # Inside the call once it holds a connection to the one live node.
        assert wait_for(lambda: bool(process.net_connections(kind="tcp")), 30, 0.02)
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 130, err
    assert "outcome of put is unknown" in err and "Traceback" not in err
    assert json.loads(out)["error"]["kind"] == "interrupted"
    # A node that refuses to start says why in exit.json; restart reports it
    # rather than waiting out its deadline.
    wal = fresh_cluster / "n1" / "wal"
    shutil.rmtree(wal)
    wal.write_text("not a directory")
    result = run(*where, "restart", "n1", "--timeout", "60")
    assert result.returncode == 3, result.stderr
    assert "n1 could not start: cannot open its storage" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert run(*where, "destroy").returncode == 2  # no terminal and no --yes
    assert run_json(*where, "destroy", "--yes")[0] == 0
    assert not fresh_cluster.exists()


def test_a_busy_port_is_reported_in_one_line(tmp_path: Path) -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy = holder.getsockname()[1]
    path = tmp_path / "cluster"
    try:
        result = run(
            "--dir",
            str(path),
            "start",
            "--nodes",
            "2",
            "--base-port",
            str(busy - 1),
            "--timeout",
            "20",
        )
        assert result.returncode == 3
        assert "already in use" in result.stderr and len(result.stderr.strip().splitlines()) == 1
        # Nothing is left half up: the node that did start was stopped again.
        assert "stopped the 2 nodes this start began" in result.stderr
        assert ClusterDir(path).state("n2") == "stopped"
    finally:
        holder.close()
        stop_cluster(path)


def test_stop_events_net_bench_and_logs_follow(fresh_cluster: Path) -> None:
    where = ["--dir", str(fresh_cluster)]
    code, document = run_json(*where, "net", "--drop", "0.1", "--delay", "5:2", "--from", "n1")
    assert code == 0 and document["links"][0]["from"] == ["n1"]
    assert document["links"][0]["delay_ms"] == 5 and document["links"][0]["jitter_ms"] == 2
    assert run(*where, "net", "--drop", "2").returncode == 2
    # The rules in force are seen: `net` lists them, status carries them.
    listed = run(*where, "net")
    assert listed.returncode == 0 and "n1 -> all: drop 10%, delay 5±2 ms" in listed.stdout
    status = run_json(*where, "status")[1]
    assert status["faults"]["links"] == document["links"]
    rows = {row["id"]: row for row in status["nodes"]}
    assert rows["n1"]["link_faults"] == document["links"] and rows["n2"]["link_faults"] == []
    assert "link faults" in run(*where, "status").stdout
    assert run_json(*where, "net", "clear")[1]["links"] == []
    assert run(*where, "net").stdout.strip() == "no link faults"
    code, document = run_json(*where, "bench", "--clients", "4", "--duration", "1")
    assert code == 0 and document["operations"] > 0 and document["errors"] == 0
    assert document["latency_ms_p50"] <= document["latency_ms_p99"] <= document["latency_ms_max"]
    code, document = run_json(*where, "events")
    texts = [event["text"] for event in document["events"]]
    assert any("became leader" in text for text in texts)
    assert [e["time"] for e in document["events"]] == sorted(e["time"] for e in document["events"])
    follow = subprocess.Popen(
        [RAFTCTL, *where, "logs", "n1", "--follow", "--json"], stdout=subprocess.PIPE, text=True
    )
    try:
        first = json.loads(follow.stdout.readline())  # type: ignore[union-attr]
        assert first["node"] == "n1" and "line" in first
    finally:
        follow.kill()
        follow.wait()
        follow.stdout.close()  # type: ignore[union-attr]
    code, document = run_json(*where, "stop", "n3")
    assert code == 0 and document["stopped"] == ["n3"]
    rows = {row["id"]: row for row in run_json(*where, "status")[1]["nodes"]}
    assert rows["n3"]["process"] == "stopped" and rows["n3"]["role"] is None


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


def test_transfer_leader_hands_over_and_refuses_unknown_nodes(fresh_cluster: Path) -> None:
    where = ["--dir", str(fresh_cluster)]
    code, before = run_json(*where, "leader")
    assert code == 0
    target = next(n for n in ("n1", "n2", "n3") if n != before["leader"])
    code, document = run_json(*where, "transfer-leader", target, "--timeout", "30")
    assert code == 0, document
    assert document["leader"] == target and document["previous"] == before["leader"]
    assert run_json(*where, "leader")[1]["leader"] == target
    code, document = run_json(*where, "transfer-leader", target)
    assert code == 0 and document["previous"] == target  # already leads: nothing to do
    assert run(*where, "put", "after", "transfer").returncode == 0
    assert run(*where, "transfer-leader", "n9").returncode == 4


def test_add_node_and_remove_node_change_the_membership(fresh_cluster: Path) -> None:
    where = ["--dir", str(fresh_cluster)]
    assert run(*where, "put", "before", "1").returncode == 0
    code, added = run_json(*where, "add-node", "--timeout", "30")
    assert code == 0, added
    assert added["node"] == "n4" and added["role"] == "voter" and "n4" in added["voters"]
    code, learner = run_json(*where, "add-node", "--learner", "--timeout", "30")
    assert code == 0 and learner["node"] == "n5" and learner["learners"] == ["n5"]
    human = run(*where, "add-node", "--learner", "--timeout", "30")
    assert human.returncode == 0 and human.stdout == "n6\n"  # new=$(raftctl add-node)
    code, status = run_json(*where, "status")
    rows = {row["id"]: row for row in status["nodes"]}
    assert rows["n5"]["role"] == "learner" and rows["n4"]["voters"] == ["n1", "n2", "n3", "n4"]
    assert rows["n4"]["learners"] == ["n5", "n6"]
    code, members = run_json(*where, "member", "list")
    places = {member["id"]: member["membership"] for member in members["members"]}
    assert code == 0 and places == {
        "n1": "voter",
        "n2": "voter",
        "n3": "voter",
        "n4": "voter",
        "n5": "learner",
        "n6": "learner",
    }
    assert all(member["address"].startswith("tcp://127.0.0.1:") for member in members["members"])
    # The new voter holds what was written before it joined.
    result = run(*where, "get", "before", "--consistency", "stale", "--node", "n4")
    assert result.stdout.strip() == "1"
    code, removed = run_json(*where, "remove-node", "leader", "--timeout", "30")
    assert code == 0, removed
    assert removed["node"] not in removed["voters"] and len(removed["voters"]) == 3
    code, status = run_json(*where, "status")
    assert removed["node"] not in {row["id"] for row in status["nodes"]}
    assert run(*where, "put", "after", "2", "--timeout", "30").returncode == 0
    code, refused = run_json(*where, "remove-node", "n9")
    assert code == 4 and refused["error"]["kind"]


def test_protocol_switches_are_kept_and_shown(tmp_path: Path) -> None:
    path = tmp_path / "cluster"
    where = ["--dir", str(path)]
    switches = ["--no-prevote", "--no-check-quorum", "--no-fsync", "--slow", "2"]
    try:
        result = run(*where, "start", "--base-port", "0", *FAST, *switches, "--timeout", "40")
        assert result.returncode == 0, result.stderr
        assert "PreVote off, CheckQuorum off, fsync off, timers 2x slower" in result.stdout
        code, status = run_json(*where, "status")
        assert code == 0 and status["protocol"] == {
            "pre_vote": False,
            "check_quorum": False,
            "fsync": False,
            "slow_factor": 2,
            "security": "curve",
        }
        assert all(row["fsync"] is False for row in status["nodes"])
        refused = run(*where, "start", "--prevote")
        assert refused.returncode == 2 and "pre_vote" in refused.stderr
        assert run(*where, "start", "--slow", "0").returncode == 2
        refused = run(*where, "start", "--insecure")  # keys cannot be taken back
        assert refused.returncode == 2 and "curve" in refused.stderr
        keys = path / "keys"
        assert keys.stat().st_mode & 0o777 == 0o700
        assert {entry.stat().st_mode & 0o777 for entry in keys.iterdir()} == {0o600}
        # Everything the cluster writes is its user's alone.
        written = [path, *path.rglob("*")]
        assert all(entry.stat().st_mode & 0o077 == 0 for entry in written), [
            (str(entry), oct(entry.stat().st_mode))
            for entry in written
            if entry.stat().st_mode & 0o077
        ]
    finally:
        stop_cluster(path)


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
