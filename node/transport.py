"""Transport: ZeroMQ sockets between nodes, clients and the controller.

Rules (DESIGN.md, traps):
- Every node binds one ROUTER on its port for everything that comes in: peers,
  clients and the controller. It reaches each peer through a DEALER whose
  identity is its own node id, so a peer knows who spoke.
- No REQ/REP (they wedge after a timeout); requests carry request ids.
- Sends use NOBLOCK with IMMEDIATE and LINGER 0: a full queue or an absent
  peer drops the message (Raft retries); the loop never blocks on a send.
- Answers to clients are bounded in bytes (node.reply_queues): the ROUTER
  keeps a short pipe per client and says when it is full (ROUTER_MANDATORY);
  the rest waits in a bounded backlog that the loop flushes.
- Node-to-node traffic goes through the FaultFilter on send (drop, delay,
  duplicate, partition) and again on receive (partition).
- With CURVE (cluster.toml `curve = true`, the default of `raftctl start`)
  every connection is encrypted and authenticated: the ROUTER is a CURVE
  server whose ZAP handler (node.zap) admits only the cluster's keys, and each
  frame arrives with the role its key signed in as. The DEALERs then set no
  identity: who a peer is comes from its key, never from a name it chose.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass

import zmq

from node.config import ClusterConfig
from node.faults import FaultFilter
from node.keys import KeyPair
from node.reply_queues import ReplyQueues, SendResult
from node.zap import ZapHandler

__all__ = ["FRAME_BYTES_MAX", "Transport"]

_QUEUE_MESSAGES_MAX = 10_000
# Answers queued inside libzmq for one client, by count: one answer can weigh
# megabytes, so the bound in bytes is kept by node.reply_queues above it.
_REPLY_PIPE_MESSAGES_MAX = 16
_REPLY_RETRY_READING_S = 0.0002
_REPLY_RETRY_STALLED_S = 0.01
# The largest frame a node takes; libzmq drops a connection that sends a larger
# one before any of it is buffered. A client request stops at
# node.client_plane.REQUEST_BYTES_MAX, so that the log entry it becomes, with
# the AppendEntries around it, always fits.
FRAME_BYTES_MAX = 64 << 20
_RECEIVE_BATCH_MAX = 2_000  # frames handled per loop turn, so ticks are never starved


@dataclass(order=True, slots=True)
class _Delayed:
    due: float
    sequence: int
    target: str
    frame: bytes


class Transport:
    """The sockets of one node."""

    def __init__(
        self,
        node_id: str,
        config: ClusterConfig,
        fault_filter: FaultFilter,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        keys: KeyPair | None = None,
    ) -> None:
        self.node_id = node_id
        self.filter = fault_filter
        self.context = context or zmq.Context.instance()
        self.keys = keys
        # The door first: a CURVE socket with no ZAP handler lets every key in.
        self.zap = ZapHandler(self.context, config) if keys is not None else None
        self.router = self.context.socket(zmq.ROUTER)
        if keys is not None:
            self.router.setsockopt(zmq.CURVE_SERVER, 1)
            self.router.setsockopt(zmq.CURVE_PUBLICKEY, keys[0])
            self.router.setsockopt(zmq.CURVE_SECRETKEY, keys[1])
        for option, value in (
            (zmq.LINGER, 0),
            (zmq.SNDHWM, _REPLY_PIPE_MESSAGES_MAX),  # the ROUTER only sends answers
            (zmq.ROUTER_MANDATORY, 1),  # a full pipe or a gone client raises
            (zmq.RCVHWM, _QUEUE_MESSAGES_MAX),
            (zmq.MAXMSGSIZE, FRAME_BYTES_MAX),
        ):
            self.router.setsockopt(option, value)
        self.router.bind(config.node(node_id).endpoint)
        self.peers: dict[str, zmq.Socket[bytes]] = {}
        for peer in config.nodes:
            if peer.id != node_id:
                self.peers[peer.id] = self._dealer(peer.endpoint, peer.public_key)
        self.poller = zmq.Poller()
        self.poller.register(self.router, zmq.POLLIN)
        if self.zap is not None:
            self.poller.register(self.zap.socket, zmq.POLLIN)
        self._delayed: list[_Delayed] = []
        self._sequence = 0
        self.replies = ReplyQueues(self._send_reply)
        self.dropped_full = 0
        self.dropped_unknown = 0
        self.dropped_by_faults = 0

    def add_peers(self, config: ClusterConfig) -> list[str]:
        """Connect to nodes added to cluster.toml since the start; their ids."""
        if self.zap is not None:
            self.zap.update(config)
        added = []
        for peer in config.nodes:
            if peer.id != self.node_id and peer.id not in self.peers:
                self.peers[peer.id] = self._dealer(peer.endpoint, peer.public_key)
                added.append(peer.id)
        return added

    def _dealer(self, endpoint: str, server_key: str) -> zmq.Socket[bytes]:
        dealer = self.context.socket(zmq.DEALER)
        if self.keys is None:
            dealer.setsockopt(zmq.IDENTITY, self.node_id.encode())
        else:
            dealer.setsockopt(zmq.CURVE_SERVERKEY, server_key.encode())
            dealer.setsockopt(zmq.CURVE_PUBLICKEY, self.keys[0])
            dealer.setsockopt(zmq.CURVE_SECRETKEY, self.keys[1])
        for option, value in (
            (zmq.LINGER, 0),
            (zmq.IMMEDIATE, 1),
            (zmq.SNDHWM, _QUEUE_MESSAGES_MAX),
            (zmq.RECONNECT_IVL, 100),
            (zmq.RECONNECT_IVL_MAX, 1000),
        ):
            dealer.setsockopt(option, value)
        dealer.connect(endpoint)
        return dealer

    # -- receiving --------------------------------------------------------------

    def receive(self, timeout_ms: float) -> Iterator[tuple[bytes, bytes, str | None]]:
        """(sender identity, frame, role) triples, waiting at most `timeout_ms`
        for the first. The role is the one the sender's key signed in as
        (None without CURVE)."""
        if not self.poller.poll(max(0, int(timeout_ms))):
            return
        if self.zap is not None:
            self.zap.handle_pending()
        for _ in range(_RECEIVE_BATCH_MAX):
            try:
                if self.keys is None:
                    parts = self.router.recv_multipart(zmq.NOBLOCK)
                    if len(parts) == 2:
                        yield parts[0], parts[1], None
                    continue
                frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if len(frames) == 2:
                role = frames[1].get("User-Id")
                yield frames[0].bytes, frames[1].bytes, role if isinstance(role, str) else None

    def accepts_from_peer(self, peer_id: str) -> bool:
        """The receive-side filter: a partition cuts both directions."""
        accepted = self.filter.admits(peer_id)
        if not accepted:
            self.dropped_by_faults += 1
        return accepted

    # -- sending ------------------------------------------------------------------

    def send_to_peer(self, peer_id: str, frame: bytes) -> None:
        delays = self.filter.delays_ms(self.node_id, peer_id)
        if not delays:
            self.dropped_by_faults += 1
            return
        now = time.monotonic()
        for delay in delays:
            if delay <= 0:
                self._send_now(peer_id, frame)
            else:
                self._sequence += 1
                heapq.heappush(
                    self._delayed, _Delayed(now + delay / 1000, self._sequence, peer_id, frame)
                )

    def reply(self, identity: bytes, frame: bytes) -> None:
        """Answer a client or the controller through the ROUTER."""
        self.replies.reply(identity, frame)

    def flush_replies(self) -> float | None:
        """Send what waits for slow clients. Returns None when nothing waits,
        else how soon to try again: at once while clients are reading (their
        pipes drained), later while they are not (no busy loop for a client
        that never reads)."""
        moved = self.replies.flush()
        if not self.replies.waiting:
            return None
        return _REPLY_RETRY_READING_S if moved else _REPLY_RETRY_STALLED_S

    def _send_reply(self, identity: bytes, frame: bytes) -> SendResult:
        try:
            self.router.send_multipart([identity, frame], zmq.NOBLOCK)
        except zmq.Again:
            return SendResult.FULL
        except zmq.ZMQError:
            return SendResult.GONE  # EHOSTUNREACH: the client left
        return SendResult.SENT

    def flush_delayed(self) -> float | None:
        """Send what is due; return when the next delayed message is due."""
        now = time.monotonic()
        while self._delayed and self._delayed[0].due <= now:
            delayed = heapq.heappop(self._delayed)
            self._send_now(delayed.target, delayed.frame)
        return self._delayed[0].due if self._delayed else None

    def flush(self, wait_s: float) -> float:
        """Send what is due (delayed frames, answers waiting for slow
        clients); `wait_s`, or less if something more falls due sooner."""
        now = time.monotonic()
        due = self.flush_delayed()
        if due is not None:
            wait_s = min(wait_s, due - now)
        retry = self.flush_replies()
        if retry is not None:
            wait_s = min(wait_s, retry)
        return wait_s

    def _send_now(self, peer_id: str, frame: bytes) -> None:
        peer = self.peers.get(peer_id)
        if peer is None:  # not in our address book: its message is lost
            self.dropped_unknown += 1
            return
        try:
            peer.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            self.dropped_full += 1

    def close(self) -> None:
        for dealer in self.peers.values():
            dealer.close(linger=0)
        self.router.close(linger=0)
        if self.zap is not None:
            self.zap.socket.close(linger=0)
