"""Failpoints: named places in the node loop where a chaos run can make it crash.

Rules:
- A failpoint is armed over the admin channel ("failpoint" request) with a
  countdown: the node passes the point `after` more times, then crashes there
  at once with `os._exit`, as abruptly as kill -9: no buffer is flushed, no
  reply sent, and whatever the disk had not synced stays unsynced.
- Before dying, the node writes exit.json (a supervisor's record, not data),
  so that a chaos run can tell a failpoint crash from a kill.
- An unarmed point costs one dictionary lookup on an empty dict.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EXIT_FAILPOINT", "FAILPOINTS", "Failpoints"]

EXIT_FAILPOINT = 86

# The places, in the order a write passes them.
FAILPOINTS = (
    "before-persist",  # the entries are in the core, not yet written to the WAL
    "after-persist",  # written and synced, no message nor answer sent for them
    "before-apply",  # committed, not yet applied to the state machine
    "snapshot-install",  # the leader's snapshot saved, the state machine not restored
)


@dataclass(slots=True)
class _Armed:
    remaining: int


class Failpoints:
    """The armed failpoints of one node; `on_crash` records why before the exit."""

    def __init__(self, on_crash: Callable[[str], None]) -> None:
        self._armed: dict[str, _Armed] = {}
        self._on_crash = on_crash

    def arm(self, name: str, after: int = 0) -> None:
        if name not in FAILPOINTS:
            raise ValueError(f"unknown failpoint {name!r}: use one of {', '.join(FAILPOINTS)}")
        if after < 0:
            raise ValueError("a failpoint's countdown cannot be negative")
        self._armed[name] = _Armed(after)

    def disarm(self, name: str | None = None) -> None:
        if name is None:
            self._armed.clear()
        else:
            self._armed.pop(name, None)

    def armed(self) -> dict[str, int]:
        return {name: armed.remaining for name, armed in self._armed.items()}

    def hit(self, name: str) -> None:
        """Pass the point `name`: crash here if its countdown has run out."""
        armed = self._armed.get(name)
        if armed is None:
            return
        if armed.remaining > 0:
            armed.remaining -= 1
            return
        self._on_crash(name)
        os._exit(EXIT_FAILPOINT)
