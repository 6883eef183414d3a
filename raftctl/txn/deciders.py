"""How the coordinator process decides (raftctl.txn.coordinator's Decider):
classic 2PC logs the decision and is done; 3PC first sends preCommit to every
participant and decides commit only once all acknowledged it.

Both keep the decision in the coordinator's own log (node.decisions),
never in a shard: that is what makes them the textbook protocols, and what
the laboratory's controls break.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from node.decisions import Decision, DecisionLog
from node.messages import TxnDecide, TxnPreCommit
from node.transactions import ABORTED, COMMITTED
from raftctl.client import Client
from raftctl.txn.attempt import Attempt
from raftctl.txn.coordinator import PhaseEvent, PhaseListener

__all__ = ["PRECOMMIT_ACK_TIMEOUT_S", "ClassicDecider", "ThreePhaseDecider"]

# 3PC: how long the coordinator waits for preCommit's acknowledgements before
# it aborts. Kept below the participants' timeout (txn_resolve_after_ms), so
# that a healthy but slow run aborts before a participant commits alone.
PRECOMMIT_ACK_TIMEOUT_S = 1.0


class Process(Protocol):
    """What a decider needs of the coordinator process."""

    @property
    def listener(self) -> PhaseListener | None: ...

    def failpoint(self, name: str, txn_id: str) -> None: ...


class ClassicDecider:
    """Classic 2PC: the decision is synced to the coordinator's log, then
    (by the attempt) sent to every participant."""

    def __init__(
        self, log: DecisionLog, process: Process, request: tuple[str, int] | None = None
    ) -> None:
        self.log = log
        self.process = process
        self.request = request  # the client's (id, sequence) this transaction answers

    def begin(self, attempt: Attempt) -> None:
        self.log.begin(attempt.txn_id, attempt.layout.participants, self.request)

    def decide(
        self, client: Client, attempt: Attempt, step: TxnDecide, deadline: float
    ) -> dict[str, Any]:
        decision = self.log.decide(step.txn_id, step.outcome, step.succeeded)
        self.process.failpoint("crash-after-decide", step.txn_id)
        return _record(decision)

    def end(self, attempt: Attempt) -> None:
        self.log.end(attempt.txn_id)


class ThreePhaseDecider(ClassicDecider):
    """3PC: preCommit to every participant, one at a time, before the
    decision; a missing or refused acknowledgement aborts."""

    def decide(
        self, client: Client, attempt: Attempt, step: TxnDecide, deadline: float
    ) -> dict[str, Any]:
        outcome = ABORTED
        if step.outcome == COMMITTED:
            outcome = COMMITTED if self._precommit(client, step) else ABORTED
        decision = self.log.decide(step.txn_id, outcome, step.succeeded and outcome == COMMITTED)
        self.process.failpoint("crash-after-decide", step.txn_id)
        return _record(decision)

    def _precommit(self, client: Client, step: TxnDecide) -> bool:
        """Whether every participant acknowledged preCommit in time."""
        for number, shard in enumerate(step.participants):
            if number == 1:
                # The first participant holds preCommit: where 3PC's partition falls.
                self.process.failpoint("hold-after-first-precommit", step.txn_id)
            self._phase(step.txn_id, "precommit", shard)
            (answer,) = client.pipeline(
                [TxnPreCommit(shard, step.txn_id, step.succeeded)],
                1,
                timeout_s=PRECOMMIT_ACK_TIMEOUT_S,
            )
            acked = answer.result is not None and bool(answer.result.get("ack"))
            self._phase(step.txn_id, "ack", shard, acked=acked)
            if not acked:
                return False
        return True

    def _phase(self, txn_id: str, phase: str, shard: int, **detail: Any) -> None:
        """preCommit's steps on the timeline, beside the attempt's own."""
        if self.process.listener is not None:
            self.process.listener(PhaseEvent(txn_id, phase, shard, detail, time.monotonic_ns()))


def _record(decision: Decision) -> dict[str, Any]:
    """The decision as a shard's TxnDecide answers it (what Attempt reads)."""
    return {
        "ok": True,
        "outcome": decision.outcome,
        "succeeded": decision.succeeded,
        "participants": list(decision.participants),
    }
