"""The command line's protocol operations on real clusters: leadership
transfer, membership change, the protocol switches."""

from __future__ import annotations

from pathlib import Path

from tests.cli.harness import FAST, run, run_json, stop_cluster


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
        assert code == 0 and status["protocol"] == "raft" and status["gossip"] is None
        assert status["switches"] == {
            "pre_vote": False,
            "check_quorum": False,
            "fsync": False,
            "slow_factor": 2,
            "security": "curve",
        }
        assert all(row["fsync"] is False for row in status["nodes"])
        refused = run(*where, "start", "--protocol", "gossip")  # a protocol is for life
        assert refused.returncode == 2 and "protocol" in refused.stderr
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
