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
from typing import TYPE_CHECKING

from node.configurations import Configurations, changed_membership
from node.errors import NotLeader, NotNow, PeerMisbehaved, ProposalRejected, invariant
from node.events import (
    BecameFollower,
    LogCompacted,
    TransferAborted,
    TransferStarted,
)
from node.messages import (
    InstallSnapshot,
    Membership,
    SnapshotMeta,
    TimeoutNow,
    encode_membership,
)
from node.messages.paxos import PaxosAccept, PaxosAccepted, PaxosPrepare, PaxosPromise
from node.outbox import Outbox, Sending
from node.paxos.acceptor import Proposal
from node.paxos.ballot import ZERO, Ballot, node_number
from node.paxos.durable import entries_to_persist, recover_acceptor
from node.paxos.leader_clock import LeaderClock
from node.paxos.leading import Candidacy, Leadership
from node.paxos.options import BACKOFF_DOUBLINGS_MAX, LEADER, PaxosOptions
from node.paxos.phase_one import PhaseOne
from node.paxos.phase_two import PhaseTwo
from node.paxos.slots import ChosenLog
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
)
from node.ready import Proposal as Placed

if TYPE_CHECKING:
    import random  # only the type: the generator itself is injected

__all__ = ["PaxosCore", "PaxosOptions"]


class PaxosCore(PhaseOne, PhaseTwo, LeaderClock, Sending):
    """One Multi-Paxos node: acceptor, learner and, when it leads, proposer."""

    def __init__(
        self,
        config: RaftConfig,
        durable: DurableState,
        rng: random.Random,
        options: PaxosOptions = LEADER,
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
        rd = self._out.take_ready(
            entries_to_persist(self.acceptor, self.log.handed_last),
            hard_state if hard_state != self._handed_hard_state else None,
            self.log.entries_to_apply(),
            self._reads.take_output(),
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

    # -- roles -------------------------------------------------------------------------

    def _check_may_propose(self) -> Leadership:
        leading = self._leading
        if leading is None:
            if self.options.leader or self.id not in self.voters:
                raise NotLeader(self.leader_id)
            # (A waiting client asks again at every loop turn, through the
            # writes its node holds: a short window ends the fight soon after.)
            self._wanted_until = self._ticks + self.config.election_timeout_ticks_min
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

    def _check_not_in_ready(self, what: str) -> None:
        invariant(not self._ready_outstanding, f"{what} between ready and advance", node=self.id)
