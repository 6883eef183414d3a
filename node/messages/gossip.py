"""Messages between gossip replicas (node.gossip): SWIM's failure detection
(ping, indirect ping, ack), anti-entropy (digest, then the differing
buckets' items), and the quorum's writes and reads of W or R replicas
(push and its ack, read and its reply), every one carrying membership news
piggy-backed.

Replicas of a gossip cluster exchange nothing else: no leader, no log.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALIVE",
    "DEAD",
    "GOSSIP_MESSAGES",
    "SUSPECT",
    "GossipDelta",
    "GossipDigest",
    "GossipMessage",
    "GossipPush",
    "GossipPushAck",
    "GossipRead",
    "GossipReadReply",
    "MemberNews",
    "SwimAck",
    "SwimPing",
    "SwimPingReq",
    "WireItem",
    "WireStamp",
    "WireTag",
]

ALIVE = "alive"
SUSPECT = "suspect"
DEAD = "dead"


@dataclass(frozen=True, slots=True)
class MemberNews:
    """SWIM's dissemination: `node` is `status` as of its `incarnation`."""

    node: str
    status: str  # alive | suspect | dead
    incarnation: int


@dataclass(frozen=True, slots=True)
class SwimPing:
    """Are you alive? `on_behalf_of` names who asked for an indirect probe ("": nobody)."""

    src: str
    dst: str
    seq: int
    on_behalf_of: str = ""
    news: tuple[MemberNews, ...] = ()


@dataclass(frozen=True, slots=True)
class SwimAck:
    """I am: the answer to ping `seq` (relayed to `on_behalf_of` when set)."""

    src: str
    dst: str
    seq: int
    target: str  # who was probed (the relayed ack's origin)
    on_behalf_of: str = ""
    news: tuple[MemberNews, ...] = ()


@dataclass(frozen=True, slots=True)
class SwimPingReq:
    """Probe `target` for me: I got no ack from it directly."""

    src: str
    dst: str
    seq: int
    target: str
    news: tuple[MemberNews, ...] = ()


@dataclass(frozen=True, slots=True)
class WireStamp:
    """A hybrid logical clock stamp (node.gossip.crdt.Stamp) on the wire."""

    wall_ms: int
    logical: int
    node: str


@dataclass(frozen=True, slots=True)
class WireTag:
    """One add of an observed-remove set: its element and its tag."""

    element: str
    tag: WireStamp


@dataclass(frozen=True, slots=True)
class WireItem:
    """One key as replicas exchange it: a register (kind "r": `value`, None
    for a tombstone, and `stamp`) or a set (kind "s": `adds`, `removed`)."""

    kind: str
    key: str
    value: str | None = None
    stamp: WireStamp | None = None
    adds: tuple[WireTag, ...] = ()
    removed: tuple[WireStamp, ...] = ()


@dataclass(frozen=True, slots=True)
class GossipDigest:
    """Push-pull, step 1: my bucket summaries (node.gossip.digest)."""

    src: str
    dst: str
    round: int
    buckets: tuple[int, ...]
    news: tuple[MemberNews, ...] = ()


@dataclass(frozen=True, slots=True)
class GossipDelta:
    """Push-pull, steps 2 and 3: my items of the buckets that differ, and
    (step 2 only) the buckets whose items I want back."""

    src: str
    dst: str
    round: int
    items: tuple[WireItem, ...]
    want: tuple[int, ...] = ()
    news: tuple[MemberNews, ...] = ()


@dataclass(frozen=True, slots=True)
class GossipPush:
    """A write sent at once to a peer (a write of W > 1 replicas, Dynamo's
    style): the peer answers GossipPushAck once the items are durable."""

    src: str
    dst: str
    seq: int
    items: tuple[WireItem, ...]
    news: tuple[MemberNews, ...] = ()


@dataclass(frozen=True, slots=True)
class GossipPushAck:
    """The pushed items of `seq` are durable here."""

    src: str
    dst: str
    seq: int
    news: tuple[MemberNews, ...] = ()


@dataclass(frozen=True, slots=True)
class GossipRead:
    """What do you hold of `key` (kind "r": its register, "s": its set)? A
    read of R > 1 replicas asks R - 1 peers."""

    src: str
    dst: str
    seq: int
    kind: str
    key: str
    news: tuple[MemberNews, ...] = ()


@dataclass(frozen=True, slots=True)
class GossipReadReply:
    """The answer to read `seq`: the item held (none: never written here)."""

    src: str
    dst: str
    seq: int
    items: tuple[WireItem, ...]
    news: tuple[MemberNews, ...] = ()


GossipMessage = (
    SwimPing
    | SwimAck
    | SwimPingReq
    | GossipDigest
    | GossipDelta
    | GossipPush
    | GossipPushAck
    | GossipRead
    | GossipReadReply
)
GOSSIP_MESSAGES = (
    SwimPing,
    SwimAck,
    SwimPingReq,
    GossipDigest,
    GossipDelta,
    GossipPush,
    GossipPushAck,
    GossipRead,
    GossipReadReply,
)
