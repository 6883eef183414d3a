"""Outbox: what the Raft core has produced for its driver since the last Ready.

The core decides what to send, report, install and stream; this keeps it until
`ready()` takes it all at once. Messages come in two kinds (Rule 2 of
node/raft.py): those sent at once, and answers held back until the Ready's
persist is durable, so that nothing acknowledged is ever forgotten by a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from node.events import Event
from node.messages import Entry
from node.ready import HardState, Outgoing, ReadState, Ready, Snapshot, SnapshotSend

__all__ = ["Outbox", "Sending", "Taken"]


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

    def take_ready(
        self,
        entries: Sequence[Entry],
        hard_state: HardState | None,
        committed_entries: Sequence[Entry],
        reads: tuple[tuple[ReadState, ...], tuple[tuple[bytes, str], ...]],
    ) -> Ready:
        """Everything held, with what the core adds of its own (the entries to
        persist, the hard state if it changed, the entries to apply and the
        reads: node.read_queue.ReadQueue.take_output), as one Ready."""
        taken = self.take()
        read_states, reads_dropped = reads
        return Ready(
            messages=taken.messages,
            messages_after_persist=taken.messages_after_persist,
            entries=tuple(entries),
            hard_state=hard_state,
            committed_entries=tuple(committed_entries),
            events=taken.events,
            snapshot=taken.snapshot,
            snapshots_to_send=taken.snapshots_to_send,
            read_states=read_states,
            reads_dropped=reads_dropped,
        )


class Sending:
    """How a core fills its outbox (both cores mix this in)."""

    _out: Outbox

    def _emit(self, event: Event) -> None:
        self._out.events.append(event)

    def _send(self, m: Outgoing) -> None:
        self._out.messages.append(m)

    def _send_after_persist(self, m: Outgoing) -> None:
        self._out.messages_after_persist.append(m)
