"""The one routine that drains a core's Readies, in the order of raft.py's
Rule 2, for every driver: the node server and both simulators.

Rules:
- The order lives here alone: begin (observe; a simulator may crash the node
  before anything of the Ready happens), send `messages`, persist (install a
  leader's snapshot, then entries and hard state), send
  `messages_after_persist`, start snapshot streams, apply, serve reads,
  advance, and the handler's `advanced`.
- A handler's `begin` or `persist` returns False when the node died there (a
  failpoint or a simulated crash): the Ready is abandoned, never advanced, as
  a real crash would leave it.
- A driver whose disk works beside its loop calls `hand_over` (begin, send,
  accept: the core may go on at once) and later, when that Ready's persist
  is durable and every earlier one is, `complete` (persist's end and the
  rest, then the core's `persisted`). `drain` is both at once.
"""

from __future__ import annotations

from typing import Protocol

from node.ready import Outgoing, Ready, SnapshotSend

__all__ = ["ReadyCore", "ReadyHandler", "complete", "drain", "hand_over"]


class ReadyCore(Protocol):
    """A protocol core as its drivers see it (node.raft.RaftCore is one)."""

    def has_ready(self) -> bool: ...

    def ready(self) -> Ready: ...

    def advance(self, rd: Ready) -> None: ...

    def accept(self, rd: Ready) -> None: ...

    def persisted(self, rd: Ready) -> None: ...


class ReadyHandler(Protocol):
    """What a driver does at each step of a Ready."""

    def begin(self, rd: Ready) -> bool:
        """Observe the Ready's events; False: the node died before acting on it."""
        ...

    def send(self, messages: tuple[Outgoing, ...]) -> None: ...

    def persist(self, rd: Ready) -> bool:
        """Install `rd.snapshot` (and restore the state machine from it), then
        make `rd.entries` and `rd.hard_state` durable; False: the node died."""
        ...

    def send_snapshots(self, requests: tuple[SnapshotSend, ...]) -> None: ...

    def apply(self, rd: Ready) -> None:
        """Apply `rd.committed_entries` in order, and answer who waits on them."""
        ...

    def serve_reads(self, rd: Ready) -> None:
        """Serve `rd.read_states` once applied; answer `rd.reads_dropped`."""
        ...

    def advanced(self, rd: Ready) -> None:
        """The core has moved past `rd` (a simulator may snapshot here)."""
        ...


def drain(core: ReadyCore, handler: ReadyHandler) -> bool:
    """Handle Readies until the core has nothing more to say; False when the
    node died on the way."""
    while core.has_ready():
        rd = _start(core, handler)
        if rd is None or not _finish(handler, rd):
            return False
        core.advance(rd)
        handler.advanced(rd)
    return True


def hand_over(core: ReadyCore, handler: ReadyHandler) -> Ready | None:
    """Begin the next Ready and send its messages; the core accepts it and
    may be stepped again before its persist is done. None: the node died."""
    rd = _start(core, handler)
    if rd is not None:
        core.accept(rd)
    return rd


def complete(core: ReadyCore, handler: ReadyHandler, rd: Ready) -> bool:
    """The rest of a handed-over Ready, once the disk is free for it; False
    when the node died in its persist."""
    if not _finish(handler, rd):
        return False
    core.persisted(rd)
    handler.advanced(rd)
    return True


def _start(core: ReadyCore, handler: ReadyHandler) -> Ready | None:
    rd = core.ready()
    if not handler.begin(rd):
        return None
    handler.send(rd.messages)
    return rd


def _finish(handler: ReadyHandler, rd: Ready) -> bool:
    if not handler.persist(rd):
        return False
    handler.send(rd.messages_after_persist)
    handler.send_snapshots(rd.snapshots_to_send)
    handler.apply(rd)
    handler.serve_reads(rd)
    return True
