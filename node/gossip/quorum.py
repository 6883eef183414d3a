"""Dynamo's tunable quorum for the gossip replica: a write answered once W
replicas hold it durably, a read once R replicas answered. Pure bookkeeping:
who still has to answer which request, and which requests ran out of time.

Rules:
- The replica that takes a request counts as one; it asks every live peer
  and waits for the W - 1 (or R - 1) first distinct answers. A peer that
  answers twice (a duplicated message) counts once.
- R + W > N gives read-your-writes: a read's replicas meet a write's in at
  least one, which holds the write. It is not linearizability: two
  concurrent writes still race by their stamps, and a read may see a write
  whose W replicas are not all there yet (it is no transaction).
- A request not answered within TIMEOUT ticks fails with what it got; a
  write that failed so is still stored where it reached, and spreads: its
  outcome is unknown to the client, as any write that timed out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Quorums"]


@dataclass(slots=True)
class _Waiting:
    needed: int  # distinct answers still missing
    wanted: int  # W or R, for the message when it fails
    asked_tick: int
    answered: set[str] = field(default_factory=set)


class Quorums:
    def __init__(self, timeout_ticks: int) -> None:
        self.timeout_ticks = timeout_ticks
        self.waiting: dict[int, _Waiting] = {}  # by the request's token (its seq on the wire)

    def wait(self, token: int, quorum: int, tick: int) -> None:
        """Request `token` needs `quorum` replicas, this one counted."""
        self.waiting[token] = _Waiting(quorum - 1, quorum, tick)

    def answered(self, token: int, peer: str) -> bool:
        """`peer` answered request `token`: True when that completes it."""
        waiting = self.waiting.get(token)
        if waiting is None or peer in waiting.answered:
            return False
        waiting.answered.add(peer)
        waiting.needed -= 1
        if waiting.needed > 0:
            return False
        del self.waiting[token]
        return True

    def expire(self, tick: int) -> list[tuple[int, str]]:
        """The requests out of time, each with why (`n of W replicas`)."""
        late = [t for t, w in self.waiting.items() if tick - w.asked_tick >= self.timeout_ticks]
        failed = []
        for token in late:
            waiting = self.waiting.pop(token)
            failed.append((token, f"{len(waiting.answered) + 1} of {waiting.wanted} replicas"))
        return failed
