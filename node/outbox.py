"""Outbox: what the Raft core has produced for its driver since the last Ready.

The core decides what to send, report, install and stream; this keeps it until
`ready()` takes it all at once. Messages come in two kinds (Rule 2 of
node/raft.py): those sent at once, and answers held back until the Ready's
persist is durable, so that nothing acknowledged is ever forgotten by a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.events import Event
from node.ready import Outgoing, Snapshot, SnapshotSend

__all__ = ["Outbox", "Taken"]


@dataclass(frozen=True, slots=True)
class Taken:
    """Everything the outbox held, emptied into one record for a Ready."""

    messages: tuple[Outgoing, ...]
    messages_after_persist: tuple[Outgoing, ...]
    events: tuple[Event, ...]
    snapshot: Snapshot | None
    snapshots_to_send: tuple[SnapshotSend, ...]


@dataclass(slots=True)
class Outbox:
    messages: list[Outgoing] = field(default_factory=list)
    messages_after_persist: list[Outgoing] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # A leader's snapshot this node must install (replacing its log and state).
    snapshot_to_install: Snapshot | None = None
    snapshot_sends: list[SnapshotSend] = field(default_factory=list)

    def has_output(self) -> bool:
        return bool(
            self.messages
            or self.messages_after_persist
            or self.events
            or self.snapshot_to_install
            or self.snapshot_sends
        )

    def take(self) -> Taken:
        taken = Taken(
            messages=tuple(self.messages),
            messages_after_persist=tuple(self.messages_after_persist),
            events=tuple(self.events),
            snapshot=self.snapshot_to_install,
            snapshots_to_send=tuple(self.snapshot_sends),
        )
        self.messages.clear()
        self.messages_after_persist.clear()
        self.events.clear()
        self.snapshot_to_install = None
        self.snapshot_sends.clear()
        return taken
