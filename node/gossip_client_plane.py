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
    """A client whose write is answered once its item is durable."""

    identity: bytes
    request_id: int
    result: dict[str, Any]


class GossipClientPlane:
    def __init__(
        self,
        core: GossipCore,
        reply: Reply,
        key_bytes_max: int = 4096,
        value_bytes_max: int = 1 << 20,
    ) -> None:
        self.core = core
        self._reply = reply
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
        if problem is not None:
            self.answer(identity, request.request_id, "refused", {"message": problem})
            return
        self._serve(identity, request.request_id, operation)

    def _serve(self, identity: bytes, request_id: int, operation: Operation) -> None:
        """A read is answered now; a write once the core says its item is durable."""
        core, store = self.core, self.core.store
        token: int | None = None
        result: dict[str, Any]
        match operation:
            case Get(key):
                value = _value(core, key)
                result = {"key": key, "value": value, "found": value is not None}
            case Keys(prefix):
                result = {"ok": True, "keys": store.keys(prefix)}
            case GetPrefix(prefix):
                pairs = [[key, _value(core, key)] for key in store.keys(prefix)]
                result = {"ok": True, "prefix": prefix, "pairs": pairs}
            case SetMembers(key):
                result = {"ok": True, "key": key, "members": sorted(store.members(key))}
            case Put(key, value):
                result = {"ok": True, "key": key, "previous": _value(core, key)}
                token = core.put(key, value)
            case Delete(key):
                found = _value(core, key) is not None
                result = {"ok": found, "key": key, "found": found}
                if found:  # nothing to delete: no tombstone to spread
                    token = core.put(key, None)
            case DeletePrefix(prefix):
                deleted = store.keys(prefix)
                result = {"ok": True, "prefix": prefix, "deleted": deleted}
                for key in deleted:  # one WAL batch holds them all: the last answers
                    token = core.put(key, None)
            case SetAdd(key, element):
                result = {"ok": True, "key": key, "element": element}
                token = core.add(key, element)
            case SetRemove(key, element):
                found = element in store.members(key)
                result = {"ok": found, "key": key, "element": element, "found": found}
                token = core.remove(key, element)
            case _:
                raise AssertionError(f"an operation gossip neither serves nor refuses: {operation}")
        if token is None:
            self.reads += 1
            self.answer(identity, request_id, "ok", result)
        else:
            self.writes += 1
            self.waiting[token] = _Waiting(identity, request_id, result)

    def acknowledge(self, tokens: tuple[int, ...]) -> None:
        """The items of these writes are durable: answer their clients."""
        for token in tokens:
            waiting = self.waiting.pop(token, None)
            if waiting is not None:
                self.answer(waiting.identity, waiting.request_id, "ok", waiting.result)

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
