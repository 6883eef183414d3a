"""The simulated shards' resolvers, as node.txn_resolver runs them on a real
node: each shard's leader watches its prepared transactions and resolves one
left prepared for `after_ms` of simulated time by node.transactions'
Resolution (ask the record proposing "aborted", tell every participant,
forget). A job not done within JOB_TIMEOUT_MS is dropped and tried again by
a later watch."""

from __future__ import annotations

from typing import Any

from node.messages import Command, Operation
from node.transactions import Resolution
from raftctl.sim.shards import SimShards

__all__ = ["WATCH_MS", "SimResolver"]

WATCH_MS = 50
JOB_TIMEOUT_MS = 2000


class SimResolver:
    """Shard `shard`'s resolver (it runs on whichever node leads it)."""

    def __init__(self, shard: int, shards: SimShards, after_ms: int) -> None:
        self.shard = shard
        self.shards = shards
        self.after_ms = after_ms
        self.seen: dict[str, int] = {}
        self.busy: set[str] = set()
        self.jobs = 0
        self.resolved: dict[str, str] = {}  # txn -> the outcome its record held

    def watch(self) -> None:
        store = self.shards.leader_store(self.shard)
        now = self.shards.now_ms
        if store is None:
            self.seen.clear()  # a new leader counts from when it leads
            return
        prepared = store.txns.prepared
        self.seen = {txn: t for txn, t in self.seen.items() if txn in prepared}
        for txn_id, part in prepared.items():
            first = self.seen.setdefault(txn_id, now)
            if now - first >= self.after_ms and txn_id not in self.busy:
                self.busy.add(txn_id)
                self.seen[txn_id] = now
                self.resolve(Resolution(txn_id, part.coordinator, part.participants))

    def resolve(self, job: Resolution) -> None:
        """Ask the record, then tell every participant, then forget."""
        self.jobs += 1
        name = f"resolver{self.shard}.{self.jobs}"
        self.shards.after(JOB_TIMEOUT_MS, lambda: self._give_up(name, job))

        def told(done: set[int], shard: int, record: dict[str, Any]) -> Any:
            def answered(result: dict[str, Any]) -> None:
                done.add(shard)
                if done == set(job.participants):
                    forget = job.forget(record)
                    if forget is not None:
                        self.send(name, job.coordinator, forget, lambda result: None)
                    self.busy.discard(job.txn_id)

            return answered

        def on_record(record: dict[str, Any]) -> None:
            self.resolved[job.txn_id] = record["outcome"]
            done: set[int] = set()
            for step in job.tell(record):
                self.send(name, step.shard, step, told(done, step.shard, record))

        self.send(name, job.coordinator, job.ask(), on_record)

    def send(self, name: str, shard: int, operation: Operation, on_answer: Any) -> None:
        # Transaction steps are idempotent: no session (sequence 0), as the real one.
        self.shards.send(name, shard, Command(name, 0, 0, operation), on_answer)

    def _give_up(self, name: str, job: Resolution) -> None:
        self.shards.drop_sender(name)
        self.busy.discard(job.txn_id)
