"""Pairing: each invocation with its completion, the one way every judge,
the report and the exporters read a history.

Rules:
- Nemesis events are faults, not operations: they are skipped.
- A process never has two operations open; a completion needs its invoke.
  Either mistake is a HistoryError (the recorder in history.py never makes
  one).
- An operation never completed is kept with type "open": for a checker it is
  as good as `info` (it may have happened, or not).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from raftctl.judges.history import NEMESIS
from raftctl.judges.verdicts import HistoryError

__all__ = ["PairedOperation", "pair_operations"]

OUTCOMES = ("ok", "fail", "info")


@dataclass(slots=True)
class PairedOperation:
    """One operation of the history: its invocation and its completion."""

    index: int  # the order of invocation, from 0
    process: Any
    f: str
    key: Any
    value: Any  # what was invoked
    result: Any  # the completion's value (None while open)
    type: str  # ok, fail, info, or open (never completed)
    call: int  # invocation time, monotonic nanoseconds
    ret: int | None  # completion time; None while open
    node: str | None
    error: str | None = None  # why a definite fail failed ("mismatch" for a cas)


def pair_operations(events: Iterable[Mapping[str, Any]]) -> list[PairedOperation]:
    """Every client operation of `events`, in order of invocation."""
    open_ops: dict[Any, PairedOperation] = {}
    operations: list[PairedOperation] = []
    for event in events:
        process, kind = event.get("process"), event.get("type")
        if process == NEMESIS:
            continue
        if kind == "invoke":
            if process in open_ops:
                raise HistoryError(f"process {process} invoked twice without completing")
            op = PairedOperation(
                len(operations),
                process,
                str(event.get("f")),
                event.get("key"),
                event.get("value"),
                None,
                "open",
                int(event["time"]),
                None,
                event.get("node"),
            )
            open_ops[process] = op
            operations.append(op)
            continue
        if kind not in OUTCOMES:
            raise HistoryError(f"unknown event type {kind!r}")
        done = open_ops.pop(process, None)
        if done is None:
            raise HistoryError(f"process {process}: {kind} without an invoke")
        done.type = str(kind)
        done.result = event.get("value")
        done.ret = int(event["time"])
        done.node = event.get("node") or done.node
        error = event.get("error")
        done.error = None if error is None else str(error)
    return operations
