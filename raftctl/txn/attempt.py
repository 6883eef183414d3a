"""One attempt of a transaction across shards, as a state machine of steps
and answers, with no I/O: the coordinator (raftctl.txn.coordinator) sends its
steps through the client library, the simulator (raftctl.sim.shards) through
simulated shards, and both feed the answers back. The protocol's decisions
live here once.

    prepare every part ──all yes──> decide(committed) ──record──> finish(outcome) ──> forget
           │  └─ a wait: ask that shard again after a pause        (the record's outcome,
           └─ a no, or a shard lost ──> decide(aborted) ──>        whatever was proposed)
    read-only and all yes ──> finish(released): no record needed (node.transactions)

Rules:
- Nobody is told an outcome before the decision record answers: the record
  is the commit point, and a resolver's "aborted" may have been written first.
- A commit decision that was sent and not answered leaves the outcome
  unknown (`commit_sent`); before that, giving up means "not applied".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from node.messages import (
    Get,
    Operation,
    Txn,
    TxnDecide,
    TxnFinish,
    TxnForget,
    TxnPrepare,
)
from node.transactions import ABORTED, COMMITTED, RELEASED
from raftctl.txn.plan import Plan, answer_of

__all__ = ["Attempt", "AttemptFailed"]

Step = TxnPrepare | TxnDecide | TxnFinish | TxnForget


class AttemptFailed(Exception):
    """An answer no correct shard gives (an error in place of a vote or a record)."""


@dataclass(slots=True)
class Attempt:
    """The steps of one attempt; `phase` ends at "done" (see `committed`)."""

    transaction: Txn
    layout: Plan
    txn_id: str
    timestamp: int
    shard_of_key: Any  # Callable[[str], int]: the placement rule
    phase: str = "prepare"  # prepare | decide | finish | release | done
    votes: dict[int, dict[str, Any]] = field(default_factory=dict)
    waiting: set[int] = field(default_factory=set)  # shards that said "wait"
    record: dict[str, Any] | None = None
    finished: dict[int, dict[str, Any]] = field(default_factory=dict)
    commit_sent: bool = False
    committed: bool = False
    answer: dict[str, Any] | None = None  # the transaction's answer, once committed

    @property
    def read_only(self) -> bool:
        branches = (*self.transaction.success, *self.transaction.failure)
        return all(isinstance(op, Get) for op in branches)

    @property
    def succeeded(self) -> bool:
        return all(vote["succeeded"] for vote in self.votes.values())

    # -- steps out ------------------------------------------------------------

    def start(self) -> list[Step]:
        return [self.prepare(part.shard) for part in self.layout.parts]

    def prepare(self, shard: int) -> TxnPrepare:
        part = next(part for part in self.layout.parts if part.shard == shard)
        return TxnPrepare(
            shard,
            self.txn_id,
            self.timestamp,
            self.layout.coordinator,
            self.layout.participants,
            part.compare,
            part.success,
            part.failure,
        )

    def ask_again(self) -> list[Step]:
        """The prepares of the shards that said "wait" (after a pause)."""
        shards, self.waiting = sorted(self.waiting), set()
        return [self.prepare(shard) for shard in shards]

    def decide(self, commit: bool) -> list[Step]:
        """The decision step (or, for a read-only attempt that may commit,
        the release of every part)."""
        if commit and self.read_only:
            self.phase = "release"
            return [
                TxnFinish(shard, self.txn_id, RELEASED, self.succeeded)
                for shard in self.layout.participants
            ]
        self.phase = "decide"
        self.commit_sent = commit
        outcome = COMMITTED if commit else ABORTED
        succeeded = commit and self.succeeded
        return [
            TxnDecide(
                self.layout.coordinator, self.txn_id, outcome, succeeded, self.layout.participants
            )
        ]

    def give_up(self) -> list[Step]:
        """The deadline passed: abort if nothing was decided yet."""
        if self.phase == "prepare":
            return self.decide(commit=False)
        return []

    # -- answers in -------------------------------------------------------------

    def on_answer(self, step: Operation, result: dict[str, Any]) -> list[Step]:
        """The next steps once `step` was answered `result`."""
        if not result.get("ok"):
            raise AttemptFailed(f"{step} was answered {result}")
        match step:
            case TxnPrepare(shard=shard):
                return self._on_vote(shard, result)
            case TxnDecide():
                return self._on_record(result)
            case TxnFinish(shard=shard):
                return self._on_finished(shard, result)
        return []  # a forget needs nothing more

    def on_lost(self, step: Operation) -> list[Step]:
        """`step` got no answer in time (its shard unreachable)."""
        if isinstance(step, TxnPrepare) and self.phase == "prepare":
            return self.decide(commit=False)
        return []

    def _on_vote(self, shard: int, vote: dict[str, Any]) -> list[Step]:
        if self.phase != "prepare":
            return []  # a late vote of an attempt already deciding
        if vote.get("vote") == "yes":
            self.votes[shard] = vote
            if len(self.votes) == len(self.layout.parts):
                return self.decide(commit=True)
            return []
        if vote.get("vote") == "wait":
            self.waiting.add(shard)
            return []
        return self.decide(commit=False)

    def _on_record(self, record: dict[str, Any]) -> list[Step]:
        if self.phase != "decide":
            return []
        self.record = record
        self.phase = "finish"
        return [
            TxnFinish(shard, self.txn_id, record["outcome"], record["succeeded"])
            for shard in self.layout.participants
        ]

    def _on_finished(self, shard: int, answer: dict[str, Any]) -> list[Step]:
        if self.phase not in ("finish", "release"):
            return []
        self.finished[shard] = answer
        if len(self.finished) < len(self.layout.participants):
            return []
        releasing = self.phase == "release"
        self.phase = "done"
        if not releasing:
            decided = (self.record or {}).get("outcome")
            strays = {s: a["outcome"] for s, a in self.finished.items() if a["outcome"] != decided}
            if strays:
                raise AttemptFailed(
                    f"{self.txn_id}: the record says {decided}, but shards finished it {strays}"
                )
        if releasing:
            # A shard a resolver finished first gave no results: try again.
            self.committed = all(a["outcome"] == RELEASED for a in self.finished.values())
        else:
            self.committed = (self.record or {}).get("outcome") == COMMITTED
        if self.committed:
            succeeded = self.succeeded if releasing else bool((self.record or {})["succeeded"])
            self.answer = answer_of(self.transaction, succeeded, self.finished, self.shard_of_key)
        return [] if releasing else [TxnForget(self.layout.coordinator, self.txn_id)]
