"""Two-phase commit over Raft groups, driven by the client that runs the
transaction (CockroachDB's and TiKV's shape: the coordinator is a client; its
decision, the participants' votes and locks are all in Raft logs).

1. Prepare: every participant shard locks its part's keys through its log,
   evaluates its comparisons and votes (node.transactions). A "wait" (an
   older transaction waiting for a younger one's lock, wait-die) is asked
   again after a pause; a "no" (this younger one dies) ends the attempt.
2. Decide: the record goes to the coordinator shard (the shard of the first
   key) before anyone is told: committed if every vote was yes, else aborted.
   The record that comes back is the one in force: a resolver that found this
   transaction's locks too old may have written "aborted" first.
3. Finish: every participant applies the decided branch (or nothing) and
   unlocks; then the record is forgotten (sent without waiting: a lost
   forget leaves one small record behind, never a lock).

A transaction that writes nothing (its branches hold only gets) needs no
decision: its participants hold shared locks from prepare to finish, so its
reads are one consistent cut, whatever each shard is told. It is prepared,
then finished as "released" (results, no writes, unlocked) right away. A
shard that a resolver finished first answers "aborted" with no results, and
the read is tried again.

An attempt that aborted (a "no" vote, or a resolver's abort) is retried
whole under a fresh id with the same timestamp, so it grows older and wins
in the end. If this process dies after the decision, the participants'
resolvers finish the transaction from the record; if it dies before, they
write "aborted" themselves.

RAFTCTL_TXN_FAILPOINT (after-prepare, after-decide, after-finish) kills this
process with SIGKILL at that point: the tests' and chaos's deterministic
coordinator crash.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from node.messages import Operation, Txn, TxnDecide, TxnFinish, TxnForget, TxnPrepare
from raftctl.client import Client
from raftctl.errors import Unavailable
from raftctl.txn.attempt import Attempt, Step
from raftctl.txn.plan import plan

__all__ = [
    "FAILPOINT_ENV",
    "PHASES_ENV",
    "Decider",
    "PhaseEvent",
    "PhaseLog",
    "execute_txn",
    "run_transaction",
]

FAILPOINT_ENV = "RAFTCTL_TXN_FAILPOINT"
PHASES_ENV = "RAFTCTL_TXN_PHASES"
_SERIALS = itertools.count(1)
WAIT_PAUSE_S = 0.01  # before asking a shard that said "wait" again
RETRY_PAUSE_S = (0.005, 0.05)  # before retrying an aborted attempt, at random
PAUSE_MAX_S = 0.2


@dataclass(frozen=True, slots=True)
class PhaseEvent:
    """One step of a transaction, for a history or a report's timeline;
    `time_ns` is monotonic (the history's clock, one for every process)."""

    txn_id: str
    phase: str  # prepare | vote | decide | decided | finished
    shard: int
    detail: dict[str, Any] = field(default_factory=dict)
    time_ns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time_ns,
            "txn": self.txn_id,
            "phase": self.phase,
            "shard": self.shard,
            **self.detail,
        }


PhaseListener = Callable[[PhaseEvent], None]


class PhaseLog:
    """Phase events as JSON lines appended to one file, by every thread and
    process that coordinates (each line one write: O_APPEND keeps them whole)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, event: PhaseEvent) -> None:
        line = json.dumps(event.to_dict()) + "\n"
        with self._lock, self.path.open("a") as file:
            file.write(line)


def phase_log_from_environment() -> PhaseListener | None:
    """RAFTCTL_TXN_PHASES names a file to append this process's phases to
    (chaos hands it to the coordinators it starts as child processes)."""
    path = os.environ.get(PHASES_ENV)
    return PhaseLog(Path(path)) if path else None


def execute_txn(
    client: Client,
    transaction: Txn,
    timeout_s: float,
    consistency: str = "linearizable",
    node: str | None = None,
    on_phase: PhaseListener | None = None,
) -> dict[str, Any]:
    """`transaction` on its one shard as one command of its log, or across
    shards by two-phase commit (always linearizable then: its reads are
    made under locks)."""
    if client.config.shards == 1 or client.shard_of(transaction) is not None:
        return client.call(transaction, consistency, node, timeout_s=timeout_s)
    if client.config.coordinator is not None:
        # 2pc-classic and 3pc: the coordinator process runs it (its phases
        # are in its own log, raftctl.txn.coordinator_process).
        return client.call(transaction, timeout_s=timeout_s, shard=0)
    return run_transaction(client, transaction, timeout_s, on_phase)


class Decider(Protocol):
    """Where a coordinator keeps its decisions, if not in a shard's record
    (the coordinator process of classic 2PC and 3PC: its own log)."""

    def begin(self, attempt: Attempt) -> None: ...

    def decide(
        self, client: Client, attempt: Attempt, step: TxnDecide, deadline: float
    ) -> dict[str, Any]:
        """The record in force, answered as a shard answers a TxnDecide."""
        ...

    def end(self, attempt: Attempt) -> None: ...


def run_transaction(
    client: Client,
    transaction: Txn,
    timeout_s: float,
    on_phase: PhaseListener | None = None,
    decider: Decider | None = None,
) -> dict[str, Any]:
    """Run `transaction` atomically across its shards; its answer as a
    single-shard txn gives it, plus `txn_id`, `shards` and `attempts`.
    Unavailable when the deadline passes: before a commit decision was sent
    the transaction was not applied (the message says so); after, its
    outcome is unknown."""
    config = client.config
    layout = plan(transaction, config.shard_of_key)
    deadline = time.monotonic() + timeout_s
    timestamp = time.time_ns()
    listener = on_phase or phase_log_from_environment() or (lambda event: None)
    attempts = 0
    serial = next(_SERIALS)
    while True:
        attempts += 1
        # Unique by construction (a clock may read the same twice): the
        # client's session, this process's count of transactions, the attempt.
        txn_id = f"{client.client_id}.{serial}.{attempts}"
        attempt = Attempt(transaction, layout, txn_id, timestamp, config.shard_of_key)
        _drive(client, attempt, deadline, listener, decider)
        if attempt.answer is not None:
            return {**attempt.answer, "txn_id": txn_id, "shards": list(layout.participants),
                    "attempts": attempts}  # fmt: skip
        pause = min(PAUSE_MAX_S, random.uniform(*RETRY_PAUSE_S) * attempts)
        if time.monotonic() + pause >= deadline:
            raise Unavailable(
                f"the transaction was not applied: {attempts} attempts in a row aborted "
                "(conflicts, or a shard out of reach) before the deadline"
            )
        time.sleep(pause)


def _drive(
    client: Client,
    attempt: Attempt,
    deadline: float,
    listener: PhaseListener,
    decider: Decider | None = None,
) -> None:
    """Send `attempt`'s steps and feed it the answers until it is done or
    cannot go on (then it aborted, or never decided: the caller retries)."""
    steps: list[Step] = attempt.start()
    if decider is not None and not attempt.read_only:
        decider.begin(attempt)
    while steps or attempt.waiting:
        if not steps:
            if time.monotonic() + WAIT_PAUSE_S >= deadline:
                steps = attempt.give_up()
                attempt.waiting.clear()
                continue
            time.sleep(WAIT_PAUSE_S)
            steps = attempt.ask_again()
        for forget in [step for step in steps if isinstance(step, TxnForget)]:
            _failpoint("after-finish")
            if decider is None:
                client.notify(forget)
            else:
                decider.end(attempt)
        sending = [step for step in steps if not isinstance(step, TxnForget)]
        if not sending:
            return
        if decider is not None and isinstance(sending[0], TxnDecide):
            decide = sending[0]
            _before_sending(attempt, sending, listener)
            record = decider.decide(client, attempt, decide, deadline)
            steps = attempt.on_answer(decide, record)
            _after_answer(attempt, decide, record, listener)
            continue
        _before_sending(attempt, sending, listener)
        outcomes = client.pipeline(sending, len(sending), timeout_s=_left(deadline))
        steps = []
        for outcome in outcomes:
            step = outcome.operation
            if outcome.result is None:
                steps += _lost(attempt, step)
                continue
            steps += attempt.on_answer(step, outcome.result)
            _after_answer(attempt, step, outcome.result, listener)


def _before_sending(attempt: Attempt, steps: Sequence[Step], listener: PhaseListener) -> None:
    """The failpoints between phases, and the timeline's events."""
    first = steps[0]
    now = time.monotonic_ns()
    if isinstance(first, TxnDecide) or (
        isinstance(first, TxnFinish) and attempt.phase == "release"
    ):
        _failpoint("after-prepare")
    if isinstance(first, TxnFinish) and attempt.phase == "finish":
        _failpoint("after-decide")
    for step in steps:
        if isinstance(step, TxnPrepare):
            listener(PhaseEvent(attempt.txn_id, "prepare", step.shard, {}, now))
        elif isinstance(step, TxnDecide):
            listener(PhaseEvent(attempt.txn_id, "decide", step.shard,
                                {"proposed": step.outcome}, now))  # fmt: skip


def _after_answer(
    attempt: Attempt, step: Operation, result: dict[str, Any], listener: PhaseListener
) -> None:
    now = time.monotonic_ns()
    if isinstance(step, TxnPrepare):
        detail: dict[str, Any] = {
            name: result[name] for name in ("vote", "reason", "holder") if name in result
        }
        listener(PhaseEvent(attempt.txn_id, "vote", step.shard, detail, now))
    elif isinstance(step, TxnDecide):
        listener(PhaseEvent(attempt.txn_id, "decided", step.shard,
                            {"outcome": result["outcome"]}, now))  # fmt: skip
    elif isinstance(step, TxnFinish):
        listener(PhaseEvent(attempt.txn_id, "finished", step.shard,
                            {"outcome": result["outcome"]}, now))  # fmt: skip


def _lost(attempt: Attempt, step: Operation) -> list[Step]:
    """A step no shard answered in time."""
    if isinstance(step, TxnDecide):
        if attempt.commit_sent:
            raise Unavailable(
                f"the commit decision of {attempt.txn_id} was sent but not confirmed: the "
                "transaction's outcome is unknown (it may still be applied)"
            )
        raise Unavailable("the transaction was not applied (its abort is left to the resolvers)")
    if isinstance(step, TxnFinish) and (attempt.record or {}).get("outcome") == "committed":
        raise Unavailable(
            f"transaction {attempt.txn_id} committed, but shard {step.shard} did not answer "
            "its finish in time: it will apply it (its resolver finishes it)"
        )
    return attempt.on_lost(step)


def _left(deadline: float) -> float:
    return max(0.05, deadline - time.monotonic())


def _failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
