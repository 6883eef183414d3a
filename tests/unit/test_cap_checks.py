"""The CAP figures of a history (raftctl.chaos.cap_checks): availability on
each side of a partition, from the homes the invokes name; lost writes,
told apart from writes a later write overwrote, and split by whether the
survivor overlapped them or had finished before they began."""

from __future__ import annotations

from typing import Any

from raftctl.chaos.cap_checks import availability_by_side, lost_writes
from raftctl.judges.history import History
from raftctl.judges.verdicts import INVALID, VALID


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = int(seconds * 1e9)


def history() -> tuple[History, Clock]:
    clock = Clock()
    return History(4, clock=clock), clock


def op(
    h: History,
    clock: Clock,
    client: int,
    f: str,
    key: Any,
    value: Any,
    start: float,
    end: float,
    outcome: str = "ok",
    node: str | None = None,
) -> None:
    clock.at(start)
    h.invoke(client, f, key, value, node)
    clock.at(end)
    h.complete(client, outcome, value)


def test_each_side_of_a_partition_counts_its_own_clients() -> None:
    h, clock = history()
    clock.at(1.0)
    h.fault("partition", "start", target="one")
    op(h, clock, 0, "write", "k", "a", 1.1, 1.2, node="n1")
    op(h, clock, 1, "write", "k", "b", 1.1, 1.3, node="n2")
    op(h, clock, 1, "write", "k", "c", 1.4, 1.5, node="n2")
    op(h, clock, 2, "write", "k", "d", 1.1, 2.9, "info", node="n3")
    op(h, clock, 0, "write", "k", "e", 3.5, 3.6, node="n1")  # after the partition
    clock.at(3.0)
    h.fault("partition", "end", target="one", groups=[["n1"], ["n2", "n3"]])
    (figure,) = availability_by_side(h.events, run_start=0)
    assert figure["fault"] == "partition:one" and figure["start_s"] == 1.0
    minority, majority = figure["sides"]
    assert minority == {"nodes": ["n1"], "ok": 1, "fail": 0, "info": 0, "ok_per_s": 0.5}
    assert majority["ok"] == 2 and majority["info"] == 1 and majority["ok_per_s"] == 1.0


def test_a_write_overwritten_by_a_later_one_is_not_lost() -> None:
    h, clock = history()
    op(h, clock, 0, "write", "k", "old", 0.0, 0.1)
    op(h, clock, 1, "write", "k", "new", 0.2, 0.3)
    op(h, clock, 0, "read", "k", "new", 1.0, 1.1)
    verdict = lost_writes(h.events)
    assert verdict.verdict == VALID and verdict.details["lost"] == 0


def test_one_of_two_concurrent_writes_is_lost_and_counted() -> None:
    h, clock = history()
    op(h, clock, 0, "write", "k", "mine", 0.0, 0.5)
    op(h, clock, 1, "write", "k", "theirs", 0.2, 0.3)
    op(h, clock, 0, "read", "k", "theirs", 1.0, 1.1)
    verdict = lost_writes(h.events)
    assert verdict.verdict == VALID
    assert verdict.details == {"lost": 1, "to_concurrent": 1, "to_earlier": 0}
    assert verdict.offending == [{"key": "k", "value": "mine", "kept": "theirs"}]


def test_a_write_lost_to_one_that_finished_before_it_began_is_invalid() -> None:
    h, clock = history()
    op(h, clock, 1, "write", "k", "early", 0.0, 0.1)  # a fast clock stamped it later
    op(h, clock, 0, "write", "k", "late", 0.5, 0.6)
    op(h, clock, 2, "write", "k", "timed-out", 0.7, 0.9, "info")  # unacknowledged: never lost
    op(h, clock, 0, "read", "k", "early", 1.0, 1.1)
    verdict = lost_writes(h.events)
    assert verdict.verdict == INVALID and verdict.details["to_earlier"] == 1
    assert "completed before they began" in verdict.explanation
