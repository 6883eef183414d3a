"""The set checker: no acknowledged element lost, none invented.

Clients add unique elements to one set; at the end, one read returns the
whole set. An `ok` add must be in it (lost otherwise); a `fail` add must not
(it did not happen); an `info` add may or may not be; an element nobody ever
tried to add must not be there.

History events: `{"process", "type", "f": "add"|"read", "key", "value",
"time"}`; an add's value is the element, the final read's `ok` value the list
of elements. The last successful read is the final one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID

__all__ = ["SetResult", "check_set"]

ELEMENTS_SHOWN = 10


@dataclass(slots=True)
class SetResult:
    verdict: str
    acknowledged: int
    uncertain: int
    final_size: int
    lost: list[Any] = field(default_factory=list)
    unexpected: list[Any] = field(default_factory=list)
    final_read: bool = True  # False: no final read succeeded

    @property
    def valid(self) -> bool:
        return self.verdict == VALID

    def explain(self) -> str:
        if self.verdict == UNKNOWN:
            if not self.final_read:
                return "set: unknown, the final read never succeeded"
            return "set: unknown, no add was acknowledged (nothing could be lost)"
        if self.verdict == VALID:
            return (
                f"set: all {self.acknowledged} acknowledged adds are in the final read of "
                f"{self.final_size} ({self.uncertain} uncertain adds may or may not be)"
            )
        parts = []
        if self.lost:
            parts.append(
                f"{len(self.lost)} acknowledged adds lost, e.g. {self.lost[:ELEMENTS_SHOWN]}"
            )
        if self.unexpected:
            parts.append(
                f"{len(self.unexpected)} elements present that were never added or whose add "
                f"failed, e.g. {self.unexpected[:ELEMENTS_SHOWN]}"
            )
        return "set: " + "; ".join(parts)


def check_set(events: Iterable[Mapping[str, Any]]) -> SetResult:
    invoked: dict[Any, Any] = {}  # process -> element of its add in flight
    acknowledged: set[Any] = set()
    failed: set[Any] = set()
    attempted: set[Any] = set()
    final: list[Any] | None = None
    for event in events:
        kind, f = event.get("type"), event.get("f")
        if f == "add":
            if kind == "invoke":
                invoked[event.get("process")] = event.get("value")
                attempted.add(event.get("value"))
            elif kind == "ok":
                acknowledged.add(invoked.pop(event.get("process"), event.get("value")))
            elif kind == "fail":
                failed.add(invoked.pop(event.get("process"), event.get("value")))
            else:
                invoked.pop(event.get("process"), None)
        elif f == "read" and kind == "ok":
            final = list(event.get("value") or [])
    uncertain = len(attempted - acknowledged - failed)
    if final is None:
        return SetResult(UNKNOWN, len(acknowledged), uncertain, 0, final_read=False)
    present = set(final)
    lost = sorted(acknowledged - present, key=repr)
    unexpected = sorted((present - attempted) | (present & failed), key=repr)
    # With no add acknowledged, nothing could be lost: a valid verdict would
    # prove nothing (an element that should not be there still is invalid).
    verdict = INVALID if lost or unexpected else VALID if acknowledged else UNKNOWN
    return SetResult(verdict, len(acknowledged), uncertain, len(present), lost, unexpected)
