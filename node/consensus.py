"""What the server, the planes and the simulator see of a consensus core, of
either protocol: node.raft.RaftCore and node.paxos.core.PaxosCore both are
one, so that every room around the core is written once.

Rules:
- Only what a driver needs is here: the Ready hand-off (node.ready_driver),
  the log's read side in Raft's words (a Paxos slot's "term" is its ballot),
  the roles, and the requests a client or the controller makes.
- A core refuses what it cannot do now with node.errors' ProposalRejected
  (NotLeader, NotNow), whatever the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from node.messages import Entry, Membership, SnapshotMeta
from node.ready import CoreStatus, MembershipChange, Outgoing, Proposal, Role
from node.ready_driver import ReadyCore

__all__ = ["ConsensusCore", "CoreLog"]


class CoreLog(Protocol):
    """The log as drivers read it (node.log.RaftLog, node.paxos.slots.ChosenLog)."""

    commit_index: int
    applied_index: int
    snapshot_index: int
    snapshot_term: int

    @property
    def last_index(self) -> int: ...

    @property
    def last_term(self) -> int: ...

    def term_at(self, index: int) -> int | None: ...

    def window(self, first_index: int, count: int) -> tuple[int, list[Entry]]: ...

    def entries_between(self, first: int, last: int) -> list[Entry]: ...

    def all_entries(self) -> list[Entry]: ...


class ConsensusCore(ReadyCore, Protocol):
    id: str
    role: Role
    leader_id: str | None
    incarnation: int

    @property
    def log(self) -> CoreLog: ...

    @property
    def term(self) -> int: ...

    @property
    def membership(self) -> Membership: ...

    @property
    def voters(self) -> tuple[str, ...]: ...

    @property
    def learners(self) -> tuple[str, ...]: ...

    def tick(self) -> None: ...

    def step(self, message: Outgoing) -> None: ...

    def campaign(self) -> None: ...

    def propose(self, commands: Sequence[bytes]) -> Proposal: ...

    def propose_membership(self, change: MembershipChange) -> Proposal: ...

    def transfer_leadership(self, target: str) -> None: ...

    def read_index(self, context: bytes, lease: bool = False) -> None: ...

    def compact(self, index: int) -> SnapshotMeta: ...

    def snapshot_meta(self, index: int) -> SnapshotMeta: ...

    def status(self) -> CoreStatus: ...

    def _pending_membership_change(self) -> int | None:
        """Where a membership change waits to be committed (the simulator's
        nemesis asks, so as not to retire a node too soon)."""
        ...
