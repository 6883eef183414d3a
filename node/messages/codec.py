"""The wire codec: the one place that knows how a message becomes bytes.

Rules:
- A frame is one version byte and a msgpack array `[type code, field, ...]`.
  The fields are the dataclass's own, in declaration order, so a message's
  layout is its definition: a nested dataclass is the array of its fields, a
  member of a union of dataclasses is `[tag, field, ...]` with the tag its
  class name in snake_case (`Put` → "put", `ArmFailpoint` → "arm_failpoint").
  Only the type codes below are written by hand, so that they stay stable.
- Everything decoded is untrusted: a frame that is not exactly what a message
  must be raises InvalidMessage, never anything else. The field types are
  checked (integers are non-negative and at most WIRE_INT_MAX, so that no
  term or index can overflow a 64-bit field when one is added to it; numbers
  are finite), and so are the few rules types cannot
  say: entries are contiguous and follow prev_log_index, and a membership
  names each node once.
- A key or value (a field of type Data) carries bytes (node.messages.client's
  PEP 383 convention): one that is not UTF-8 goes out as its own bytes and
  comes back the same. Every other string field must be UTF-8 text.
- Log entries carry client commands and memberships in the same field
  encoding, without the version byte. Storage keeps its own record encoding
  (node.wal, node.storage, node.kv's snapshots), as their docstrings say.
- Each type's encoder and decoder are compiled once, from its type hints, on
  the type's first use (a command-line call pays only for what it sends); a
  field of a type the codec does not know is a bug and raises TypeError then.
  tests/unit/test_messages.py round-trips every type.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import re
import types
import typing
from collections.abc import Callable
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

import msgpack

from node.errors import InvalidMessage
from node.messages.client import BYTES_AS_TEXT, Command, Data, is_utf8

if TYPE_CHECKING:
    from node.messages.peer import AppendEntries, Membership, SnapshotMeta

__all__ = [
    "WIRE_INT_MAX",
    "WIRE_VERSION",
    "decode",
    "decode_command",
    "decode_membership",
    "encode",
    "encode_command",
    "encode_membership",
]

WIRE_VERSION = 1

# The largest integer a frame may carry: far beyond any real term, index or
# size, and far enough below 2**64 that arithmetic on it cannot overflow.
WIRE_INT_MAX = 1 << 62

# The one hand-written table: a message type's code on the wire, with the
# module that defines it (imported when a frame of it is first decoded: a
# client never loads the peer messages, nor a peer the admin ones).
TYPE_CODES: dict[str, tuple[int, str]] = {
    "RequestVote": (1, "node.messages.peer"),
    "RequestVoteResponse": (2, "node.messages.peer"),
    "AppendEntries": (3, "node.messages.peer"),
    "AppendEntriesResponse": (4, "node.messages.peer"),
    "Heartbeat": (5, "node.messages.peer"),
    "HeartbeatResponse": (6, "node.messages.peer"),
    "TimeoutNow": (7, "node.messages.peer"),
    "InstallSnapshot": (8, "node.messages.peer"),
    "ClientRequest": (20, "node.messages.client"),
    "ClientResponse": (21, "node.messages.client"),
    "AdminRequest": (30, "node.messages.admin"),
    "AdminResponse": (31, "node.messages.admin"),
    "SwimPing": (40, "node.messages.gossip"),
    "SwimAck": (41, "node.messages.gossip"),
    "SwimPingReq": (42, "node.messages.gossip"),
    "GossipDigest": (43, "node.messages.gossip"),
    "GossipDelta": (44, "node.messages.gossip"),
    "GossipPush": (45, "node.messages.gossip"),
    "GossipPushAck": (46, "node.messages.gossip"),
    "GossipRead": (47, "node.messages.gossip"),
    "GossipReadReply": (48, "node.messages.gossip"),
    "PaxosPrepare": (50, "node.messages.paxos"),
    "PaxosPromise": (51, "node.messages.paxos"),
    "PaxosAccept": (52, "node.messages.paxos"),
    "PaxosAccepted": (53, "node.messages.paxos"),
}

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any, str], Any]


# -- checks of single values --------------------------------------------------------


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= WIRE_INT_MAX:
        raise InvalidMessage(f"{what} must be an integer from 0 to 2**62")
    return value


def _float(value: Any, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidMessage(f"{what} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidMessage(f"{what} must be a finite number")
    return number


def _str(value: Any, what: str) -> str:
    """Text: an id, a reason, a name. Frames decode bytes that are not UTF-8
    into lone surrogates (for keys and values, below); here they are refused,
    or a forged id could crash whatever encodes it (a log line, a socket id)."""
    if not isinstance(value, str):
        raise InvalidMessage(f"{what} must be a string, not {type(value).__name__}")
    if not value.isascii() and not is_utf8(value):  # ids are ASCII: no encode per field
        raise InvalidMessage(f"{what} must be UTF-8 text")
    return value


def _data(value: Any, what: str) -> str:
    """A key or value: any bytes (node.messages.client's Data)."""
    if not isinstance(value, str):
        raise InvalidMessage(f"{what} must be a string, not {type(value).__name__}")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidMessage(f"{what} must be true or false")
    return value


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise InvalidMessage(f"{what} must be bytes")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidMessage(f"{what} must be a list")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidMessage(f"{what} must be a map")
    return value


_SCALARS: dict[object, Decoder] = {
    int: _int,
    float: _float,
    str: _str,
    bool: _bool,
    bytes: _bytes,
}


# -- rules beyond the types ----------------------------------------------------------


def _check_append_entries(message: AppendEntries) -> None:
    expected = message.prev_log_index + 1
    for entry in message.entries:
        if entry.index != expected:
            raise InvalidMessage("entries must follow prev_log_index and be contiguous")
        expected += 1


def _check_snapshot_meta(meta: SnapshotMeta) -> None:
    meta.membership  # noqa: B018  (building it checks that no node is listed twice)


_RULES: dict[str, Callable[[Any], None]] = {
    "node.messages.peer.AppendEntries": _check_append_entries,
    "node.messages.peer.SnapshotMeta": _check_snapshot_meta,
}


# -- building encoders and decoders from type hints -------------------------------------


def _tag(cls: type) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def _codec_for(hint: Any) -> tuple[Encoder | None, Decoder]:
    """The encoder (None: the value goes as it is) and decoder of one type."""
    if hint == Data:
        return None, _data
    if hint in _SCALARS:
        return None, _SCALARS[hint]
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return None, _str_enum_decoder(hint)
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        return None, _int_enum_decoder(hint)  # msgpack packs an IntEnum as its number
    if origin is dict:
        return None, _dict
    if origin is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
        return _sequence_codec(arguments[0])
    if origin in (typing.Union, types.UnionType):
        members = [member for member in arguments if member is not type(None)]
        if len(members) < len(arguments):
            return _optional_codec(members)
        return _tagged_codec(members)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _fields_codec(hint)
    raise TypeError(f"the codec does not know the type {hint!r}")


def _str_enum_decoder(enum: type[StrEnum]) -> Decoder:
    def decode(value: Any, what: str) -> Any:
        try:
            return enum(_str(value, what))
        except ValueError:
            raise InvalidMessage(f"unknown {what} {value!r}") from None

    return decode


def _int_enum_decoder(enum: type[IntEnum]) -> Decoder:
    members = tuple(enum)

    def decode(value: Any, what: str) -> Any:
        number = _int(value, what)
        if number >= len(members):
            raise InvalidMessage(f"unknown {what} {number}")
        return members[number]

    return decode


def _sequence_codec(item: Any) -> tuple[Encoder | None, Decoder]:
    item_encode, item_decode = _codec_for(item)

    def decode(value: Any, what: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise InvalidMessage(f"{what} must be a list")
        return tuple([item_decode(element, what) for element in value])

    if item_encode is None:
        return None, decode
    encode_item = item_encode
    return (lambda value: [encode_item(element) for element in value]), decode


def _optional_codec(members: list[Any]) -> tuple[Encoder | None, Decoder]:
    inner = members[0] if len(members) == 1 else typing.Union[tuple(members)]  # noqa: UP007
    inner_encode, inner_decode = _codec_for(inner)

    def decode(value: Any, what: str) -> Any:
        return None if value is None else inner_decode(value, what)

    if inner_encode is None:
        return None, decode
    encode_inner = inner_encode
    return (lambda value: None if value is None else encode_inner(value)), decode


def _tagged_codec(members: list[Any]) -> tuple[Encoder | None, Decoder]:
    """A union of dataclasses: `[tag, field, ...]`."""
    by_type: dict[type, tuple[str, Encoder]] = {}
    by_tag: dict[str, Decoder] = {}
    for member in members:
        if not (dataclasses.is_dataclass(member) and isinstance(member, type)):
            raise TypeError(f"the codec cannot tag the union member {member!r}")
        encode_fields, decode_fields = _fields_codec(member)
        by_type[member] = (_tag(member), encode_fields)
        by_tag[_tag(member)] = decode_fields

    def encode(value: Any) -> list[Any]:
        tag, encode_fields = by_type[type(value)]
        return [tag, *encode_fields(value)]

    def decode(value: Any, what: str) -> Any:
        fields = _list(value, what)
        decode_fields = by_tag.get(fields[0]) if fields and isinstance(fields[0], str) else None
        if decode_fields is None:
            allowed = ", ".join(sorted(by_tag))
            raise InvalidMessage(f"{what} must be one of {allowed}, not {fields[:1]!r}")
        return decode_fields(fields[1:], what)

    return encode, decode


def _fields_codec(cls: type) -> tuple[Callable[[Any], list[Any]], Decoder]:
    """A dataclass as the array of its fields, in declaration order.

    The two functions are compiled from the fields, as `dataclasses` compiles
    `__init__`: a generic loop over fields costs 1.5-2x on the hot path
    (measured with AppendEntries of 64 entries), straight-line code nothing."""
    hints = typing.get_type_hints(cls, include_extras=True)  # Data is Annotated
    names = [field.name for field in dataclasses.fields(cls)]
    namespace: dict[str, Any] = {
        "cls": cls,
        "rule": _RULES.get(f"{cls.__module__}.{cls.__qualname__}"),
        "InvalidMessage": InvalidMessage,
    }
    encoded, decoded = [], []
    for number, name in enumerate(names):
        encoder, decoder = _codec_for(hints[name])
        namespace[f"decode_{number}"] = decoder
        decoded.append(f"decode_{number}(raw[{number}], {name!r})")
        if encoder is None:
            encoded.append(f"message.{name}")
        else:
            namespace[f"encode_{number}"] = encoder
            encoded.append(f"encode_{number}(message.{name})")
    source = f"""
def encode(message):
    return [{", ".join(encoded)}]

def decode(raw, what):
    if not isinstance(raw, list):
        raise InvalidMessage(f"{{what}} must be a list")
    if len(raw) != {len(names)}:
        raise InvalidMessage(f"{cls.__name__} has {len(names)} fields, not {{len(raw)}}")
    message = cls({", ".join(decoded)})
    if rule is not None:
        rule(message)
    return message
"""
    exec(source, namespace)
    return namespace["encode"], namespace["decode"]


_TYPES_BY_CODE = {code: (module, name) for name, (code, module) in TYPE_CODES.items()}
# The frames' hot path: one dictionary lookup each way once a type is built.
_ENCODERS: dict[type, tuple[int, Callable[[Any], list[Any]]]] = {}
_DECODERS: dict[int, Decoder] = {}


@functools.cache
def _codec(message_type: type) -> tuple[Callable[[Any], list[Any]], Decoder]:
    """The compiled encoder and decoder of `message_type`, built on first use:
    a command-line call that sends one request never pays for the others."""
    return _fields_codec(message_type)


# -- frames ------------------------------------------------------------------------------


def encode(message: Any) -> bytes:
    """One frame: the version byte, then msgpack."""
    message_type: type = type(message)
    found = _ENCODERS.get(message_type)
    if found is None:
        coded = TYPE_CODES.get(message_type.__name__)
        if coded is None or message_type.__module__ != coded[1]:
            raise InvalidMessage(f"cannot encode {message_type.__name__}")
        found = _ENCODERS[message_type] = (coded[0], _codec(message_type)[0])
    code, encode_fields = found
    return bytes((WIRE_VERSION,)) + _pack([code, *encode_fields(message)])


def decode(frame: bytes) -> Any:
    """The message in `frame`; InvalidMessage for anything malformed."""
    if not frame or frame[0] != WIRE_VERSION:
        raise InvalidMessage(f"unknown wire version {frame[:1]!r}")
    fields = _list(_unpack(frame[1:], "frame"), "message")
    code: int = fields[0] if fields and type(fields[0]) is int else -1
    decode_fields = _DECODERS.get(code)
    if decode_fields is None:
        where = _TYPES_BY_CODE.get(code)
        if where is None:
            raise InvalidMessage("unknown message type")
        message_type = getattr(importlib.import_module(where[0]), where[1])
        decode_fields = _DECODERS[code] = _codec(message_type)[1]
    return decode_fields(fields[1:], "message")


def encode_command(command: Command) -> bytes:
    """The data of a COMMAND log entry."""
    return _pack(_codec(Command)[0](command))


def decode_command(data: bytes) -> Command:
    return _codec(Command)[1](_unpack(data, "command"), "command")  # type: ignore[no-any-return]


def encode_membership(membership: Membership) -> bytes:
    """The data of a CONFIG log entry."""
    membership_type: type = type(membership)
    return _pack(_codec(membership_type)[0](membership))


def decode_membership(data: bytes) -> Membership:
    from node.messages.peer import Membership

    return _codec(Membership)[1](  # type: ignore[no-any-return]
        _unpack(data, "membership"), "membership"
    )


def _pack(fields: list[Any]) -> bytes:
    packed: bytes = msgpack.packb(fields, unicode_errors=BYTES_AS_TEXT)
    return packed


def _unpack(data: bytes, what: str) -> Any:
    try:
        return msgpack.unpackb(data, strict_map_key=True, unicode_errors=BYTES_AS_TEXT)
    except Exception as error:  # msgpack raises several unrelated types for bad input
        raise InvalidMessage(f"undecodable {what}: {error}") from error
