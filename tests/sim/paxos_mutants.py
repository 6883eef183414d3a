"""Deliberately broken Paxos cores: each breaks exactly one rule of
node/paxos (by overriding one method, or the acceptor's comparison), and the
swarm must catch each (tests/sim/test_paxos_swarm.py), or it could not see
that rule broken."""

from __future__ import annotations

import random

from node.paxos.acceptor import Acceptor, Proposal
from node.paxos.ballot import ZERO, Ballot
from node.paxos.core import PaxosCore
from node.paxos.leading import Candidacy, Leadership
from node.paxos.proposer import HOLE_FILLER, majority
from node.raft_config import RaftConfig
from node.ready import DurableState


class ForgetsPromiseAfterCrash(PaxosCore):
    """An acceptor whose promise is not made durable: after a restart it
    knows only the ballots of the slots it accepted, and may accept below
    what it promised before the crash."""

    def __init__(self, config: RaftConfig, durable: DurableState, rng: random.Random) -> None:
        super().__init__(config, durable, rng)
        accepted = [proposal.ballot for proposal in self.acceptor.accepted.values()]
        self.acceptor.promised = max(accepted, default=ZERO)
        self._highest_seen = self.acceptor.promised


class IgnoresHighestAccepted(PaxosCore):
    """A new leader that proposes the lowest-ballot value a promise reports
    in each slot, not the highest (it may undo a chosen value)."""

    def _recovered(self, candidacy: Candidacy) -> dict[int, Proposal]:
        lowest: dict[int, Proposal] = {}
        for promise in candidacy.all_promises():
            for slot, proposal in promise.accepted:
                if slot >= candidacy.from_slot and (
                    slot not in lowest or proposal.ballot < lowest[slot].ballot
                ):
                    lowest[slot] = proposal
        last = max(lowest, default=candidacy.from_slot - 1)
        return {
            slot: lowest.get(slot, HOLE_FILLER) for slot in range(candidacy.from_slot, last + 1)
        }


class CountsNonMajority(PaxosCore):
    """A learner that calls a slot chosen when half the voters took it."""

    def _chosen_by_majority(self, leading: Leadership, slot: int) -> bool:
        voters = self.voters
        took = leading.tally.took.get(slot, set())
        return len(took.intersection(voters)) >= max(1, majority(len(voters)) - 1)


class _RoundOnlyAcceptor(Acceptor):
    """Compares ballots by their round alone: two proposers of one round
    both pass."""

    def _below(self, low: Ballot, high: Ballot) -> bool:
        return low.round < high.round


class ComparesBallotsWithoutNode(PaxosCore):
    """Ballots compared without the node id: (5, n1) and (5, n2) are one
    ballot to the acceptor, and a new ballot is only a new round."""

    def __init__(self, config: RaftConfig, durable: DurableState, rng: random.Random) -> None:
        super().__init__(config, durable, rng)
        old = self.acceptor
        self.acceptor = _RoundOnlyAcceptor(
            old.promised, old.accepted, old.compacted_to, old.promise_dirty, old.slots_dirty
        )
        self.log.acceptor = self.acceptor


class LearnsAnyBallot(PaxosCore):
    """A follower that learns a slot chosen whatever ballot it holds there
    (it may apply a value another leader's ballot never chose)."""

    def _learn(self, ballot: Ballot, chosen: int) -> None:
        old = self.log.commit_index
        slot = old
        while slot < chosen and slot + 1 in self.acceptor.accepted:
            slot += 1
        self._commit_to(old, slot)


PAXOS_MUTANTS: tuple[type[PaxosCore], ...] = (
    ForgetsPromiseAfterCrash,
    IgnoresHighestAccepted,
    CountsNonMajority,
    ComparesBallotsWithoutNode,
    LearnsAnyBallot,
)
