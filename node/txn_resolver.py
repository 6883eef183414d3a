"""The resolver: a shard's leader finishes transactions whose coordinator
went quiet, so that a crashed client blocks no one for long.

Rules:
- The loop calls `watch` a few times a second. A transaction prepared here
  for `after_s` (cluster.toml's txn_resolve_after_ms, counted from when this
  node, as leader, first saw it) is handed to one thread.
- The thread asks the coordinator shard for the decision record, proposing
  "aborted" (written only if there is no record: node.transactions), then
  tells every participant shard the outcome in force and, once all did,
  forgets the record if it says committed (an aborted one stays: see
  node.transactions.Resolution). It never decides alone: the record decides, and the
  coordinator that comes back late finds the same record.
- It talks to the shards as a client does (ZeroMQ DEALERs, the cluster's
  client key under CURVE), asking every node of a shard at once and taking
  the leader's "ok"; transaction steps are idempotent, so they need no session
  (sequence 0). It touches nothing of the node but its two queues.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from node.config import ClusterConfig, load
from node.errors import ConfigError, InvalidMessage
from node.keys import CLIENT, load_key
from node.messages import ClientRequest, ClientResponse, Operation, decode, encode
from node.transactions import Resolution, TxnTables

__all__ = ["Resolver"]

ASK_TIMEOUT_S = 3.0  # per step; an unanswered job is tried again on a later watch
RESEND_S = 0.5


@dataclass(frozen=True, slots=True)
class Resolved:
    """What one resolution came to: the record's outcome (None: no answer)."""

    txn_id: str
    outcome: str | None
    coordinator: int

    @property
    def text(self) -> str:
        if self.outcome is None:
            return f"txn {self.txn_id}: no answer from shard {self.coordinator} about its record"
        return (
            f"txn {self.txn_id} resolved after its coordinator went quiet: "
            f"{self.outcome} (the record at shard {self.coordinator})"
        )


class Resolver:
    """Watches this shard's prepared transactions; resolves stale ones in a thread."""

    def __init__(self, cluster_dir: Path, node_id: str, after_s: float) -> None:
        self.cluster_dir = cluster_dir
        self.node_id = node_id
        self.after_s = after_s
        self.resolved = 0
        # The longest a transaction held its locks here, as watched (to a
        # watch's period): from when it was first seen prepared until gone.
        self.longest_hold_s = 0.0
        self._since: dict[str, float] = {}
        self._seen: dict[str, float] = {}
        self._jobs: queue.Queue[Resolution] = queue.Queue()
        self._done: queue.Queue[Resolved] = queue.Queue()  # for the loop to journal
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, txns: TxnTables, leading: bool, now: float) -> list[Resolved]:
        """Hand over what waited too long; what the thread has done since."""
        lines: list[Resolved] = []
        with contextlib.suppress(queue.Empty):
            while True:
                lines.append(self._done.get_nowait())
        prepared = txns.prepared
        for gone in [txn for txn in self._since if txn not in prepared]:
            self.longest_hold_s = max(self.longest_hold_s, now - self._since.pop(gone))
        for txn_id in prepared:
            self._since.setdefault(txn_id, now)
        for gone in [txn for txn in self._seen if txn not in prepared]:
            del self._seen[gone]
        if not leading:
            self._seen.clear()  # a new leader counts from when it leads
            return lines
        for txn_id, part in prepared.items():
            first = self._seen.setdefault(txn_id, now)
            if now - first < self.after_s:
                continue
            with self._lock:
                if txn_id in self._busy:
                    continue
                self._busy.add(txn_id)
            self._seen[txn_id] = now  # if this round fails, the next one waits again
            self._start()
            self._jobs.put(Resolution(txn_id, part.coordinator, part.participants))
        return lines

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    # -- the thread ---------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="txn-resolver", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with _Asker(self.cluster_dir, f"resolver-{self.node_id}", self._stop) as asker:
            while not self._stop.is_set():
                try:
                    job = self._jobs.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    self._done.put(self._resolve(asker, job))
                finally:
                    with self._lock:
                        self._busy.discard(job.txn_id)

    def _resolve(self, asker: _Asker, job: Resolution) -> Resolved:
        record = asker.ask(job.coordinator, job.ask())
        if record is None:
            return Resolved(job.txn_id, None, job.coordinator)
        finished = [asker.ask(step.shard, step) for step in job.tell(record)]
        forget = job.forget(record)
        if forget is not None and all(answer is not None for answer in finished):
            asker.ask(job.coordinator, forget)
        self.resolved += 1
        return Resolved(job.txn_id, str(record["outcome"]), job.coordinator)


class _Asker:
    """Requests to whole shards, as a client; used by one thread only."""

    def __init__(self, cluster_dir: Path, client_id: str, stop: threading.Event) -> None:
        self.cluster_dir = cluster_dir
        self.client_id = client_id
        self.stop = stop
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sockets: dict[str, zmq.Socket[bytes]] = {}
        self.request_ids = itertools.count(1)

    def __enter__(self) -> _Asker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for dealer in self.sockets.values():
            dealer.close(linger=0)
        self.context.term()

    def ask(self, shard: int, operation: Operation) -> dict[str, Any] | None:
        """The answer of `shard`'s leader to `operation`, or None in time."""
        try:
            config = load(self.cluster_dir / "cluster.toml")
            dealers = [self._socket(config, node_id) for node_id in config.shard_node_ids(shard)]
        except ConfigError:
            return None  # cluster.toml or a key unreadable for now: a later watch asks again
        deadline = time.monotonic() + ASK_TIMEOUT_S
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

    def _socket(self, config: ClusterConfig, node_id: str) -> zmq.Socket[bytes]:
        dealer = self.sockets.get(node_id)
        if dealer is None:
            node = config.node(node_id)
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
