"""ReplyQueues: the answers a node owes its clients, bounded in bytes.

A client that sends requests and never reads the answers must not grow the
node without end. ZeroMQ bounds a pipe by messages (SNDHWM), not bytes, and
one answer (a `keys` listing) can weigh megabytes, so the transport keeps each
client's pipe short (a few messages, with ROUTER_MANDATORY so that a full pipe
says so) and what does not fit waits here: at most `bytes_max` per client and
`total_bytes_max` for all of them. Past either bound the oldest answers of
that client are dropped and counted; a client that still wants one resends its
request (sessions make a resent write safe). An answer to a client that is
gone is dropped too, with its whole backlog.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["ReplyQueues", "SendResult"]


class SendResult(Enum):
    SENT = "sent"
    FULL = "full"  # the client's pipe is full: it is not reading (yet)
    GONE = "gone"  # no such client any more


@dataclass(slots=True)
class _Backlog:
    frames: deque[bytes] = field(default_factory=deque)
    bytes: int = 0


class ReplyQueues:
    """Answers waiting for a slow client, by its ZeroMQ identity."""

    def __init__(
        self,
        send: Callable[[bytes, bytes], SendResult],
        bytes_max: int = 8 << 20,
        total_bytes_max: int = 64 << 20,
    ) -> None:
        self._send = send
        self.bytes_max = bytes_max
        self.total_bytes_max = total_bytes_max
        self._backlogs: dict[bytes, _Backlog] = {}
        self.total_bytes = 0
        self.dropped_full = 0  # answers dropped because a client did not read them
        self.dropped_gone = 0  # answers to clients that had left

    def reply(self, identity: bytes, frame: bytes) -> None:
        """Send `frame` to `identity` now, or queue it behind its backlog."""
        backlog = self._backlogs.get(identity)
        if backlog is None:
            result = self._send(identity, frame)
            if result is SendResult.SENT:
                return
            if result is SendResult.GONE:
                self.dropped_gone += 1
                return
            backlog = self._backlogs[identity] = _Backlog()
        backlog.frames.append(frame)
        backlog.bytes += len(frame)
        self.total_bytes += len(frame)
        while backlog.frames and (
            backlog.bytes > self.bytes_max or self.total_bytes > self.total_bytes_max
        ):
            self._drop_oldest(backlog)
            self.dropped_full += 1
        if not backlog.frames:
            del self._backlogs[identity]

    def flush(self) -> int:
        """Hand each backlog to its pipe until the pipe is full again; returns
        how many answers left (sent or found to have nobody to go to)."""
        before = sum(len(backlog.frames) for backlog in self._backlogs.values())
        for identity in list(self._backlogs):
            backlog = self._backlogs[identity]
            while backlog.frames:
                result = self._send(identity, backlog.frames[0])
                if result is SendResult.FULL:
                    break
                if result is SendResult.GONE:
                    self.dropped_gone += len(backlog.frames)
                    while backlog.frames:
                        self._drop_oldest(backlog)
                    break
                self._drop_oldest(backlog)
            if not backlog.frames:
                del self._backlogs[identity]
        return before - sum(len(backlog.frames) for backlog in self._backlogs.values())

    @property
    def waiting(self) -> int:
        """Clients with answers waiting."""
        return len(self._backlogs)

    def _drop_oldest(self, backlog: _Backlog) -> None:
        frame = backlog.frames.popleft()
        backlog.bytes -= len(frame)
        self.total_bytes -= len(frame)
