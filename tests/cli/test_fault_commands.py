"""The command line's faults on real clusters: kill, pause, resume, restart,
partitions and lossy links, no quorum, Ctrl-C, a busy port, a node whose
storage is gone."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil

from node.messages import Put
from raftctl.client import Client
from raftctl.cluster import ClusterDir, wait_for
from tests.cli.harness import RAFTCTL, run, run_json, stop_cluster


def interrupted(args: list[str], ready: Callable[[psutil.Process], bool]) -> tuple[int, str, str]:
    """Run raftctl ARGS as a process, press Ctrl-C (SIGINT) once `ready`
    says it is where the test wants it; (exit code, stdout, stderr)."""
    running = subprocess.Popen(
        [RAFTCTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        process = psutil.Process(running.pid)
        assert wait_for(lambda: ready(process), 30, 0.02), f"never ready: {args}"
        running.send_signal(signal.SIGINT)
        out, err = running.communicate(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    return running.returncode, out, err


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
    command = ["put", "x", "2", "--timeout", "60", "--json"]

    def inside_the_call(process: psutil.Process) -> bool:
        return bool(process.net_connections(kind="tcp"))  # a connection to the live node

    code, out, err = interrupted([*where, *command], inside_the_call)
    assert code == 130, err
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

    # Ctrl-C ends a bench early and keeps what finished (exit 130).
    def committed() -> int:
        rows = run_json(*where, "status")[1]["nodes"]
        return max(row["commit_index"] or 0 for row in rows)

    before = committed()
    # Inside the run once its writes commit (not still looking for a leader).
    code, out, err = interrupted(
        [*where, "bench", "--clients", "2", "--duration", "60", "--json"],
        lambda _process: committed() > before + 20,
    )
    assert code == 130, err
    partial = json.loads(out)
    assert partial["interrupted"] is True and partial["elapsed_s"] < 60
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
    assert code == 0 and document["stopped"] == ["n3"] and document["changed"] is True
    again = run(*where, "stop", "n3")  # changes nothing, and says so
    assert again.returncode == 0 and again.stdout.strip() == "n3 was already stopped"
    rows = {row["id"]: row for row in run_json(*where, "status")[1]["nodes"]}
    assert rows["n3"]["process"] == "stopped" and rows["n3"]["role"] is None
