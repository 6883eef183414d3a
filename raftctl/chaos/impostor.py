"""The byzantine nemesis's impostor: a member's name in a stranger's hands.

On an --insecure cluster a socket may call itself anything, so the impostor
takes the name of a member the nemesis has just killed (a running member's
name is taken: ZeroMQ refuses a second connection under it) and sends the
others what a confused or hostile member would:
- stale messages: heartbeats, AppendEntries and vote requests from terms
  that are over;
- duplicates: every round sends one of its messages three times;
- inflated terms: vote requests (with an empty log) and heartbeats (at
  commit 0) from terms up to INFLATION_MAX ahead, and a TimeoutNow that asks
  for an election at once.
None of them lies about a log or a commit index: that is what `--control
liar` does, and Raft cannot survive it. These it must survive: terms jump and
elections are disturbed (availability drops), but no acknowledged write may
be lost and every history must stay valid.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping

import zmq

from node.messages import AppendEntries, Heartbeat, Message, RequestVote, TimeoutNow, encode

__all__ = ["INFLATION_MAX", "Impostor"]

INFLATION_MAX = 50
DUPLICATES = 3


class Impostor:
    """Sockets under `name` to each node of `endpoints`; one round at a time."""

    def __init__(self, name: str, endpoints: Mapping[str, str], rng: random.Random) -> None:
        self.name = name
        self.rng = rng
        self.sent: Counter[str] = Counter()
        self.highest_term = 0
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._sockets: dict[str, zmq.Socket[bytes]] = {}
        for node_id, endpoint in endpoints.items():
            socket = self._context.socket(zmq.DEALER)
            socket.setsockopt(zmq.IDENTITY, name.encode())
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.SNDHWM, 1000)
            socket.setsockopt(zmq.RECONNECT_IVL, 100)  # until the dead member's pipe is gone
            socket.connect(endpoint)
            self._sockets[node_id] = socket

    def send_round(self, term: int) -> None:
        """One round against every node, around the cluster's `term`."""
        for node_id in self._sockets:
            messages = self._stale(node_id, term) + self._inflated(node_id, term)
            duplicated = self.rng.choice(messages)
            for message in [*messages, *[duplicated] * (DUPLICATES - 1)]:
                self._send(node_id, message)
            self.sent["duplicate"] += DUPLICATES - 1

    def close(self) -> None:
        for socket in self._sockets.values():
            socket.close(linger=0)
        self._context.term()

    def _stale(self, dst: str, term: int) -> list[Message]:
        if term <= 1:
            return []
        old = self.rng.randint(max(1, term - 5), term - 1)
        self.sent["stale"] += 3
        return [
            Heartbeat(old, self.name, dst, 0, self.rng.randrange(1, 1 << 20)),
            AppendEntries(old, self.name, dst, 0, 0, (), 0),
            RequestVote(old, self.name, dst, 0, 0, self.rng.random() < 0.5),
        ]

    def _inflated(self, dst: str, term: int) -> list[Message]:
        ahead = term + self.rng.randint(1, INFLATION_MAX)
        self.highest_term = max(self.highest_term, ahead)
        self.sent["inflated"] += 3
        return [
            RequestVote(ahead, self.name, dst, 0, 0, self.rng.random() < 0.5),
            Heartbeat(ahead, self.name, dst, 0, self.rng.randrange(1, 1 << 20)),
            TimeoutNow(term, self.name, dst),
        ]

    def _send(self, node_id: str, message: Message) -> None:
        try:
            self._sockets[node_id].send(encode(message), zmq.NOBLOCK)
        except zmq.Again:
            self.sent["dropped"] += 1
