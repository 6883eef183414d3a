"""Simulated bank clients on simulated shards: each moves money between two
accounts and reads every balance, through the real coordinator's protocol
(raftctl.txn.attempt) when the accounts live on several shards and as one
transaction of one shard's log otherwise; every operation goes into a
Jepsen-shaped bank history (raftctl.judges.bank).

Rules:
- A transfer reads its two balances, then moves the money if they are
  unchanged (the comparisons), as raftctl chaos's bank workload does.
- Between the phases of a transaction across shards (before its decision,
  before telling the participants) a client may crash: it never comes back
  under that name, its operation stays open (`info` at the end) and its
  locks are the resolvers' to release; or it may stall, as a paused process
  does, for up to several resolver timeouts.
- An attempt that aborted is tried again under a fresh id with the same
  timestamp, up to ATTEMPTS_MAX; a step unanswered for STEP_TIMEOUT_MS is
  lost (a commit decision lost leaves the outcome unknown).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from node.messages import (
    Command,
    Compare,
    Get,
    Operation,
    Put,
    Txn,
    TxnDecide,
    TxnFinish,
    TxnForget,
)
from raftctl.judges.history import History
from raftctl.judges.linearizable import MISMATCH
from raftctl.sim.errors import HistoryViolation
from raftctl.sim.shards import SimShards
from raftctl.txn.attempt import Attempt, AttemptFailed, Step
from raftctl.txn.plan import Plan, plan

__all__ = ["ATTEMPTS_MAX", "BankFaults", "SimBankClient"]

STEP_TIMEOUT_MS = 1500
WAIT_MS = 15
ATTEMPTS_MAX = 8
MAX_TRANSFER = 5


@dataclass(frozen=True, slots=True)
class BankFaults:
    """How often a client crashes or stalls at a phase boundary."""

    crash: float = 0.0
    stall: float = 0.0
    stall_ms_max: int = 0


Done = Callable[[dict[str, Any] | None, str], None]  # answer (None: none), why


class SimBankClient:
    """One client: one operation at a time, a fresh name after a crash."""

    def __init__(
        self,
        index: int,
        shards: SimShards,
        history: History,
        accounts: list[str],
        rng: random.Random,
        faults: BankFaults,
        attempt_class: type[Attempt] = Attempt,
    ) -> None:
        self.index = index
        self.shards = shards
        self.history = history
        self.accounts = accounts
        self.rng = rng
        self.faults = faults
        self.attempt_class = attempt_class
        self.life = 0
        self.sequence = 0
        self.serial = 0  # transactions begun: with the name, a unique txn id
        self.busy = False
        self.crashed = 0
        self.stopped = False
        self.shard_of = shards.shard_of

    @property
    def name(self) -> str:
        return f"bank{self.index}.{self.life}"

    # -- operations -------------------------------------------------------------

    def next_operation(self) -> None:
        """Start the next operation (the runner calls this when idle)."""
        if self.busy or self.stopped:
            return
        self.busy = True
        if self.rng.random() < 0.35:
            self.read_all()
        else:
            source, target = self.rng.sample(self.accounts, 2)
            self.transfer(source, target, self.rng.randint(1, MAX_TRANSFER))

    def read_all(self, final: bool = False) -> None:
        self.history.invoke(self.index, "read", None, None)
        gets = tuple(Get(f"bank/{account}") for account in self.accounts)

        def done(answer: dict[str, Any] | None, why: str) -> None:
            if answer is None:
                self._complete("fail", None, why)  # a read that did not happen changed nothing
                return
            balances = {
                account: None if r["value"] is None else int(r["value"])
                for account, r in zip(self.accounts, answer["results"], strict=True)
            }
            self._complete("ok", balances)

        self._transaction(Txn((), gets, ()), done, crashable=not final)

    def transfer(self, source: str, target: str, amount: int) -> None:
        value = {"from": source, "to": target, "amount": amount}
        self.history.invoke(self.index, "transfer", None, value)
        pair = tuple(Get(f"bank/{account}") for account in (source, target))

        def balances_read(answer: dict[str, Any] | None, why: str) -> None:
            if answer is None:
                self._complete("fail", None, why)
                return
            have, other = (int(r["value"]) for r in answer["results"])
            if have < amount:
                self._complete("fail", None, "insufficient funds")
                return
            recorded = {**value, "expected": {source: have, target: other}}
            move = Txn(
                (Compare(f"bank/{source}", str(have)), Compare(f"bank/{target}", str(other))),
                (
                    Put(f"bank/{source}", str(have - amount)),
                    Put(f"bank/{target}", str(other + amount)),
                ),
                (),
            )

            def moved(answer: dict[str, Any] | None, why: str) -> None:
                if answer is None:
                    unknown = why == "unknown"
                    self._complete("info" if unknown else "fail", recorded, why)
                elif answer["succeeded"]:
                    self._complete("ok", recorded)
                else:
                    self._complete("fail", recorded, MISMATCH)

            self._transaction(move, moved, crashable=True)

        self._transaction(Txn((), pair, ()), balances_read, crashable=False)

    def _complete(self, outcome: str, value: Any, why: str | None = None) -> None:
        error = MISMATCH if why == MISMATCH else None
        self.history.complete(self.index, outcome, value, None, error)
        self.busy = False

    # -- one transaction --------------------------------------------------------

    def _transaction(
        self,
        transaction: Txn,
        done: Done,
        crashable: bool,
    ) -> None:
        layout = plan(transaction, self.shard_of)
        if len(layout.parts) == 1:
            self._one_shard(layout.parts[0].shard, transaction, done)
            return
        timestamp = self.shards.now_ms * 1000 + self.index
        self.serial += 1
        serial = f"{self.name}.{self.serial}"
        self._attempt(transaction, layout, timestamp, serial, 1, done, crashable)

    def _one_shard(self, shard: int, transaction: Txn, done: Done) -> None:
        op_id = self._send(shard, transaction, lambda result: done(result, ""))
        self.shards.after(STEP_TIMEOUT_MS, lambda: self._give_up_plain(op_id, transaction, done))

    def _give_up_plain(self, op_id: str, transaction: Txn, done: Done) -> None:
        if op_id in self.shards.pending:
            self.shards.drop(op_id)
            writes = any(not isinstance(op, Get) for op in transaction.success)
            done(None, "unknown" if writes else "timeout")

    def _attempt(
        self,
        transaction: Txn,
        layout: Plan,
        timestamp: int,
        serial: str,
        number: int,
        done: Done,
        crashable: bool,
    ) -> None:
        life = self.life
        attempt = self.attempt_class(
            transaction, layout, f"{serial}.{number}", timestamp, self.shard_of
        )

        def finished() -> None:
            if life != self.life:
                return
            if attempt.answer is not None:
                done(attempt.answer, "")
            elif number >= ATTEMPTS_MAX:
                done(None, "conflicts")
            else:
                pause = self.rng.randint(5, 40) * number
                self.shards.after(
                    pause,
                    lambda: self._attempt(
                        transaction, layout, timestamp, serial, number + 1, done, crashable
                    ),
                )

        def lost_commit() -> None:
            done(None, "unknown")

        _AttemptRun(self, attempt, finished, lost_commit, crashable).go(attempt.start())

    def _send(
        self, shard: int, operation: Operation, on_answer: Callable[[dict[str, Any]], None]
    ) -> str:
        self.sequence += 1
        command = Command(self.name, self.sequence, 0, operation)
        return self.shards.send(self.name, shard, command, on_answer)

    def crash(self) -> None:
        """This client dies: what it sent may still land; it is someone new now."""
        self.shards.drop_sender(self.name)
        self.crashed += 1
        self.life += 1
        self.sequence = 0
        self.history.complete(self.index, "info")
        self.busy = False


class _AttemptRun:
    """Drives one Attempt over the simulated shards, with the phase faults."""

    def __init__(
        self,
        client: SimBankClient,
        attempt: Attempt,
        finished: Callable[[], None],
        lost_commit: Callable[[], None],
        crashable: bool,
    ) -> None:
        self.client = client
        self.attempt = attempt
        self.finished = finished
        self.lost_commit = lost_commit
        self.crashable = crashable
        self.life = client.life
        self.open: dict[str, Step] = {}
        self.over = False

    def go(self, steps: list[Step]) -> None:
        client, attempt = self.client, self.attempt
        if self.over or client.life != self.life:
            return
        sending = [step for step in steps if not isinstance(step, TxnForget)]
        forgets = [step for step in steps if isinstance(step, TxnForget)]
        for forget in forgets:
            client._send(forget.shard, forget, lambda result: None)
        if sending and self.crashable and attempt.phase in ("decide", "finish", "release"):
            # A phase boundary: the coordinator may die or stall here.
            faults = client.faults
            if client.rng.random() < faults.crash:
                self.over = True
                client.crash()
                return
            if client.rng.random() < faults.stall and faults.stall_ms_max:
                stall = client.rng.randint(1, faults.stall_ms_max)
                client.shards.after(stall, lambda: self._send_all(sending))
                return
        self._send_all(sending)
        self._check_done()

    def _send_all(self, steps: Sequence[Step]) -> None:
        client = self.client
        if self.over or client.life != self.life:
            return
        for step in steps:
            op_id = client._send(step.shard, step, self._answered(step))
            self.open[op_id] = step
            client.shards.after(STEP_TIMEOUT_MS, functools.partial(self._timeout, op_id))

    def _answered(self, step: Step) -> Callable[[dict[str, Any]], None]:
        def answered(result: dict[str, Any]) -> None:
            if self.over or self.client.life != self.life:
                return
            self.open = {op: s for op, s in self.open.items() if s is not step}
            try:
                steps = self.attempt.on_answer(step, result)
            except AttemptFailed as failed:
                raise HistoryViolation(f"the coordinator met the impossible: {failed}") from None
            self.go(steps)

        return answered

    def _timeout(self, op_id: str) -> None:
        step = self.open.pop(op_id, None)
        if step is None or self.over or self.client.life != self.life:
            return
        self.client.shards.drop(op_id)
        attempt = self.attempt
        if isinstance(step, TxnDecide) and attempt.commit_sent:
            self.over = True
            self.lost_commit()
            return
        if isinstance(step, TxnDecide | TxnFinish):
            # Nothing more to learn: the resolvers finish it; this attempt is
            # over without an answer (an abort, or a committed one whose
            # results we lack: unknown to the caller).
            self.over = True
            if (attempt.record or {}).get("outcome") == "committed":
                self.lost_commit()
            else:
                self.finished()
            return
        self.go(attempt.on_lost(step))

    def _check_done(self) -> None:
        attempt = self.attempt
        if self.over:
            return
        if attempt.phase == "done" and not self.open:
            self.over = True
            self.finished()
        elif not self.open and attempt.waiting:
            self.client.shards.after(WAIT_MS, lambda: self.go(attempt.ask_again()))
