"""History: Jepsen-shaped events, fresh processes after info, JSONL on disk."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from raftctl.judges.history import NEMESIS, History
from raftctl.judges.linearizable import check


def clock() -> itertools.count[int]:
    return itertools.count(1)


def test_events_pair_and_an_info_gives_the_client_a_fresh_process(tmp_path: Path) -> None:
    ticks = clock()
    history = History(2, tmp_path / "history.jsonl", clock=lambda: next(ticks))
    history.invoke(0, "write", "k", "a", node="n1")
    history.complete(0, "ok")
    history.invoke(1, "write", "k", "b")
    history.complete(1, "info")
    history.invoke(1, "read", "k")
    history.complete(1, "ok", "a")
    history.fault("partition", "start", groups=[["n1"], ["n2", "n3"]])
    history.invoke(0, "cas", "k", ["a", "c"])
    history.close_open()
    history.close()
    processes = [e["process"] for e in history.events]
    assert processes == [0, 0, 1, 1, 2, 2, NEMESIS, 0, 0]
    assert history.events[-1]["type"] == "info" and history.events[-1]["value"] == ["a", "c"]
    assert [e["time"] for e in history.events] == list(range(1, 10))
    written = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert written == history.events
    assert all(e["process"] != NEMESIS for e in history.client_events())
    assert check(history.client_events()).valid


def test_a_client_cannot_have_two_operations_open() -> None:
    history = History(1)
    history.invoke(0, "read", "k")
    with pytest.raises(ValueError, match="still open"):
        history.invoke(0, "read", "k")
    with pytest.raises(ValueError, match="ok, fail or info"):
        history.complete(0, "done")
