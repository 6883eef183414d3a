"""What a node writes about itself: node.log (one readable line per event),
events.jsonl (one JSON object per event, with wall time), and exit.json (why
the process stopped).

Rules:
- Commit-index moves are left out of both logs: they happen per batch, and
  the hot path stays free of logging.
- The last RECENT_EVENTS_MAX events are kept in memory for the Events admin
  request.
- exit.json is written atomically (temporary file, then rename), by one
  function, whether the node stops at start (a bad configuration) or later.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Any, TextIO

from node.events import CommitAdvanced, Event, describe, event_to_dict

__all__ = ["RECENT_EVENTS_MAX", "Journal", "write_exit"]

RECENT_EVENTS_MAX = 1000


class Journal:
    """One node's node.log and events.jsonl."""

    def __init__(self, node_id: str, node_dir: Path) -> None:
        self.node_id = node_id
        self._log: TextIO = open(node_dir / "node.log", "a", buffering=1)  # noqa: SIM115
        self._events: TextIO = open(node_dir / "events.jsonl", "a", buffering=1)  # noqa: SIM115
        self.recent_events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS_MAX)

    def record(self, events: tuple[Event, ...]) -> None:
        for event in events:
            if isinstance(event, CommitAdvanced):
                continue
            line = describe(self.node_id, event)
            document = {"time": time.time(), **event_to_dict(self.node_id, event), "text": line}
            self._events.write(json.dumps(document) + "\n")
            self.recent_events.append(document)
            self.line(line)

    def server_event(self, name: str, text: str, **fields: Any) -> None:
        """An event of the server rather than the core (a transaction a
        resolver finished, say): in events.jsonl as `name` with `fields`, and
        in node.log as `text`."""
        document = {"time": time.time(), "node": self.node_id, "event": name, **fields}
        document["text"] = text
        self._events.write(json.dumps(document) + "\n")
        self.recent_events.append(document)
        self.line(text)

    def line(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
        self._log.write(f"{stamp} {text}\n")


def write_exit(node_dir: Path, reason: str, exit_code: int) -> None:
    """Say in `node_dir`/exit.json why this process stops (atomically)."""
    if not node_dir.is_dir():
        return
    document = {"reason": reason, "exit_code": exit_code, "pid": os.getpid(), "time": time.time()}
    temporary = node_dir / "exit.json.tmp"
    try:
        temporary.write_text(json.dumps(document))
        temporary.replace(node_dir / "exit.json")
    except OSError:
        # A full or failing disk: drop the partial copy and try the record in
        # place, shorter; stderr (node.log) has the reason whatever happens.
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            (node_dir / "exit.json").write_text(json.dumps(document))
