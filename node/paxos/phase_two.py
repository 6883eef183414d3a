"""Phase 2 of Multi-Paxos and learning: the leader's accepts, pipelined and
batched per follower, the acceptors' answers, the count that chooses a
slot, a follower learning what is chosen, a laggard sent its slots again or
a snapshot (node/paxos/core.py's rules; PaxosCore inherits this).
"""

from __future__ import annotations

from node.errors import invariant
from node.events import BecameFollower, CommitAdvanced, MembershipChanged, SnapshotInstalled
from node.messages import InstallSnapshot, decode_membership
from node.messages.paxos import PaxosAccept, PaxosAccepted
from node.paxos.acceptor import Proposal, Refused
from node.paxos.ballot import Ballot
from node.paxos.leading import Leadership, PeerProgress
from node.paxos.state import CoreState
from node.paxos.wire import proposal_from_wire, proposal_to_wire
from node.ready import Snapshot, SnapshotSend

__all__ = ["PhaseTwo"]


class PhaseTwo(CoreState):
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
                    slots.append(proposal_to_wire(slot, proposal, leading.ballot))
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
        for wire in m.slots:
            slot, proposal = proposal_from_wire(wire)
            self.acceptor.accept(ballot, slot, proposal.value, proposal.config)
        took = tuple(wire.slot for wire in m.slots)
        self._learn(ballot, m.chosen)
        # Even a heartbeat's answer waits for the persist: it vouches for a
        # promise (a read or a lease rests on it) that may not be durable yet.
        self._send_after_persist(
            PaxosAccepted(self.id, m.src, m.ballot, m.ballot, took, self.log.commit_index, m.round)
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
            self._refused_by(m.src, Ballot.decode(m.promised))
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

    def _refused_by(self, acceptor: str, higher: Ballot) -> None:
        """An acceptor promised a higher ballot. With leader stickiness
        (CheckQuorum) no other proposer can have won while this leader is
        heard, so the ballot is a cut-off node's, which kept preparing alone:
        prepare again above it at once (a phase 1 of one round trip) rather
        than leave the cluster leaderless until an election timeout (what
        Raft's PreVote spares it). Without stickiness, step down."""
        if self.options.leader and self.config.check_quorum:
            self._note_ballot(higher)
            self.campaign()
            return
        self._preempted_by(higher, f"{acceptor} promised a higher ballot")

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
