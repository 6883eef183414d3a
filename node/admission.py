"""What a node lets in from the wire, and the count of what it refuses.

Rules:
- With CURVE, who sent a frame is the role its key signed in as (node.zap):
  Raft messages only from `node:<src>` for the src they name, admin requests
  only from the controller, client requests from the controller or a client.
  Without CURVE (`start --insecure`) a peer's socket identity must match the
  src it names, and anyone may send anything else.
- Every frame is untrusted. The codec refuses anything malformed; this module
  refuses what is well formed but not allowed: a peer message not addressed
  to this node, not sent under its sender's own socket identity, or from a
  sender that is not a node of this cluster (cluster.toml, re-read when it
  changes), and a snapshot whose state would not restore.
- A refused frame changes nothing and never ends the node: it is dropped and
  counted under its kind (`status` shows the counts).
- A message the core finds impossible (PeerMisbehaved: a second leader in
  its term, a follower matching beyond its log) is refused the same way.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import TYPE_CHECKING

from node.errors import InvalidMessage
from node.keys import CLIENT, CONTROLLER, node_role
from node.kv import KVStateMachine
from node.messages import InstallSnapshot, Message
from node.messages.gossip import GossipMessage

if TYPE_CHECKING:
    from node.messages.paxos import PaxosMessage

__all__ = ["Admission", "Refusal"]


class Refusal(StrEnum):
    """Why a frame was dropped."""

    UNDECODABLE = "undecodable"  # not a frame of any message the codec knows
    UNEXPECTED = "unexpected"  # a well-formed message that nobody sends to a node
    UNAUTHORIZED = "unauthorized"  # a request the sender's key may not make
    MISADDRESSED = "misaddressed"  # dst is not this node, or src is not the sender's identity
    UNKNOWN_SENDER = "unknown-sender"  # src is not a node of this cluster
    BAD_SNAPSHOT = "bad-snapshot"  # a snapshot whose state does not restore
    SNAPSHOT_STREAM = "snapshot-stream"  # a chunk out of turn, of a stream too large
    IMPOSSIBLE = "impossible"  # the core found it contradicts what it knows


class Admission:
    """The checks of one node, and its counts of what they refused."""

    def __init__(self, node_id: str, node_ids: tuple[str, ...], curve: bool = False) -> None:
        self.node_id = node_id
        self.node_ids = frozenset(node_ids)
        self.curve = curve
        self.refused: Counter[Refusal] = Counter()

    @property
    def total(self) -> int:
        return sum(self.refused.values())

    def counts(self) -> dict[str, int]:
        """The refusals so far by kind, for `status`."""
        return {kind.value: count for kind, count in sorted(self.refused.items())}

    def refuse(self, kind: Refusal) -> None:
        self.refused[kind] += 1

    def admits_peer_message(
        self,
        identity: bytes,
        message: Message | PaxosMessage | GossipMessage,
        role: str | None = None,
    ) -> bool:
        """A peer's message (Raft's, Paxos's or gossip's) for us, from a node of
        the cluster, under its own key (or, without CURVE, its own identity);
        otherwise counted and False."""
        if self.curve and role != node_role(message.src):
            self.refuse(Refusal.UNAUTHORIZED)
            return False
        if message.dst != self.node_id or (not self.curve and identity != message.src.encode()):
            self.refuse(Refusal.MISADDRESSED)
            return False
        if message.src not in self.node_ids or message.src == self.node_id:
            self.refuse(Refusal.UNKNOWN_SENDER)
            return False
        return True

    def admits_client_request(self, role: str | None) -> bool:
        if self.curve and role not in (CONTROLLER, CLIENT):
            self.refuse(Refusal.UNAUTHORIZED)
            return False
        return True

    def admits_admin_request(self, role: str | None) -> bool:
        if self.curve and role != CONTROLLER:
            self.refuse(Refusal.UNAUTHORIZED)
            return False
        return True

    def admits_snapshot(self, snapshot: InstallSnapshot) -> bool:
        """A whole snapshot whose state restores: one that does not would leave
        the node unable to start again once installed."""
        try:
            KVStateMachine.check_snapshot(snapshot.data, snapshot.meta.index)
        except InvalidMessage:
            self.refuse(Refusal.BAD_SNAPSHOT)
            return False
        return True
