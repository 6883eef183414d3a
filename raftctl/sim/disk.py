"""SimDisk: how long a simulated node's fsync takes.

Rules:
- Each node has one disk that finishes its Readies' writes in order: a write
  takes its own latency from when it is handed over, and never completes
  before an earlier one (a WAL with group commit), so a slow fsync holds back
  every answer queued behind it without the queue growing without bound.
- Only a Ready that writes something (entries, hard state, a snapshot) costs
  an fsync; one that writes nothing still waits its turn behind the others,
  since its answers may speak for what they write.
- An instant disk (the default) persists a Ready in the step that made it, as
  the simulator always did; a latent one lets messages, ticks and the next
  Readies happen while the write is on its way (node.raft's accept/persisted),
  which is where a leader that trusts its own unfinished write betrays itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from node.ready import Ready

__all__ = ["DiskOptions", "SimDisk"]


@dataclass(frozen=True, slots=True)
class DiskOptions:
    """The fsync latencies of one simulated cluster's disks."""

    fsync_ms_min: int = 0
    fsync_ms_max: int = 0
    # A few fsyncs stall (a busy disk, a journal commit): they span many
    # message deliveries and election timeouts.
    slow_probability: float = 0.0
    slow_ms_max: int = 0
    # Each node's disk is sick (every fsync this many times slower) with this
    # probability: votes and acks outrun its own writes.
    sick_probability: float = 0.0
    sick_factor: int = 5

    @property
    def instant(self) -> bool:
        return self.fsync_ms_max == 0 and self.slow_probability == 0.0

    def describe(self) -> str:
        if self.instant:
            return "instant"
        sick = f" sick={self.sick_probability:.2f}(x{self.sick_factor})"
        return (
            f"fsync={self.fsync_ms_min}-{self.fsync_ms_max}ms"
            f" slow={self.slow_probability:.2f}(<={self.slow_ms_max}ms)"
            + (sick if self.sick_probability else "")
        )


class SimDisk:
    """Draws each write's latency from its own seeded stream."""

    def __init__(self, rng: random.Random, options: DiskOptions) -> None:
        self._rng = rng
        self.options = options
        self._factor: dict[str, int] = {}  # each node's, drawn when it first writes

    def write_ms(self, node_id: str, rd: Ready) -> int:
        """How long persisting `rd` takes on `node_id`'s disk once it is free."""
        if rd.snapshot is None and not rd.entries and rd.hard_state is None:
            return 0
        options, rng = self.options, self._rng
        factor = self._factor.get(node_id)
        if factor is None:
            sick = options.sick_probability and rng.random() < options.sick_probability
            factor = self._factor[node_id] = options.sick_factor if sick else 1
        if options.slow_probability and rng.random() < options.slow_probability:
            return rng.randint(options.fsync_ms_max, max(options.fsync_ms_max, options.slow_ms_max))
        return factor * rng.randint(options.fsync_ms_min, options.fsync_ms_max)

    def calm(self) -> None:
        """No more stalls (the liveness phase): only the usual latency."""
        options = self.options
        self.options = DiskOptions(options.fsync_ms_min, options.fsync_ms_max)
        self._factor = dict.fromkeys(self._factor, 1)
