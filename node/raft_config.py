"""RaftConfig: everything that tunes one Raft core, in ticks.

It lives apart from the core so that the cluster configuration (node.config)
can build one without importing the protocol's rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.errors import invariant

__all__ = ["RaftConfig"]


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Everything that tunes one core. Times are in ticks. `voters` is the
    configuration the cluster was created with; a configuration found in the
    log or the snapshot overrides it. A node that joins later starts with no
    voters and waits to hear from the leader."""

    node_id: str
    voters: tuple[str, ...]
    election_timeout_ticks_min: int = 10
    election_timeout_ticks_max: int = 20
    heartbeat_interval_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    entries_per_message_max: int = 64
    bytes_per_message_max: int = 1 << 20
    inflight_messages_max: int = 256
    inflight_bytes_max: int = 8 << 20
    # A lease read is served only while the leader's lease, shorter than the
    # election timeout by this clock-drift bound, holds (dissertation §6.4.1).
    lease_drift_ticks: int = 2

    def __post_init__(self) -> None:
        invariant(len(set(self.voters)) == len(self.voters), "duplicate voters")
        invariant(
            0 < self.heartbeat_interval_ticks < self.election_timeout_ticks_min
            and self.election_timeout_ticks_min <= self.election_timeout_ticks_max,
            "need 0 < heartbeat < election timeout min <= max",
            heartbeat=self.heartbeat_interval_ticks,
            election_min=self.election_timeout_ticks_min,
            election_max=self.election_timeout_ticks_max,
        )
        invariant(self.entries_per_message_max > 0, "entries_per_message_max must be > 0")
        invariant(self.inflight_messages_max > 0, "inflight_messages_max must be > 0")
        invariant(
            0 <= self.lease_drift_ticks < self.election_timeout_ticks_min,
            "need 0 <= lease drift < election timeout min",
        )
