"""The client protocol: key-value operations, the commands that carry them
through the log, and a client's requests and the node's answers.

How they travel is node.messages.codec's business alone.

Keys and values are bytes, as etcd's are. Python carries them as str in the
PEP 383 convention (the one argv arrives in): valid UTF-8 is the text itself
and every other byte is a lone surrogate U+DC80..U+DCFF, so each byte string
is exactly one str and back (`data_bytes`, `data_text`). The codec writes
them as their original bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

__all__ = [
    "BYTES_AS_TEXT",
    "Cas",
    "Changes",
    "ClientRequest",
    "ClientResponse",
    "Command",
    "Compare",
    "Consistency",
    "Data",
    "Delete",
    "DeletePrefix",
    "Get",
    "GetPrefix",
    "Keys",
    "Operation",
    "Put",
    "SetAdd",
    "SetMembers",
    "SetOperation",
    "SetRemove",
    "Txn",
    "TxnDecide",
    "TxnFinish",
    "TxnForget",
    "TxnOperation",
    "TxnPreCommit",
    "TxnPrepare",
    "TxnQuery",
    "TxnStep",
    "data_bytes",
    "data_text",
    "is_read_only",
    "is_utf8",
]

# The error handler that maps bytes that are not UTF-8 to lone surrogates and back.
BYTES_AS_TEXT = "surrogateescape"

# A key or value: a str that may carry bytes that are not UTF-8. To the type
# checker it is a str; the codec lets only these fields hold such bytes.
Data = Annotated[str, "bytes"]


def data_bytes(text: str) -> bytes:
    """The bytes a key or value stands for; UnicodeEncodeError for a str that
    holds a surrogate no byte maps to (only hand-written text can)."""
    return text.encode("utf-8", BYTES_AS_TEXT)


def data_text(data: bytes) -> str:
    """A key or value's bytes as the str that carries them."""
    return data.decode("utf-8", BYTES_AS_TEXT)


def is_utf8(text: str) -> bool:
    """True when the key or value is valid UTF-8 text (no escaped bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Consistency(StrEnum):
    """How a read is served (DESIGN.md): through ReadIndex, the leader's lease,
    or from whatever the node that answers has applied."""

    LINEARIZABLE = "linearizable"
    LEASE = "lease"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class Get:
    key: Data


@dataclass(frozen=True, slots=True)
class Put:
    key: Data
    value: Data


@dataclass(frozen=True, slots=True)
class Delete:
    key: Data


@dataclass(frozen=True, slots=True)
class Cas:
    """Set `key` to `new` if its value is `expected` (None: the key is absent)."""

    key: Data
    expected: Data | None
    new: Data


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: Data


@dataclass(frozen=True, slots=True)
class GetPrefix:
    """Every key starting with `prefix`, with its value, at one point of the log."""

    prefix: Data


@dataclass(frozen=True, slots=True)
class DeletePrefix:
    """Delete every key starting with `prefix` (not the empty prefix: that is
    every key, and a typo away from losing them all)."""

    prefix: Data


@dataclass(frozen=True, slots=True)
class SetAdd:
    """Add `element` to the observed-remove set at `key` (protocol gossip:
    node.gossip.crdt.ORSet, whose merge is a union: no add is ever lost)."""

    key: Data
    element: Data


@dataclass(frozen=True, slots=True)
class SetRemove:
    """Remove the adds of `element` this replica has seen (a concurrent add wins)."""

    key: Data
    element: Data


@dataclass(frozen=True, slots=True)
class SetMembers:
    """The elements of the set at `key`, as this replica holds it."""

    key: Data


SetOperation = SetAdd | SetRemove | SetMembers


@dataclass(frozen=True, slots=True)
class Changes:
    """The changes to `key` (or, with `prefix`, to every key starting with it)
    after revision `after`, oldest first: what `raftctl watch` polls for."""

    key: Data
    prefix: bool
    after: int


@dataclass(frozen=True, slots=True)
class Compare:
    """Holds when `key`'s current value equals `value` (None: the key is absent)."""

    key: Data
    value: Data | None


TxnOperation = Get | Put | Delete  # what a transaction's branches may hold


@dataclass(frozen=True, slots=True)
class Txn:
    """etcd-style: if every comparison holds run `success`, else `failure`,
    all at one point of the log."""

    compare: tuple[Compare, ...]
    success: tuple[TxnOperation, ...]
    failure: tuple[TxnOperation, ...]


# Two-phase commit across shards (node.transactions has the rules). Each names
# the shard it is addressed to, so that a client routes it, and a node of
# another shard refuses it.


@dataclass(frozen=True, slots=True)
class TxnPrepare:
    """Phase 1 at `shard`: lock this shard's keys of transaction `txn_id`,
    evaluate its comparisons, and vote (yes, no, or wait: wait-die by
    `timestamp`, smaller is older)."""

    shard: int
    txn_id: str
    timestamp: int
    coordinator: int  # the shard that holds the decision record
    participants: tuple[int, ...]
    compare: tuple[Compare, ...]
    success: tuple[TxnOperation, ...]
    failure: tuple[TxnOperation, ...]


@dataclass(frozen=True, slots=True)
class TxnDecide:
    """At the coordinator shard: write the decision unless one is written,
    and answer the one in force (the commit point)."""

    shard: int
    txn_id: str
    outcome: str  # committed | aborted
    succeeded: bool  # which branch a committed transaction runs
    participants: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TxnFinish:
    """Phase 2 at `shard`: apply the decided branch (or nothing), unlock."""

    shard: int
    txn_id: str
    outcome: str
    succeeded: bool


@dataclass(frozen=True, slots=True)
class TxnForget:
    """At the coordinator shard: every participant finished; drop the record."""

    shard: int
    txn_id: str


@dataclass(frozen=True, slots=True)
class TxnPreCommit:
    """3PC's middle phase at `shard`: every participant voted yes, and the
    transaction will commit with the branch `succeeded` names unless the
    coordinator aborts it first. A participant that was told this and then
    hears nothing commits on its own (node.transactions.timeout_outcome)."""

    shard: int
    txn_id: str
    succeeded: bool


@dataclass(frozen=True, slots=True)
class TxnQuery:
    """What `shard` (0: the coordinator process) knows of a transaction:
    classic 2PC's participants ask it when their coordinator went quiet."""

    shard: int
    txn_id: str


TxnStep = TxnPrepare | TxnDecide | TxnFinish | TxnForget | TxnPreCommit | TxnQuery
Operation = (
    Get
    | Put
    | Delete
    | Cas
    | Keys
    | Txn
    | GetPrefix
    | DeletePrefix
    | Changes
    | TxnStep
    | SetOperation
)


def is_read_only(operation: Operation) -> bool:
    """True for operations that change nothing (a transaction of gets included)."""
    if isinstance(operation, Get | Keys | GetPrefix | Changes | SetMembers):
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
    consistency: Consistency = Consistency.LINEARIZABLE  # for reads
    # Protocol gossip: the replicas that must hold a write (W) or answer a
    # read (R) before the client is answered; 0: the cluster's own setting.
    quorum: int = 0


@dataclass(frozen=True, slots=True)
class ClientResponse:
    """`status`: ok | not_leader (see leader_id) | retry (outcome unknown:
    ask again with the same sequence) | error (result["message"]) |
    unavailable (the coordinator process gave up: result["message"] says
    whether the transaction was applied)."""

    request_id: int
    status: str
    result: dict[str, Any]
    leader_id: str | None = None
