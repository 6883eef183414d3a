"""Checks of a chaos run beyond the workload's: events, logs, availability."""

from __future__ import annotations

import json
from pathlib import Path

from raftctl.chaos.checks import availability, election_safety, fault_windows, tracebacks
from raftctl.judges.history import History


def _node(root: Path, node_id: str, events: list[dict[str, object]], log: str = "") -> None:
    directory = root / node_id
    directory.mkdir()
    (directory / "node.log").write_text(log)
    (directory / "events.jsonl").write_text(
        "".join(json.dumps(event) + "\n" for event in events) + '{"torn": '
    )


def test_election_safety_finds_two_leaders_in_one_term(tmp_path: Path) -> None:
    _node(tmp_path, "n1", [{"node": "n1", "event": "BecameLeader", "term": 2, "votes": []}])
    _node(tmp_path, "n2", [{"node": "n2", "event": "BecameLeader", "term": 3, "votes": []}])
    assert election_safety(tmp_path).verdict == "valid"
    _node(tmp_path, "n3", [{"node": "n3", "event": "BecameLeader", "term": 3, "votes": []}])
    verdict = election_safety(tmp_path)
    assert verdict.verdict == "invalid"
    assert verdict.offending == [{"shard": 1, "term": 3, "leaders": ["n2", "n3"]}]
    # Each shard counts its own terms: leaders of two shards in one term are fine.
    _node(tmp_path, "s2n1", [{"node": "s2n1", "event": "BecameLeader", "term": 2, "votes": []}])
    assert election_safety(tmp_path).offending == verdict.offending


def test_tracebacks_in_node_logs_are_bugs(tmp_path: Path) -> None:
    _node(tmp_path, "n1", [], "started\n")
    assert tracebacks(tmp_path).verdict == "valid"
    crash = 'Traceback (most recent call last):\n  File "x.py", line 1\nKeyError: 7\n'
    _node(tmp_path, "n2", [], "started\n" + crash)
    verdict = tracebacks(tmp_path)
    assert verdict.verdict == "invalid"
    assert verdict.offending[0] == {"node": "n2", "line": 2, "error": "KeyError: 7"}


def test_availability_counts_ok_operations_inside_and_outside_faults() -> None:
    now = [0]

    def clock() -> int:
        return now[0]

    history = History(1, clock=clock)
    second = 1_000_000_000
    for moment in range(10):  # one ok operation a second, 10 ms long, none in the fault
        now[0] = moment * second
        if moment == 4:
            history.fault("partition", "start")
        if moment == 6:
            history.fault("partition", "end")
        if moment in (4, 5):
            continue
        history.invoke(0, "write", "k", moment)
        now[0] += 10_000_000
        history.complete(0, "ok")
    assert fault_windows(history.events) == [(4 * second, 6 * second, "partition")]
    figures = availability(history.events, 0, 10 * second, 9 * second)
    assert figures["operations"] == {"ok": 8}
    assert figures["ok_per_s"] == 0.8
    assert figures["ok_per_s_during_faults"] == 0.0
    assert figures["ok_per_s_without_faults"] == 1.0
    assert figures["per_fault"] == [{"fault": "partition", "ok_per_s": 0.0}]
    assert figures["latency_ms"]["p50"] == 10.0
    assert figures["recovery_s"] == 0.01
