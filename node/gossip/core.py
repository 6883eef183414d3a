"""The gossip replica's core: local writes stamped by a hybrid logical clock,
anti-entropy with FANOUT random live peers every GOSSIP_EVERY ticks, SWIM's
membership, and Dynamo's tunable quorum, all pure: ticks, messages, reads
and writes in, one GossipReady at a time out (messages to send, items to
make durable, requests to answer once those are durable, messages to send
after), like the Raft core's Ready.

Rules:
- A write is applied to this replica at once and acknowledged once its item
  is durable (the driver persists `rd.persist`, then answers `rd.acknowledged`).
  No other replica is waited for: the write is available under any
  partition, and spreads by gossip.
- Anti-entropy is push-pull in three messages: my digest (64 numbers); your
  items of the buckets that differ, and which buckets you want; mine of
  those. A converged pair exchanges the digest alone.
- Every message carries SWIM's news; gossip goes to members SWIM does not
  hold dead, and now and then to one it does (a healed partition would
  otherwise leave two sides that each declared the other dead apart).
- With a quorum (Dynamo's W and R, node.gossip.quorum) a write is also
  pushed to every live peer at once and answered when W - 1 of them hold it
  durably; a read asks every live peer for the key and is answered when
  R - 1 did, their items merged here first (read repair). Without one (W =
  R = 1, the default) a read is served by whichever replica receives it,
  from what it holds (`store`, the driver's business).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from node.gossip import anti_entropy
from node.gossip.crdt import Stamp, advance_clock, observe_clock
from node.gossip.digest import differing
from node.gossip.quorum import Quorums
from node.gossip.store import Item, Store
from node.gossip.swim import Swim, SwimOptions
from node.gossip.wire import item_from_wire, item_to_wire
from node.messages.gossip import (
    GossipDelta,
    GossipDigest,
    GossipMessage,
    GossipPush,
    GossipPushAck,
    GossipRead,
    GossipReadReply,
    MemberNews,
    SwimAck,
    SwimPing,
    SwimPingReq,
    WireItem,
)

if TYPE_CHECKING:
    import random  # injected, never created here: the core stays deterministic

__all__ = ["GossipCore", "GossipOptions", "GossipReady"]


@dataclass(frozen=True, slots=True)
class GossipOptions:
    tick_ms: int = 25
    gossip_every_ticks: int = 8  # anti-entropy rounds: every 200 ms at 25 ms ticks
    fanout: int = 2
    reconnect_probability: float = 0.25  # a round also gossips with one member held dead
    expire_every_ticks: int = 400
    tombstone_ttl_ms: int = 10 * 60 * 1000
    quorum_timeout_ticks: int = 80  # a write of W or a read of R replicas gives up after it
    swim: SwimOptions = field(default_factory=SwimOptions)


@dataclass(frozen=True, slots=True)
class GossipReady:
    messages: tuple[GossipMessage, ...]
    persist: tuple[Item, ...]  # make durable, in order (the WAL)
    acknowledged: tuple[int, ...]  # tokens of local writes: answer them once `persist` is durable
    after_persist: tuple[GossipMessage, ...] = ()  # send once `persist` is durable (push acks)
    reads_done: tuple[int, ...] = ()  # tokens of quorum reads: answer from the store now
    failed: tuple[tuple[int, str], ...] = ()  # quorum requests out of time, and what they got


class GossipCore:
    def __init__(
        self,
        node_id: str,
        peers: Iterable[str],
        rng: random.Random,
        options: GossipOptions | None = None,
        recovered: Iterable[Item] = (),
        incarnation: int = 0,
        start_ms: int = 0,
    ) -> None:
        self.node_id = node_id
        self.rng = rng
        self.options = options or GossipOptions()
        self.store = Store()
        self.store.merge(recovered)
        self.swim = Swim(node_id, peers, rng, self.options.swim, incarnation)
        self.start_ms = start_ms
        self.clock_reading: int | None = None
        self.ticks = 0
        latest = max((_stamps(item) for item in recovered), default=Stamp(0, 0, node_id))
        self.clock = Stamp(max(latest.wall_ms, start_ms), latest.logical, node_id)
        self.round = 0
        self.peer_digests: dict[str, tuple[int, ...]] = {}  # the last each peer sent
        self._messages: list[GossipMessage] = []
        self._persist: list[Item] = []
        self._acknowledged: list[int] = []
        self._after_persist: list[GossipMessage] = []
        self._reads_done: list[int] = []
        self._failed: list[tuple[int, str]] = []
        self.quorums = Quorums(self.options.quorum_timeout_ticks)
        self._next_token = 1
        self.sent_items = 0  # items this replica sent (anti-entropy's cost)

    @property
    def physical_ms(self) -> int:
        """The physical part of the hybrid clock: the driver's reading when
        it gives one (`read_clock`: a process reads its clock every turn,
        finer than a tick), else the ticks counted from `start_ms`."""
        if self.clock_reading is not None:
            return self.clock_reading
        return self.start_ms + self.ticks * self.options.tick_ms

    def read_clock(self, physical_ms: int) -> None:
        """The driver's clock now (milliseconds): writes from now on are
        stamped by it. Two replicas' writes a tick apart would otherwise be
        ordered by which tick each fell in, not by which came first."""
        self.clock_reading = physical_ms

    # -- writes ---------------------------------------------------------------------

    def put(self, key: str, value: str | None, quorum: int = 1) -> int:
        """Write `value` (None: delete); a token, acknowledged once durable
        here and (with `quorum` W > 1) at W - 1 peers (node.gossip.quorum)."""
        return self._local(self.store.write(key, value, self._stamp()), quorum)

    def add(self, key: str, element: str, quorum: int = 1) -> int:
        return self._local(self.store.add(key, element, self._stamp()), quorum)

    def remove(self, key: str, element: str, quorum: int = 1) -> int:
        return self._local(self.store.remove(key, element), quorum)

    def read(self, kind: str, key: str, quorum: int) -> int:
        """A read of `quorum` replicas (R): a token, in `reads_done` once R - 1
        peers answered and their items are merged here (read repair); the
        driver then reads this replica's store."""
        token = self._take_token()
        if quorum <= 1:
            self._reads_done.append(token)
            return token
        self.quorums.wait(token, quorum, self.ticks)
        for peer in self.swim.live():
            self._messages.append(
                GossipRead(self.node_id, peer, token, kind, key, self.swim.news())
            )
        return token

    def _take_token(self) -> int:
        token = self._next_token
        self._next_token += 1
        return token

    def _stamp(self) -> Stamp:
        self.clock = advance_clock(self.clock, self.physical_ms)
        return self.clock

    def _local(self, item: Item, quorum: int = 1) -> int:
        token = self._take_token()
        self._persist.append(item)
        if quorum <= 1:
            self._acknowledged.append(token)
            return token
        # Dynamo's write of W: every live peer is sent the item at once, and
        # the write is answered when W - 1 of them hold it durably.
        self.quorums.wait(token, quorum, self.ticks)
        wires = (item_to_wire(item),)
        for peer in self.swim.live():
            self._messages.append(GossipPush(self.node_id, peer, token, wires, self.swim.news()))
        return token

    # -- time and messages -------------------------------------------------------------

    def tick(self) -> None:
        self.ticks += 1
        options = self.options
        self._messages += self.swim.tick()
        if self.ticks % options.gossip_every_ticks == 0:
            self._gossip()
        if self.ticks % options.expire_every_ticks == 0:
            self.store.expire(self.physical_ms, options.tombstone_ttl_ms)
        self._failed += self.quorums.expire(self.ticks)

    def skip(self, ticks: int) -> None:
        """Time that passed while this replica could not run (a paused
        process): its clock moves on, but the rounds and probes it missed
        are not all run at once when it resumes."""
        self.ticks += ticks

    def _gossip(self) -> None:
        live, dead = sorted(self.swim.live()), sorted(self.swim.dead())
        peers = self.rng.sample(live, min(self.options.fanout, len(live)))
        # Gossip to the dead now and then (Serf's reconnect): after a partition
        # heals, two sides that each declared the other dead find each other
        # again, refute, and converge; without it they would stay apart.
        if dead and self.rng.random() < self.options.reconnect_probability:
            peers.append(self.rng.choice(dead))
        if not peers:
            return
        self.round += 1
        summary = anti_entropy.digest(self.store)
        for peer in peers:
            self._messages.append(
                GossipDigest(self.node_id, peer, self.round, summary, self.swim.news())
            )

    def step(self, message: GossipMessage) -> None:
        match message:
            case SwimPing() | SwimAck() | SwimPingReq():
                self._messages += self.swim.receive(message)
            case GossipDigest(src=src, round=round_, buckets=buckets, news=news):
                self._heard(src, news)
                self.peer_digests[src] = buckets
                pushed, wanted = anti_entropy.on_digest(self.store, buckets)
                if wanted:
                    self._send_items(src, round_, pushed, want=wanted)
            case GossipDelta(src=src, round=round_, items=wires, want=want, news=news):
                self._heard(src, news)
                items = [item_from_wire(wire) for wire in wires]
                for item in items:
                    self.clock = observe_clock(self.clock, _stamps(item), self.physical_ms)
                changed, pulled = anti_entropy.on_items(self.store, items, want)
                self._persist += changed
                if want:
                    self._send_items(src, round_, pulled, want=())
            case GossipPush(src=src, seq=seq, items=wires, news=news):
                self._heard(src, news)
                self._persist += self._merge(wires)
                # Answered only once durable here: the driver sends it after persisting.
                self._after_persist.append(GossipPushAck(self.node_id, src, seq, self.swim.news()))
            case GossipPushAck(src=src, seq=seq, news=news):
                self._heard(src, news)
                if self.quorums.answered(seq, src):
                    self._acknowledged.append(seq)
            case GossipRead(src=src, seq=seq, kind=kind, key=key, news=news):
                self._heard(src, news)
                held = self.store.item(kind, key)
                wires = (item_to_wire(held),) if held is not None else ()
                self._messages.append(
                    GossipReadReply(self.node_id, src, seq, wires, self.swim.news())
                )
            case GossipReadReply(src=src, seq=seq, items=wires, news=news):
                self._heard(src, news)
                self._persist += self._merge(wires)  # read repair: the newest wins here too
                if self.quorums.answered(seq, src):
                    self._reads_done.append(seq)

    def _heard(self, src: str, news: tuple[MemberNews, ...]) -> None:
        self.swim.learn(news)
        self.swim.heard_from(src)

    def _merge(self, wires: tuple[WireItem, ...]) -> list[Item]:
        """Another replica's items, merged here; those that changed (to persist)."""
        items = [item_from_wire(wire) for wire in wires]
        for item in items:
            self.clock = observe_clock(self.clock, _stamps(item), self.physical_ms)
        return self.store.merge(items)

    def _send_items(self, peer: str, round_: int, items: list[Item], want: tuple[int, ...]) -> None:
        self.sent_items += len(items)
        wires = tuple(item_to_wire(item) for item in items)
        self._messages.append(
            GossipDelta(self.node_id, peer, round_, wires, want, self.swim.news())
        )

    # -- the hand-off ------------------------------------------------------------------

    def has_ready(self) -> bool:
        return bool(
            self._messages
            or self._persist
            or self._acknowledged
            or self._after_persist
            or self._reads_done
            or self._failed
        )

    def ready(self) -> GossipReady:
        rd = GossipReady(
            tuple(self._messages),
            tuple(self._persist),
            tuple(self._acknowledged),
            tuple(self._after_persist),
            tuple(self._reads_done),
            tuple(self._failed),
        )
        self._messages, self._persist, self._acknowledged = [], [], []
        self._after_persist, self._reads_done, self._failed = [], [], []
        return rd

    def status(self) -> dict[str, object]:
        """What status shows: the membership view, the state's size and digest,
        and how far behind each peer's last digest this replica is."""
        summary = self.store.digest.summary()
        behind = {}
        for peer, theirs in sorted(self.peer_digests.items()):
            buckets = differing(summary, theirs)
            behind[peer] = len(self.store.items_in(buckets)) if buckets else 0
        return {
            "members": {node: status for node, (status, _) in self.swim.view().items()},
            "incarnation": self.swim.incarnation,
            "keys": len(self.store),
            "digest": hashlib.blake2b(repr(summary).encode(), digest_size=8).hexdigest(),
            "behind_by": behind,
        }


def _stamps(item: Item) -> Stamp:
    """The latest stamp an item carries (its register's, or its set's newest tag)."""
    if item.register is not None:
        return item.register.stamp
    members = item.members
    tags = [tag for tags in (members.adds.values() if members else ()) for tag in tags]
    tags += list(members.removed if members else ())
    return max(tags, default=Stamp(0, 0, ""))
