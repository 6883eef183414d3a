"""Histories of client operations and faults, in Jepsen's shape (DESIGN.md).

Rules:
- Every operation is an `invoke` event, then exactly one completion: `ok`,
  `fail` (it did not happen) or `info` (unknown: it may yet happen). Times are
  monotonic nanoseconds from an injected clock.
- A `fail` that the system answered definitely says why in `error`: a cas
  whose comparison failed has `"error": "mismatch"`, an observation that the
  register did not hold the expected value at some moment inside the
  operation, which the checkers use (raftctl.judges.linearizable).
- A client whose operation ended in `info` may still have it in flight, so it
  goes on under a fresh process id, as in Jepsen: a process never has two
  operations open.
- Faults are events of the process "nemesis" (type `info`, f the fault's
  name, value `{"phase": "start"|"end", ...}`), so that a reader sees when
  each was active; `client_events()` leaves them out for the checkers.
- With a path, every event is also appended to a JSON Lines file as it
  happens, so an interrupted run keeps what it recorded.
- Clients and the nemesis record from their own threads: one lock orders
  every event, so times in the list never go backwards.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["NEMESIS", "History", "load_history"]

NEMESIS = "nemesis"


class History:
    """An append-only history; one per experiment."""

    def __init__(
        self, clients: int, path: Path | None = None, clock: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self._clock = clock
        self._process_of_client = list(range(clients))
        self._next_process = clients
        self._open: dict[int, dict[str, Any]] = {}  # client -> its invoke event
        self._file: IO[str] | None = path.open("a") if path is not None else None
        self._lock = threading.Lock()
        self.completed = {"ok": 0, "fail": 0, "info": 0}  # for a live view

    def add_client(self) -> int:
        """One more client, under a process id of its own; returns its number.
        (The simulator gives every operation its own client: its clients
        pipeline writes, and a process never has two operations open.)"""
        with self._lock:
            self._process_of_client.append(self._next_process)
            self._next_process += 1
            return len(self._process_of_client) - 1

    def invoke(
        self, client: int, f: str, key: Any, value: Any = None, node: str | None = None
    ) -> dict[str, Any]:
        with self._lock:
            if client in self._open:
                raise ValueError(f"client {client} invoked {f} with an operation still open")
            event = self._event(self._process_of_client[client], "invoke", f, key, value, node)
            self._open[client] = event
            return event

    def complete(
        self,
        client: int,
        outcome: str,
        value: Any = None,
        node: str | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """End `client`'s open operation; `value` defaults to the invoked one;
        `error` says why a definite `fail` failed."""
        if outcome not in ("ok", "fail", "info"):
            raise ValueError(f"an operation ends ok, fail or info, not {outcome!r}")
        with self._lock:
            invoked = self._open.pop(client)
            event = self._event(
                invoked["process"],
                outcome,
                invoked["f"],
                invoked["key"],
                invoked["value"] if value is None else value,
                node,
                error,
            )
            self.completed[outcome] += 1
            if outcome == "info":
                self._process_of_client[client] = self._next_process
                self._next_process += 1
            return event

    def fault(self, name: str, phase: str, **detail: Any) -> dict[str, Any]:
        with self._lock:
            return self._event(NEMESIS, "info", name, None, {"phase": phase, **detail}, None)

    def close_open(self) -> None:
        """The run ended with operations in flight: their outcome is unknown."""
        for client in list(self._open):
            self.complete(client, "info")

    def client_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event in self.events if event["process"] != NEMESIS]

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _event(
        self,
        process: Any,
        kind: str,
        f: str,
        key: Any,
        value: Any,
        node: str | None,
        error: str | None = None,
    ) -> dict[str, Any]:
        event = {
            "process": process,
            "type": kind,
            "f": f,
            "key": key,
            "value": value,
            "time": self._clock(),
            "node": node,
        }
        if error is not None:
            event["error"] = error
        self.events.append(event)
        if self._file is not None:
            self._file.write(json.dumps(event) + "\n")
            self._file.flush()
        return event


def load_history(path: Path) -> list[dict[str, Any]]:
    """The events of a JSON Lines history; ValueError names a line that is not JSON."""
    events = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError as error:
                raise ValueError(f"{path}:{number}: not JSON: {error}") from error
    return events
