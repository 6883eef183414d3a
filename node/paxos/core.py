"""The Multi-Paxos core: the same key-value log as node.raft, agreed by
Lamport's Paxos run once for all future slots by a distinguished proposer
(the leader), pure and deterministic like the Raft core, and handed to its
drivers through the same Ready (node.ready; node.raft's Rule 2), so that
the server, storage, state machine, clients, simulator and chaos drive it
unchanged.

Rules:
- Ballots are (round, node) (node.paxos.ballot). A node that hears no
  leader for a randomized election timeout picks a ballot above every one it
  has seen and runs phase 1 for every slot past the ones it knows chosen.
  A majority of promises (its own counts once durable) makes it leader: it
  proposes again, under its ballot, the highest-ballot value each promise
  reports in each slot, a no-op in each hole, and one more no-op (its first
  slot: reads wait for it to be chosen, like Raft's no-op of a new term).
- Phase 2 is pipelined and batched: a PaxosAccept carries a run of slots to
  each follower (its `next` slot on), and the leader's chosen index. A slot
  is chosen once a majority of the voters in force there took it under the
  leader's ballot; the leader's own acceptance counts once its own fsync of
  it is done.
- Acceptors answer (promise, accepted) only after the promise and the
  accepted slots are durable (messages_after_persist; node.paxos.durable).
- Learning: a follower marks a slot chosen when the leader says it is and
  its own acceptor holds that slot under the leader's ballot (so the value it
  applies is the leader's, which is the chosen one). A follower that lacks
  slots says how far it knows (`applied`), and the leader sends them again
  under its ballot (safe: its value there is the chosen one), or its
  snapshot when they are compacted.
- Membership changes go through the log, one server at a time, and are in
  force for the slots after theirs once chosen. Phase 1 needs a majority of
  the membership in force and of every membership a promise reports past it,
  so that a value chosen under any of them is seen.
- Leases and leader stickiness (with check_quorum): an acceptor that heard
  the leader within the minimum election timeout ignores other proposers'
  prepares, so a leader backed by a majority of answers to a heartbeat sent
  at tick t leads until t + that timeout, less the clock-drift bound.
- Without a distinguished proposer (`PaxosOptions.leader` False, `raftctl
  start --protocol paxos --no-leader`): no election timer; a node asked to
  write or read prepares its own ballot at once, so two such nodes preempt
  each other (dueling proposers: Paxos's liveness problem). With `backoff`,
  a preempted node waits a random, growing number of ticks first: the cure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from node.configurations import Configurations, changed_membership
from node.errors import NotLeader, NotNow, PeerMisbehaved, ProposalRejected, invariant
from node.events import (
    BecameCandidate,
    BecameFollower,
    BecameLeader,
    CommitAdvanced,
    Event,
    LogCompacted,
    MembershipChanged,
    SnapshotInstalled,
    TransferAborted,
    TransferStarted,
)
from node.messages import (
    InstallSnapshot,
    Membership,
    SnapshotMeta,
    TimeoutNow,
    decode_membership,
    encode_membership,
)
from node.messages.paxos import PaxosAccept, PaxosAccepted, PaxosPrepare, PaxosPromise
from node.outbox import Outbox
from node.paxos.acceptor import Promised, Proposal, Refused
from node.paxos.ballot import ZERO, Ballot, node_number
from node.paxos.durable import entries_to_persist, recover_acceptor
from node.paxos.leading import Candidacy, Leadership, PeerProgress
from node.paxos.proposer import Tally, majority, recover
from node.paxos.slots import ChosenLog
from node.paxos.wire import proposal_from_wire, proposal_to_wire
from node.raft_config import RaftConfig
from node.read_queue import ReadQueue
from node.ready import (
    CoreStatus,
    DurableState,
    HardState,
    MembershipChange,
    Outgoing,
    Ready,
    Role,
    Snapshot,
    SnapshotSend,
)
from node.ready import Proposal as Placed

if TYPE_CHECKING:
    import random  # only the type: the generator itself is injected

__all__ = ["PaxosCore", "PaxosOptions"]

BACKOFF_DOUBLINGS_MAX = 4  # a preempted proposer waits at most 2^4 times the base


@dataclass(frozen=True, slots=True)
class PaxosOptions:
    """`leader`: a distinguished proposer (Multi-Paxos); without one, every
    node asked to write prepares on its own. `backoff`: a preempted proposer
    waits randomly before preparing again."""

    leader: bool = True
    backoff: bool = False


class PaxosCore:
    """One Multi-Paxos node: acceptor, learner and, when it leads, proposer."""

    def __init__(
        self,
        config: RaftConfig,
        durable: DurableState,
        rng: random.Random,
        options: PaxosOptions = PaxosOptions(),
    ) -> None:
        self.config = config
        self.options = options
        self.id = config.node_id
        self.number = node_number(self.id)
        self._rng = rng
        self.incarnation = durable.incarnation
        snapshot = durable.snapshot
        snapshot_index = snapshot.index if snapshot else 0
        acceptor = recover_acceptor(durable.hard_state, durable.entries, snapshot_index)
        self.log = ChosenLog(
            acceptor,
            snapshot_index,
            snapshot.term if snapshot else 0,
            durable.hard_state.commit_index,
        )
        self.acceptor = acceptor
        base = snapshot.membership if snapshot else Membership(tuple(sorted(config.voters)))
        self._configurations = Configurations(base, snapshot_index)
        for slot in range(snapshot_index + 1, self.log.commit_index + 1):
            self._note_chosen_config(slot, announce=False)
        self.role = Role.FOLLOWER
        self.leader_id: str | None = None
        self.vote: str | None = None  # Raft's field; a Paxos node votes by promising
        self._highest_seen = acceptor.promised
        self._candidacy: Candidacy | None = None
        self._leading: Leadership | None = None
        self._reads = ReadQueue()
        self._out = Outbox()
        self._ticks = 0
        self._election_elapsed = 0
        self._timeout = self._random_timeout()
        self._heard_leader_tick: int | None = None
        # Without a distinguished proposer: preemptions in a row, and the tick
        # before which this node does not prepare again (backoff).
        self._preempted = 0
        self._quiet_until = 0
        # Without a distinguished proposer: until this tick a client waits on
        # this node, so a preempted ballot is prepared again (at once, or
        # after the backoff): the duel, or its cure.
        self._wanted_until = 0
        self._retry_when_quiet = False
        self._handed_hard_state = durable.hard_state
        self._ready_outstanding = False

    # -- what the drivers read ---------------------------------------------------

    @property
    def term(self) -> int:
        """The ballot promised, in its one-integer form (a Raft node's term)."""
        return self.acceptor.promised.encode()

    @property
    def ballot(self) -> Ballot:
        return self.acceptor.promised

    @property
    def membership(self) -> Membership:
        return self._configurations.latest

    @property
    def voters(self) -> tuple[str, ...]:
        return self.membership.voters

    @property
    def learners(self) -> tuple[str, ...]:
        return self.membership.learners

    def status(self) -> CoreStatus:
        log = self.log
        leading = self._leading
        return CoreStatus(
            node_id=self.id,
            role=self.role,
            term=self.term,
            vote=None,
            leader_id=self.leader_id,
            commit_index=log.commit_index,
            applied_index=log.applied_index,
            last_log_index=log.last_index,
            last_log_term=log.last_term,
            snapshot_index=log.snapshot_index,
            voters=self.voters,
            learners=self.learners,
            transfer_target=leading.transfer_target if leading else None,
            lease_valid=self._lease_valid(),
        )

    # -- driven by the application -------------------------------------------------

    def tick(self) -> None:
        self._check_not_in_ready("tick")
        self._ticks += 1
        if self._leading is not None:
            self._tick_leader(self._leading)
            return
        candidacy = self._candidacy
        if candidacy is not None and (
            self._ticks - candidacy.started_tick >= self.config.election_timeout_ticks_max
        ):
            # Phase 1 went unanswered (lost messages, a partition): give up.
            self._preempted_by(None, f"ballot {candidacy.ballot} went unanswered")
            return
        if self.options.leader:
            self._election_elapsed += 1
            if self._election_elapsed >= self._timeout and candidacy is None:
                self.campaign()
        elif (
            self._retry_when_quiet
            and candidacy is None
            and self._quiet_until <= self._ticks < self._wanted_until
        ):
            self._retry_when_quiet = False
            self.campaign()

    def step(self, message: Outgoing) -> None:
        self._check_not_in_ready("step")
        match message:
            case PaxosPrepare():
                self._handle_prepare(message)
            case PaxosPromise():
                self._handle_promise(message)
            case PaxosAccept():
                self._handle_accept(message)
            case PaxosAccepted():
                self._handle_accepted(message)
            case InstallSnapshot():
                self._handle_install_snapshot(message)
            case TimeoutNow():
                self._handle_timeout_now(message)
            case _:
                raise PeerMisbehaved(f"{type(message).__name__} is not a Paxos message")

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
        candidacy.own = own if isinstance(own, Promised) else None
        self._emit(BecameCandidate(ballot.encode()))
        self._ask_for_promises(candidacy, self.voters)

    def propose(self, commands: Sequence[bytes]) -> Placed:
        """Place `commands` in the next slots; NotLeader on a follower (or,
        without a distinguished proposer, NotNow while this node prepares)."""
        self._check_not_in_ready("propose")
        leading = self._check_may_propose()
        first = self.log.last_index + 1
        for offset, data in enumerate(commands):
            self._accept_own(leading, first + offset, Proposal(leading.ballot, data))
        return Placed(first, self.log.last_index, leading.ballot.encode())

    def propose_membership(self, change: MembershipChange) -> Placed:
        """One single-server change through the log, in force once chosen."""
        self._check_not_in_ready("propose_membership")
        leading = self._check_may_propose()
        if self.log.commit_index < leading.first_slot:
            raise NotNow(f"ballot {leading.ballot} has chosen nothing yet; a change must wait")
        pending = self._pending_membership_change()
        if pending is not None:
            raise NotNow(
                f"the membership change at slot {pending} is not chosen yet; one at a time"
            )
        chosen = {peer: progress.chosen for peer, progress in leading.peers.items()}
        membership = changed_membership(self.membership, change, chosen, self.log.commit_index)
        slot = self.log.last_index + 1
        value = encode_membership(membership)
        self._accept_own(leading, slot, Proposal(leading.ballot, value, config=True))
        for peer in membership.members:
            self._track(leading, peer)
        return Placed(slot, slot, leading.ballot.encode())

    def transfer_leadership(self, target: str) -> None:
        """Hand the distinguished proposer's role to `target`: stop taking
        proposals, bring it up to date, then tell it to prepare at once."""
        self._check_not_in_ready("transfer_leadership")
        leading = self._leading
        if leading is None:
            raise NotLeader(self.leader_id)
        if target == self.id:
            return
        if target not in self.voters:
            raise ProposalRejected(f"{target} is not a voter")
        if leading.transfer_target == target:
            return
        if leading.transfer_target is not None:
            self._emit(TransferAborted(leading.transfer_target, f"superseded by {target}"))
        leading.transfer_target, leading.transfer_elapsed = target, 0
        self._emit(TransferStarted(target))
        self._maybe_send_timeout_now(leading)
        leading.replication_pending = True

    def read_index(self, context: bytes, lease: bool = False) -> None:
        """A linearizable read: served at today's chosen index once a heartbeat
        round sent after now is answered by a majority (or at once under a
        valid lease), after the leader's first slot is chosen."""
        self._check_not_in_ready("read_index")
        leading = self._check_may_propose()
        if self.log.commit_index < leading.first_slot:
            self._reads.await_commit(context, lease)
            return
        self._start_read(leading, context, lease)

    def compact(self, index: int) -> SnapshotMeta:
        """The application saved a snapshot at applied `index`: forget the slots
        up to it."""
        self._check_not_in_ready("compact")
        meta = self.snapshot_meta(index)
        self.log.compact_to(index, meta.term)
        self._configurations.compact_to(index, meta.membership)
        self._emit(LogCompacted(index, meta.term))
        return meta

    def snapshot_meta(self, index: int) -> SnapshotMeta:
        invariant(
            self.log.snapshot_index <= index <= self.log.applied_index,
            "a snapshot of slots not applied",
            index=index,
            applied=self.log.applied_index,
        )
        term = self.log.term_at(index) or 0
        membership = self._configurations.at(index)
        return SnapshotMeta(index, term, membership.voters, membership.learners)

    # -- the Ready hand-off (node.raft's Rule 2) ---------------------------------------

    def has_ready(self) -> bool:
        leading = self._leading
        return bool(
            self._out.has_output()
            or (leading is not None and (leading.replication_pending or leading.rounds.wanted))
            or self._reads.has_output()
            or self.acceptor.dirty
            or self.log.applied_index < self.log.commit_index
            or self._hard_state() != self._handed_hard_state
        )

    def ready(self) -> Ready:
        self._check_not_in_ready("ready")
        leading = self._leading
        if leading is not None:
            if leading.rounds.wanted:
                self._broadcast(leading)
            self._flush_replication(leading)
        hard_state = self._hard_state()
        read_states, reads_dropped = self._reads.take_output()
        out = self._out.take()
        rd = Ready(
            messages=out.messages,
            messages_after_persist=out.messages_after_persist,
            entries=entries_to_persist(self.acceptor, self.log.handed_last),
            hard_state=hard_state if hard_state != self._handed_hard_state else None,
            committed_entries=tuple(self.log.entries_to_apply()),
            events=out.events,
            snapshot=out.snapshot,
            snapshots_to_send=out.snapshots_to_send,
            read_states=read_states,
            reads_dropped=reads_dropped,
        )
        self._ready_outstanding = True
        return rd

    def advance(self, rd: Ready) -> None:
        self.accept(rd)
        self.persisted(rd)

    def accept(self, rd: Ready) -> None:
        invariant(self._ready_outstanding, "accept without ready", node=self.id)
        self._ready_outstanding = False
        if rd.hard_state is not None:
            self._handed_hard_state = rd.hard_state
        self.acceptor.clean()
        if rd.entries:
            self.log.handed_last = rd.entries[-1].index
        if rd.committed_entries:
            self.log.applied_to(rd.committed_entries[-1].index)

    def persisted(self, rd: Ready) -> None:
        """`rd`'s promise and slots are durable: the node's own promise and
        acceptances count now, like any acceptor's answer."""
        self._check_not_in_ready("persisted")
        candidacy = self._candidacy
        if (
            candidacy is not None
            and rd.hard_state is not None
            and rd.hard_state.term >= candidacy.ballot.encode()
            and self.acceptor.promised == candidacy.ballot
        ):
            candidacy.own_durable = True
            self._maybe_lead(candidacy)
        leading = self._leading
        if leading is not None and rd.entries:
            mine = leading.ballot.encode()
            for entry in rd.entries:
                if entry.term == mine:
                    leading.tally.count(self.id, leading.ballot, entry.index)
            self._maybe_choose(leading)

    # -- phase 1 ---------------------------------------------------------------------

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
        candidacy.promises[m.src] = Promised(candidacy.ballot, accepted)
        # A membership reported past the chosen slots may be in force there:
        # its voters must be asked too.
        for membership in candidacy.reported_configurations():
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
        for membership in (self.membership, *candidacy.reported_configurations()):
            for peer in membership.members:
                self._track(leading, peer)
        leading.rounds.wanted = True  # tell everyone at once, and learn who lags

    def _recovered(self, candidacy: Candidacy) -> dict[int, Proposal]:
        """What the new leader must propose again (node.paxos.proposer.recover:
        the highest-ballot value the promises report in each slot)."""
        return recover(candidacy.all_promises(), candidacy.from_slot)

    # -- phase 2 ---------------------------------------------------------------------

    def _accept_own(self, leading: Leadership, slot: int, proposal: Proposal) -> None:
        """The leader's own acceptor takes its proposal (it counts once durable)."""
        taken = self.acceptor.accept(leading.ballot, slot, proposal.value, proposal.config)
        invariant(not isinstance(taken, Refused), "the leader's own acceptor refused", slot=slot)
        leading.replication_pending = True

    def _track(self, leading: Leadership, peer: str) -> None:
        if peer != self.id and peer not in leading.peers:
            leading.peers[peer] = PeerProgress(next=leading.from_slot)

    def _flush_replication(self, leading: Leadership) -> None:
        if not leading.replication_pending:
            return
        leading.replication_pending = False
        chosen = self.log.commit_index
        for peer, progress in leading.peers.items():
            if not self._send_slots(leading, peer, progress) and progress.told_chosen < chosen:
                # Nothing new for it, but the chosen index moved: say so now
                # rather than at the next heartbeat (followers apply sooner).
                self._send(
                    PaxosAccept(
                        self.id, peer, leading.ballot.encode(), (), chosen, leading.rounds.latest
                    )
                )
            progress.told_chosen = chosen

    def _send_slots(self, leading: Leadership, peer: str, progress: PeerProgress) -> bool:
        """Accepts for the slots `peer` is due; False when none went."""
        log, config = self.log, self.config
        sent = False
        if progress.next <= log.snapshot_index:
            if progress.snapshot_sent_tick is None:
                progress.snapshot_sent_tick = self._ticks
                self._out.snapshot_sends.append(
                    SnapshotSend(peer, leading.ballot.encode(), log.snapshot_index)
                )
            return True
        last = log.last_index
        while progress.next <= last and progress.inflight < config.inflight_messages_max:
            through = min(last, progress.next + config.entries_per_message_max - 1)
            slots = []
            for slot in range(progress.next, through + 1):
                proposal = self.acceptor.accepted.get(slot)
                invariant(proposal is not None, "the leader lacks a slot", slot=slot, peer=peer)
                if proposal is not None:
                    # Chosen slots go again under this ballot: the value is the same.
                    slots.append(
                        proposal_to_wire(
                            slot, Proposal(leading.ballot, proposal.value, proposal.config)
                        )
                    )
            self._send(
                PaxosAccept(
                    self.id,
                    peer,
                    leading.ballot.encode(),
                    tuple(slots),
                    log.commit_index,
                    leading.rounds.latest,
                )
            )
            progress.next = through + 1
            progress.inflight += 1
            progress.sent_round = leading.rounds.latest
            sent = True
        return sent

    def _broadcast(self, leading: Leadership) -> None:
        """A heartbeat round: an accept with no slots to every follower,
        numbered so that a majority of answers confirms reads and the lease."""
        heartbeat_round = leading.rounds.start(self._ticks)
        chosen = self.log.commit_index
        leading.round_chosen[heartbeat_round] = chosen
        leading.round_chosen.pop(heartbeat_round - leading.rounds.KEPT, None)
        leading.heartbeat_elapsed = 0
        ballot = leading.ballot.encode()
        for peer, progress in leading.peers.items():
            self._send(PaxosAccept(self.id, peer, ballot, (), chosen, heartbeat_round))
            progress.told_chosen = chosen

    def _handle_accept(self, m: PaxosAccept) -> None:
        ballot = Ballot.decode(m.ballot)
        promised = self.acceptor.promised
        if ballot < promised:
            refusal = PaxosAccepted(
                self.id, m.src, m.ballot, promised.encode(), (), self.log.commit_index, m.round
            )
            self._send(refusal)
            return
        self._note_ballot(ballot)
        if ballot > self._own_ballot() and (self._leading or self._candidacy):
            self._preempted_by(ballot, f"{m.src} leads ballot {ballot}")
        if self.leader_id != m.src:
            self.leader_id = m.src
            self._emit(BecameFollower(m.ballot, m.src, f"{m.src} leads ballot {ballot}"))
        self._election_elapsed = 0
        self._heard_leader_tick = self._ticks
        self.acceptor.follow(ballot)  # a heartbeat's answer is a promise too
        took = []
        for wire in m.slots:
            slot, proposal = proposal_from_wire(wire)
            self.acceptor.accept(ballot, slot, proposal.value, proposal.config)
            took.append(slot)
        self._learn(ballot, m.chosen)
        # Even a heartbeat's answer waits for the persist: it vouches for a
        # promise (a read or a lease rests on it) that may not be durable yet.
        self._send_after_persist(
            PaxosAccepted(
                self.id, m.src, m.ballot, m.ballot, tuple(took), self.log.commit_index, m.round
            )
        )

    def _learn(self, ballot: Ballot, chosen: int) -> None:
        """Slots the leader of `ballot` says are chosen, where this acceptor
        holds its proposal: they are chosen with the value held here."""
        old = self.log.commit_index
        slot = old
        while slot < chosen:
            proposal = self.acceptor.accepted.get(slot + 1)
            if proposal is None or proposal.ballot != ballot:
                break
            slot += 1
        self._commit_to(old, slot)

    def _handle_accepted(self, m: PaxosAccepted) -> None:
        leading = self._leading
        self._note_ballot(Ballot.decode(m.promised))
        if leading is None or m.ballot != leading.ballot.encode():
            return
        if m.promised != m.ballot:
            self._preempted_by(Ballot.decode(m.promised), f"{m.src} promised a higher ballot")
            return
        progress = leading.peers.get(m.src)
        if progress is None:
            return
        progress.active = True
        # Its latest word (a restarted node may know less than it said before).
        progress.chosen = m.applied
        # A slot some node knows chosen is chosen with this leader's value there
        # (P2b: every proposal above the ballot that chose it has its value).
        leading.known_chosen = max(leading.known_chosen, m.applied)
        progress.round = max(progress.round, m.round)
        if progress.snapshot_sent_tick is not None and m.applied >= self.log.snapshot_index:
            progress.snapshot_sent_tick = None
            progress.next = max(progress.next, m.applied + 1)
        if m.slots:
            progress.inflight = max(0, progress.inflight - 1)
            for slot in m.slots:
                leading.tally.count(m.src, leading.ballot, slot)
        self._maybe_choose(leading)
        if self._leading is not leading:
            return  # it chose its own removal, and stepped down
        if not m.slots and (progress.inflight == 0 or m.round >= progress.sent_round + 2):
            # A heartbeat's answer, with nothing sent to it still plausibly on
            # its way: whatever it lacks was lost, and goes again.
            progress.inflight = 0
            missing = self._first_missing(leading, m.src, progress, m.round)
            if missing is not None:
                progress.next = missing
        if progress.next <= self.log.last_index:
            leading.replication_pending = True  # room in its window again, or catching up
        self._reads.release(self._confirmed)
        self._date_lease(leading)
        if leading.transfer_target == m.src:
            self._maybe_send_timeout_now(leading)

    def _first_missing(
        self, leading: Leadership, peer: str, progress: PeerProgress, heartbeat_round: int
    ) -> int | None:
        """The first slot sent to `peer` that it neither took under this ballot
        nor learned chosen (the round it answered said how far the log was
        chosen; slots chosen since are not counted any more)."""
        round_chosen = leading.round_chosen.get(heartbeat_round, 0)
        commit = self.log.commit_index
        for slot in range(progress.chosen + 1, progress.next):
            if slot <= round_chosen:
                return slot
            if slot > commit and peer not in leading.tally.took.get(slot, ()):
                return slot
        return None

    def _maybe_choose(self, leading: Leadership) -> None:
        old = self.log.commit_index
        slot = old
        while slot < self.log.last_index and (
            slot < leading.known_chosen or self._chosen_by_majority(leading, slot + 1)
        ):
            slot += 1
            # A membership chosen here is in force from the next slot on.
            self._note_chosen_config(slot)
        if slot > old:
            leading.tally.forget_through(slot)
            self._commit_to(old, slot, configs_noted=True)
            leading.replication_pending = True  # followers learn the new chosen index
            if self._leading is leading and self.id not in self.voters:
                self._step_down(f"{self.id} was removed from the voters")
                return
            if slot >= leading.first_slot and self._reads.awaiting_commit:
                for context, lease in self._reads.take_awaiting_commit():
                    self._start_read(leading, context, lease)

    def _chosen_by_majority(self, leading: Leadership, slot: int) -> bool:
        """A majority of the voters in force at `slot` took it under the ballot."""
        return leading.tally.chosen(slot, self.voters)

    def _commit_to(self, old: int, new: int, configs_noted: bool = False) -> None:
        if new <= old:
            return
        if not configs_noted:
            for slot in range(old + 1, new + 1):
                self._note_chosen_config(slot)
        self.log.commit_index = new
        self._emit(CommitAdvanced(old, new))

    def _note_chosen_config(self, slot: int, announce: bool = True) -> None:
        proposal = self.acceptor.accepted.get(slot)
        if proposal is None or not proposal.config or proposal.value is None:
            return
        membership = decode_membership(proposal.value)
        self._configurations.add(slot, membership)
        if announce:
            self._emit(MembershipChanged(slot, membership.voters, membership.learners, "chosen"))

    def _pending_membership_change(self) -> int | None:
        for slot in range(self.log.commit_index + 1, self.log.last_index + 1):
            proposal = self.acceptor.accepted.get(slot)
            if proposal is not None and proposal.config:
                return slot
        return None

    # -- the leader's clock: heartbeats, quorum, lease, transfer ----------------------

    def _tick_leader(self, leading: Leadership) -> None:
        config = self.config
        leading.heartbeat_elapsed += 1
        if leading.heartbeat_elapsed >= config.heartbeat_interval_ticks:
            self._broadcast(leading)
        for progress in leading.peers.values():
            if (
                progress.snapshot_sent_tick is not None
                and self._ticks - progress.snapshot_sent_tick >= config.election_timeout_ticks_max
            ):
                progress.snapshot_sent_tick = None  # lost: send it again
                leading.replication_pending = True
        if leading.transfer_target is not None:
            leading.transfer_elapsed += 1
            if leading.transfer_elapsed >= config.election_timeout_ticks_max:
                self._emit(TransferAborted(leading.transfer_target, "timed out"))
                leading.transfer_target = None
        leading.quorum_elapsed += 1
        if config.check_quorum and leading.quorum_elapsed >= config.election_timeout_ticks_min:
            leading.quorum_elapsed = 0
            active = {peer for peer, p in leading.peers.items() if p.active} | {self.id}
            for progress in leading.peers.values():
                progress.active = False
            if len(active & set(self.voters)) < majority(len(self.voters)):
                self._step_down("no answer from a majority within an election timeout")

    def _maybe_send_timeout_now(self, leading: Leadership) -> None:
        target = leading.transfer_target
        progress = leading.peers.get(target) if target else None
        if target is None or progress is None:
            return
        if progress.chosen >= self.log.commit_index and progress.next > self.log.last_index:
            self._send(TimeoutNow(leading.ballot.encode(), self.id, target))

    def _handle_timeout_now(self, m: TimeoutNow) -> None:
        if m.src == self.leader_id and self.id in self.voters:
            self.campaign(transfer=True)

    def _start_read(self, leading: Leadership, context: bytes, lease: bool) -> None:
        index = self.log.commit_index
        if lease and self._lease_valid():
            self._reads.serve(context, index, lease=True)
            return
        self._reads.await_round(context, index, leading.rounds.latest + 1)
        leading.rounds.wanted = True
        self._reads.release(self._confirmed)

    def _confirmed(self, heartbeat_round: int) -> bool:
        leading = self._leading
        if leading is None:
            return False
        voters = self.voters
        acked = {p for p, progress in leading.peers.items() if progress.round >= heartbeat_round}
        return len((acked | {self.id}) & set(voters)) >= majority(len(voters))

    def _date_lease(self, leading: Leadership) -> None:
        """The newest round a majority answered dates the lease from its sending."""
        if not (self.config.check_quorum and self.options.leader):
            return
        voters = self.voters
        rounds = sorted((p.round for n, p in leading.peers.items() if n in voters), reverse=True)
        needed = majority(len(self.voters)) - (1 if self.id in self.voters else 0)
        if needed <= 0 or len(rounds) < needed:
            return
        sent = leading.rounds.sent_tick(rounds[needed - 1])
        if sent is not None:
            until = sent + self.config.election_timeout_ticks_min - self.config.lease_drift_ticks
            leading.lease_until = max(leading.lease_until, until)

    def _lease_valid(self) -> bool:
        leading = self._leading
        return leading is not None and self._ticks < leading.lease_until

    # -- snapshots ---------------------------------------------------------------------

    def _handle_install_snapshot(self, m: InstallSnapshot) -> None:
        ballot = Ballot.decode(m.term)
        promised = self.acceptor.promised
        meta = m.meta
        if meta.index > self.log.commit_index:
            old = self.log.commit_index
            self.log.restore(meta.index, meta.term)
            self._configurations.replace(meta.index, meta.membership)
            # Storage drops every stored slot when it installs a snapshot: the
            # ones accepted past it are written again (an acceptor forgets nothing).
            self.acceptor.slots_dirty.update(self.acceptor.accepted)
            self.log.handed_last = meta.index
            self._out.snapshot_to_install = Snapshot(meta, m.data)
            self._emit(SnapshotInstalled(meta.index, meta.term, m.src, len(self.acceptor.accepted)))
            self._emit(CommitAdvanced(old, meta.index))
        if ballot >= promised and self._leading is None:
            self.acceptor.follow(ballot)  # the answer vouches for the promise
            self._send_after_persist(
                PaxosAccepted(self.id, m.src, m.term, m.term, (), self.log.commit_index, 0)
            )

    # -- roles -------------------------------------------------------------------------

    def _check_may_propose(self) -> Leadership:
        leading = self._leading
        if leading is None:
            if self.options.leader or self.id not in self.voters:
                raise NotLeader(self.leader_id)
            self._wanted_until = self._ticks + 2 * self.config.election_timeout_ticks_max
            if self._candidacy is not None:
                raise NotNow(f"preparing ballot {self._candidacy.ballot}")
            if self._ticks < self._quiet_until:
                raise NotNow(f"backing off after {self._preempted} preemptions")
            self.campaign()
            raise NotNow("no distinguished proposer: this node prepares its own ballot")
        if leading.transfer_target is not None:
            raise NotNow(f"leadership is being handed to {leading.transfer_target}")
        return leading

    def _preempted_by(self, ballot: Ballot | None, reason: str) -> None:
        """This proposer lost: another ballot is promised, or phase 1 failed."""
        if ballot is not None:
            self._note_ballot(ballot)
        if self._leading is None and self._candidacy is None:
            return
        self._preempted += 1
        if self.options.backoff:
            doublings = min(self._preempted, BACKOFF_DOUBLINGS_MAX)
            base = max(1, self.config.election_timeout_ticks_min // 4)
            self._quiet_until = self._ticks + 1 + self._rng.randrange(base << doublings)
        self._step_down(reason)
        if not self.options.leader and self._ticks < self._wanted_until:
            # A client still waits here: prepare again, above the ballot that
            # won (dueling proposers), or once the backoff is over (the cure).
            if self.options.backoff:
                self._retry_when_quiet = True
            else:
                self.campaign()

    def _step_down(self, reason: str) -> None:
        if self._leading is not None:
            target = self._leading.transfer_target
            if target is not None:
                self._emit(TransferAborted(target, reason))
        self._step_down_quietly()
        self._emit(BecameFollower(self.term, None, reason))

    def _step_down_quietly(self) -> None:
        if self._leading is not None:
            self._reads.drop_all("leadership lost")
        self._leading = None
        self._candidacy = None
        self.role = Role.FOLLOWER
        self.leader_id = None
        self._election_elapsed = 0
        self._timeout = self._random_timeout()

    def _sticks_to_leader(self, m: PaxosPrepare) -> bool:
        """Leader stickiness (with check_quorum): a live leader is not deposed by
        a proposer that merely timed out, which is what makes leases safe."""
        if not (self.options.leader and self.config.check_quorum) or m.transfer:
            return False
        heard = self._heard_leader_tick
        return (
            self.leader_id not in (None, m.src)
            and heard is not None
            and self._ticks - heard < self.config.election_timeout_ticks_min
        ) or self._leading is not None

    def _own_ballot(self) -> Ballot:
        if self._leading is not None:
            return self._leading.ballot
        if self._candidacy is not None:
            return self._candidacy.ballot
        return ZERO

    def _note_ballot(self, ballot: Ballot) -> None:
        self._highest_seen = max(self._highest_seen, ballot)

    def _random_timeout(self) -> int:
        config = self.config
        return self._rng.randint(
            config.election_timeout_ticks_min, config.election_timeout_ticks_max
        )

    # -- plumbing ------------------------------------------------------------------------

    def _hard_state(self) -> HardState:
        return HardState(self.acceptor.promised.encode(), None, self.log.commit_index)

    def _emit(self, event: Event) -> None:
        self._out.events.append(event)

    def _send(self, m: Outgoing) -> None:
        self._out.messages.append(m)

    def _send_after_persist(self, m: Outgoing) -> None:
        self._out.messages_after_persist.append(m)

    def _check_not_in_ready(self, what: str) -> None:
        invariant(not self._ready_outstanding, f"{what} between ready and advance", node=self.id)
