"""The client library: leader discovery, redirects, retries, exactly-once writes.

Rules:
- One DEALER per node and request ids, never REQ/REP (DESIGN.md traps).
- Every write gets a sequence number of this client's session; a retry (after
  a timeout, a "retry" answer or a redirect) reuses it, so the cluster applies
  the write once. Each request carries the acknowledged mark: the highest
  sequence number up to which every answer has arrived.
- Many operations may be in flight at once (`pipeline`); every operation has
  a deadline, after which it is Unavailable (for a write: outcome unknown).
- On a sharded cluster each operation goes to the shard that owns its key
  (`shard_of`), whose leader this client tracks apart from the others'. One
  session spans the shards: sequence numbers are the client's, so a shard sees
  gaps in them, which its session table allows. An operation over several
  shards (a prefix, a transaction of keys on several) is the caller's to split
  (raftctl.shards) or to coordinate (raftctl.txn).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zmq

from node.config import ClusterConfig
from node.config import load as load_config
from node.errors import ConfigError, InvalidMessage
from node.keys import CONTROLLER, load_key
from node.messages import (
    ClientRequest,
    ClientResponse,
    Consistency,
    Operation,
    is_read_only,
)
from node.messages import decode as decode_message
from node.messages import encode as encode_message

if TYPE_CHECKING:
    from node.messages import AdminCommand
from raftctl.errors import Refused, Unavailable

__all__ = ["Client", "Outcome", "node_socket"]


def node_socket(
    context: zmq.Context[zmq.Socket[bytes]], config: ClusterConfig, endpoint: str, key: str = ""
) -> zmq.Socket[bytes]:
    """A DEALER connected to the node at `endpoint` (whose public key is
    `key`), signed in with the controller's key when the cluster uses CURVE."""
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    if config.curve:
        if config.directory is None or not key:
            raise ConfigError("a CURVE cluster needs its directory and the node's public key")
        public, secret = load_key(config.directory, CONTROLLER)
        dealer.setsockopt(zmq.CURVE_SERVERKEY, key.encode())
        dealer.setsockopt(zmq.CURVE_PUBLICKEY, public)
        dealer.setsockopt(zmq.CURVE_SECRETKEY, secret)
    dealer.connect(endpoint)
    return dealer


ATTEMPT_TIMEOUT_S = 1.0
BACKOFF_S = 0.05
SILENT_NODE_AVOID_S = 3.0


@dataclass(slots=True)
class Outcome:
    """How one operation ended."""

    operation: Operation
    result: dict[str, Any] | None
    error: Unavailable | Refused | None
    latency_s: float
    node: str | None
    invoked_at: float
    sequence: int

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class _Operation:
    position: int
    operation: Operation
    sequence: int
    started_at: float
    deadline: float
    shard: int
    attempts: int = 0
    locked_by: str | None = None  # the transaction whose lock it last met


@dataclass(slots=True)
class _Attempt:
    operation: _Operation
    node: str
    sent_at: float


class Client:
    """A session with one cluster. Not thread-safe: one client per thread."""

    def __init__(
        self,
        config: ClusterConfig,
        client_id: str | None = None,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        self.config = config
        self.client_id = client_id or f"c{os.getpid()}-{os.urandom(4).hex()}"
        self.context = context or zmq.Context.instance()
        self._sockets: dict[str, zmq.Socket[bytes]] = {}
        self._node_of: dict[zmq.Socket[bytes], str] = {}
        # A node whose TCP connection drops (its process died) is known at
        # once from libzmq's monitor: its attempts go elsewhere now, instead
        # of after ATTEMPT_TIMEOUT_S (a failover's first second, otherwise).
        self._monitor_of: dict[zmq.Socket[bytes], str] = {}
        self._dropped: set[str] = set()
        self._poller = zmq.Poller()
        self._shard_of: dict[str, int] = {}
        self._nodes_of: dict[int, list[str]] = {}  # shard -> its nodes, in address-book order
        for node in config.nodes:
            self._add_socket(
                node.id,
                node_socket(self.context, config, node.endpoint, node.public_key),
                node.shard,
            )
        coordinator = config.coordinator
        if coordinator is not None:  # 2pc-classic and 3pc: the coordinator process is "shard 0"
            self._add_socket(
                coordinator.id,
                node_socket(self.context, config, coordinator.endpoint, coordinator.public_key),
                0,
            )
        # Which processes this client may reach; None: all. The coordinator
        # process sets it from faults.toml, so that a partition separates it
        # from the shards it coordinates (a client is never cut otherwise).
        self.reachable: Callable[[str], bool] | None = None
        # Protocol gossip: the replicas a write (W) or a read (R) of this
        # client needs; 0: the cluster's own setting.
        self.quorum = 0
        self._leaders: dict[int, str] = {}  # shard -> the node last known to lead it
        self._next_request_id = 1
        self._next_sequence = 1
        self._answered: set[int] = set()
        self.acknowledged = 0
        self._round_robin = 0
        self._silent_until: dict[str, float] = {}  # nodes that just let an attempt time out

    @property
    def leader_hint(self) -> str | None:
        """The node last known to lead shard 1 (the only one, unsharded)."""
        return self._leaders.get(1)

    @leader_hint.setter
    def leader_hint(self, node_id: str | None) -> None:
        self._set_leader(1, node_id)

    def _set_leader(self, shard: int, node_id: str | None) -> None:
        if node_id is None:
            self._leaders.pop(shard, None)
        else:
            self._leaders[shard] = node_id

    def shard_of(self, operation: Operation) -> int | None:
        """The shard `operation` must go to; None when it spans several."""
        from raftctl.shards import operation_shards

        shards = operation_shards(self.config, operation)
        return next(iter(shards)) if len(shards) == 1 else None

    def _connect(self, node_id: str, endpoint: object, shard: int) -> None:
        """A node added after this client started, named by a redirect from
        a node of `shard`."""
        if not isinstance(endpoint, str) or not endpoint.startswith("tcp://127.0.0.1:"):
            return
        key = ""
        if self.config.curve and self.config.directory is not None:
            # A node added after we read cluster.toml: its key is in the new one.
            with contextlib.suppress(ConfigError):
                fresh = load_config(self.config.directory / "cluster.toml")
                key = next((node.public_key for node in fresh.nodes if node.id == node_id), "")
            if not key:
                return
        self._add_socket(node_id, node_socket(self.context, self.config, endpoint, key), shard)

    def _add_socket(self, node_id: str, dealer: zmq.Socket[bytes], shard: int) -> None:
        self._sockets[node_id] = dealer
        self._shard_of[node_id] = shard
        self._nodes_of.setdefault(shard, []).append(node_id)
        self._node_of[dealer] = node_id
        self._poller.register(dealer, zmq.POLLIN)
        monitor = dealer.get_monitor_socket(
            zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED
        )
        self._monitor_of[monitor] = node_id
        self._poller.register(monitor, zmq.POLLIN)

    def close(self) -> None:
        for dealer in self._sockets.values():
            with contextlib.suppress(zmq.ZMQError):
                dealer.disable_monitor()
            dealer.close(linger=0)
        for monitor in self._monitor_of:
            monitor.close(linger=0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the API --------------------------------------------------------------

    def call(
        self,
        operation: Operation,
        consistency: Consistency | str = Consistency.LINEARIZABLE,
        node: str | None = None,
        timeout_s: float = 10.0,
        shard: int | None = None,
    ) -> dict[str, Any]:
        """Run one operation (on `shard`, else on the shard of its keys);
        raises Unavailable after `timeout_s`."""
        (outcome,) = self.pipeline(
            [operation], 1, Consistency(consistency), node, timeout_s, shard=shard
        )
        if outcome.error is not None:
            raise outcome.error
        if outcome.result is None:
            raise AssertionError(f"an outcome with neither error nor result: {outcome}")
        return outcome.result

    def pipeline(
        self,
        operations: Iterable[Operation],
        window: int,
        consistency: Consistency | str = Consistency.LINEARIZABLE,
        node: str | None = None,
        timeout_s: float = 10.0,
        on_done: Callable[[Outcome], None] | None = None,
        stop_at: float | None = None,
        shard: int | None = None,
    ) -> list[Outcome]:
        """Run `operations` with up to `window` in flight; outcomes in the order
        of the operations. With `stop_at` (a time.monotonic() moment) no new
        operation starts after it, so an endless iterator may be passed. Each
        goes to `shard`, else to the shard of its keys; one whose keys span
        shards is a caller's bug (ValueError)."""
        outcomes: dict[int, Outcome] = {}
        upcoming = iter(operations)
        exhausted = False
        position = 0
        inflight: dict[int, _Attempt] = {}
        resend: list[tuple[float, _Operation]] = []
        while not exhausted or inflight or resend:
            now = time.monotonic()
            if stop_at is not None and now >= stop_at:
                exhausted = True
            while not exhausted and len(inflight) + len(resend) < window:
                operation = next(upcoming, None)
                if operation is None:
                    exhausted = True
                    break
                target_shard = shard if shard is not None else self._route(operation)
                sequence = 0 if is_read_only(operation) else self._take_sequence()
                state = _Operation(
                    position, operation, sequence, now, now + timeout_s, target_shard
                )
                position += 1
                self._send(state, node or self._leaders.get(target_shard), consistency, inflight)
            for due, state in [item for item in resend if item[0] <= now]:
                resend.remove((due, state))
                target = node if consistency == "stale" else self._leaders.get(state.shard)
                self._send(state, target, consistency, inflight)
            self._expire(inflight, resend, outcomes, on_done, now, node, consistency)
            received = self._receive(self._wait_ms(inflight, resend))
            if self._dropped:
                self._reroute_dropped(inflight, node, consistency)
            for response, source in received:
                attempt = inflight.pop(response.request_id, None)
                if attempt is None:
                    continue  # an answer to an attempt already given up on
                self._handle(
                    response,
                    source,
                    attempt,
                    resend,
                    outcomes,
                    on_done,
                    node,
                    consistency,
                    inflight,
                )
        return [outcomes[index] for index in sorted(outcomes)]

    def notify(self, operation: Operation, shard: int | None = None) -> None:
        """Send an idempotent write to its shard's leader (as far as this client
        knows) and do not wait: sequence 0, no session. Its answer, if one comes,
        is dropped by whichever call reads next; if it is lost, so is the write."""
        target = shard if shard is not None else self._route(operation)
        node = self._pick(self._leaders.get(target), target)
        self._deliver(node, ClientRequest(self._take_request_id(), self.client_id, 0, 0, operation))

    def status(self, node_id: str, timeout_s: float = 1.0) -> dict[str, Any] | None:
        """A node's status, or None if it did not answer in time."""
        from node.messages import Status

        return self.admin(node_id, Status(), timeout_s=timeout_s)

    def admin(
        self, node_id: str, command: AdminCommand, timeout_s: float = 1.0
    ) -> dict[str, Any] | None:
        """An admin request to one node; None if it did not answer in time."""
        # The admin vocabulary is imported here: a put or a get never uses it.
        from node.messages import AdminRequest, AdminResponse

        request_id = self._take_request_id()
        dealer = self._sockets[node_id]
        with contextlib.suppress(zmq.Again):
            dealer.send(encode_message(AdminRequest(request_id, command)), zmq.NOBLOCK)
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            if not dealer.poll(int(remaining * 1000) + 1):
                break
            try:
                message = decode_message(dealer.recv())
            except InvalidMessage:
                continue
            if isinstance(message, AdminResponse) and message.request_id == request_id:
                self._silent_until.pop(node_id, None)  # it answered: it is alive
                return message.result
        return None

    # -- internals ----------------------------------------------------------------

    def _take_sequence(self) -> int:
        sequence = self._next_sequence
        self._next_sequence += 1
        return sequence

    def _take_request_id(self) -> int:
        request_id = self._next_request_id
        self._next_request_id += 1
        return request_id

    def _route(self, operation: Operation) -> int:
        if self.config.shards == 1:
            return 1
        shard = self.shard_of(operation)
        if shard is None:
            raise ValueError(f"an operation over several shards needs splitting: {operation}")
        return shard

    def _pick(self, preferred: str | None, shard: int) -> str:
        """`preferred` (if it is of `shard`), else the next node of `shard` in
        turn that has not just stayed silent. A leader this client has no
        address for (added after it started) is reached through the others'
        redirects."""
        if preferred is not None and self._shard_of.get(preferred) == shard:
            return preferred
        ids = self._nodes_of[shard]
        now = time.monotonic()
        for _ in range(len(ids)):
            self._round_robin = (self._round_robin + 1) % len(ids)
            candidate = ids[self._round_robin]
            if self._silent_until.get(candidate, 0.0) <= now:
                return candidate
        return ids[self._round_robin]  # everyone is silent: keep trying in turn

    def _send(
        self, state: _Operation, target: str | None, consistency: str, inflight: dict[int, _Attempt]
    ) -> None:
        node = self._pick(target, state.shard)
        request_id = self._take_request_id()
        state.attempts += 1
        request = ClientRequest(
            request_id,
            self.client_id,
            state.sequence,
            self.acknowledged,
            state.operation,
            Consistency(consistency),
            self.quorum,
        )
        self._deliver(node, request)
        inflight[request_id] = _Attempt(state, node, time.monotonic())

    def _deliver(self, node: str, request: ClientRequest) -> None:
        """Send without waiting. A full queue, or a link the coordinator is cut
        off on (`reachable`), makes it a silent attempt: it times out and
        moves on."""
        if self.reachable is None or self.reachable(node):
            with contextlib.suppress(zmq.Again):
                self._sockets[node].send(encode_message(request), zmq.NOBLOCK)

    def _wait_ms(
        self, inflight: dict[int, _Attempt], resend: list[tuple[float, _Operation]]
    ) -> int:
        now = time.monotonic()
        moments = [attempt.sent_at + ATTEMPT_TIMEOUT_S for attempt in inflight.values()]
        moments += [due for due, _ in resend]
        if not moments:
            return 0
        return max(0, int((min(moments) - now) * 1000) + 1)

    def _reroute_dropped(
        self, inflight: dict[int, _Attempt], node: str | None, consistency: str
    ) -> None:
        """Attempts on a node whose connection dropped go to another node now
        (safe: a write's session sequence makes a repeat apply once)."""
        now = time.monotonic()
        for dropped in self._dropped:
            self._silent_until[dropped] = now + SILENT_NODE_AVOID_S
            self._leaders = {s: n for s, n in self._leaders.items() if n != dropped}
        for request_id, attempt in list(inflight.items()):
            if attempt.node in self._dropped and not (consistency == "stale" and node):
                del inflight[request_id]
                self._send(attempt.operation, None, consistency, inflight)
        self._dropped.clear()

    def _read_monitor(self, monitor: zmq.Socket[bytes]) -> None:
        """A node's connection dropped (its attempts will move) or is back
        (it is no longer avoided). An event's first frame starts with its
        16-bit number (libzmq's monitor format)."""
        node_id = self._monitor_of[monitor]
        with contextlib.suppress(zmq.Again):
            while True:
                event = int.from_bytes(monitor.recv_multipart(zmq.NOBLOCK)[0][:2], "little")
                if event == zmq.EVENT_DISCONNECTED:
                    self._dropped.add(node_id)
                else:
                    self._dropped.discard(node_id)
                    self._silent_until.pop(node_id, None)

    def _receive(self, timeout_ms: int) -> list[tuple[ClientResponse, str]]:
        received = []
        for dealer, _ in self._poller.poll(timeout_ms):
            if dealer in self._monitor_of:
                self._read_monitor(dealer)
                continue
            source = self._node_of[dealer]
            while True:
                try:
                    frame = dealer.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    message = decode_message(frame)
                except InvalidMessage:
                    continue
                if isinstance(message, ClientResponse):
                    received.append((message, source))
        return received

    def _handle(
        self,
        response: ClientResponse,
        source: str,
        attempt: _Attempt,
        resend: list[tuple[float, _Operation]],
        outcomes: dict[int, Outcome],
        on_done: Callable[[Outcome], None] | None,
        node: str | None,
        consistency: str,
        inflight: dict[int, _Attempt],
    ) -> None:
        state = attempt.operation
        self._silent_until.pop(source, None)  # it answered: it is alive
        if response.status == "ok":
            if consistency != "stale":
                self._set_leader(state.shard, source)
            self._finish(state, response.result, None, source, outcomes, on_done)
        elif response.status == "refused":  # a definite no: never applied
            message = str((response.result or {}).get("message", "refused"))
            self._finish(state, None, Refused(message), source, outcomes, on_done)
        elif response.status == "unavailable":  # a coordinator gave up, and says how
            message = str((response.result or {}).get("message", "unavailable"))
            self._finish(state, None, Unavailable(message), source, outcomes, on_done)
        elif response.status == "not_leader":
            hint = response.leader_id
            if hint is not None and hint not in self._sockets:
                self._connect(hint, (response.result or {}).get("leader_address"), state.shard)
            if hint is not None and hint not in self._sockets:
                hint = None  # a leader we cannot address: ask around, after a pause
            if hint is not None and self._silent_until.get(hint, 0.0) > time.monotonic():
                hint = None  # a follower that has not noticed the leader is gone
            self._set_leader(state.shard, hint)
            if hint is not None and hint != source:
                self._send(state, hint, consistency, inflight)
            else:
                resend.append((time.monotonic() + BACKOFF_S, state))
        else:  # retry (outcome unknown) or error: ask again with the same sequence
            state.locked_by = (response.result or {}).get("locked")
            if response.leader_id in self._sockets:
                self._set_leader(state.shard, response.leader_id)
            resend.append((time.monotonic() + BACKOFF_S, state))

    def _expire(
        self,
        inflight: dict[int, _Attempt],
        resend: list[tuple[float, _Operation]],
        outcomes: dict[int, Outcome],
        on_done: Callable[[Outcome], None] | None,
        now: float,
        node: str | None,
        consistency: str,
    ) -> None:
        for request_id, attempt in list(inflight.items()):
            state = attempt.operation
            if now >= state.deadline:
                del inflight[request_id]
                self._give_up(state, outcomes, on_done)
            elif now - attempt.sent_at >= ATTEMPT_TIMEOUT_S:
                del inflight[request_id]
                if self._leaders.get(state.shard) == attempt.node:
                    self._set_leader(state.shard, None)  # it did not answer: look elsewhere
                self._silent_until[attempt.node] = now + SILENT_NODE_AVOID_S
                target = node if consistency == "stale" else None
                self._send(state, target, consistency, inflight)
        for due, state in list(resend):
            if now >= state.deadline:
                resend.remove((due, state))
                self._give_up(state, outcomes, on_done)

    def _give_up(
        self,
        state: _Operation,
        outcomes: dict[int, Outcome],
        on_done: Callable[[Outcome], None] | None,
    ) -> None:
        waited = time.monotonic() - state.started_at
        what = "write" if state.sequence else "read"
        message = f"no leader answered the {what} within {waited:.1f}s"
        if state.shard == 0:
            message = f"the coordinator process did not answer within {waited:.1f}s"
        if state.locked_by is not None:
            message = (
                f"the {what} waited {waited:.1f}s for a lock: transaction {state.locked_by} "
                "holds its key, prepared and waiting for its coordinator's decision"
            )
        if state.sequence:
            message += "; its outcome is unknown (it may still be applied)"
        self._finish(state, None, Unavailable(message), None, outcomes, on_done)

    def _finish(
        self,
        state: _Operation,
        result: dict[str, Any] | None,
        error: Unavailable | Refused | None,
        node: str | None,
        outcomes: dict[int, Outcome],
        on_done: Callable[[Outcome], None] | None,
    ) -> None:
        if state.sequence:
            self._answered.add(state.sequence)
            while self.acknowledged + 1 in self._answered:
                self.acknowledged += 1
                self._answered.discard(self.acknowledged)
        outcome = Outcome(
            state.operation,
            result,
            error,
            time.monotonic() - state.started_at,
            node,
            state.started_at,
            state.sequence,
        )
        outcomes[state.position] = outcome
        if on_done is not None:
            on_done(outcome)
