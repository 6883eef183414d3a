"""Requests to whole shards, as a client does, from inside a node or the
coordinator's helpers: a shard's leader resolving a transaction
(node.txn_resolver) asks other shards, or the coordinator process of classic
2PC, this way.

Rules:
- Every node of the shard is asked at once and the leader's "ok" is taken;
  transaction steps are idempotent, so they need no session (sequence 0).
- ZeroMQ DEALERs signed in with the cluster's client key under CURVE; one
  asker belongs to one thread.
- Shard 0 is the coordinator process (node.config.COORDINATOR_ID).
- The network faults of faults.toml hold for these requests as for Raft's own
  messages: the asker sends nothing to a process its own is cut off from
  (node.faults), so that `raftctl partition` can separate a participant from
  its coordinator.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from node.config import COORDINATOR_ID, ClusterConfig, NodeAddress, load
from node.errors import ConfigError, InvalidMessage
from node.faults import FaultFilter
from node.keys import CLIENT, load_key
from node.messages import ClientRequest, ClientResponse, Operation, decode, encode

__all__ = ["ASK_TIMEOUT_S", "ShardAsker"]

ASK_TIMEOUT_S = 3.0  # per step; an unanswered job is tried again on a later watch
RESEND_S = 0.5


class ShardAsker:
    """Requests to whole shards, as a client; used by one thread only."""

    def __init__(
        self, cluster_dir: Path, client_id: str, stop: threading.Event, sender: str
    ) -> None:
        self.cluster_dir = cluster_dir
        self.client_id = client_id
        self.stop = stop
        self.sender = sender  # the process asking: whose side of a partition counts
        self._faults: FaultFilter | None = None
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sockets: dict[str, zmq.Socket[bytes]] = {}
        self.request_ids = itertools.count(1)

    def __enter__(self) -> ShardAsker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for dealer in self.sockets.values():
            dealer.close(linger=0)
        self.context.term()

    def ask(
        self, shard: int, operation: Operation, timeout_s: float = ASK_TIMEOUT_S
    ) -> dict[str, Any] | None:
        """The answer of `shard`'s leader to `operation`, or None within `timeout_s`."""
        try:
            config = load(self.cluster_dir / "cluster.toml")
            addresses = _addresses(config, shard)
            faults = self._fault_filter(config)
            faults.reload()
            dealers = [
                self._socket(config, address)
                for address in addresses
                if faults.connected(self.sender, address.id)
            ]
        except ConfigError:
            return None  # cluster.toml or a key unreadable for now: a later watch asks again
        if not dealers:
            return None  # cut off from all of them: as unanswered as a lost message
        deadline = time.monotonic() + timeout_s
        poller = zmq.Poller()
        for dealer in dealers:
            poller.register(dealer, zmq.POLLIN)
        asked: set[int] = set()
        next_send = 0.0
        while (now := time.monotonic()) < deadline and not self.stop.is_set():
            if now >= next_send:
                request_id = next(self.request_ids)
                asked.add(request_id)
                frame = encode(ClientRequest(request_id, self.client_id, 0, 0, operation))
                for dealer in dealers:
                    with contextlib.suppress(zmq.Again):
                        dealer.send(frame, zmq.NOBLOCK)
                next_send = now + RESEND_S
            for dealer, _ in poller.poll(max(1, int((min(next_send, deadline) - now) * 1000))):
                with contextlib.suppress(zmq.Again):
                    while True:
                        answer = self._answer(dealer.recv(zmq.NOBLOCK), asked)
                        if answer is not None:
                            return answer
        return None

    @staticmethod
    def _answer(frame: bytes, asked: set[int]) -> dict[str, Any] | None:
        try:
            message = decode(frame)
        except InvalidMessage:
            return None
        if (
            isinstance(message, ClientResponse)
            and message.request_id in asked
            and message.status == "ok"
            and message.result.get("ok")
        ):
            return message.result
        return None

    def _fault_filter(self, config: ClusterConfig) -> FaultFilter:
        if self._faults is None:
            everyone = [*config.node_ids, COORDINATOR_ID]
            self._faults = FaultFilter(self.sender, everyone, self.cluster_dir / "faults.toml")
        return self._faults

    def _socket(self, config: ClusterConfig, node: NodeAddress) -> zmq.Socket[bytes]:
        node_id = node.id
        dealer = self.sockets.get(node_id)
        if dealer is None:
            dealer = self.context.socket(zmq.DEALER)
            dealer.setsockopt(zmq.LINGER, 0)
            if config.curve:
                public, secret = load_key(self.cluster_dir, CLIENT)
                dealer.setsockopt(zmq.CURVE_SERVERKEY, node.public_key.encode())
                dealer.setsockopt(zmq.CURVE_PUBLICKEY, public)
                dealer.setsockopt(zmq.CURVE_SECRETKEY, secret)
            dealer.connect(node.endpoint)
            self.sockets[node_id] = dealer
        return dealer


def _addresses(config: ClusterConfig, shard: int) -> list[NodeAddress]:
    if shard == 0:
        return [] if config.coordinator is None else [config.coordinator]
    return [config.node(node_id) for node_id in config.shard_node_ids(shard)]
