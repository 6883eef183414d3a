"""Transport: ZeroMQ sockets between nodes, clients and the controller.

Rules (DESIGN.md, traps):
- Every node binds one ROUTER on its port for everything that comes in: peers,
  clients and the controller. It reaches each peer through a DEALER whose
  identity is its own node id, so a peer knows who spoke.
- No REQ/REP (they wedge after a timeout); requests carry request ids.
- Sends use NOBLOCK with IMMEDIATE and LINGER 0: a full queue or an absent
  peer drops the message (Raft retries); the loop never blocks on a send.
- Node-to-node traffic goes through the FaultFilter on send (drop, delay,
  duplicate, partition) and again on receive (partition).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass

import zmq

from node.config import ClusterConfig
from node.faults import FaultFilter

__all__ = ["Transport"]

_QUEUE_MESSAGES_MAX = 10_000
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
    ) -> None:
        self.node_id = node_id
        self.filter = fault_filter
        self.context = context or zmq.Context.instance()
        self.router = self.context.socket(zmq.ROUTER)
        for option, value in (
            (zmq.LINGER, 0),
            (zmq.SNDHWM, _QUEUE_MESSAGES_MAX),
            (zmq.RCVHWM, _QUEUE_MESSAGES_MAX),
        ):
            self.router.setsockopt(option, value)
        self.router.bind(config.node(node_id).endpoint)
        self.peers: dict[str, zmq.Socket[bytes]] = {}
        for peer in config.nodes:
            if peer.id != node_id:
                self.peers[peer.id] = self._dealer(peer.endpoint)
        self.poller = zmq.Poller()
        self.poller.register(self.router, zmq.POLLIN)
        self._delayed: list[_Delayed] = []
        self._sequence = 0
        self.dropped_full = 0
        self.dropped_unknown = 0
        self.dropped_by_faults = 0

    def add_peers(self, config: ClusterConfig) -> list[str]:
        """Connect to nodes added to cluster.toml since the start; their ids."""
        added = []
        for peer in config.nodes:
            if peer.id != self.node_id and peer.id not in self.peers:
                self.peers[peer.id] = self._dealer(peer.endpoint)
                added.append(peer.id)
        return added

    def _dealer(self, endpoint: str) -> zmq.Socket[bytes]:
        dealer = self.context.socket(zmq.DEALER)
        for option, value in (
            (zmq.IDENTITY, self.node_id.encode()),
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

    def receive(self, timeout_ms: float) -> Iterator[tuple[bytes, bytes]]:
        """(sender identity, frame) pairs, waiting at most `timeout_ms` for the first."""
        if not self.poller.poll(max(0, int(timeout_ms))):
            return
        for _ in range(_RECEIVE_BATCH_MAX):
            try:
                parts = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(parts) == 2:
                yield parts[0], parts[1]

    def accepts_from_peer(self, peer_id: str) -> bool:
        """The receive-side filter: a partition cuts both directions."""
        accepted = self.filter.connected(peer_id, self.node_id)
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
        try:
            self.router.send_multipart([identity, frame], zmq.NOBLOCK)
        except zmq.ZMQError:
            self.dropped_full += 1  # gone or full: the client will retry

    def flush_delayed(self) -> float | None:
        """Send what is due; return when the next delayed message is due."""
        now = time.monotonic()
        while self._delayed and self._delayed[0].due <= now:
            delayed = heapq.heappop(self._delayed)
            self._send_now(delayed.target, delayed.frame)
        return self._delayed[0].due if self._delayed else None

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
