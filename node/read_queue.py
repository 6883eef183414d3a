"""The reads a leader has been asked to serve, from the request to the moment
it may answer them without a log write (dissertation §6.4), and the numbered
heartbeat rounds whose answers confirm them.

Rules:
- A read waits for an entry of the leader's term to commit (§6.4 step 1),
  then for a heartbeat round sent after it to be answered by a majority
  (ReadIndex), unless the leader's lease confirms leadership at once (§6.4.1).
  The core decides each step; this is its bookkeeping, in arrival order.
- A read that cannot be confirmed (leadership lost, a transfer begun) is
  dropped with its reason, never silently forgotten.
- Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from node.ready import ReadState

__all__ = ["HeartbeatRounds", "ReadQueue"]


class ReadQueue:
    """One leader's reads, by the stage they wait at."""

    def __init__(self) -> None:
        self._awaiting_commit: list[tuple[bytes, bool]] = []  # context, lease
        # Context, read index, and the heartbeat round whose answer confirms it.
        self._awaiting_round: deque[tuple[bytes, int, int]] = deque()
        self._ready: list[ReadState] = []
        self._dropped: list[tuple[bytes, str]] = []

    def await_commit(self, context: bytes, lease: bool) -> None:
        self._awaiting_commit.append((context, lease))

    def take_awaiting_commit(self) -> list[tuple[bytes, bool]]:
        """The reads waiting for the term's first commit; they wait no more."""
        waiting, self._awaiting_commit = self._awaiting_commit, []
        return waiting

    @property
    def awaiting_commit(self) -> bool:
        return bool(self._awaiting_commit)

    def serve(self, context: bytes, index: int, lease: bool) -> None:
        """Leadership is confirmed: serve `context` once `index` is applied."""
        self._ready.append(ReadState(context, index, lease))

    def await_round(self, context: bytes, index: int, heartbeat_round: int) -> None:
        self._awaiting_round.append((context, index, heartbeat_round))

    def release(self, confirmed: Callable[[int], bool]) -> None:
        """Serve, in order, the reads whose heartbeat round is `confirmed`."""
        queue = self._awaiting_round
        while queue and confirmed(queue[0][2]):
            context, index, _ = queue.popleft()
            self._ready.append(ReadState(context, index, lease=False))

    def drop_all(self, reason: str) -> None:
        """Every read still waiting is dropped, with `reason`."""
        for context, _, _ in self._awaiting_round:
            self._dropped.append((context, reason))
        for context, _ in self._awaiting_commit:
            self._dropped.append((context, reason))
        self._awaiting_round.clear()
        self._awaiting_commit.clear()

    def has_output(self) -> bool:
        return bool(self._ready or self._dropped)

    def take_output(self) -> tuple[tuple[ReadState, ...], tuple[tuple[bytes, str], ...]]:
        """The reads to serve and the reads dropped since the last call."""
        output = (tuple(self._ready), tuple(self._dropped))
        self._ready.clear()
        self._dropped.clear()
        return output


class HeartbeatRounds:
    """A leader's numbered heartbeat broadcasts. An answer to round r shows the
    voter still followed this leader when r was sent: it confirms the reads
    waiting on r (§6.4) and dates the lease from r's sending tick (§6.4.1)."""

    KEPT = 256  # answers later than this many rounds are useless

    def __init__(self) -> None:
        self.latest = 0
        self.wanted = False  # a read waits: send a round at the next Ready
        self._sent_tick: dict[int, int] = {}

    def start(self, tick: int) -> int:
        """Number a new round, sent at `tick`."""
        self.wanted = False
        self.latest += 1
        self._sent_tick[self.latest] = tick
        self._sent_tick.pop(self.latest - self.KEPT, None)
        return self.latest

    def sent_tick(self, heartbeat_round: int) -> int | None:
        """When `heartbeat_round` was sent, if it is recent enough to matter."""
        return self._sent_tick.get(heartbeat_round)
