"""The node's door: a ZAP handler (ZeroMQ RFC 27) that lets in only the
cluster's own CURVE keys and names each by its role.

Rules:
- It serves `inproc://zeromq.zap.01` of the node's context and must be bound
  before the CURVE server socket takes a connection: with no handler there,
  libzmq lets every key in.
- It runs in the node's one loop (the transport polls it), not in a thread.
- A key of cluster.toml signs in as its role (node.keys: `node:<id>`,
  `controller`, `client`), which libzmq then attaches to every frame that
  connection delivers as its User-Id; any other key, or any other mechanism,
  is refused (400) and counted.
"""

from __future__ import annotations

import zmq
from zmq.utils import z85

from node.config import ClusterConfig
from node.keys import CLIENT, CONTROLLER, node_role

__all__ = ["ZAP_ENDPOINT", "ZapHandler", "roles_of"]

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
_VERSION = b"1.0"


def roles_of(config: ClusterConfig) -> dict[bytes, str]:
    """Each public key of the cluster (raw, 32 bytes) and the role it signs in as."""
    roles = {z85.decode(node.public_key): node_role(node.id) for node in config.nodes}
    roles[z85.decode(config.controller_public_key)] = CONTROLLER
    roles[z85.decode(config.client_public_key)] = CLIENT
    return roles


class ZapHandler:
    """Answers libzmq's authentication requests for one context."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], config: ClusterConfig) -> None:
        self.roles = roles_of(config)
        self.refused = 0
        self.socket = context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(ZAP_ENDPOINT)

    def update(self, config: ClusterConfig) -> None:
        """cluster.toml changed (a node was added): its keys are in force now."""
        self.roles = roles_of(config)

    def handle_pending(self) -> None:
        """Answer every request waiting, without blocking."""
        while True:
            try:
                request = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.socket.send_multipart(self.answer(request))

    def answer(self, request: list[bytes]) -> list[bytes]:
        """The reply to one ZAP request (RFC 27): 200 and the role, or a refusal."""
        if len(request) < 6:
            self.refused += 1
            request_id = request[1] if len(request) > 1 else b""
            return [_VERSION, request_id, b"500", b"malformed ZAP request", b"", b""]
        version, request_id, _domain, _address, _identity, mechanism = request[:6]
        credentials = request[6:]
        role = (
            self.roles.get(credentials[0])
            if version == _VERSION and mechanism == b"CURVE" and len(credentials) == 1
            else None
        )
        if role is None:
            self.refused += 1
            return [_VERSION, request_id, b"400", b"not a key of this cluster", b"", b""]
        return [_VERSION, request_id, b"200", b"OK", role.encode(), b""]
