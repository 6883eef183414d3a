"""A Paxos proposer's bookkeeping while it runs phase 1 (Candidacy) and while
it leads phase 2 (Leadership): whom it asked, who promised, what they
reported; each follower's progress, the heartbeat rounds that confirm reads
and the lease. The rules that use them are node.paxos.core's.

Pure: no I/O, no clock (ticks are counted by the core).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.messages import Membership, decode_membership
from node.paxos.acceptor import Promised
from node.paxos.ballot import Ballot
from node.paxos.proposer import Tally, majority
from node.read_queue import HeartbeatRounds

__all__ = ["Candidacy", "Leadership", "PeerProgress"]


@dataclass(slots=True)
class Candidacy:
    """Phase 1 under `ballot` for every slot from `from_slot`."""

    ballot: Ballot
    from_slot: int
    started_tick: int
    transfer: bool = False
    asked: set[str] = field(default_factory=set)
    promises: dict[str, Promised] = field(default_factory=dict)
    # The node's own acceptor's promise: it counts once it is durable.
    own: Promised | None = None
    own_durable: bool = False
    # Every membership accepted past `from_slot` that a promise reports
    # (chosen or not: each might be in force there), gathered as they come.
    configurations: list[Membership] = field(default_factory=list)

    def record(self, promise: Promised, src: str | None = None) -> None:
        """A promise from `src` (None: the node's own acceptor's)."""
        if src is None:
            self.own = promise
        else:
            self.promises[src] = promise
        for _, proposal in promise.accepted:
            if proposal.config and proposal.value is not None:
                membership = decode_membership(proposal.value)
                if membership not in self.configurations:
                    self.configurations.append(membership)

    def all_promises(self) -> list[Promised]:
        """Every promise to recover from: its own too, durable or not (what its
        own acceptor holds is as good a report as any; only counting it toward
        the majority waits for its fsync)."""
        own = [self.own] if self.own is not None else []
        return [*self.promises.values(), *own]

    def promisers(self, node_id: str) -> set[str]:
        own = {node_id} if self.own is not None and self.own_durable else set()
        return set(self.promises) | own

    def has_quorums(self, node_id: str, base: Membership) -> bool:
        """A majority of the voters of the membership in force, and of every
        membership the promises report, promised: a value chosen under any
        of them is reported (Paxos's safety with a changing acceptor set)."""
        promisers = self.promisers(node_id)
        for membership in (base, *self.configurations):
            voters = set(membership.voters)
            if not voters or len(voters & promisers) < majority(len(voters)):
                return False
        return True


@dataclass(slots=True)
class PeerProgress:
    """What the leader knows of one follower."""

    next: int  # the next slot to send it
    chosen: int = 0  # how far it knows the log chosen (its answers say)
    inflight: int = 0  # accepts with slots sent and not answered
    sent_round: int = 0  # the heartbeat round under way when slots were last sent
    told_chosen: int = 0  # the chosen index last sent to it
    round: int = 0  # the latest heartbeat round it answered
    active: bool = False  # answered since the last quorum check
    snapshot_sent_tick: int | None = None


@dataclass(slots=True)
class Leadership:
    """Phase 2 under `ballot`: the count, the followers, the rounds."""

    ballot: Ballot
    from_slot: int  # phase 1 asked from here: followers are sent slots from it
    first_slot: int  # its no-op after recovery: reads wait for it to be chosen
    tally: Tally
    peers: dict[str, PeerProgress] = field(default_factory=dict)
    rounds: HeartbeatRounds = field(default_factory=HeartbeatRounds)
    # The chosen index each heartbeat round carried: an answer below it shows
    # a follower that misses slots (they are sent again).
    round_chosen: dict[int, int] = field(default_factory=dict)
    known_chosen: int = 0  # the highest slot some node said it knows chosen
    heartbeat_elapsed: int = 0
    quorum_elapsed: int = 0
    lease_until: int = 0  # tick before which no other leader can be chosen
    replication_pending: bool = True
    transfer_target: str | None = None
    transfer_elapsed: int = 0
