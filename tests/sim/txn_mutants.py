"""Broken transaction protocols: each breaks exactly one rule of two-phase
commit over Raft groups, by overriding one method of the real code (the
store's lock table, the coordinator's attempt, the resolver).
test_txn_swarm.py asserts that the transactions swarm catches every one."""

from __future__ import annotations

from node.kv import KVStateMachine
from node.messages import TxnFinish
from node.transactions import ABORTED, COMMITTED, Prepared, Resolution, TxnTables
from raftctl.sim.resolvers import SimResolver
from raftctl.txn.attempt import Attempt, Step


class _LocksNothing(TxnTables):
    def lock(self, txn_id: str, prepared: Prepared) -> None:
        self.prepared[txn_id] = prepared  # votes yes, but holds no lock


class ReleasesLocksAtPrepare(KVStateMachine):
    """A participant that releases its locks at prepare: the keys it voted
    on are free for others to change before the decision."""

    def __init__(self, shard: int) -> None:
        super().__init__(shard=shard)
        self.txns = _LocksNothing()

    def restore(self, blob: bytes) -> None:
        super().restore(blob)
        loose = _LocksNothing()
        loose.prepared, loose.records, loose.finished = (
            self.txns.prepared,
            self.txns.records,
            self.txns.finished,
        )
        self.txns = loose


class CommitsBeforeTheRecord(Attempt):
    """A coordinator that tells the participants "committed" together with
    the decision, before the record is replicated: if the record never
    lands, a resolver writes "aborted" and the shards disagree."""

    def decide(self, commit: bool) -> list[Step]:
        steps = super().decide(commit)
        if not commit or self.phase != "decide":
            return steps
        record = {"ok": True, "outcome": COMMITTED, "succeeded": self.succeeded}
        self.record = record
        self.phase = "finish"
        tell = [
            TxnFinish(shard, self.txn_id, COMMITTED, self.succeeded)
            for shard in self.layout.participants
        ]
        return [*steps, *tell]


class DecidesAlone(SimResolver):
    """A participant that, its timeout past, aborts its own part without
    asking the coordinator shard's record."""

    def resolve(self, job: Resolution) -> None:
        self.jobs += 1
        name = f"resolver{self.shard}.{self.jobs}"
        step = TxnFinish(self.shard, job.txn_id, ABORTED, False)
        self.send(name, self.shard, step, lambda result: self.busy.discard(job.txn_id))
