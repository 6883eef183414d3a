"""The core's contract: what a protocol core hands the application and what it
is handed back: types, and the one rule storage needs from them.

Rules:
- `Ready` is the one output of a core (raft.py Rule 2 gives the order in
  which its fields are acted on); `DurableState` is what storage hands a core
  at start; `HardState` holds the promises (term, vote) that must be durable
  before anyone is answered, and the commit index, which may lag.
- The one rule here: which hard state is a promise (`promises_more_than`),
  so that storage and the simulator's storage sync alike.
- Storage, the server, the simulators and the controller's lab instruments
  import these types from here, never from the core itself, so that nothing
  but the server and the simulators depends on a core's rules, and a second
  core (Paxos, gossip) can be driven through the same hand-off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, TypeAlias

from node.events import Event
from node.messages import Entry, SnapshotMeta

if TYPE_CHECKING:  # (not imported at run time: a Raft node never loads Paxos's messages)
    from node.messages import Message
    from node.messages.paxos import PaxosMessage

__all__ = [
    "CoreStatus",
    "DurableState",
    "HardState",
    "MembershipChange",
    "Outgoing",
    "Proposal",
    "ReadState",
    "Ready",
    "Role",
    "Snapshot",
    "SnapshotSend",
]


# A message a core sends: Raft's, or Multi-Paxos's (node.paxos).
Outgoing: TypeAlias = "Message | PaxosMessage"


class Role(Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class HardState:
    """Term and vote must be durable before the node answers anyone (Raft
    Figure 2); the commit index rides along and may lag after a crash."""

    term: int = 0
    vote: str | None = None
    commit_index: int = 0

    def promises_more_than(self, durable: HardState) -> bool:
        """Whether this holds a promise `durable` does not: a term or a vote.
        A commit index alone can always be learned again from the leader, so
        storage need not sync it on its own (etcd's MustSync)."""
        return (self.term, self.vote) != (durable.term, durable.vote)


@dataclass(frozen=True, slots=True)
class DurableState:
    """What storage hands the core when a node starts."""

    hard_state: HardState = field(default_factory=HardState)
    entries: tuple[Entry, ...] = ()
    # The snapshot the entries follow; the state machine was restored from it.
    snapshot: SnapshotMeta | None = None
    # Grows with every start of the node (wiped storage included): it tells a
    # leader that answers come from a new life whose log may be shorter.
    incarnation: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot received from the leader: persist it in place of the whole
    log, then restore the state machine from `data`, before anything else."""

    meta: SnapshotMeta
    data: bytes


@dataclass(frozen=True, slots=True)
class SnapshotSend:
    """Stream your latest snapshot to `peer` as InstallSnapshot chunks of `term`
    (the leader's snapshot is at least at `index`)."""

    peer: str
    term: int
    index: int


@dataclass(frozen=True, slots=True)
class ReadState:
    """The read `context` may be served once the state machine has applied
    `index` (dissertation §6.4); `lease` tells how leadership was confirmed."""

    context: bytes
    index: int
    lease: bool


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """One server at a time (dissertation §4.1): `action` is add-learner,
    promote (learner to voter) or remove (a voter or a learner)."""

    action: str
    node_id: str

    ACTIONS = ("add-learner", "promote", "remove")


@dataclass(frozen=True, slots=True)
class Ready:
    """One batch of work for the application, in the order of Rule 2."""

    # Send now, while the entries below are being persisted.
    messages: tuple[Outgoing, ...]
    # Send only once `entries` and `hard_state` are durable.
    messages_after_persist: tuple[Outgoing, ...]
    # Persist, replacing every stored entry at or after entries[0].index.
    entries: tuple[Entry, ...]
    # Persist when not None (it changed since the last Ready).
    hard_state: HardState | None
    # Apply to the state machine, in order, after the persist.
    committed_entries: tuple[Entry, ...]
    events: tuple[Event, ...]
    # Persist and restore first, when not None (it replaces the whole log).
    snapshot: Snapshot | None = None
    # Stream these snapshots; they may go out at once.
    snapshots_to_send: tuple[SnapshotSend, ...] = ()
    # Serve these reads once the state machine has applied their index.
    read_states: tuple[ReadState, ...] = ()
    # Reads that cannot be served here (their context and why): this node
    # stopped leading, or a transfer began, before leadership was confirmed.
    reads_dropped: tuple[tuple[bytes, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Proposal:
    """Where accepted commands went: indexes first..last of `term`."""

    first_index: int
    last_index: int
    term: int


@dataclass(frozen=True, slots=True)
class CoreStatus:
    """A snapshot of the core's state for status displays and tests."""

    node_id: str
    role: Role
    term: int
    vote: str | None
    leader_id: str | None
    commit_index: int
    applied_index: int
    last_log_index: int
    last_log_term: int
    snapshot_index: int
    voters: tuple[str, ...]
    learners: tuple[str, ...]
    transfer_target: str | None
    lease_valid: bool
