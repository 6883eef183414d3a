"""The wire codec: every message round-trips; anything else is InvalidMessage."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import InvalidMessage
from node.messages import (
    WIRE_VERSION,
    AdminRequest,
    AdminResponse,
    AppendEntries,
    AppendEntriesResponse,
    ArmFailpoint,
    Cas,
    Changes,
    ClientRequest,
    ClientResponse,
    Command,
    Compare,
    Delete,
    DeletePrefix,
    DisarmFailpoints,
    Entry,
    EntryKind,
    Events,
    Get,
    GetPrefix,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Keys,
    LogWindow,
    Membership,
    Put,
    RequestVote,
    RequestVoteResponse,
    SetAdd,
    SetMembers,
    SetRemove,
    SkewClock,
    SnapshotMeta,
    Status,
    TimeoutNow,
    Txn,
    decode,
    decode_command,
    decode_membership,
    encode,
    encode_command,
    encode_membership,
)
from node.messages.gossip import (
    GossipDelta,
    GossipDigest,
    GossipPush,
    GossipPushAck,
    GossipRead,
    GossipReadReply,
    MemberNews,
    SwimAck,
    SwimPing,
    SwimPingReq,
    WireItem,
    WireStamp,
    WireTag,
)
from node.messages.paxos import (
    PaxosAccept,
    PaxosAccepted,
    PaxosPrepare,
    PaxosPromise,
    PaxosSlot,
)

B32 = 3002  # ballot 3.2 in its one-integer form (node.paxos.ballot)
TXN = Txn(
    (Compare("a", "1"), Compare("b", None)),
    (Put("a", "0"), Get("b"), Delete("c")),
    (Get("a"),),
)
MESSAGES = [
    RequestVote(3, "n1", "n2", 10, 2, True),
    RequestVoteResponse(3, "n2", "n1", False, False, "already voted for n3 in term 3"),
    AppendEntries(
        4,
        "n1",
        "n2",
        7,
        3,
        (Entry(8, 4, EntryKind.NOOP), Entry(9, 4, EntryKind.COMMAND, b"\x00\xff")),
        7,
    ),
    AppendEntries(4, "n1", "n2", 7, 3, (), 7),
    AppendEntriesResponse(4, "n2", "n1", False, 0, 7, 2, 5),
    Heartbeat(4, "n1", "n3", 6),
    HeartbeatResponse(4, "n3", "n1"),
    Heartbeat(4, "n1", "n3", 6, 17),
    HeartbeatResponse(4, "n3", "n1", 17),
    RequestVote(5, "n3", "n2", 10, 4, False, True),
    TimeoutNow(4, "n1", "n3"),
    InstallSnapshot(
        4, "n1", "n3", SnapshotMeta(60, 3, ("n1", "n2", "n3"), ("n4",)), 0, b"\x00state", True
    ),
    ClientRequest(1, "c1", 5, 4, Put("k", "v")),
    ClientRequest(2, "c1", 0, 4, Get("k"), "stale"),
    ClientRequest(3, "c1", 6, 5, Cas("k", None, "v")),
    ClientRequest(4, "c1", 7, 6, Keys("user/")),
    ClientRequest(5, "c1", 8, 7, TXN),
    ClientRequest(6, "c1", 0, 7, GetPrefix("user/")),
    ClientRequest(7, "c1", 9, 8, DeletePrefix("tmp/")),
    ClientRequest(8, "c1", 0, 8, Changes("user/", True, 41)),
    ClientRequest(9, "c1", 10, 9, Put("k\udcff", "\x00\udc80 bytes")),
    ClientResponse(1, "ok", {"key": "k", "value": "v", "found": True}),
    ClientResponse(2, "not_leader", {}, "n3"),
    AdminRequest(9, Status()),
    AdminRequest(10, ArmFailpoint("after-persist", 2)),
    AdminRequest(11, DisarmFailpoints()),
    AdminRequest(12, SkewClock(0.5)),
    AdminRequest(13, Events(None)),
    AdminRequest(14, LogWindow(3, 20)),
    AdminResponse(9, {"role": "leader", "term": 4}),
    ClientRequest(10, "c1", 11, 10, SetAdd("s", "x"), "stale", 2),
    ClientRequest(11, "c1", 12, 11, SetRemove("s", "x")),
    ClientRequest(12, "c1", 0, 11, SetMembers("s"), "stale", 3),
    SwimPing("n1", "n2", 7, "", (MemberNews("n1", "alive", 1796083097905783),)),
    SwimAck("n2", "n1", 7, "n2", "n3"),
    SwimPingReq("n1", "n3", 8, "n2", (MemberNews("n2", "suspect", 4),)),
    GossipDigest("n1", "n2", 3, tuple((1 << 62) - 1 - b for b in range(64))),
    GossipDelta(
        "n2",
        "n1",
        3,
        (
            WireItem("r", "k", "v", WireStamp(1796083097905, 2, "n2")),
            WireItem("r", "gone", None, WireStamp(5, 0, "n1")),
            WireItem("s", "s", adds=(WireTag("x", WireStamp(6, 1, "n3")),)),
        ),
        (4, 63),
    ),
    GossipPush("n1", "n3", 9, (WireItem("r", "k", "w", WireStamp(7, 0, "n1")),)),
    GossipPushAck("n3", "n1", 9),
    GossipRead("n1", "n2", 10, "s", "s"),
    GossipReadReply("n2", "n1", 10, ()),
    PaxosPrepare("n2", "n1", 3002, 41, transfer=True),
    PaxosPromise("n1", "n2", 3002, 3002, (PaxosSlot(41, 1001, False, b"\x00v"),), compacted=40),
    PaxosPromise("n3", "n2", 3002, 4001),
    PaxosAccept(
        "n2", "n1", 3002, (PaxosSlot(42, 3002, True), PaxosSlot(43, 3002, False, b"x", True)), 41, 7
    ),
    PaxosAccepted("n1", "n2", 3002, 3002, (42, 43), 41, 7),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: object) -> None:
    frame = encode(message)
    assert frame[0] == WIRE_VERSION
    assert decode(frame) == message


def test_commands_round_trip() -> None:
    command = Command("client-7", 12, 11, TXN)
    assert decode_command(encode_command(command)) == command


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_refused_cleanly(frame: bytes) -> None:
    with contextlib.suppress(InvalidMessage):
        decode(frame)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.text(max_size=5) | st.binary(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 40), st.lists(json_like, max_size=9))
def test_well_formed_msgpack_of_the_wrong_shape_is_refused_cleanly(code: int, fields: list) -> None:  # type: ignore[type-arg]
    frame = bytes((WIRE_VERSION,)) + msgpack.packb([code, *fields])
    with contextlib.suppress(InvalidMessage):
        decode(frame)


@pytest.mark.parametrize(
    "fields",
    [
        [3, 1, "n1", "n2", 5, 1, [[7, 1, 0, b"x"]], 0],  # entries do not follow prev
        [3, 1, "n1", "n2", 5, 1, [[6, 1, 0, b"x"], [8, 1, 0, b"y"]], 0],  # a gap
        [3, 1, "n1", "n2", 5, 1, [[6, 1, 9, b"x"]], 0],  # unknown entry kind
        [1, -1, "n1", "n2", 0, 0, False],  # negative term
        [1, 1, "n1", "n2", 0, 0, 1],  # an int where a bool belongs
        [20, 1, "c", 1, 0, ["txn", [], [["cas", "k", None, "v"]], []], "linearizable"],
        [20, 1, "c", 1, 0, ["get", "k"], "eventual"],
    ],
)
def test_semantic_nonsense_is_refused(fields: list) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidMessage):
        decode(bytes((WIRE_VERSION,)) + msgpack.packb(fields))


def _raw_str(data: bytes) -> bytes:
    """A msgpack str of `data`, whatever its bytes (a forger's frame)."""
    assert len(data) < 32
    return bytes((0xA0 | len(data),)) + data


def test_only_keys_and_values_may_hold_bytes_that_are_not_utf8() -> None:
    """A forged id of bytes that are not UTF-8 is refused at the door (it once
    crashed a node that encoded it as a socket identity); a key may hold any."""
    vote = msgpack.packb([1, 1, "SRC", "n2", 0, 0, False, False])
    forged = vote.replace(msgpack.packb("SRC"), _raw_str(b"n\xb9"))
    with pytest.raises(InvalidMessage, match="UTF-8"):
        decode(bytes((WIRE_VERSION,)) + forged)
    put = msgpack.packb([20, 1, "c", 1, 0, ["put", "KEY", "v"], "linearizable", 0])
    binary = put.replace(msgpack.packb("KEY"), _raw_str(b"k\xff"))
    request = decode(bytes((WIRE_VERSION,)) + binary)
    assert isinstance(request, ClientRequest) and request.operation == Put("k\udcff", "v")


def test_unknown_version_is_refused() -> None:
    with pytest.raises(InvalidMessage, match="version"):
        decode(b"\x09" + encode(MESSAGES[0])[1:])


def test_membership_round_trip_and_validation() -> None:
    membership = Membership(("n1", "n2", "n3"), ("n4",))
    assert decode_membership(encode_membership(membership)) == membership
    with pytest.raises(InvalidMessage):
        Membership(("n1", "n2"), ("n2",))
    with pytest.raises(InvalidMessage):
        decode_membership(b"\xc1")


def test_every_name_of_the_package_is_found_where_it_is_lazily_looked_up() -> None:
    """node.messages imports each vocabulary on first use (PEP 562): every
    exported name must be in its table, and be the module's own object."""
    import importlib

    import node.messages as package

    assert set(package.__all__) == set(package._WHERE)
    for name, module in package._WHERE.items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name), name
    with pytest.raises(AttributeError):
        package.NoSuchMessage  # noqa: B018
