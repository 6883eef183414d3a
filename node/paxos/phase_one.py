"""Phase 1 of Multi-Paxos, run once per leadership for every slot past the
ones the proposer knows chosen: the prepare, the acceptor's promise (or
refusal), and the recovery a new leader owes to what the promises report
(node/paxos/core.py's rules; PaxosCore inherits this).
"""

from __future__ import annotations

from collections.abc import Sequence

from node.errors import invariant
from node.events import BecameCandidate, BecameLeader
from node.messages.paxos import PaxosPrepare, PaxosPromise
from node.paxos.acceptor import Promised, Proposal, Refused
from node.paxos.ballot import Ballot
from node.paxos.leading import Candidacy, Leadership
from node.paxos.proposer import Tally, recover
from node.paxos.state import CoreState
from node.paxos.wire import proposal_from_wire, proposal_to_wire
from node.ready import Role, SnapshotSend

__all__ = ["PhaseOne"]


class PhaseOne(CoreState):
    def campaign(self, transfer: bool = False) -> None:
        """Run phase 1 under a ballot above every one seen, for every slot past
        those known chosen."""
        if self.id not in self.voters:
            return
        # (Round 0 is no one's: ballots start at round 1, 1001 for n1.)
        ballot = max(self._highest_seen, self.acceptor.promised, Ballot(1, 0)).above(self.number)
        self._highest_seen = ballot
        self._step_down_quietly()
        from_slot = self.log.commit_index + 1
        candidacy = Candidacy(ballot, from_slot, self._ticks, transfer)
        self._candidacy = candidacy
        self.role = Role.CANDIDATE
        self.leader_id = None
        self._election_elapsed = 0
        self._timeout = self._random_timeout()
        own = self.acceptor.prepare(ballot, from_slot)
        invariant(isinstance(own, Promised), "a fresh ballot refused by its own acceptor")
        if isinstance(own, Promised):
            candidacy.record(own)
        self._emit(BecameCandidate(ballot.encode()))
        self._ask_for_promises(candidacy, self.voters)

    def _ask_for_promises(self, candidacy: Candidacy, voters: Sequence[str]) -> None:
        for peer in voters:
            if peer != self.id and peer not in candidacy.asked:
                candidacy.asked.add(peer)
                self._send(
                    PaxosPrepare(
                        self.id,
                        peer,
                        candidacy.ballot.encode(),
                        candidacy.from_slot,
                        candidacy.transfer,
                    )
                )

    def _handle_prepare(self, m: PaxosPrepare) -> None:
        ballot = Ballot.decode(m.ballot)
        if ballot > self.acceptor.promised and self._sticks_to_leader(m):
            return  # the leader is alive: no promise to anyone else yet
        self._note_ballot(ballot)
        answer = self.acceptor.prepare(ballot, m.from_slot)
        if isinstance(answer, Refused):
            self._send(PaxosPromise(self.id, m.src, m.ballot, answer.promised.encode()))
            return
        if (self._leading or self._candidacy) and ballot > self._own_ballot():
            self._preempted_by(ballot, f"promised ballot {ballot} to {m.src}")
        if self.role is Role.FOLLOWER and self.leader_id not in (None, m.src):
            self.leader_id = None
        self._election_elapsed = 0
        compacted = self.log.snapshot_index
        if compacted >= m.from_slot:
            # Slots it could report are in its snapshot: the proposer is behind.
            self._out.snapshot_sends.append(SnapshotSend(m.src, m.ballot, compacted))
        wire = tuple(proposal_to_wire(slot, proposal) for slot, proposal in answer.accepted)
        self._send_after_persist(
            PaxosPromise(self.id, m.src, m.ballot, m.ballot, wire, self.log.snapshot_index)
        )

    def _handle_promise(self, m: PaxosPromise) -> None:
        candidacy = self._candidacy
        self._note_ballot(Ballot.decode(m.promised))
        if candidacy is None or m.ballot != candidacy.ballot.encode():
            return  # a late answer to an earlier ballot
        if m.promised != m.ballot:
            self._preempted_by(Ballot.decode(m.promised), f"{m.src} promised a higher ballot")
            return
        if m.compacted >= candidacy.from_slot:
            # It compacted slots this node does not know chosen, and cannot
            # report them: recovery would miss them. Its snapshot is coming.
            self._preempted_by(None, f"{m.src} holds a snapshot past slot {m.compacted}")
            return
        accepted = tuple(proposal_from_wire(slot) for slot in m.accepted)
        candidacy.record(Promised(candidacy.ballot, accepted), m.src)
        # A membership reported past the chosen slots may be in force there:
        # its voters must be asked too.
        for membership in candidacy.configurations:
            self._ask_for_promises(candidacy, membership.voters)
        self._maybe_lead(candidacy)

    def _maybe_lead(self, candidacy: Candidacy) -> None:
        if self._candidacy is not candidacy or not candidacy.has_quorums(self.id, self.membership):
            return
        self._become_leader(candidacy)

    def _become_leader(self, candidacy: Candidacy) -> None:
        """Phase 1 is won: propose again what may have been chosen (the highest
        ballot's value in each slot, no-ops in the holes), then a no-op."""
        self._candidacy = None
        ballot = candidacy.ballot
        self.role, self.leader_id = Role.LEADER, self.id
        self._preempted = 0
        self._wanted_until = 0  # it leads: only a new request makes it fight again
        recovered = self._recovered(candidacy)
        next_slot = max(recovered, default=candidacy.from_slot - 1) + 1
        leading = Leadership(ballot, candidacy.from_slot, next_slot, Tally(ballot))
        self._leading = leading
        self._emit(BecameLeader(ballot.encode(), tuple(sorted(candidacy.promisers(self.id)))))
        for slot, proposal in recovered.items():  # a hole's filler is a no-op
            self._accept_own(leading, slot, Proposal(ballot, proposal.value, proposal.config))
        self._accept_own(leading, next_slot, Proposal(ballot, None))
        for membership in (self.membership, *candidacy.configurations):
            for peer in membership.members:
                self._track(leading, peer)
        leading.rounds.wanted = True  # tell everyone at once, and learn who lags

    def _recovered(self, candidacy: Candidacy) -> dict[int, Proposal]:
        """What the new leader must propose again (node.paxos.proposer.recover:
        the highest-ballot value the promises report in each slot)."""
        return recover(candidacy.all_promises(), candidacy.from_slot)
