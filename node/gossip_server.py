"""The node process of a gossip cluster (cluster.toml `protocol = "gossip"`):
the pure GossipCore (node.gossip.core) driven by the same loop, transport,
fault filter, admission, storage and journal as a Raft node.

Rules:
- One loop, one thread, as node.server: poll until the next tick, apply the
  ticks that elapsed (a resumed process moves its clock on without running
  every round it missed), step each frame, then drain the core's Ready:
  send its messages, persist its items as one WAL batch and one fsync, and
  only then answer the writes they hold.
- Storage is node.storage's: each item is one WAL entry (node.gossip.wire's
  record); a snapshot is every item at once, and lets the WAL go. Recovery
  merges both, in any order: merging is commutative and idempotent.
- Every SWIM membership change this replica sees is an event (events.jsonl,
  node.log): `MemberChanged` with the member, its status and incarnation.
- Requests of a quorum (W > 1, R > 1): the core's push acks are sent only
  after the items they acknowledge are durable (`after_persist`).
- Admin requests are node.gossip_admin's.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import msgpack

from node.admission import Admission, Refusal
from node.config import ClusterConfig
from node.errors import CorruptSnapshot, InvalidMessage
from node.failpoints import EXIT_FAILPOINT, Failpoints
from node.gossip.core import GossipCore, GossipOptions
from node.gossip.store import Item
from node.gossip.swim import SwimOptions
from node.gossip.wire import pack_item, unpack_item
from node.gossip_admin import answer_gossip_admin
from node.gossip_client_plane import GossipClientPlane
from node.journal import write_exit
from node.messages import (
    AdminRequest,
    ClientRequest,
    Entry,
    SnapshotMeta,
    decode,
    encode,
)
from node.messages.gossip import GOSSIP_MESSAGES
from node.parts import admin_replier, open_parts
from node.turns import Ticker

__all__ = ["GossipServer", "gossip_options"]

_TERM = 1  # WAL entries need a term; gossip has none
# Ticks a resumed replica runs one by one; the rest of a long pause only
# moves its clock (node.gossip.core.GossipCore.skip).
_CATCH_UP_TICKS_MAX = 16
# A write of W replicas (or a read of R) not answered by then is told
# "unavailable": within a client's attempt (raftctl.client waits a second
# before it asks another node), so that it hears why.
QUORUM_TIMEOUT_MS = 800


def gossip_options(config: ClusterConfig) -> GossipOptions:
    """The core's timers in ticks, from cluster.toml's milliseconds: a round
    every gossip_interval_ms; a quorum request waits QUORUM_TIMEOUT_MS; SWIM
    probes every 500 ms, waits 200 ms for an ack, and holds a suspect 1.5 s
    before declaring it dead (memberlist's LAN settings, halved: a
    laboratory wants to see it happen)."""

    def ticks(ms: int) -> int:  # (--slow N stretches every tick, and so every timer)
        return max(1, round(ms / config.tick_ms))

    return GossipOptions(
        tick_ms=config.tick_ms,
        gossip_every_ticks=ticks(config.gossip_interval_ms),
        fanout=config.gossip_fanout,
        quorum_timeout_ticks=ticks(QUORUM_TIMEOUT_MS),
        swim=SwimOptions(
            period_ticks=ticks(500), ack_timeout_ticks=ticks(200), suspect_timeout_ticks=ticks(1500)
        ),
    )


class GossipServer:
    """One running gossip replica."""

    def __init__(self, cluster_dir: Path, node_id: str, after_power_loss: bool = False) -> None:
        self.cluster_dir = cluster_dir
        self.node_id = node_id
        # A gossip replica that lost its storage simply starts empty and is
        # filled again by anti-entropy: it never promised a vote.
        parts = open_parts(cluster_dir, node_id, lambda config: config, after_power_loss, True)
        self.node_dir, self.journal, self.filter = parts.node_dir, parts.journal, parts.filter
        self.book, self.transport, self.storage = parts.book, parts.transport, parts.storage
        self.config: ClusterConfig = parts.config
        recovered = parts.recovered
        items = _snapshot_items(recovered.snapshot_data) + [
            unpack_item(entry.data) for entry in recovered.entries
        ]
        self.core = GossipCore(
            node_id,
            [peer for peer in self.config.node_ids if peer != node_id],
            random.Random(),
            gossip_options(self.config),
            recovered=items,
            incarnation=recovered.incarnation,
            start_ms=int(time.time() * 1000),
        )
        self.failpoints = Failpoints(
            lambda name: self.write_exit(f"crashed at failpoint {name}", EXIT_FAILPOINT)
        )
        self.clients = GossipClientPlane(
            self.core,
            self.transport.reply,
            self.config.key_bytes_max,
            self.config.value_bytes_max,
            (self.config.gossip_ack, self.config.gossip_read),
            len(self.config.nodes),
        )
        self.admission = Admission(node_id, self.config.node_ids, curve=self.config.curve)
        self.clock_rate = 1.0
        self.lying = False  # no Byzantine switch under gossip; chaos_state reports it
        self.ticker = Ticker(self._tick_seconds())
        self.last_snapshot: dict[str, Any] | None = None
        self.view = self.core.swim.view()
        self.wall_ms = float(self.core.start_ms)
        self.last_turn = time.monotonic()
        self.stopping = False
        self.journal.line(
            f"{node_id} started (pid {os.getpid()}, protocol gossip, {len(self.core.store)} keys, "
            f"incarnation {recovered.incarnation}, fsync {'on' if self.config.fsync else 'off'})"
        )

    # -- the loop ---------------------------------------------------------------

    def run(self) -> None:
        while not self.stopping:
            wait = self.transport.flush(self.ticker.wait_s(time.monotonic()))
            frames = list(self.transport.receive(max(0.0, wait) * 1000))
            now = time.monotonic()
            elapsed = self.ticker.elapsed(now)
            if elapsed > _CATCH_UP_TICKS_MAX:
                self.core.skip(elapsed - _CATCH_UP_TICKS_MAX)
            for _ in range(min(elapsed, _CATCH_UP_TICKS_MAX)):
                self.core.tick()
            if (config := self.book.check(now, self.transport, self.admission)) is not None:
                self._use(config)
            # The hybrid clock's physical part, read once a turn (sped up or
            # slowed down by a skewed clock, as the ticks are).
            self.wall_ms += (now - self.last_turn) * 1000 * self.clock_rate
            self.last_turn = now
            self.core.read_clock(int(self.wall_ms))
            for identity, frame, role in frames:
                self.handle_frame(identity, frame, role)
            self.drain_ready()
            self._note_membership()
            threshold = self.config.snapshot_threshold_entries
            wal = self.storage.wal
            if threshold and wal.last_index - wal.snapshot_index >= threshold:
                self.take_snapshot()

    def handle_frame(self, identity: bytes, frame: bytes, role: str | None = None) -> None:
        try:
            message = decode(frame)
        except InvalidMessage:
            self.admission.refuse(Refusal.UNDECODABLE)
            return
        if isinstance(message, GOSSIP_MESSAGES):
            if self.admission.admits_peer_message(
                identity, message, role
            ) and self.transport.accepts_from_peer(message.src):
                try:
                    self.core.step(message)
                except InvalidMessage:
                    self.admission.refuse(Refusal.IMPOSSIBLE)
        elif isinstance(message, ClientRequest):
            if self.admission.admits_client_request(role):
                self.clients.handle(identity, message, len(frame))
        elif isinstance(message, AdminRequest):
            if not self.admission.admits_admin_request(role):
                return
            reply = admin_replier(self.transport, identity, message.request_id)
            reply(answer_gossip_admin(self, message.command))
        else:
            self.admission.refuse(Refusal.UNEXPECTED)

    def drain_ready(self) -> None:
        """Send, persist (one batch, one fsync), then answer what is durable."""
        while self.core.has_ready():
            rd = self.core.ready()
            for message in rd.messages:
                if message.dst not in self.transport.peers:
                    self._refresh_address_book()
                self.transport.send_to_peer(message.dst, encode(message))
            if rd.persist:
                self.failpoints.hit("before-persist")
                first = self.storage.wal.last_index + 1
                entries = [
                    Entry(first + offset, _TERM, data=pack_item(item))
                    for offset, item in enumerate(rd.persist)
                ]
                self.storage.persist(entries, None)
                self.failpoints.hit("after-persist")
            for message in rd.after_persist:  # what may be said only once durable (push acks)
                self.transport.send_to_peer(message.dst, encode(message))
            self.clients.acknowledge(rd.acknowledged + rd.reads_done)
            self.clients.give_up(rd.failed)

    def _note_membership(self) -> None:
        """An event for every member whose status changed in this replica's view."""
        view = self.core.swim.view()
        if view == self.view:
            return
        for member, (status, incarnation) in view.items():
            if self.view.get(member, ("", -1))[0] != status:
                self.journal.server_event(
                    "MemberChanged",
                    f"{self.node_id} sees {member} {status} (incarnation {incarnation})",
                    member=member,
                    status=status,
                    incarnation=incarnation,
                )
        self.view = view

    # -- snapshots, clock, address book ---------------------------------------------

    def take_snapshot(self) -> dict[str, Any]:
        """Every item in one snapshot file; the WAL behind it goes."""
        wal = self.storage.wal
        if wal.last_index <= wal.snapshot_index:
            return {"ok": True, "index": wal.snapshot_index, "taken": False}
        started = time.monotonic()
        data = msgpack.packb([pack_item(item) for item in self.core.store.items()])
        meta = SnapshotMeta(wal.last_index, _TERM, self.config.node_ids)
        released = self.storage.save_snapshot(meta, data)
        took_ms = (time.monotonic() - started) * 1000
        self.last_snapshot = {
            "index": meta.index,
            "term": meta.term,
            "bytes": len(data),
            "stall_ms": round(took_ms, 1),
            "took_ms": round(took_ms, 1),
            "released_segments": released,
        }
        self.journal.line(
            f"{self.node_id} snapshot of {len(self.core.store)} keys at WAL entry {meta.index}: "
            f"{len(data)} bytes in {took_ms:.1f} ms; {released} WAL segments released"
        )
        return {"ok": True, "taken": True, **self.last_snapshot}

    def set_clock_rate(self, rate: float) -> None:
        self.clock_rate = rate
        self.ticker.tick_s = self._tick_seconds()

    def _tick_seconds(self) -> float:
        return self.config.tick_ms * self.config.slow_factor / 1000 / self.clock_rate

    def _refresh_address_book(self) -> None:
        """A member has no address here: `raftctl add-node` writes a node into
        cluster.toml just before it starts it."""
        if (config := self.book.refresh(self.transport, self.admission)) is not None:
            self._use(config)

    def _use(self, config: ClusterConfig) -> None:
        """cluster.toml changed: a node was added (N grows for quorum checks)."""
        self.config = config
        self.clients.replicas = len(config.nodes)

    # -- stopping ------------------------------------------------------------------

    def write_exit(self, reason: str, exit_code: int) -> None:
        write_exit(self.node_dir, reason, exit_code)
        self.journal.line(f"{self.node_id} stopped: {reason}")

    def close(self) -> None:
        self.transport.close()
        self.storage.close()


def _snapshot_items(data: bytes | None) -> list[Item]:
    if data is None:
        return []
    try:
        return [unpack_item(packed) for packed in msgpack.unpackb(data)]
    except (ValueError, TypeError, InvalidMessage) as error:
        raise CorruptSnapshot(f"not a gossip snapshot: {error}") from error
