"""`raftctl tour` with no topic lists the tours; a topic it does not know,
or --json for a story told to people, is a usage error (exit 2)."""

from __future__ import annotations

from tests.cli.harness import run, run_json


def test_the_tours_are_listed() -> None:
    code, document = run_json("tour")
    assert code == 0
    names = [entry["name"] for entry in document["tours"]]
    assert names == ["raft", "2pc", "3pc", "acid", "cap", "paxos"]
    assert all(entry["about"] for entry in document["tours"])
    listed = run("tour").stdout
    assert "3pc" in listed and "make demo" in listed


def test_an_unknown_tour_is_a_usage_error() -> None:
    result = run("tour", "zab")
    assert result.returncode == 2 and "raft, 2pc, 3pc, acid" in result.stderr
    result = run("tour", "3pc", "--json")
    assert result.returncode == 2 and "drop --json" in result.stderr
