"""python -m raftctl.txn.coordinator_process --dir D: the coordinator of
classic 2PC and of 3PC, one process with id `coord` (node.config), started,
killed, paused and restarted by raftctl like a node.

It is the textbook's coordinator: clients send it a transaction across
shards (a `txn` whose keys span shards, routed here by
raftctl.txn.coordinator.execute_txn); it runs the protocol against the
shards, which are its participants, and keeps its decisions only in its own
log (node.decisions). It is a single point of failure by design, so
that the laboratory can show what that costs.

- 2pc-classic: prepare, vote, then the decision (logged and synced), then
  finish. Participants that voted yes wait for it, however long it is gone
  (node.txn_resolver: they can only ask it, or each other).
- 3pc: canCommit (the prepare and its vote), preCommit to every participant
  once all voted yes, doCommit once all acknowledged (an ack missing after
  PRECOMMIT_ACK_TIMEOUT_S: abort, as the notes say). A participant that was
  told preCommit and then hears nothing commits on its own; one that was not
  aborts (node.transactions.timeout_outcome).

Rules:
- One ROUTER socket (CURVE, node.zap's door) takes client requests and the
  controller's admin requests. Transactions run in worker threads, each with
  its own raftctl Client (sockets are not shared between threads).
- A request repeated under the same (client, sequence) is answered with the
  first one's result, never run twice.
- Its sends obey faults.toml like a node's (node.faults): `raftctl partition
  coord s1n1,...` cuts it off from those nodes.
- Failpoints, armed by the controller (ArmFailpoint): "crash-after-decide"
  dies right after a decision is synced and before any participant is told
  (classic 2PC's blocking window); "hold-after-first-precommit" stops a 3PC
  transaction after its first participant acknowledged preCommit until
  disarmed (DisarmFailpoints), so that a partition can fall there.
- Recovery on start: a transaction begun and undecided is aborted, and every
  decided transaction not known to be finished is finished again.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from node.config import COORDINATOR_ID, ClusterConfig, load
from node.decisions import Decision, DecisionLog
from node.errors import ConfigError, InvalidMessage, StorageError
from node.faults import FaultFilter
from node.keys import load_key
from node.messages import (
    AdminRequest,
    AdminResponse,
    ArmFailpoint,
    ClientRequest,
    ClientResponse,
    DisarmFailpoints,
    ReloadFaults,
    Status,
    Txn,
    TxnFinish,
    TxnQuery,
    decode,
    encode,
)
from node.transactions import COMMITTED
from node.zap import ZapHandler
from raftctl.client import Client
from raftctl.errors import Unavailable
from raftctl.txn.attempt import AttemptFailed
from raftctl.txn.coordinator import (
    PhaseEvent,
    PhaseLog,
    phase_log_from_environment,
    run_transaction,
)
from raftctl.txn.deciders import ClassicDecider, ThreePhaseDecider
from raftctl.txn.plan import answer_of

__all__ = ["CoordinatorServer", "main"]

WORKERS = 8
PHASES_FILE = "phases.jsonl"
# Shorter than a client's usual deadline, so that the client hears why.
TXN_TIMEOUT_S = 5.0
HOLD_MAX_S = 60.0  # a held transaction goes on by itself after this (a forgotten disarm)
POLL_MS = 20
SESSIONS_MAX = 10_000
FAILPOINT_NAMES = ("crash-after-decide", "hold-after-first-precommit")
EXIT_CONFIG = 2
EXIT_STORAGE = 3


@dataclass(slots=True)
class _Session:
    """One client request (client, sequence): who waits for it, and its answer."""

    waiting: list[tuple[bytes, int]] = field(default_factory=list)
    answer: tuple[str, dict[str, Any]] | None = None


class CoordinatorServer:
    def __init__(self, cluster_dir: Path) -> None:
        self.cluster_dir = cluster_dir
        self.config: ClusterConfig = load(cluster_dir / "cluster.toml")
        address = self.config.coordinator
        if address is None:
            raise ConfigError(f"txn_protocol {self.config.txn_protocol} has no coordinator")
        self.directory = cluster_dir / COORDINATOR_ID
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log, self.unfinished = DecisionLog.open_at(self.directory, self.config.fsync)
        self.stopping = False
        self.started = time.monotonic()
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.zap = None
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        if self.config.curve:
            self.zap = ZapHandler(self.context, self.config)
            public, secret = load_key(cluster_dir, COORDINATOR_ID)
            self.router.setsockopt(zmq.CURVE_SERVER, 1)
            self.router.setsockopt(zmq.CURVE_PUBLICKEY, public)
            self.router.setsockopt(zmq.CURVE_SECRETKEY, secret)
        self.router.bind(address.endpoint)
        everyone = [*self.config.node_ids, COORDINATOR_ID]
        self.faults = FaultFilter(COORDINATOR_ID, everyone, cluster_dir / "faults.toml")
        self._faults_lock = threading.Lock()
        self.sessions: dict[tuple[str, int], _Session] = {}
        self.jobs: queue.Queue[tuple[tuple[str, int], Txn]] = queue.Queue()
        self.replies: queue.Queue[tuple[tuple[str, int], str, dict[str, Any]]] = queue.Queue()
        self.armed: set[str] = set()
        self.release = threading.Event()  # a held transaction goes on when set
        self.held: set[str] = set()
        self.counts = {"committed": 0, "aborted": 0, "unknown": 0, "diverged": 0}
        self._books = threading.Lock()  # held and counts: the workers write, status reads
        # Its steps, for a report's timeline: to RAFTCTL_TXN_PHASES if set, else
        # to its own directory (chaos collects DIR/coord/phases.jsonl).
        self.listener = phase_log_from_environment() or PhaseLog(self.directory / PHASES_FILE)
        self.decider_of = ThreePhaseDecider if self.config.txn_protocol == "3pc" else ClassicDecider
        self.threads = [
            threading.Thread(target=self._work, args=(number,), name=f"coord-{number}", daemon=True)
            for number in range(WORKERS)
        ]

    # -- what the deciders ask of the process -----------------------------------------

    def reachable(self, node_id: str) -> bool:
        with self._faults_lock:
            self.faults.reload()
            return self.faults.connected(COORDINATOR_ID, node_id)

    def failpoint(self, name: str, txn_id: str) -> None:
        """Stop here if `name` is armed (the module's docstring)."""
        if name not in self.armed:
            return
        if name == "crash-after-decide":
            _write_exit(self.directory, f"crashed at failpoint {name} ({txn_id})")
            os._exit(86)
        with self._books:
            self.held.add(txn_id)
        self.release.wait(timeout=HOLD_MAX_S)
        with self._books:
            self.held.discard(txn_id)

    # -- the loop ---------------------------------------------------------------

    def run(self) -> None:
        for thread in self.threads:
            thread.start()
        threading.Thread(target=self._finish_recovered, name="coord-recovery", daemon=True).start()
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        if self.zap is not None:
            poller.register(self.zap.socket, zmq.POLLIN)
        while not self.stopping:
            ready = dict(poller.poll(POLL_MS))
            if self.zap is not None and self.zap.socket in ready:
                self.zap.handle_pending()
            if self.router in ready:
                self._receive()
            self._send_replies()

    def close(self) -> None:
        self.router.close(linger=0)
        if self.zap is not None:
            self.zap.socket.close(linger=0)
        self.log.close()

    def _receive(self) -> None:
        while True:
            try:
                identity, frame = self.router.recv_multipart(zmq.NOBLOCK)[-2:]
            except (zmq.Again, ValueError):
                return
            try:
                message = decode(frame)
            except InvalidMessage:
                continue
            if isinstance(message, AdminRequest):
                answer = self._admin(message.command)
                self._send(identity, encode(AdminResponse(message.request_id, answer)))
            elif isinstance(message, ClientRequest):
                self._client_request(identity, message)

    def _client_request(self, identity: bytes, request: ClientRequest) -> None:
        operation = request.operation
        if isinstance(operation, TxnQuery):
            answer = self._query(operation.txn_id)
            self._send(identity, encode(ClientResponse(request.request_id, "ok", answer)))
            return
        if not isinstance(operation, Txn):
            message = f"the coordinator runs transactions across shards, not {operation}"
            self._send(
                identity,
                encode(ClientResponse(request.request_id, "refused", {"message": message})),
            )
            return
        # A read-only transaction comes with no session (sequence 0): each
        # request is its own, and a repeat of one is harmless.
        key = (request.client_id, request.sequence or -request.request_id)
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = _Session()
            self.jobs.put((key, operation))
            while len(self.sessions) > SESSIONS_MAX:
                oldest = next(iter(self.sessions))
                if self.sessions[oldest].answer is None:
                    break  # still running: keep it
                del self.sessions[oldest]
        if session.answer is not None:
            status, result = session.answer
            self._send(identity, encode(ClientResponse(request.request_id, status, result)))
        else:
            session.waiting.append((identity, request.request_id))

    def _send_replies(self) -> None:
        while True:
            try:
                key, status, result = self.replies.get_nowait()
            except queue.Empty:
                return
            session = self.sessions.get(key)
            if session is None:
                continue
            session.answer = (status, result)
            for identity, request_id in session.waiting:
                self._send(identity, encode(ClientResponse(request_id, status, result)))
            session.waiting.clear()

    def _send(self, identity: bytes, frame: bytes) -> None:
        # A client gone or not reading asks again or gives up.
        with contextlib.suppress(zmq.ZMQError):
            self.router.send_multipart([identity, frame], zmq.NOBLOCK)

    # -- requests ---------------------------------------------------------------

    def _query(self, txn_id: str) -> dict[str, Any]:
        decision = self.log.query(txn_id)
        if decision is None:
            # Never begun here, or finished everywhere: presumed abort.
            return {"ok": True, "state": "unknown", "outcome": "aborted", "succeeded": False}
        if decision.outcome is None:
            return {"ok": True, "state": "pending", "outcome": None, "succeeded": False}
        return {
            "ok": True,
            "state": "decided",
            "outcome": decision.outcome,
            "succeeded": decision.succeeded,
        }

    def _admin(self, command: object) -> dict[str, Any]:
        match command:
            case Status():
                return self.status()
            case ArmFailpoint(name=name):
                if name not in FAILPOINT_NAMES:
                    known = ", ".join(FAILPOINT_NAMES)
                    return {"ok": False, "error": f"the coordinator has no failpoint {name!r}"
                            f" (it has {known})"}  # fmt: skip
                if name == "hold-after-first-precommit":
                    self.release.clear()
                self.armed.add(name)
                return {"ok": True, "armed": sorted(self.armed)}
            case DisarmFailpoints(name=name):
                self.armed = set() if name is None else self.armed - {name}
                self.release.set()
                return {"ok": True, "armed": sorted(self.armed)}
            case ReloadFaults():
                with self._faults_lock:
                    self.faults.reload(force=True)
                    version = self.faults.faults.version
                return {"ok": True, "faults_version": version}
        return {"ok": False, "error": f"the coordinator does not take {type(command).__name__}"}

    def status(self) -> dict[str, Any]:
        with self.log.lock:
            open_ = list(self.log.open.values())
        with self._books:
            counts, held = dict(self.counts), sorted(self.held)
        return {
            "ok": True,
            "id": COORDINATOR_ID,
            "role": "coordinator",
            "txn_protocol": self.config.txn_protocol,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "in_flight": sum(1 for d in open_ if d.outcome is None),
            "unfinished": sum(1 for d in open_ if d.outcome is not None),
            "decided": self.log.decided,
            **counts,
            "held": held,
            "failpoints": sorted(self.armed),
            "faults_version": self.faults.faults.version,
        }

    # -- the workers -------------------------------------------------------------

    def _client(self, name: str) -> Client:
        client = Client(self.config, f"{COORDINATOR_ID}-{os.getpid()}-{name}", self.context)
        client.reachable = self.reachable
        return client

    def _work(self, number: int) -> None:
        with self._client(str(number)) as client:
            while not self.stopping:
                try:
                    key, transaction = self.jobs.get(timeout=0.2)
                except queue.Empty:
                    continue
                client_id, sequence = key
                # Asked again after a restart: answer from the decision, never run it twice.
                known = self.log.for_request(client_id, sequence) if sequence > 0 else None
                if known is not None and known.outcome == COMMITTED:
                    self.replies.put((key, *self._answer_again(client, transaction, known)))
                else:  # never begun here, or its latest attempt aborted: nothing applied
                    self.replies.put((key, *self._run(client, transaction, key)))

    def _answer_again(
        self, client: Client, transaction: Txn, decision: Decision
    ) -> tuple[str, dict[str, Any]]:
        """The answer of a committed transaction, from its participants'
        finish (idempotent: each answers what it applied)."""
        steps = [
            TxnFinish(shard, decision.txn_id, COMMITTED, decision.succeeded)
            for shard in decision.participants
        ]
        outcomes = client.pipeline(steps, len(steps), timeout_s=TXN_TIMEOUT_S)
        answers: dict[int, dict[str, Any]] = {}
        for step, outcome in zip(steps, outcomes, strict=True):
            if not outcome.ok or outcome.result is None:
                return "unavailable", {
                    "message": f"transaction {decision.txn_id} committed, but shard "
                    f"{step.shard} did not confirm it in time: it will apply it"
                }
            answers[step.shard] = outcome.result
        try:
            answer = answer_of(transaction, decision.succeeded, answers, self.config.shard_of_key)
        except AssertionError:  # a shard forgot it long ago (node.transactions.FINISHED_MAX)
            answer = {"ok": True, "succeeded": decision.succeeded, "results": [], "revisions": {}}
        return "ok", {
            **answer,
            "txn_id": decision.txn_id,
            "shards": list(decision.participants),
            "attempts": int(decision.txn_id.rsplit(".", 1)[-1]),
        }

    def _run(
        self, client: Client, transaction: Txn, key: tuple[str, int]
    ) -> tuple[str, dict[str, Any]]:
        decider = self.decider_of(self.log, self, key if key[1] > 0 else None)
        try:
            result = run_transaction(
                client, transaction, TXN_TIMEOUT_S, self.listener, decider=decider
            )
        except AttemptFailed as error:
            # 3PC's failure: a participant decided alone, unlike the decision.
            self._count("diverged")
            return "unavailable", {
                "message": f"the participants diverged, the outcome is unknown: {error}"
            }
        except Unavailable as error:
            self._count("unknown" if "unknown" in str(error) else "aborted")
            return "unavailable", {"message": str(error)}
        self._count("committed")
        return "ok", result

    def _count(self, outcome: str) -> None:
        with self._books:
            self.counts[outcome] += 1

    def _finish_recovered(self) -> None:
        """Tell the participants of every decided, unfinished transaction
        found at start, until each has answered."""
        pending: list[Decision] = list(self.unfinished)
        with self._client("recovery") as client:
            for _ in range(600):  # bounded: a participant out of reach for ten minutes stays
                if not pending or self.stopping:
                    return
                still = []
                for decision in pending:
                    steps = [
                        TxnFinish(shard, decision.txn_id, str(decision.outcome), decision.succeeded)
                        for shard in decision.participants
                    ]
                    outcomes = client.pipeline(steps, len(steps), timeout_s=2.0)
                    for outcome in outcomes:
                        if outcome.ok and outcome.result is not None:
                            step = outcome.operation
                            assert isinstance(step, TxnFinish)
                            detail = {"outcome": outcome.result["outcome"], "recovered": True}
                            self.listener(PhaseEvent(decision.txn_id, "finished", step.shard,
                                                     detail, time.monotonic_ns()))  # fmt: skip
                    if all(outcome.ok for outcome in outcomes):
                        self.log.end(decision.txn_id)
                    else:
                        still.append(decision)
                pending = still
                if pending:
                    time.sleep(1.0)


def _write_exit(directory: Path, reason: str) -> None:
    import json

    (directory / "exit.json").write_text(json.dumps({"reason": reason, "exit_code": 86}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m raftctl.txn.coordinator_process",
        description="Run the coordinator of a 2pc-classic or 3pc cluster.",
    )
    parser.add_argument("--dir", type=Path, required=True, help="the cluster directory")
    args = parser.parse_args(argv)
    os.umask(0o077)
    try:
        server = CoordinatorServer(args.dir)
    except (ConfigError, StorageError, OSError, zmq.ZMQError) as error:
        print(f"{COORDINATOR_ID}: {error}", file=sys.stderr)
        directory = args.dir / COORDINATOR_ID
        if directory.is_dir():
            _write_exit(directory, str(error))
        return EXIT_CONFIG if isinstance(error, ConfigError) else EXIT_STORAGE

    def stop(signum: int, _frame: object) -> None:
        server.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"{COORDINATOR_ID}: {server.config.txn_protocol} coordinator up", flush=True)
    try:
        server.run()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
