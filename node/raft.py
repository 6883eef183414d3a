"""The Raft core: a pure, deterministic state machine (Raft paper; Ongaro's dissertation).

Rule 1: no I/O. Nothing here touches sockets, files, clocks, threads, logging
or module-level randomness; time is `tick()`, chance is the injected
`random.Random`. Everything the core wants done comes out of `ready()`.

Rule 2: the Ready hand-off is strict. The application loop is

    rd = core.ready()
    send(rd.messages)                        # now, even before the persist
    install(rd.snapshot)                     # a leader's snapshot: replaces log and state
    persist(rd.entries, rd.hard_state)       # replace stored entries from rd.entries[0].index
    send(rd.messages_after_persist)          # answers: votes, append and heartbeat acks
    stream(rd.snapshots_to_send)             # our snapshot, to followers that need it
    apply(rd.committed_entries)
    serve(rd.read_states)                    # reads whose index is now applied
    core.advance(rd)

and nothing is stepped, ticked, proposed, read or compacted between `ready()`
and `advance()`.
Answers wait for the persist so that nothing acknowledged is ever forgotten
by a crash; the leader counts its own copy of an entry toward commit, and a
candidate its own vote, only once its own fsync of them is done.

A driver whose disk works beside its loop (dissertation §10.2.1) splits
`advance(rd)` in two: `accept(rd)` once rd's messages are sent and its
persist is queued (the core may be stepped and asked for the next Ready at
once), then `persisted(rd)` when that persist is durable, in order. Until
then it holds back rd's `messages_after_persist` and applies nothing of rd.

Rule 3: each rule of the protocol lives in one small method whose docstring
cites the paper, so that tests/sim/test_mutations.py can break exactly one
rule by overriding exactly one method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, assert_never

from node.configurations import Configurations, changed_membership
from node.errors import NotLeader, NotNow, ProposalRejected, invariant, known, plausible
from node.events import (
    BecameCandidate,
    BecameFollower,
    BecameLeader,
    BecamePreCandidate,
    CommitAdvanced,
    EntriesTruncated,
    FollowerLostEntries,
    LogCompacted,
    MembershipChanged,
    SnapshotInstalled,
    SnapshotSent,
    TermChanged,
    TransferAborted,
    TransferStarted,
    VoteGranted,
    VoteRefused,
)
from node.log import RaftLog
from node.messages import (
    PEER_MESSAGES,
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    EntryKind,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Membership,
    Message,
    RequestVote,
    RequestVoteResponse,
    SnapshotMeta,
    TimeoutNow,
    decode_membership,
    encode_membership,
)
from node.outbox import Outbox, Sending
from node.progress import Progress
from node.quorum import VoteResult, committed_index, majority, vote_result
from node.raft_config import RaftConfig
from node.read_only import ReadOnlyRules
from node.read_queue import HeartbeatRounds, ReadQueue
from node.ready import (
    CoreStatus,
    DurableState,
    HardState,
    MembershipChange,
    Outgoing,
    Proposal,
    Ready,
    Role,
    Snapshot,
    SnapshotSend,
)
from node.replication import Replicator
from node.tracker import ProgressTracker
from node.transfer import LeadershipTransfer

if TYPE_CHECKING:
    import random  # only the type: the generator itself is injected

__all__ = ["RaftCore"]


class RaftCore(ReadOnlyRules, Sending):
    """One Raft node's protocol state. See the module docstring for the rules."""

    def __init__(self, config: RaftConfig, durable: DurableState, rng: random.Random) -> None:
        self.config = config
        self.id = config.node_id
        self._rng = rng
        hard = durable.hard_state
        self.term, self.vote = hard.term, hard.vote
        snapshot = durable.snapshot
        self.log = RaftLog(
            durable.entries,
            snapshot_index=snapshot.index if snapshot else 0,
            snapshot_term=snapshot.term if snapshot else 0,
            commit_index=hard.commit_index,
        )
        # The hard state last handed to storage (in a Ready), and the last durable.
        self._handed_hard_state = self._persisted_hard_state = hard
        self.incarnation = durable.incarnation
        # The configuration at the snapshot (or the initial one), and every
        # configuration entry in the log after it (dissertation §4.1).
        self._configurations = Configurations(
            snapshot.membership if snapshot else Membership(config.voters),
            self.log.snapshot_index,
        )
        self.role = Role.FOLLOWER
        self.leader_id: str | None = None
        self._ticks = 0
        self._election_elapsed = self._heartbeat_elapsed = self._randomized_election_timeout = 0
        self._votes: dict[str, bool] = {}
        self._progress = ProgressTracker()
        self._replicator = Replicator(self.log, config, self.id)
        self._out = Outbox()
        self._replication_pending = self._ready_outstanding = False
        # Reads (dissertation §6.4, rules in node/read_only.py): heartbeat rounds
        # confirm leadership and date the lease.
        self._rounds = HeartbeatRounds()
        self._reads = ReadQueue()
        self._lease_ended = False
        # Leadership transfer (dissertation §3.10).
        self._transfer = LeadershipTransfer()
        self._note_config_entries(durable.entries, announce=False)
        self._become_follower(self.term, None, "started")

    @property
    def membership(self) -> Membership:
        """The configuration in force: the latest in the log (§4.1)."""
        return self._configurations.latest

    @property
    def voters(self) -> tuple[str, ...]:
        return self.membership.voters

    @property
    def learners(self) -> tuple[str, ...]:
        return self.membership.learners

    # -- inputs -------------------------------------------------------------

    def tick(self) -> None:
        """One unit of logical time passed."""
        self._check_not_in_ready("tick")
        self._ticks += 1
        self.log.release_compacted()
        self._tick_heartbeat() if self.role is Role.LEADER else self._tick_election()

    def step(self, message: Outgoing) -> None:
        """Handle one message from a peer (Raft §5.1: terms first, then the role)."""
        self._check_not_in_ready("step")
        if not isinstance(message, PEER_MESSAGES):
            raise TypeError(f"a Raft core was handed a {type(message).__name__}")
        if message.term > self.term:
            if not self._adopt_higher_term(message):
                return
        elif message.term < self.term:
            self._answer_stale_term(message)
            return
        if isinstance(message, RequestVote):
            self._handle_request_vote(message)
        elif self.role is Role.LEADER:
            self._step_leader(message)
        elif isinstance(message, TimeoutNow):
            self._handle_timeout_now(message)
        elif self.role is Role.FOLLOWER:
            self._step_follower(message)
        else:
            self._step_candidate(message)

    def propose(self, commands: Sequence[bytes]) -> Proposal:
        """Append `commands` as one batch; raises NotLeader on a non-leader and
        ProposalRejected while leadership is being handed over."""
        self._check_not_in_ready("propose")
        self._check_may_propose()
        first = self.log.last_index + 1
        # Commands never change the membership: no need to look for CONFIG.
        self.log.append(
            [
                Entry(first + offset, self.term, EntryKind.COMMAND, data)
                for offset, data in enumerate(commands)
            ]
        )
        self._replication_pending = True
        return Proposal(first, self.log.last_index, self.term)

    def propose_membership(self, change: MembershipChange) -> Proposal:
        """Append one single-server configuration change (dissertation §4.1); it
        is in force from this moment. Raises ProposalRejected, with the reason,
        when the change is not allowed now."""
        self._check_not_in_ready("propose_membership")
        self._check_may_propose()
        if not self._may_change_membership_in_this_term():
            raise NotNow(
                f"no entry of term {self.term} is committed yet; a membership change must "
                "wait for one (Ongaro's 2015 correction)"
            )
        pending = self._pending_membership_change()
        if pending is not None:
            raise NotNow(
                f"the membership change at index {pending} is not committed yet; one at a time"
            )
        membership = self._changed_membership(change)
        index = self.log.last_index + 1
        self._append([Entry(index, self.term, EntryKind.CONFIG, encode_membership(membership))])
        self._replication_pending = True
        return Proposal(index, index, self.term)

    def transfer_leadership(self, target: str) -> None:
        """Hand leadership to `target` (dissertation §3.10): stop taking
        proposals, bring it up to date, then tell it to campaign at once."""
        self._check_not_in_ready("transfer_leadership")
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader_id)
        if target == self.id:
            return
        if target not in self.voters:
            raise ProposalRejected(f"{target} is not a voter")
        if self._transfer.target == target:
            return
        if self._transfer.target is not None:
            self._abort_transfer(f"superseded by a transfer to {target}")
        self._transfer.start(target)
        self._emit(TransferStarted(target))
        self._maybe_send_timeout_now()
        self._replication_pending = True

    def compact(self, index: int) -> SnapshotMeta:
        """The application saved a snapshot of its state at applied `index`:
        forget the log up to it (Raft §7). Returns what the snapshot covers."""
        self._check_not_in_ready("compact")
        meta = self.snapshot_meta(index)
        self.log.compact_to(index, meta.term)
        self._configurations.compact_to(index, meta.membership)
        self._emit(LogCompacted(index, meta.term))
        return meta

    def campaign(self) -> None:
        """Start an election now, as if the election timeout had fired."""
        self._check_not_in_ready("campaign")
        if self.role is Role.LEADER or self.id not in self.voters:
            return
        if self.config.pre_vote:
            self._become_pre_candidate()
            self._ask_for_votes(pre_vote=True)
        else:
            self._become_candidate()
            self._ask_for_votes(pre_vote=False)

    # -- outputs ------------------------------------------------------------

    def has_ready(self) -> bool:
        return bool(
            self._out.has_output()
            or (self._replication_pending and self.role is Role.LEADER)
            or self._rounds.wanted
            or self._reads.has_output()
            or self.log.handed_from <= self.log.last_index
            or self.log.applied_index < self.log.commit_index
            or self._hard_state() != self._handed_hard_state
        )

    def ready(self) -> Ready:
        """Collect everything to do now; follow with `advance` (Rule 2)."""
        self._check_not_in_ready("ready")
        if self.role is Role.LEADER:
            self._flush_replication()
            if self._rounds.wanted:
                self._broadcast_heartbeat()
        hard_state = self._hard_state()
        rd = self._out.take_ready(
            self.log.entries_to_hand(),
            hard_state if hard_state != self._handed_hard_state else None,
            self.log.entries_to_apply(),
            self._reads.take_output(),
        )
        self._ready_outstanding = True
        return rd

    def advance(self, rd: Ready) -> None:
        """The application persisted, sent and applied everything in `rd`."""
        self.accept(rd)
        self.persisted(rd)

    def accept(self, rd: Ready) -> None:
        """`rd`'s messages are sent and its persist is on its way; its committed
        entries will be applied once it is durable. The next Ready may follow."""
        invariant(self._ready_outstanding, "accept without ready", node=self.id)
        self._ready_outstanding = False
        if rd.hard_state is not None:
            self._handed_hard_state = rd.hard_state
        if rd.entries:
            self.log.handed_to(rd.entries[-1].index)
        if rd.committed_entries:
            self.log.applied_to(rd.committed_entries[-1].index)

    def persisted(self, rd: Ready) -> None:
        """`rd`'s entries and hard state are durable (Readies persist in order)."""
        self._check_not_in_ready("persisted")
        if rd.hard_state is not None:
            self._persisted_hard_state = rd.hard_state
            self._count_own_vote()
        if rd.entries:
            last = rd.entries[-1]
            if self.log.stable_to(last.index, last.term) and self.role is Role.LEADER:
                self._count_own_entries(last.index)

    def _count_own_entries(self, index: int) -> None:
        """The DESIGN.md trap: the leader's own copy of an entry counts toward
        commit only after its own fsync of it, like any follower's ack."""
        self._progress[self.id].maybe_update(index)
        self._maybe_commit()

    def status(self) -> CoreStatus:
        return CoreStatus(
            node_id=self.id,
            role=self.role,
            term=self.term,
            vote=self.vote,
            leader_id=self.leader_id,
            commit_index=self.log.commit_index,
            applied_index=self.log.applied_index,
            last_log_index=self.log.last_index,
            last_log_term=self.log.last_term,
            snapshot_index=self.log.snapshot_index,
            voters=self.voters,
            learners=self.learners,
            transfer_target=self._transfer.target,
            lease_valid=self._lease_valid(),
        )

    # -- terms ----------------------------------------------------------------

    def _adopt_higher_term(self, m: Message) -> bool:
        """A message from a later term (Raft §5.1); False when it must be ignored."""
        if isinstance(m, RequestVote):
            if (
                not m.transfer
                and (self.config.check_quorum or m.pre_vote)
                and self._in_leader_lease()
            ):
                # Dissertation §4.2.3: a server that heard from a leader within
                # the election timeout neither adopts the term nor votes, so a
                # removed or cut-off server cannot disrupt the cluster, and the
                # leader's lease holds. (With CheckQuorum off, as in the paper's
                # Figure 8, only pre-votes are refused, and leases are off.) A
                # transfer's election was asked for by the leader: never refused.
                self._emit(
                    VoteRefused(
                        m.term,
                        m.src,
                        m.pre_vote,
                        f"heard from leader {self.leader_id} within the election timeout",
                    )
                )
                return False
            if m.pre_vote:
                return True  # a pre-vote never changes anyone's term
        if isinstance(m, RequestVoteResponse) and m.pre_vote and m.granted:
            return True  # a granted pre-vote echoes the term the candidate wants
        leader = m.src if isinstance(m, AppendEntries | Heartbeat | InstallSnapshot) else None
        self._emit(TermChanged(self.term, m.term, m.src))
        self._become_follower(m.term, leader, f"saw term {m.term} from {m.src}")
        return True

    def _answer_stale_term(self, m: Message) -> None:
        """A message from an earlier term. Tell a stale leader or pre-candidate our
        term so that it steps down; this is also what lets a node whose term rose
        while it was cut off rejoin (it makes the leader step down; PreVote then
        elects a leader at a term above it). Stale answers are dropped."""
        if isinstance(m, AppendEntries | Heartbeat | InstallSnapshot):
            self._send_after_persist(self._answer(m, False))
        elif isinstance(m, RequestVote) and m.pre_vote:
            self._send_after_persist(
                RequestVoteResponse(self.term, self.id, m.src, False, True, "stale term")
            )

    def _in_leader_lease(self) -> bool:
        if self.role is Role.LEADER:
            return True
        return (
            self.leader_id is not None
            and self._election_elapsed < self.config.election_timeout_ticks_min
        )

    # -- role changes (each asserts the transition is legal) -------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.leader_id = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_election_timeout = self._rng.randint(
            self.config.election_timeout_ticks_min, self.config.election_timeout_ticks_max
        )
        self._votes = {}
        self._progress = ProgressTracker()
        self._replication_pending = False
        self._drop_reads("this node is no longer the leader")
        self._rounds = HeartbeatRounds()
        self._lease_ended = False
        self._transfer = LeadershipTransfer()

    def _become_follower(self, term: int, leader_id: str | None, reason: str) -> None:
        invariant(term >= self.term, "term went backwards", term=term, current=self.term)
        self._reset(term)
        self.role = Role.FOLLOWER
        self.leader_id = leader_id
        self._emit(BecameFollower(term, leader_id, reason))

    def _become_pre_candidate(self) -> None:
        invariant(self.role is not Role.LEADER, "invalid transition leader -> pre-candidate")
        # No reset: a PreVote round changes neither term nor vote.
        self.role = Role.PRE_CANDIDATE
        self.leader_id = None
        self._votes = {}
        self._election_elapsed = 0
        self._emit(BecamePreCandidate(self.term))

    def _become_candidate(self) -> None:
        invariant(self.role is not Role.LEADER, "invalid transition leader -> candidate")
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE
        self._emit(BecameCandidate(self.term))

    def _become_leader(self) -> None:
        invariant(
            self.role is Role.CANDIDATE, "only a candidate becomes leader", role=self.role.value
        )
        votes = tuple(sorted(voter for voter, granted in self._votes.items() if granted))
        self._reset(self.term)
        self.role = Role.LEADER
        self.leader_id = self.id
        self._sync_progress()
        own = self._progress[self.id]
        own.match_index = self.log.unstable_from - 1
        own.become_replicate()
        self._emit(BecameLeader(self.term, votes))
        # Raft §5.4.2 / §8: an entry of the new term lets earlier entries commit.
        self.log.append([Entry(self.log.last_index + 1, self.term, EntryKind.NOOP)])
        self._replication_pending = True

    # -- elections (Raft §5.2, §5.4.1; dissertation §9.6) -----------------------

    def _tick_election(self) -> None:
        self._election_elapsed += 1
        # Only a voter restarts its clock (etcd's promotable()): a learner's runs
        # on, so its lease ends and it never holds back the voters (seed 3644).
        if self._election_elapsed >= self._randomized_election_timeout and self.id in self.voters:
            self._election_elapsed = 0
            self.campaign()

    def _ask_for_votes(self, pre_vote: bool, transfer: bool = False) -> None:
        term = self.term + 1 if pre_vote else self.term
        # A pre-vote promises nothing; a real vote for ourselves counts once it
        # is durable, or a crash could let us vote again in the same term.
        self._votes = {self.id: True} if pre_vote else {}
        if self._tally():
            return
        last_index, last_term = self._log_to_claim()
        for voter in self.voters:
            if voter != self.id:
                self._send(
                    RequestVote(term, self.id, voter, last_index, last_term, pre_vote, transfer)
                )

    def _log_to_claim(self) -> tuple[int, int]:
        """§5.4.1: a candidate claims the log that is durable, not entries still
        on their way to its disk: a crash could take them, and it could then
        campaign again in the same term (that term's vote unwritten too) and
        collect votes granted to a log it no longer has (swarm seed 4286)."""
        return self.log.durable_last()

    def _count_own_vote(self) -> bool:
        """Raft Figure 2: a candidate's vote for itself is persistent state like
        any vote; count it once the hard state holding it is durable. True
        when counting it decided the election."""
        durable = self._persisted_hard_state
        if (
            self.role is not Role.CANDIDATE
            or self.id in self._votes
            or (durable.term, durable.vote) != (self.term, self.id)
        ):
            return False
        self._votes[self.id] = True
        return self._tally()

    def _tally(self) -> bool:
        """Act on the votes so far; True when the election is decided."""
        result = vote_result(self._votes, self.voters)
        if result is VoteResult.WON:
            if self.role is Role.PRE_CANDIDATE:
                self._become_candidate()
                self._ask_for_votes(pre_vote=False)
            else:
                self._become_leader()
            return True
        if result is VoteResult.LOST:
            refused = sorted(voter for voter, granted in self._votes.items() if not granted)
            self._become_follower(
                self.term, None, f"lost the election (refused by {','.join(refused)})"
            )
            return True
        return False

    def _handle_request_vote(self, m: RequestVote) -> None:
        refusal = self._vote_refusal(m)
        if refusal is None and not self._candidate_log_is_up_to_date(m):
            refusal = (
                f"candidate log (last term {m.last_log_term}, index {m.last_log_index}) is "
                f"behind ours (last term {self.log.last_term}, index {self.log.last_index})"
            )
        if refusal is None:
            if not m.pre_vote:
                self.vote = m.src
                self._election_elapsed = 0
            self._emit(VoteGranted(m.term, m.src, m.pre_vote))
            self._reply_vote(RequestVoteResponse(m.term, self.id, m.src, True, m.pre_vote))
        else:
            self._emit(VoteRefused(m.term, m.src, m.pre_vote, refusal))
            self._reply_vote(
                RequestVoteResponse(self.term, self.id, m.src, False, m.pre_vote, refusal)
            )

    def _vote_refusal(self, m: RequestVote) -> str | None:
        """At most one vote per term, first come first served (Raft §5.2); a
        pre-vote for a later term binds nothing. None means the vote may go."""
        if self.vote == m.src:
            return None
        if m.pre_vote and m.term > self.term:
            return None
        if self.vote is not None:
            return f"already voted for {self.vote} in term {self.term}"
        if self.leader_id is not None:
            return f"already following leader {self.leader_id} in term {self.term}"
        return None

    def _candidate_log_is_up_to_date(self, m: RequestVote) -> bool:
        """The election restriction (Raft §5.4.1): only a candidate whose log is at
        least as up to date as ours gets our vote."""
        return self.log.is_up_to_date(m.last_log_term, m.last_log_index)

    def _reply_vote(self, response: RequestVoteResponse) -> None:
        """A vote is persisted before it is sent (Raft Figure 2, "Persistent state")."""
        self._send_after_persist(response)

    def _handle_timeout_now(self, m: TimeoutNow) -> None:
        """The leader hands us leadership (dissertation §3.10): campaign at once,
        skipping PreVote, and ask voters not to refuse for having heard from it."""
        if self.id not in self.voters:
            return
        self._become_candidate()
        self._ask_for_votes(pre_vote=False, transfer=True)

    # -- followers and candidates ---------------------------------------------------

    def _step_follower(self, m: Message) -> None:
        match m:
            case AppendEntries() | Heartbeat() | InstallSnapshot():
                self._election_elapsed = 0
                if self.leader_id != m.src:
                    self.leader_id = m.src
                    self._emit(BecameFollower(self.term, m.src, "heard from the leader"))
                if isinstance(m, AppendEntries):
                    self._handle_append_entries(m)
                elif isinstance(m, Heartbeat):
                    self._handle_heartbeat(m)
                else:
                    self._handle_install_snapshot(m)
            case RequestVoteResponse() | AppendEntriesResponse() | HeartbeatResponse():
                pass  # answers to a role this node no longer has
            case RequestVote() | TimeoutNow():
                raise AssertionError("handled in step")
            case _:
                assert_never(m)

    def _step_candidate(self, m: Message) -> None:
        match m:
            case AppendEntries() | Heartbeat() | InstallSnapshot():
                # Raft §5.2: a leader of our term exists; give up the election.
                self._become_follower(self.term, m.src, "heard from the leader")
                self._step_follower(m)
            case RequestVoteResponse():
                if m.pre_vote == (self.role is Role.PRE_CANDIDATE):
                    self._votes[m.src] = m.granted
                    self._tally()
            case AppendEntriesResponse() | HeartbeatResponse():
                pass
            case RequestVote() | TimeoutNow():
                raise AssertionError("handled in step")
            case _:
                assert_never(m)

    def _handle_append_entries(self, m: AppendEntries) -> None:
        """The consistency check and conflict repair (Raft §5.3)."""
        if m.prev_log_index < self.log.commit_index:
            # Everything up to our commit index already matches the leader's log.
            self._send_after_persist(self._answer(m, True, self.log.commit_index))
            return
        last_new_index = self._append_from_leader(m)
        if last_new_index is None:
            self._send_after_persist(self._rejection(m))
            return
        self._commit_to(min(m.leader_commit, last_new_index))
        self._send_after_persist(self._answer(m, True, last_new_index))

    def _append_from_leader(self, m: AppendEntries) -> int | None:
        """Append the leader's entries if our log matches at prev_log_index; an
        existing entry that conflicts with a new one is deleted with all that
        follow it (Raft Figure 2, AppendEntries rules 2-4). Returns the index of
        the last new entry, or None when the consistency check fails."""
        if not self.log.matches(m.prev_log_index, m.prev_log_term):
            return None
        conflict = self.log.find_conflict(m.entries)
        if conflict:
            if conflict <= self.log.last_index:
                self._truncate(conflict, m.src)
            self._append(m.entries[conflict - m.entries[0].index :])
        return m.prev_log_index + len(m.entries)

    def _rejection(self, m: AppendEntries) -> AppendEntriesResponse:
        """The conflict hint lets the leader skip a whole term per round trip."""
        conflict_term, conflict_index = self.log.conflict_hint(m.prev_log_index)
        return AppendEntriesResponse(
            self.term,
            self.id,
            m.src,
            False,
            rejected_index=m.prev_log_index,
            conflict_term=conflict_term,
            conflict_index=conflict_index,
            incarnation=self.incarnation,
        )

    def _answer(self, m: Message, success: bool, match_index: int = 0) -> AppendEntriesResponse:
        return AppendEntriesResponse(
            self.term, self.id, m.src, success, match_index, incarnation=self.incarnation
        )

    def _handle_heartbeat(self, m: Heartbeat) -> None:
        # The leader never sends a commit index above what we are known to match.
        self._commit_to(min(m.commit_index, self.log.last_index))
        self._send_after_persist(
            HeartbeatResponse(self.term, self.id, m.src, m.round, self.incarnation)
        )

    def _handle_install_snapshot(self, m: InstallSnapshot) -> None:
        """Raft §7 (Figure 13): a snapshot no newer than our commit index teaches
        us nothing, and one whose last entry our log holds only commits it; any
        other replaces the log and the state machine."""
        meta = m.meta
        if meta.index <= self.log.commit_index:
            self._send_after_persist(self._answer(m, True, self.log.commit_index))
            return
        if self._log_survives_snapshot(meta):
            self._commit_to(meta.index)
        else:
            old_commit = self.log.commit_index
            self.log.restore(meta.index, meta.term)
            before = self.membership
            self._configurations.replace(meta.index, meta.membership)
            if before != meta.membership:
                self._membership_changed(meta.index, "installed from a snapshot")
            self._out.snapshot_to_install = Snapshot(meta, m.data)
            self._emit(SnapshotInstalled(meta.index, meta.term, m.src, 0))
            self._emit(CommitAdvanced(old_commit, meta.index))
        self._send_after_persist(self._answer(m, True, meta.index))

    def _log_survives_snapshot(self, meta: SnapshotMeta) -> bool:
        """Figure 13, step 6: when the log holds the snapshot's last entry, the
        entries after it are kept (we may have acknowledged them, and they may be
        committed); only a log that disagrees there is thrown away."""
        return self.log.matches(meta.index, meta.term)

    # -- the leader (Raft §5.3, §5.4.2; dissertation §6.2 CheckQuorum) -------------

    def _tick_heartbeat(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        self._tick_snapshots_in_flight()
        if self._transfer.timed_out(self.config.election_timeout_ticks_min):
            self._abort_transfer("no new leader within an election timeout")
        if self._election_elapsed >= self.config.election_timeout_ticks_min:
            self._election_elapsed = 0
            if self.config.check_quorum and not self._quorum_recently_active():
                return
        if self._heartbeat_elapsed >= self.config.heartbeat_interval_ticks:
            self._heartbeat_elapsed = 0
            self._broadcast_heartbeat()

    def _tick_snapshots_in_flight(self) -> None:
        """A snapshot that got no answer within the longest election timeout was
        lost (or its answer was): probe again, which resends it if still needed."""
        if self._progress.give_up_stale_snapshots(self.config.election_timeout_ticks_max):
            self._replication_pending = True

    def _quorum_recently_active(self) -> bool:
        """CheckQuorum: a leader that has not heard from a majority within an
        election timeout steps down, so a partitioned leader stops serving."""
        active = self._progress.take_recently_active(self.voters, self.id)
        if len(active) >= majority(len(self.voters)):
            return True
        self._become_follower(
            self.term,
            None,
            f"lost quorum: heard from {len(active)} of {len(self.voters)} voters",
        )
        return False

    def _broadcast_heartbeat(self) -> None:
        """One numbered round to every member; the answers confirm leadership
        for the reads waiting on this round and renew the lease from `_ticks`,
        the moment of sending (a lease counts from the send, §6.4.1)."""
        heartbeat_round = self._rounds.start(self._ticks)
        for peer, progress in self._progress.items():
            if peer != self.id:
                commit = min(progress.match_index, self.log.commit_index)
                progress.commit_sent = max(progress.commit_sent, commit)
                self._send(Heartbeat(self.term, self.id, peer, commit, heartbeat_round))

    def _step_leader(self, m: Message) -> None:
        match m:
            case AppendEntriesResponse():
                self._handle_append_response(m)
            case HeartbeatResponse():
                self._handle_heartbeat_response(m)
            case AppendEntries() | Heartbeat() | InstallSnapshot() | TimeoutNow():
                # Election Safety says this cannot be; only a forged or corrupt
                # message says otherwise, and it changes nothing here.
                plausible(False, "two leaders in one term", term=self.term, other=m.src)
            case RequestVoteResponse():
                pass
            case RequestVote():
                raise AssertionError("handled in step")
            case _:
                assert_never(m)

    def _handle_append_response(self, m: AppendEntriesResponse) -> None:
        if not m.success and not m.rejected_index:
            # The answer to a message of an earlier term (_answer_stale_term),
            # late: we have since reached its term. It says nothing of the
            # follower's log (no real rejection is at index 0, which always
            # matches), so it must not pass for a short one (swarm seed 385).
            return
        plausible(
            m.match_index <= self.log.last_index,
            "follower matches beyond our log",
            follower=m.src,
            match_index=m.match_index,
            last_index=self.log.last_index,
        )
        progress = self._answering_progress(m)
        if progress is None:
            return
        progress.recent_active = True
        lost = progress.lost_since_restart(
            m.success, m.match_index, m.conflict_term, m.conflict_index
        )
        if lost is not None:
            self._emit(FollowerLostEntries(m.src, *lost))
        if not m.success:
            hint = self.log.resume_after_conflict(
                m.conflict_term, m.conflict_index, m.rejected_index
            )
            if progress.maybe_decrease(m.rejected_index, hint):
                self._replication_pending = True
            return
        if progress.acknowledged(m.match_index):
            self._maybe_commit()
        if m.src == self._transfer.target:
            self._maybe_send_timeout_now()
        self._replication_pending = True

    def _answering_progress(self, m: AppendEntriesResponse | HeartbeatResponse) -> Progress | None:
        """The follower's progress; None for a non-member or an answer from an
        earlier life of it. An answer from a later life starts the probing over."""
        probe_from = self.log.last_index + 1
        if isinstance(m, AppendEntriesResponse) and not m.success:
            probe_from = min(m.rejected_index, self.log.last_index) + 1
        progress, news = self._progress.answering(m.src, m.incarnation, probe_from)
        self._replication_pending |= news
        return progress

    def _handle_heartbeat_response(self, m: HeartbeatResponse) -> None:
        progress = self._answering_progress(m)
        if progress is None:
            return
        progress.recent_active = True
        if progress.ack_round(m.round, self._lease_dated_from(m)):
            self._release_confirmed_reads()
        self._send_replication(self._replicator.after_heartbeat(self.term, m.src, progress))

    def _lease_dated_from(self, m: HeartbeatResponse) -> int | None:
        """§6.4.1: an answer renews the lease from the tick its heartbeat was
        sent, never from its arrival: the follower's promise not to elect
        anyone began when it heard us. None once the round is forgotten."""
        return self._rounds.sent_tick(m.round)

    def _maybe_commit(self) -> None:
        match_by_id = {voter: progress.match_index for voter, progress in self._progress.items()}
        index = committed_index(match_by_id, self.voters)
        if index > self.log.commit_index and self._may_commit_at(index):
            self._replication_pending = True  # followers must hear of the commit
            self._commit_to(index)  # (after which a removed leader is a follower)

    def _may_commit_at(self, index: int) -> bool:
        """Raft §5.4.2 (Figure 8): a leader commits only entries of its own term by
        counting replicas; earlier entries commit indirectly with them."""
        return self.log.term_at(index) == self.term

    def _commit_to(self, index: int) -> None:
        old = self.log.commit_index
        if not self.log.commit_to(index):
            return
        self._emit(CommitAdvanced(old, index))
        if self.role is not Role.LEADER:
            return
        if self._reads.awaiting_commit and self._committed_in_current_term():
            for context, lease in self._reads.take_awaiting_commit():
                self._start_read(context, lease)
        if self.id not in self.voters and self._membership_index() <= index:
            # Dissertation §4.2.2: a leader that removed itself leads until the
            # change commits, then tells everyone of the commit and steps down,
            # handing over to an up-to-date voter so that no one waits out an
            # election timeout (§3.10).
            self._replication_pending = True
            self._flush_replication()
            successor = self._up_to_date_voter()
            if successor is not None:
                self._send(TimeoutNow(self.term, self.id, successor))
            self._become_follower(self.term, None, "removed from the configuration")

    def _flush_replication(self) -> None:
        """Send what each follower is missing; runs once per Ready, so all
        proposals of a loop turn share AppendEntries."""
        if not self._replication_pending:
            return
        self._replication_pending = False
        for peer, progress in self._progress.items():
            if peer != self.id:
                self._send_replication(self._replicator.catch_up(self.term, peer, progress))

    def _send_replication(self, out: Sequence[AppendEntries | SnapshotSend]) -> None:
        """A follower that needs entries we compacted away gets our snapshot,
        streamed by the server, and nothing else meanwhile (Raft §7)."""
        for message in out:
            if isinstance(message, SnapshotSend):
                self._out.snapshot_sends.append(message)
                self._emit(SnapshotSent(message.peer, message.index))
            else:
                self._send(message)

    def snapshot_meta(self, index: int) -> SnapshotMeta:
        """What a snapshot at `index` records, as `compact(index)` will: its last
        included term, which the consistency check at the snapshot's edge needs
        (Raft §7), and the configuration in force there (dissertation §5.1)."""
        term = known(self.log.term_at(index), "no term at the snapshot index", index=index)
        membership = self._configurations.at(index)
        return SnapshotMeta(index, term, membership.voters, membership.learners)

    # -- membership (dissertation §4.1-§4.2) ---------------------------------------

    def _check_may_propose(self) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader_id)
        if self._transfer.target is not None:
            raise NotNow(f"leadership transfer to {self._transfer.target} in progress")

    def _committed_in_current_term(self) -> bool:
        return self.log.term_at(self.log.commit_index) == self.term

    def _may_change_membership_in_this_term(self) -> bool:
        """Ongaro's 2015 correction to §4.1: a leader appends a configuration
        change only once an entry of its own term is committed, or two changes
        from leaders of different terms could form disjoint majorities."""
        return self._committed_in_current_term()

    def _pending_membership_change(self) -> int | None:
        """The index of an appended, uncommitted configuration entry: while one
        is pending no other may start, since single-server changes are only
        safe one after another (§4.1)."""
        index = self._membership_index()
        return index if index > self.log.commit_index else None

    def _changed_membership(self, change: MembershipChange) -> Membership:
        match_indexes = self._progress.match_indexes()
        return changed_membership(self.membership, change, match_indexes, self.log.commit_index)

    def _membership_index(self) -> int:
        """The index of the entry that made the configuration now in force."""
        return self._configurations.latest_index

    def _append(self, entries: Sequence[Entry]) -> None:
        self.log.append(entries)
        self._note_config_entries(entries)

    def _truncate(self, index: int, leader_id: str) -> None:
        removed = self.log.truncate_from(index)
        self._emit(EntriesTruncated(index, removed, leader_id))
        if self._configurations.truncate_from(index):
            # The configuration goes with the entry that brought it (§4.1).
            self._membership_changed(self._configurations.latest_index, "reverted")

    def _note_config_entries(self, entries: Sequence[Entry], announce: bool = True) -> None:
        """A configuration is in force as soon as its entry is in the log (§4.1)."""
        for entry in entries:
            if entry.kind is EntryKind.CONFIG:
                self._configurations.add(entry.index, decode_membership(entry.data))
                if announce:
                    self._membership_changed(entry.index, "appended")

    def _membership_changed(self, index: int, how: str) -> None:
        """The configuration in force changed (it came in at `index`): say so,
        and a leader tracks the new members and recounts its quorums."""
        membership = self.membership
        self._emit(MembershipChanged(index, membership.voters, membership.learners, how))
        if self.role is Role.LEADER:
            self._sync_progress()
            if self._transfer.target is not None and self._transfer.target not in self.voters:
                self._abort_transfer(f"{self._transfer.target} is no longer a voter")
            self._maybe_commit()
            self._release_confirmed_reads()

    def _sync_progress(self) -> None:
        """The leader tracks every member, and itself even once removed."""
        self._progress.sync(self.membership.members, self.id, self.log.last_index + 1)
        self._replication_pending = True

    # -- leadership transfer (dissertation §3.10) ---------------------------------

    def _maybe_send_timeout_now(self) -> None:
        target = self._transfer.target
        if target is None or self._transfer.timeout_now_sent:
            return
        if self._progress[target].match_index == self.log.last_index:
            self._transfer.timeout_now_sent = True
            # The target's election ignores leases, ours included: it ends here.
            self._lease_ended = True
            self._send(TimeoutNow(self.term, self.id, target))

    def _up_to_date_voter(self) -> str | None:
        return self._progress.up_to_date_voter(self.voters, self.id, self.log.last_index)

    def _abort_transfer(self, reason: str) -> None:
        self._emit(TransferAborted(self._transfer.end(reason), reason))

    # -- plumbing -------------------------------------------------------------

    def _hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.commit_index)

    def _check_not_in_ready(self, what: str) -> None:
        invariant(not self._ready_outstanding, f"{what} between ready() and advance()", id=self.id)
