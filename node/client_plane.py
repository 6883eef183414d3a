"""The client plane of a node: client requests in, answers out.

Rules:
- Writes go through the log. Every write received in one loop turn becomes
  one proposal (one append, one fsync, one AppendEntries per follower); its
  client is answered once the entry is applied, by this node, in its term.
- A linearizable read asks the core for a ReadIndex (confirmed by a heartbeat
  round, dissertation §6.4), a lease read for the leader's lease (§6.4.1,
  falling back to ReadIndex when the lease is not valid); either is answered
  once the state machine has applied the index the core hands back, without a
  log write. A stale read is answered from local state at once.
- A non-leader answers not_leader with the leader it knows and its address.
- A client whose write may or may not commit (leadership lost, a transfer
  under way) is told "retry": it asks again with the same sequence number,
  and its session makes the retry harmless.
- Paxos without a distinguished proposer (`any_node_proposes`): any node
  takes a request; one that does not lead prepares its own ballot, holds
  the writes and proposes them the moment it leads (a read is told "retry",
  and comes back to it): node.paxos.core's dueling proposers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.consensus import ConsensusCore
from node.errors import NotLeader, NotNow, ProposalRejected
from node.failpoints import Failpoints
from node.kv import KVStateMachine
from node.messages import (
    Cas,
    Changes,
    ClientRequest,
    ClientResponse,
    Command,
    Consistency,
    Delete,
    DeletePrefix,
    Get,
    GetPrefix,
    Keys,
    Operation,
    Put,
    SetAdd,
    SetMembers,
    SetOperation,
    SetRemove,
    Txn,
    TxnPrepare,
    data_bytes,
    encode,
    encode_command,
    is_read_only,
)
from node.ready import Ready, Role

__all__ = ["REQUEST_BYTES_MAX", "ClientPlane", "data_problem"]

# A client request larger than this is refused whatever its keys and values
# (a transaction of many puts): half the largest frame a node takes.
REQUEST_BYTES_MAX = 32 << 20
# Writes a node without a distinguished proposer holds while it prepares,
# and for how long: past it the client has asked again (or gone), and a
# write held forever would keep its node fighting for a ballot.
DEFERRED_WRITES_MAX = 1000
DEFERRED_FOR_S = 1.0

Reply = Callable[[bytes, bytes], None]  # (client identity, frame)


@dataclass(frozen=True, slots=True)
class _PendingWrite:
    """A write received this turn, to be proposed with the others."""

    command: Command
    data: bytes  # the command, encoded: what the log entry carries
    identity: bytes
    request_id: int


@dataclass(frozen=True, slots=True)
class _WaitingWrite:
    """A client waiting for the entry at some index, of `term`, to apply."""

    identity: bytes
    request_id: int
    term: int
    command: Command  # what that entry holds if it is still ours: no need to decode it


@dataclass(frozen=True, slots=True)
class _Read:
    """A client read waiting for its ReadIndex, then for that index to apply."""

    identity: bytes
    request_id: int
    operation: Operation
    index: int = 0


class ClientPlane:
    """Client requests of one node, from arrival to answer."""

    def __init__(
        self,
        core: ConsensusCore,
        kv: KVStateMachine,
        failpoints: Failpoints,
        reply: Reply,
        address_of: Callable[[str], str | None],
        key_bytes_max: int = 4096,
        value_bytes_max: int = 1 << 20,
        any_node_proposes: bool = False,
    ) -> None:
        # Paxos without a distinguished proposer: a node that does not lead
        # prepares its own ballot when asked, instead of naming a leader.
        self.any_node_proposes = any_node_proposes
        self.key_bytes_max = key_bytes_max
        self.value_bytes_max = value_bytes_max
        self.core = core
        self.kv = kv
        self.failpoints = failpoints
        self._reply = reply
        self._address_of = address_of
        self.pending: list[_PendingWrite] = []
        # Paxos without a distinguished proposer: writes held while this node
        # prepares its ballot, proposed the moment it leads.
        self.deferred: list[_PendingWrite] = []
        self.deferred_at = 0.0  # when the oldest of them was first held
        self.waiting: dict[int, _WaitingWrite] = {}  # by log index
        # Reads by context: asked of the core, then confirmed and waiting to apply.
        self.reads_asked: dict[bytes, _Read] = {}
        self.reads_ready: list[_Read] = []
        self._next_read = 0

    def handle(self, identity: bytes, request: ClientRequest, size: int = 0) -> None:
        """One client request, `size` bytes on the wire."""
        problem = data_problem(request.operation, self.key_bytes_max, self.value_bytes_max)
        if size > REQUEST_BYTES_MAX:
            problem = f"a request of {size} bytes is over {REQUEST_BYTES_MAX}"
        if isinstance(request.operation, SetOperation):
            problem = (
                "the observed-remove set is protocol gossip's; "
                "under raft a set is the keys under a prefix"
            )
        if problem is not None:
            # A definite no, before it costs the log, the network and every replica.
            self.answer(identity, request.request_id, "refused", {"message": problem})
            return
        read_only = is_read_only(request.operation)
        if read_only and request.consistency == Consistency.STALE:
            # Stale reads the last committed value, whatever a transaction locked.
            result = self.kv.execute(request.operation, honour_locks=False)
            self.answer(identity, request.request_id, "ok", result)
            return
        if self.core.role is not Role.LEADER and not self.any_node_proposes:
            self.redirect(identity, request.request_id)
            return
        if read_only:
            self._read(identity, request)
            return
        command = Command(
            request.client_id, request.sequence, request.acknowledged, request.operation
        )
        self.pending.append(
            _PendingWrite(command, encode_command(command), identity, request.request_id)
        )

    def _read(self, identity: bytes, request: ClientRequest) -> None:
        """A read without a log write: the core confirms leadership (a heartbeat
        round, or the lease) and names the index to wait for."""
        self._next_read += 1
        context = self._next_read.to_bytes(8, "big")
        try:
            self.core.read_index(context, lease=request.consistency == Consistency.LEASE)
        except NotLeader:
            self.redirect(identity, request.request_id)
            return
        except ProposalRejected as refusal:  # a transfer under way, or a ballot prepared
            back_to = self.core.id if self.any_node_proposes else None
            self.answer(identity, request.request_id, "retry", {"message": str(refusal)}, back_to)
            return
        self.reads_asked[context] = _Read(identity, request.request_id, request.operation)

    def propose_pending(self, now: float = 0.0) -> None:
        """All the turn's writes become one append: one fsync, one AppendEntries.
        `now` (monotonic seconds) ages the writes held without a leader."""
        if self.deferred and now - self.deferred_at > DEFERRED_FOR_S:
            for write in self.deferred:
                self.answer(write.identity, write.request_id, "retry", {}, self.core.id)
            self.deferred.clear()
        if not self.pending and not self.deferred:
            return
        core = self.core
        if not self.deferred:
            self.deferred_at = now
        writes = [*self.deferred, *self.pending]
        self.pending.clear()
        self.deferred.clear()
        if core.role is not Role.LEADER and not self.any_node_proposes:
            for write in writes:
                self.redirect(write.identity, write.request_id)
            return
        try:
            proposal = core.propose([write.data for write in writes])
        except NotLeader:
            for write in writes:
                self.redirect(write.identity, write.request_id)
        except ProposalRejected as refusal:
            if self.any_node_proposes and isinstance(refusal, NotNow):
                # This node prepares its own ballot: the writes wait for it
                # (their clients ask again with the same sequence if it is slow).
                self.deferred = writes[-DEFERRED_WRITES_MAX:]
                for write in writes[:-DEFERRED_WRITES_MAX]:
                    self.answer(write.identity, write.request_id, "retry", {}, core.id)
            else:
                # A leadership transfer is under way (found by raftctl chaos: the
                # leader used to crash here). The client asks again shortly, with
                # the same sequence number, of whoever leads by then.
                why = {"message": str(refusal)}
                for write in writes:
                    self.answer(write.identity, write.request_id, "retry", why, core.leader_id)
        else:
            for offset, write in enumerate(writes):
                self.waiting[proposal.first_index + offset] = _WaitingWrite(
                    write.identity, write.request_id, proposal.term, write.command
                )

    def apply(self, rd: Ready) -> None:
        """Apply the committed entries and answer the writers waiting on them."""
        if rd.committed_entries:
            self.failpoints.hit("before-apply")
        for entry in rd.committed_entries:
            waiting = self.waiting.pop(entry.index, None)
            # The entry this node proposed at that index and term holds the
            # command it encoded: apply that, rather than decode it again.
            ours = waiting is not None and waiting.term == entry.term
            result = self.kv.apply(entry, waiting.command if ours and waiting else None)
            if waiting is None:
                continue
            if ours and result is not None:
                self.answer(waiting.identity, waiting.request_id, "ok", result)
            else:  # another leader's entry took this index: ours was lost
                self.answer(waiting.identity, waiting.request_id, "retry", {})
        if self.waiting and self.core.role is not Role.LEADER:
            # Our proposals may still commit under the new leader, or not.
            leader = self.core.leader_id
            for waiting in self.waiting.values():
                self.answer(waiting.identity, waiting.request_id, "retry", {}, leader)
            self.waiting.clear()

    def serve_reads(self, rd: Ready) -> None:
        """Answer the reads whose leadership is confirmed and whose index applied."""
        for state in rd.read_states:
            read = self.reads_asked.pop(state.context, None)
            if read is not None:
                self.reads_ready.append(
                    _Read(read.identity, read.request_id, read.operation, state.index)
                )
        for context, _reason in rd.reads_dropped:
            read = self.reads_asked.pop(context, None)
            if read is not None:  # leadership lost before it was confirmed
                self.answer(read.identity, read.request_id, "retry", {}, self.core.leader_id)
        if not self.reads_ready:
            return
        applied = self.kv.applied_index
        still_waiting = []
        for read in self.reads_ready:
            if read.index <= applied:
                self.answer(read.identity, read.request_id, "ok", self.kv.execute(read.operation))
            else:
                still_waiting.append(read)
        self.reads_ready = still_waiting

    def redirect(self, identity: bytes, request_id: int) -> None:
        """not_leader, with the leader's id and address when this node knows them."""
        leader = self.core.leader_id
        address = self._address_of(leader) if leader else None  # None: not in cluster.toml
        result = {"leader": leader, "leader_address": address}
        self.answer(identity, request_id, "not_leader", result, leader)

    def answer(
        self,
        identity: bytes,
        request_id: int,
        status: str,
        result: dict[str, Any],
        leader_id: str | None = None,
    ) -> None:
        if status == "ok" and "locked" in result:
            # A transaction holds a lock on its key: nothing was applied; the
            # client asks again (with the same sequence) until it is released.
            status = "retry"
        self._reply(identity, encode(ClientResponse(request_id, status, result, leader_id)))


def data_problem(operation: Operation, key_bytes_max: int, value_bytes_max: int) -> str | None:
    """What in `operation` no store would take, said for the user: an empty
    key, or a key or value over the cluster's limits (cluster.toml's
    key_bytes_max and value_bytes_max); None if nothing."""
    keys: list[str] = []
    values: list[str | None] = []
    match operation:
        case Keys(prefix) | GetPrefix(prefix) | Changes(prefix, True, _):
            keys.append(prefix or "-")  # the empty prefix means every key
        case DeletePrefix(prefix):
            if not prefix:
                return "deleting by the empty prefix would delete every key: name a prefix"
            keys.append(prefix)
        case Changes(key, False, _):
            keys.append(key)
        case Get(key) | Delete(key) | SetMembers(key):
            keys.append(key)
        case SetAdd(key, element) | SetRemove(key, element):
            keys.append(key)
            values.append(element)
        case Put(key, value):
            keys.append(key)
            values.append(value)
        case Cas(key, expected, new):
            keys.append(key)
            values += [expected, new]
        case (
            Txn(compare, success, failure)
            | TxnPrepare(compare=compare, success=success, failure=failure)
        ):
            for check in compare:
                keys.append(check.key)
                values.append(check.value)
            for inner in (*success, *failure):
                problem = data_problem(inner, key_bytes_max, value_bytes_max)
                if problem is not None:
                    return problem
    for key in keys:
        if not key:
            return "a key cannot be empty"
        if (size := _utf8_size_over(key, key_bytes_max)) is not None:
            return f"a key of {size} bytes is over key_bytes_max ({key_bytes_max})"
    for text in values:
        if text is not None and (size := _utf8_size_over(text, value_bytes_max)) is not None:
            return f"a value of {size} bytes is over value_bytes_max ({value_bytes_max})"
    return None


def _utf8_size_over(text: str, limit: int) -> int | None:
    """The size in bytes of the key or value `text` if it is over `limit`. A
    character is at most four bytes, so it is encoded again only near the limit."""
    if len(text) * 4 <= limit:
        return None
    size = len(data_bytes(text))
    return size if size > limit else None
