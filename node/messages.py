"""Every message a node sends or receives, one frozen dataclass each, and the
one codec that turns them into bytes.

Rules:
- A message is a plain value. Raft messages carry `term`, `src` and `dst`; the
  core dispatches on their type with `match` and `assert_never`. Names follow
  the paper and fields use its vocabulary unabbreviated.
- Only this module knows msgpack. A frame is one version byte and a msgpack
  array `[type code, field, ...]`; client commands inside log entries use the
  same codec.
- Everything decoded is untrusted: a frame that is not exactly what a message
  must be raises InvalidMessage, never anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack

from node.errors import InvalidMessage

__all__ = [
    "WIRE_VERSION",
    "AdminRequest",
    "AdminResponse",
    "AppendEntries",
    "AppendEntriesResponse",
    "Cas",
    "ClientRequest",
    "ClientResponse",
    "Command",
    "Compare",
    "Delete",
    "Entry",
    "EntryKind",
    "Get",
    "Heartbeat",
    "HeartbeatResponse",
    "InstallSnapshot",
    "Keys",
    "Membership",
    "Message",
    "Operation",
    "Put",
    "RequestVote",
    "RequestVoteResponse",
    "SnapshotMeta",
    "TimeoutNow",
    "Txn",
    "decode",
    "decode_command",
    "decode_membership",
    "encode",
    "encode_command",
    "encode_membership",
    "is_read_only",
]

WIRE_VERSION = 1


class EntryKind(IntEnum):
    """What a log entry carries."""

    COMMAND = 0  # opaque bytes for the state machine
    NOOP = 1  # appended by a new leader so that earlier entries commit (Raft §5.4.2)
    CONFIG = 2  # a new Membership, in force from the moment it is appended (§4.1)


@dataclass(frozen=True, slots=True)
class Membership:
    """Who votes and who only listens (dissertation §4.1, §4.2.1 learners).
    Invariant: a node is in at most one of the two, each listed once, sorted."""

    voters: tuple[str, ...]
    learners: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        members = (*self.voters, *self.learners)
        if len(set(members)) != len(members):
            raise InvalidMessage(f"a node listed twice in {members}")

    @property
    def members(self) -> tuple[str, ...]:
        return (*self.voters, *self.learners)

    def describe(self) -> str:
        learners = f" learners {','.join(self.learners)}" if self.learners else ""
        return f"voters {','.join(self.voters) or '(none)'}{learners}"


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """What a snapshot covers: the log up to (index, term), and the membership
    in force at `index` (snapshots carry the configuration, dissertation §5.1)."""

    index: int
    term: int
    voters: tuple[str, ...]
    learners: tuple[str, ...] = ()

    @property
    def membership(self) -> Membership:
        return Membership(self.voters, self.learners)


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. Invariant: an (index, term) pair names exactly one entry."""

    index: int
    term: int
    kind: EntryKind = EntryKind.COMMAND
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class RequestVote:
    """Candidate → all: vote for me in `term` (Raft §5.2). With `pre_vote`, a
    dry run that changes no one's term or vote (dissertation §9.6)."""

    term: int
    src: str
    dst: str
    last_log_index: int
    last_log_term: int
    pre_vote: bool = False
    # Sent on a TimeoutNow: voters must not refuse because they heard from
    # the leader recently, since that leader asked for this election (§3.10).
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class RequestVoteResponse:
    """The answer to RequestVote; `reason` says why a vote was refused."""

    term: int
    src: str
    dst: str
    granted: bool
    pre_vote: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AppendEntries:
    """Leader → follower: entries after (prev_log_index, prev_log_term) (Raft §5.3)."""

    term: int
    src: str
    dst: str
    prev_log_index: int
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int


@dataclass(frozen=True, slots=True)
class AppendEntriesResponse:
    """Follower → leader.

    On success `match_index` is the last index known to match the leader.
    On rejection `rejected_index` is the prev_log_index that did not match, and
    the hint lets the leader skip a whole term per round trip: `conflict_term`
    is the follower's term at rejected_index (0 when its log is shorter) and
    `conflict_index` the first index the follower holds of that term (or its
    last index + 1 when its log is shorter).
    """

    term: int
    src: str
    dst: str
    success: bool
    match_index: int = 0
    rejected_index: int = 0
    conflict_term: int = 0
    conflict_index: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Leader → follower: I am alive. `commit_index` is never above what the
    follower is known to match, so it can always be applied safely. `round`
    numbers the leader's heartbeat broadcasts: its echo confirms leadership
    for ReadIndex and dates the leader's lease (dissertation §6.4)."""

    term: int
    src: str
    dst: str
    commit_index: int
    round: int = 0


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    """Follower → leader: I heard your heartbeat `round` (counts for CheckQuorum)."""

    term: int
    src: str
    dst: str
    round: int = 0


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leader → transfer target: start an election at once (dissertation §3.10)."""

    term: int
    src: str
    dst: str


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """Leader → follower: the state up to `meta` (Raft §7, Figure 13). The
    server streams a snapshot as chunks at `offset`; the core sees one message
    holding the whole of `data` once the last chunk (`done`) has arrived."""

    term: int
    src: str
    dst: str
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


Message = (
    RequestVote
    | RequestVoteResponse
    | AppendEntries
    | AppendEntriesResponse
    | Heartbeat
    | HeartbeatResponse
    | TimeoutNow
    | InstallSnapshot
)


# -- the client protocol ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Get:
    key: str


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


@dataclass(frozen=True, slots=True)
class Cas:
    """Set `key` to `new` if its value is `expected` (None: the key is absent)."""

    key: str
    expected: str | None
    new: str


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str


@dataclass(frozen=True, slots=True)
class Compare:
    """Holds when `key`'s current value equals `value` (None: the key is absent)."""

    key: str
    value: str | None


@dataclass(frozen=True, slots=True)
class Txn:
    """etcd-style: if every comparison holds run `success`, else `failure`,
    all at one point of the log."""

    compare: tuple[Compare, ...]
    success: tuple[Get | Put | Delete, ...]
    failure: tuple[Get | Put | Delete, ...]


Operation = Get | Put | Delete | Cas | Keys | Txn


def is_read_only(operation: Operation) -> bool:
    """True for operations that change nothing (a transaction of gets included)."""
    if isinstance(operation, Get | Keys):
        return True
    if isinstance(operation, Txn):
        return all(isinstance(op, Get) for op in (*operation.success, *operation.failure))
    return False


@dataclass(frozen=True, slots=True)
class Command:
    """What a log entry carries for the key-value store (dissertation §6.3):
    the client's session, its sequence number, and the highest sequence number
    whose answer it has received (so the session may forget answers up to it)."""

    client_id: str
    sequence: int
    acknowledged: int
    operation: Operation


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """Client → any node. `sequence` 0 marks a read that needs no session."""

    request_id: int
    client_id: str
    sequence: int
    acknowledged: int
    operation: Operation
    consistency: str = "linearizable"  # reads: linearizable | stale


@dataclass(frozen=True, slots=True)
class ClientResponse:
    """`status`: ok | not_leader (see leader_id) | retry (outcome unknown:
    ask again with the same sequence) | error (result["message"])."""

    request_id: int
    status: str
    result: dict[str, Any]
    leader_id: str | None = None


@dataclass(frozen=True, slots=True)
class AdminRequest:
    """Controller → node: status, reload-faults, events."""

    request_id: int
    command: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AdminResponse:
    request_id: int
    result: dict[str, Any]


# -- the codec ----------------------------------------------------------------------

_KINDS = tuple(EntryKind)


def _operation_to_wire(operation: Operation) -> list[Any]:
    match operation:
        case Get(key):
            return ["get", key]
        case Put(key, value):
            return ["put", key, value]
        case Delete(key):
            return ["delete", key]
        case Cas(key, expected, new):
            return ["cas", key, expected, new]
        case Keys(prefix):
            return ["keys", prefix]
        case Txn(compare, success, failure):
            return [
                "txn",
                [[c.key, c.value] for c in compare],
                [_operation_to_wire(op) for op in success],
                [_operation_to_wire(op) for op in failure],
            ]
    raise InvalidMessage(f"not an operation: {operation!r}")


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidMessage(f"{what} must be a string, not {type(value).__name__}")
    return value


def _optional_str(value: Any, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidMessage(f"{what} must be a non-negative integer")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidMessage(f"{what} must be true or false")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidMessage(f"{what} must be a list")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidMessage(f"{what} must be a map")
    return value


def _operation_from_wire(raw: Any, inside_txn: bool = False) -> Operation:
    fields = _list(raw, "operation")
    if not fields:
        raise InvalidMessage("empty operation")
    name, arguments = fields[0], fields[1:]
    expected = {"get": 1, "put": 2, "delete": 1, "cas": 3, "keys": 1, "txn": 3}
    if name not in expected or len(arguments) != expected[name]:
        raise InvalidMessage(f"malformed operation {name!r}")
    if inside_txn and name not in ("get", "put", "delete"):
        raise InvalidMessage(f"a transaction may hold get, put and delete, not {name!r}")
    match name:
        case "get":
            return Get(_str(arguments[0], "key"))
        case "put":
            return Put(_str(arguments[0], "key"), _str(arguments[1], "value"))
        case "delete":
            return Delete(_str(arguments[0], "key"))
        case "cas":
            return Cas(
                _str(arguments[0], "key"),
                _optional_str(arguments[1], "expected"),
                _str(arguments[2], "new"),
            )
        case "keys":
            return Keys(_str(arguments[0], "prefix"))
    compare = []
    for item in _list(arguments[0], "compare"):
        pair = _list(item, "comparison")
        if len(pair) != 2:
            raise InvalidMessage("a comparison is [key, value]")
        compare.append(Compare(_str(pair[0], "key"), _optional_str(pair[1], "value")))
    success = tuple(_operation_from_wire(op, True) for op in _list(arguments[1], "success"))
    failure = tuple(_operation_from_wire(op, True) for op in _list(arguments[2], "failure"))
    return Txn(tuple(compare), success, failure)  # type: ignore[arg-type]


def _names(raw: Any, what: str) -> tuple[str, ...]:
    return tuple(_str(name, what) for name in _list(raw, what))


def _membership_from_wire(voters: Any, learners: Any) -> Membership:
    return Membership(_names(voters, "voter"), _names(learners, "learner"))


def _snapshot_meta_from_wire(raw: Any) -> SnapshotMeta:
    fields = _list(raw, "snapshot meta")
    if len(fields) != 4:
        raise InvalidMessage("snapshot meta is [index, term, voters, learners]")
    membership = _membership_from_wire(fields[2], fields[3])
    return SnapshotMeta(
        _int(fields[0], "snapshot index"),
        _int(fields[1], "snapshot term"),
        membership.voters,
        membership.learners,
    )


def _entries_from_wire(raw: Any) -> tuple[Entry, ...]:
    entries = []
    previous = None
    for item in _list(raw, "entries"):
        fields = _list(item, "entry")
        if len(fields) != 4 or not isinstance(fields[3], bytes):
            raise InvalidMessage("an entry is [index, term, kind, data bytes]")
        index, term, kind = (
            _int(fields[0], "index"),
            _int(fields[1], "term"),
            _int(fields[2], "kind"),
        )
        if kind >= len(_KINDS) or (previous is not None and index != previous + 1):
            raise InvalidMessage("entries must be of a known kind and contiguous")
        previous = index
        entries.append(Entry(index, term, _KINDS[kind], fields[3]))
    return tuple(entries)


def _to_wire(message: Any) -> list[Any]:
    match message:
        case RequestVote(term, src, dst, last_index, last_term, pre_vote, transfer):
            return [1, term, src, dst, last_index, last_term, pre_vote, transfer]
        case RequestVoteResponse(term, src, dst, granted, pre_vote, reason):
            return [2, term, src, dst, granted, pre_vote, reason]
        case AppendEntries(term, src, dst, prev_index, prev_term, entries, commit):
            return [
                3,
                term,
                src,
                dst,
                prev_index,
                prev_term,
                [[e.index, e.term, int(e.kind), e.data] for e in entries],
                commit,
            ]
        case AppendEntriesResponse(term, src, dst, success, match, rejected, c_term, c_index):
            return [4, term, src, dst, success, match, rejected, c_term, c_index]
        case Heartbeat(term, src, dst, commit, heartbeat_round):
            return [5, term, src, dst, commit, heartbeat_round]
        case HeartbeatResponse(term, src, dst, heartbeat_round):
            return [6, term, src, dst, heartbeat_round]
        case TimeoutNow(term, src, dst):
            return [7, term, src, dst]
        case InstallSnapshot(term, src, dst, meta, offset, data, done):
            return [
                8,
                term,
                src,
                dst,
                [meta.index, meta.term, list(meta.voters), list(meta.learners)],
                offset,
                data,
                done,
            ]
        case ClientRequest(request_id, client_id, sequence, acknowledged, operation, consistency):
            return [
                20,
                request_id,
                client_id,
                sequence,
                acknowledged,
                _operation_to_wire(operation),
                consistency,
            ]
        case ClientResponse(request_id, status, result, leader_id):
            return [21, request_id, status, result, leader_id]
        case AdminRequest(request_id, command, arguments):
            return [30, request_id, command, arguments]
        case AdminResponse(request_id, result):
            return [31, request_id, result]
    raise InvalidMessage(f"cannot encode {type(message).__name__}")


_ARITY = {1: 8, 2: 7, 3: 8, 4: 9, 5: 6, 6: 5, 7: 4, 8: 8, 20: 7, 21: 5, 30: 4, 31: 3}


def _from_wire(fields: list[Any]) -> Any:
    if not fields or fields[0] not in _ARITY or len(fields) != _ARITY[fields[0]]:
        raise InvalidMessage("unknown message type or wrong number of fields")
    code = fields[0]
    if code <= 8:
        term, src, dst = _int(fields[1], "term"), _str(fields[2], "src"), _str(fields[3], "dst")
    match code:
        case 1:
            return RequestVote(
                term,
                src,
                dst,
                _int(fields[4], "last_log_index"),
                _int(fields[5], "last_log_term"),
                _bool(fields[6], "pre_vote"),
                _bool(fields[7], "transfer"),
            )
        case 2:
            return RequestVoteResponse(
                term,
                src,
                dst,
                _bool(fields[4], "granted"),
                _bool(fields[5], "pre_vote"),
                _str(fields[6], "reason"),
            )
        case 3:
            prev_index = _int(fields[4], "prev_log_index")
            entries = _entries_from_wire(fields[6])
            if entries and entries[0].index != prev_index + 1:
                raise InvalidMessage("entries must follow prev_log_index")
            return AppendEntries(
                term,
                src,
                dst,
                prev_index,
                _int(fields[5], "prev_log_term"),
                entries,
                _int(fields[7], "leader_commit"),
            )
        case 4:
            return AppendEntriesResponse(
                term,
                src,
                dst,
                _bool(fields[4], "success"),
                _int(fields[5], "match_index"),
                _int(fields[6], "rejected_index"),
                _int(fields[7], "conflict_term"),
                _int(fields[8], "conflict_index"),
            )
        case 5:
            return Heartbeat(
                term, src, dst, _int(fields[4], "commit_index"), _int(fields[5], "round")
            )
        case 6:
            return HeartbeatResponse(term, src, dst, _int(fields[4], "round"))
        case 7:
            return TimeoutNow(term, src, dst)
        case 8:
            data = fields[6]
            if not isinstance(data, bytes):
                raise InvalidMessage("snapshot data must be bytes")
            return InstallSnapshot(
                term,
                src,
                dst,
                _snapshot_meta_from_wire(fields[4]),
                _int(fields[5], "offset"),
                data,
                _bool(fields[7], "done"),
            )
        case 20:
            consistency = _str(fields[6], "consistency")
            if consistency not in ("linearizable", "lease", "stale"):
                raise InvalidMessage(f"unknown consistency {consistency!r}")
            return ClientRequest(
                _int(fields[1], "request_id"),
                _str(fields[2], "client_id"),
                _int(fields[3], "sequence"),
                _int(fields[4], "acknowledged"),
                _operation_from_wire(fields[5]),
                consistency,
            )
        case 21:
            return ClientResponse(
                _int(fields[1], "request_id"),
                _str(fields[2], "status"),
                _dict(fields[3], "result"),
                _optional_str(fields[4], "leader_id"),
            )
        case 30:
            return AdminRequest(
                _int(fields[1], "request_id"),
                _str(fields[2], "command"),
                _dict(fields[3], "arguments"),
            )
        case 31:
            return AdminResponse(_int(fields[1], "request_id"), _dict(fields[2], "result"))
    raise InvalidMessage(f"unknown message type {code}")


def encode(message: Any) -> bytes:
    """One frame: the version byte, then msgpack."""
    return bytes((WIRE_VERSION,)) + msgpack.packb(_to_wire(message))


def decode(frame: bytes) -> Any:
    """The message in `frame`; InvalidMessage for anything malformed."""
    if not frame or frame[0] != WIRE_VERSION:
        raise InvalidMessage(f"unknown wire version {frame[:1]!r}")
    try:
        fields = msgpack.unpackb(frame[1:], strict_map_key=True)
    except Exception as error:  # msgpack raises several unrelated types for bad input
        raise InvalidMessage(f"undecodable frame: {error}") from error
    return _from_wire(_list(fields, "message"))


def encode_command(command: Command) -> bytes:
    return msgpack.packb(
        [
            command.client_id,
            command.sequence,
            command.acknowledged,
            _operation_to_wire(command.operation),
        ]
    )


def decode_command(data: bytes) -> Command:
    try:
        fields = msgpack.unpackb(data)
    except Exception as error:  # as in decode: any malformed input is InvalidMessage
        raise InvalidMessage(f"undecodable command: {error}") from error
    fields = _list(fields, "command")
    if len(fields) != 4:
        raise InvalidMessage("a command is [client_id, sequence, acknowledged, operation]")
    return Command(
        _str(fields[0], "client_id"),
        _int(fields[1], "sequence"),
        _int(fields[2], "acknowledged"),
        _operation_from_wire(fields[3]),
    )


def encode_membership(membership: Membership) -> bytes:
    """The data of a CONFIG log entry."""
    return msgpack.packb([list(membership.voters), list(membership.learners)])


def decode_membership(data: bytes) -> Membership:
    try:
        fields = msgpack.unpackb(data)
    except Exception as error:  # as in decode: any malformed input is InvalidMessage
        raise InvalidMessage(f"undecodable membership: {error}") from error
    fields = _list(fields, "membership")
    if len(fields) != 2:
        raise InvalidMessage("a membership is [voters, learners]")
    return _membership_from_wire(fields[0], fields[1])
