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

import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.messages import Get, Txn, TxnDecide, TxnFinish, TxnForget, TxnPrepare
from node.transactions import RELEASED
from raftctl.client import Client, Outcome
from raftctl.errors import Unavailable
from raftctl.txn.plan import Plan, assemble, plan

__all__ = ["FAILPOINT_ENV", "PhaseEvent", "execute_txn", "run_transaction"]

FAILPOINT_ENV = "RAFTCTL_TXN_FAILPOINT"
WAIT_PAUSE_S = 0.01  # before asking a shard that said "wait" again
RETRY_PAUSE_S = (0.005, 0.05)  # before retrying an aborted attempt, at random
PAUSE_MAX_S = 0.2


@dataclass(frozen=True, slots=True)
class PhaseEvent:
    """One step of a transaction, for a history or a report's timeline."""

    txn_id: str
    phase: str  # prepare | vote | decide | finish | forget
    shard: int
    detail: dict[str, Any] = field(default_factory=dict)
    time_ns: int = 0


PhaseListener = Callable[[PhaseEvent], None]


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
    return run_transaction(client, transaction, timeout_s, on_phase)


def run_transaction(
    client: Client,
    transaction: Txn,
    timeout_s: float,
    on_phase: PhaseListener | None = None,
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
    listener = on_phase or (lambda event: None)
    attempts = 0
    while True:
        attempts += 1
        txn_id = f"{client.client_id}.{timestamp}.{attempts}"
        answer = _attempt(client, transaction, layout, txn_id, timestamp, deadline, listener)
        if answer is not None:
            return {**answer, "txn_id": txn_id, "shards": list(layout.participants),
                    "attempts": attempts}  # fmt: skip
        pause = min(PAUSE_MAX_S, random.uniform(*RETRY_PAUSE_S) * attempts)
        if time.monotonic() + pause >= deadline:
            raise Unavailable(
                f"the transaction was not applied: it lost {attempts} conflicts "
                "in a row before the deadline"
            )
        time.sleep(pause)


def _attempt(
    client: Client,
    transaction: Txn,
    layout: Plan,
    txn_id: str,
    timestamp: int,
    deadline: float,
    listener: PhaseListener,
) -> dict[str, Any] | None:
    """One attempt: the answer if it committed, None if it aborted."""
    participants = layout.participants
    coordinator = layout.coordinator
    votes = _prepare(client, layout, txn_id, timestamp, deadline, listener)
    _failpoint("after-prepare")
    if votes is not None and _read_only(transaction):
        return _release(client, transaction, txn_id, votes, deadline, listener)
    commit = votes is not None
    succeeded = commit and all(vote["succeeded"] for vote in (votes or {}).values())
    outcome = "committed" if commit else "aborted"
    decide = TxnDecide(coordinator, txn_id, outcome, succeeded, participants)
    listener(PhaseEvent(txn_id, "decide", coordinator, {"proposed": outcome}, time.time_ns()))
    try:
        record = client.call(decide, timeout_s=_left(deadline))
    except Unavailable as error:
        if commit:
            raise Unavailable(
                f"the commit decision of {txn_id} was sent but not confirmed: the "
                "transaction's outcome is unknown (it may still be applied)"
            ) from error
        raise Unavailable(f"the transaction was not applied ({error})") from error
    if "outcome" not in record:
        raise AssertionError(f"shard {coordinator} answered {record} to {decide}")
    listener(PhaseEvent(txn_id, "decided", coordinator, {"outcome": record["outcome"]},
                        time.time_ns()))  # fmt: skip
    _failpoint("after-decide")
    committed = record["outcome"] == "committed"
    steps = [TxnFinish(s, txn_id, record["outcome"], record["succeeded"]) for s in participants]
    finished = _all(client, steps, deadline, "finish", committed)
    for shard, answer in finished.items():
        listener(PhaseEvent(txn_id, "finished", shard, {"outcome": answer["outcome"]},
                            time.time_ns()))  # fmt: skip
    _failpoint("after-finish")
    client.notify(TxnForget(coordinator, txn_id))
    if not committed:
        return None
    results = {shard: answer["results"] for shard, answer in finished.items()}
    return {
        "ok": True,
        "succeeded": record["succeeded"],
        "results": assemble(transaction, record["succeeded"], results, client.config.shard_of_key),
        "revisions": {str(shard): answer.get("revision") for shard, answer in finished.items()},
    }


def _read_only(transaction: Txn) -> bool:
    return all(isinstance(op, Get) for op in (*transaction.success, *transaction.failure))


def _release(
    client: Client,
    transaction: Txn,
    txn_id: str,
    votes: dict[int, dict[str, Any]],
    deadline: float,
    listener: PhaseListener,
) -> dict[str, Any] | None:
    """Finish a prepared read-only transaction with its results; None when a
    shard had already finished it otherwise (a resolver): read again."""
    succeeded = all(vote["succeeded"] for vote in votes.values())
    steps = [TxnFinish(shard, txn_id, RELEASED, succeeded) for shard in votes]
    finished = _all(client, steps, deadline, "release", must=False)
    for shard, answer in finished.items():
        listener(PhaseEvent(txn_id, "finished", shard, {"outcome": answer["outcome"]},
                            time.time_ns()))  # fmt: skip
    if len(finished) < len(steps) or any(a["outcome"] != RELEASED for a in finished.values()):
        return None
    results = {shard: answer["results"] for shard, answer in finished.items()}
    return {
        "ok": True,
        "succeeded": succeeded,
        "results": assemble(transaction, succeeded, results, client.config.shard_of_key),
        "revisions": {str(shard): answer.get("revision") for shard, answer in finished.items()},
    }


def _prepare(
    client: Client,
    layout: Plan,
    txn_id: str,
    timestamp: int,
    deadline: float,
    listener: PhaseListener,
) -> dict[int, dict[str, Any]] | None:
    """Every participant's yes (by shard), or None when one said no or the
    deadline passed before all said yes."""
    waiting = {
        part.shard: TxnPrepare(
            part.shard,
            txn_id,
            timestamp,
            layout.coordinator,
            layout.participants,
            part.compare,
            part.success,
            part.failure,
        )
        for part in layout.parts
    }
    yes: dict[int, dict[str, Any]] = {}
    while waiting:
        for shard in waiting:
            listener(PhaseEvent(txn_id, "prepare", shard, {}, time.time_ns()))
        outcomes = client.pipeline(list(waiting.values()), len(waiting), timeout_s=_left(deadline))
        for outcome in outcomes:
            step = outcome.operation
            assert isinstance(step, TxnPrepare)
            if outcome.error is not None or outcome.result is None:
                return None  # unreachable shard: abort (nothing was decided)
            vote = outcome.result
            listener(PhaseEvent(txn_id, "vote", step.shard, _vote_detail(vote), time.time_ns()))
            if vote.get("vote") == "yes":
                yes[step.shard] = vote
                del waiting[step.shard]
            elif vote.get("vote") != "wait":
                return None
        if waiting:
            if time.monotonic() + WAIT_PAUSE_S >= deadline:
                return None
            time.sleep(WAIT_PAUSE_S)
    return yes


def _all(
    client: Client, steps: list[TxnFinish], deadline: float, what: str, must: bool
) -> dict[int, dict[str, Any]]:
    """Every step's answer by shard. A shard that does not answer in time
    leaves its part to its resolver; for a committed transaction the results
    are then unknown to us, so that is Unavailable."""
    outcomes: list[Outcome] = client.pipeline(steps, len(steps), timeout_s=_left(deadline))
    answers = {}
    for outcome in outcomes:
        step = outcome.operation
        assert isinstance(step, TxnFinish)
        if outcome.result is None:
            if must:
                raise Unavailable(
                    f"transaction {step.txn_id} committed, but shard {step.shard} did not "
                    f"answer its {what} in time: it will apply it (its resolver finishes it)"
                )
            continue
        answers[step.shard] = outcome.result
    return answers


def _vote_detail(vote: dict[str, Any]) -> dict[str, Any]:
    return {name: vote[name] for name in ("vote", "reason", "holder") if name in vote}


def _left(deadline: float) -> float:
    return max(0.05, deadline - time.monotonic())


def _failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
