"""The client plane of a gossip replica (node.gossip_server): every request
is served here, by whichever replica receives it.

Rules:
- A write (put, delete, a set's add or remove) is applied to this replica
  at once, stamped by its hybrid logical clock, and answered once its item
  is durable in this replica's WAL: no other replica is waited for, so a
  write succeeds on either side of any partition. Two concurrent writes of
  one key both succeed; the later stamp wins everywhere once they meet, and
  the other is lost (last-writer-wins).
- A read answers from what this replica holds now, whatever consistency
  was asked: there is no leader to confirm anything with.
- With a quorum (the request's, else cluster.toml's gossip_ack W and
  gossip_read R; node.gossip.quorum) a write is answered once W replicas
  hold it, a read of one key once R replicas answered (their items merged
  here first). Out of time, the client is told "unavailable" with what it
  got: a write is then stored where it reached, and spreads.
- What has no meaning without a log (cas, transactions, watches) is
  refused, naming the protocol. So are keys and values that are not UTF-8
  text: the replicas' items are msgpack text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.client_plane import REQUEST_BYTES_MAX, data_problem
from node.gossip.core import GossipCore
from node.gossip.store import REGISTER, SET
from node.messages import (
    Cas,
    Changes,
    ClientRequest,
    ClientResponse,
    Delete,
    DeletePrefix,
    Get,
    GetPrefix,
    Keys,
    Operation,
    Put,
    SetAdd,
    SetMembers,
    SetRemove,
    Txn,
    encode,
    is_utf8,
)

__all__ = ["GossipClientPlane"]

Reply = Callable[[bytes, bytes], None]  # (client identity, frame)


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A client whose write is answered once its item is durable (and, with
    W > 1, held by W replicas), or whose read once R replicas answered."""

    identity: bytes
    request_id: int
    result: dict[str, Any]  # a write's answer
    read: Get | SetMembers | None = None  # a read's operation, answered from the store then


class GossipClientPlane:
    def __init__(
        self,
        core: GossipCore,
        reply: Reply,
        key_bytes_max: int = 4096,
        value_bytes_max: int = 1 << 20,
        quorums: tuple[int, int] = (1, 1),
        replicas: int = 1,
    ) -> None:
        self.core = core
        self._reply = reply
        self.write_quorum, self.read_quorum = quorums  # cluster.toml's W and R
        self.replicas = replicas  # N
        self.key_bytes_max = key_bytes_max
        self.value_bytes_max = value_bytes_max
        self.waiting: dict[int, _Waiting] = {}  # by the core's write token
        self.writes = 0
        self.reads = 0

    def handle(self, identity: bytes, request: ClientRequest, size: int = 0) -> None:
        operation = request.operation
        problem = data_problem(operation, self.key_bytes_max, self.value_bytes_max)
        if size > REQUEST_BYTES_MAX:
            problem = f"a request of {size} bytes is over {REQUEST_BYTES_MAX}"
        if problem is None and not all(is_utf8(text) for text in _texts(operation)):
            problem = "protocol gossip keeps keys and values as UTF-8 text"
        if problem is None:
            problem = _refused(operation)
        if problem is None and request.quorum > self.replicas:
            problem = f"a quorum of {request.quorum} replicas, but the cluster has {self.replicas}"
        if problem is not None:
            self.answer(identity, request.request_id, "refused", {"message": problem})
            return
        if isinstance(operation, Get | SetMembers):
            reads = request.quorum or self.read_quorum
            kind = REGISTER if isinstance(operation, Get) else SET
            token = self.core.read(kind, operation.key, reads)
            self.reads += 1
            self.waiting[token] = _Waiting(identity, request.request_id, {}, operation)
            return
        self._serve(identity, request.request_id, operation, request.quorum or self.write_quorum)

    def _serve(self, identity: bytes, request_id: int, operation: Operation, quorum: int) -> None:
        """A read of several keys is answered now; a write once the core says
        its item is durable (at `quorum` replicas)."""
        core, store = self.core, self.core.store
        token: int | None = None
        result: dict[str, Any]
        match operation:
            case Keys(prefix):
                result = {"ok": True, "keys": store.keys(prefix)}
            case GetPrefix(prefix):
                pairs = [[key, _value(core, key)] for key in store.keys(prefix)]
                result = {"ok": True, "prefix": prefix, "pairs": pairs}
            case Put(key, value):
                result = {"ok": True, "key": key, "previous": _value(core, key)}
                token = core.put(key, value, quorum)
            case Delete(key):
                found = _value(core, key) is not None
                result = {"ok": found, "key": key, "found": found}
                if found:  # nothing to delete: no tombstone to spread
                    token = core.put(key, None, quorum)
            case DeletePrefix(prefix):
                deleted = store.keys(prefix)
                result = {"ok": True, "prefix": prefix, "deleted": deleted}
                for key in deleted:  # one WAL batch holds them all: the last answers
                    token = core.put(key, None, quorum)
            case SetAdd(key, element):
                result = {"ok": True, "key": key, "element": element}
                token = core.add(key, element, quorum)
            case SetRemove(key, element):
                found = element in store.members(key)
                result = {"ok": found, "key": key, "element": element, "found": found}
                token = core.remove(key, element, quorum)
            case _:
                raise AssertionError(f"an operation gossip neither serves nor refuses: {operation}")
        if token is None:
            self.reads += 1
            self.answer(identity, request_id, "ok", result)
        else:
            self.writes += 1
            self.waiting[token] = _Waiting(identity, request_id, result)

    def acknowledge(self, tokens: tuple[int, ...]) -> None:
        """These writes are durable (at their W replicas), or these reads
        heard from their R: answer their clients (a read from the store now)."""
        for token in tokens:
            waiting = self.waiting.pop(token, None)
            if waiting is None:
                continue
            result = waiting.result if waiting.read is None else self._read(waiting.read)
            self.answer(waiting.identity, waiting.request_id, "ok", result)

    def give_up(self, failed: tuple[tuple[int, str], ...]) -> None:
        """Quorum requests out of time: "unavailable", saying what they got."""
        for token, got in failed:
            waiting = self.waiting.pop(token, None)
            if waiting is None:
                continue
            message = (
                f"only {got} answered the read in time"
                if waiting.read is not None
                else f"only {got} acknowledged the write in time; it is stored there and will "
                "spread: its outcome is unknown"
            )
            self.answer(waiting.identity, waiting.request_id, "unavailable", {"message": message})

    def _read(self, operation: Get | SetMembers) -> dict[str, Any]:
        if isinstance(operation, Get):
            value = _value(self.core, operation.key)
            return {"key": operation.key, "value": value, "found": value is not None}
        members = sorted(self.core.store.members(operation.key))
        return {"ok": True, "key": operation.key, "members": members}

    def answer(self, identity: bytes, request_id: int, status: str, result: dict[str, Any]) -> None:
        self._reply(identity, encode(ClientResponse(request_id, status, result)))


def _value(core: GossipCore, key: str) -> str | None:
    register = core.store.get(key)
    return None if register is None else register.value


def _refused(operation: Operation) -> str | None:
    """Why gossip does not run `operation` (None: it does)."""
    match operation:
        case Cas():
            return (
                "cas has no linearizable meaning under protocol gossip: two replicas "
                "may both see the expected value and both write"
            )
        case Txn():
            return "transactions need a log: protocol gossip has none"
        case Changes():
            return "watches read a log's history: protocol gossip has none"
        case Get() | Put() | Delete() | Keys() | GetPrefix() | DeletePrefix():
            return None
        case SetAdd() | SetRemove() | SetMembers():
            return None
    return f"{type(operation).__name__} is not a request protocol gossip serves"


def _texts(operation: Operation) -> list[str]:
    """The keys and values in `operation` (for the UTF-8 check)."""
    match operation:
        case Get(key) | Delete(key) | SetMembers(key):
            return [key]
        case Keys(prefix) | GetPrefix(prefix) | DeletePrefix(prefix):
            return [prefix]
        case Put(key, value) | SetAdd(key, value) | SetRemove(key, value):
            return [key, value]
    return []
