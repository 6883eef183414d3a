"""LeadershipTransfer: the one hand-over a leader may have in progress
(dissertation §3.10). The core decides; this keeps the state: the target, the
ticks since it started (past an election timeout it is given up) and whether
TimeoutNow has gone out.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.errors import known

__all__ = ["LeadershipTransfer"]


@dataclass(slots=True)
class LeadershipTransfer:
    target: str | None = None
    elapsed: int = 0
    timeout_now_sent: bool = False

    def start(self, target: str) -> None:
        self.target, self.elapsed, self.timeout_now_sent = target, 0, False

    def end(self, reason: str) -> str:
        """Forget the transfer; returns its target."""
        target = known(self.target, "no transfer to end", reason=reason)
        self.target, self.timeout_now_sent = None, False
        return target

    def timed_out(self, ticks_max: int) -> bool:
        """One tick more; True when a transfer in progress ran out of time."""
        if self.target is None:
            return False
        self.elapsed += 1
        return self.elapsed >= ticks_max
