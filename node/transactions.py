"""A shard's side of transactions across shards: two-phase commit whose every
step is a command in this shard's Raft log (Spanner's and CockroachDB's
shape), kept beside the key-value data by node.kv.

Rules:
- Deterministic, like the rest of the state machine: no clock, no I/O. How
  long a transaction has been prepared is the node's business (node.server's
  resolver); this module only records and answers.
- Prepare (phase 1) locks every key of the shard's part, evaluates the
  comparisons under those locks and votes. A key the part writes (a put or
  delete in either branch) takes an exclusive lock; a key it only reads (a
  comparison, a get) a shared one, so that reads of the same keys (every
  balance of a bank) do not exclude each other. A conflict (a shared or
  exclusive lock against a write, an exclusive one against a read) follows
  wait-die: a transaction older than every holder in its way (smaller
  timestamp, then id) is told to wait and ask again; otherwise it dies (votes
  no) and its coordinator retries it whole, keeping its timestamp, so it
  grows older and cannot starve. Nothing is locked by a no or a wait.
- The decision record (the commit point) lives at the coordinator shard and
  is written once: the first `decide` wins and every later one is answered
  with it. A resolver that finds no record writes "aborted", so the
  coordinator and a resolver can never disagree.
- Finish (phase 2) applies the chosen branch of a committed transaction, or
  nothing for an aborted one, then releases the locks. Every step is
  idempotent: a repeat is answered from what is recorded, and a prepare of a
  finished transaction votes no without locking.
- Plain operations wait on a lock in their way: a write (put, cas, delete...)
  on any locked key, a read (get, keys...) on an exclusively locked one.
  node.kv answers them "locked" and the client asks again; a prepared
  transaction's outcome may already be decided, so reading around its lock
  could go back in time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from node.messages import Delete, Get, Put, TxnDecide, TxnFinish, TxnForget, TxnOperation

__all__ = [
    "ABORTED",
    "COMMITTED",
    "RELEASED",
    "Finished",
    "Prepared",
    "Record",
    "Resolution",
    "TxnTables",
    "timeout_outcome",
]

COMMITTED = "committed"
ABORTED = "aborted"
# The finish of a transaction that writes nothing: its gets are answered and
# its shared locks released; it needs no decision record (raftctl.txn).
RELEASED = "released"
# Finished transactions remembered, so that a late repeat is answered alike
# (oldest forgotten first). A prepare that arrives later still than that
# finds nothing and locks: its coordinator long gave up, and a resolver
# releases the locks once the record says aborted.
FINISHED_MAX = 10_000


@dataclass(slots=True)
class Prepared:
    """A transaction prepared here, holding its locks until it finishes."""

    timestamp: int
    coordinator: int
    participants: tuple[int, ...]
    keys: tuple[str, ...]  # every key of the part; `writes` locked exclusively, the rest shared
    writes: tuple[str, ...]
    succeeded: bool  # whether this shard's comparisons held
    success: tuple[TxnOperation, ...]  # this shard's ops of each branch
    failure: tuple[TxnOperation, ...]
    index: int  # the log index that prepared it
    # 3PC: the branch a preCommit announced (None: no preCommit came).
    precommit: bool | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """The decision, at the coordinator shard."""

    outcome: str
    succeeded: bool
    participants: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Finished:
    outcome: str
    results: tuple[dict[str, Any], ...]
    participants: tuple[int, ...] = ()  # as prepared here; () when it never was
    succeeded: bool = False  # the branch a committed one ran


@dataclass(slots=True)
class TxnTables:
    """Locks, prepared transactions, decision records and finished ones."""

    locks: dict[str, str] = field(default_factory=dict)  # key -> the txn holding it exclusively
    shared: dict[str, set[str]] = field(default_factory=dict)  # key -> the txns reading it
    prepared: dict[str, Prepared] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    finished: dict[str, Finished] = field(default_factory=dict)

    def holder(self, keys: list[str] | tuple[str, ...], writing: bool) -> str | None:
        """A transaction whose lock on one of `keys` is in the way of a plain
        operation (a write meets every lock, a read only exclusive ones)."""
        if not self.locks and not (writing and self.shared):
            return None
        for key in keys:
            if key in self.locks:
                return self.locks[key]
            if writing and key in self.shared:
                return min(self.shared[key])
        return None

    def holder_under(self, prefix: str, writing: bool) -> str | None:
        """A transaction whose lock on a key starting with `prefix` is in the way."""
        found = next((txn for key, txn in self.locks.items() if key.startswith(prefix)), None)
        if found is None and writing:
            found = next(
                (min(txns) for key, txns in self.shared.items() if key.startswith(prefix)), None
            )
        return found

    # -- phase 1 ----------------------------------------------------------------

    def vote(
        self, txn_id: str, timestamp: int, keys: tuple[str, ...], writes: tuple[str, ...]
    ) -> dict[str, Any] | None:
        """The answer to a prepare that must not lock (a repeat, a finished
        transaction, a conflict); None when the prepare may go ahead."""
        if txn_id in self.prepared:
            return {"ok": True, "vote": "yes", "succeeded": self.prepared[txn_id].succeeded}
        if txn_id in self.finished:
            return {"ok": True, "vote": "no", "reason": "finished"}
        in_the_way: dict[str, str] = {}  # holder -> the key it holds
        for key in keys:
            holder = self.locks.get(key)
            if holder is not None and holder != txn_id:
                in_the_way.setdefault(holder, key)
            if key in writes:
                for reader in sorted(self.shared.get(key, ())):
                    if reader != txn_id:
                        in_the_way.setdefault(reader, key)
        if not in_the_way:
            return None
        mine = (timestamp, txn_id)
        older = all(mine < (self.prepared[h].timestamp, h) for h in in_the_way)
        holder = min(in_the_way)
        return {
            "ok": True,
            "vote": "wait" if older else "no",
            "reason": "locked",
            "holder": holder,
            "key": in_the_way[holder],
        }

    def lock(self, txn_id: str, prepared: Prepared) -> None:
        for key in prepared.keys:
            if key in prepared.writes:
                self.locks[key] = txn_id
            else:
                self.shared.setdefault(key, set()).add(txn_id)
        self.prepared[txn_id] = prepared

    # -- the decision ---------------------------------------------------------

    def decide(self, txn_id: str, proposed: Record) -> Record:
        """The record of `txn_id`: written as `proposed` if there is none yet."""
        return self.records.setdefault(txn_id, proposed)

    def forget(self, txn_id: str) -> bool:
        """Drop a record every participant has acted on."""
        return self.records.pop(txn_id, None) is not None

    # -- phase 2 ----------------------------------------------------------------

    def release(self, txn_id: str) -> Prepared | None:
        """Unlock `txn_id`'s keys; what it had prepared (None: nothing here)."""
        prepared = self.prepared.pop(txn_id, None)
        if prepared is not None:
            for key in prepared.keys:
                if self.locks.get(key) == txn_id:
                    del self.locks[key]
                readers = self.shared.get(key)
                if readers is not None:
                    readers.discard(txn_id)
                    if not readers:
                        del self.shared[key]
        return prepared

    def precommit(self, txn_id: str, succeeded: bool) -> dict[str, Any]:
        """3PC's preCommit: acknowledged by a prepared transaction; one that
        already finished here (its participant timed out and decided alone)
        answers what it did, and its coordinator must abort."""
        prepared = self.prepared.get(txn_id)
        if prepared is not None:
            prepared.precommit = succeeded
            return {"ok": True, "ack": True}
        done = self.finished.get(txn_id)
        return {"ok": True, "ack": False, "outcome": done.outcome if done else None}

    def query(self, txn_id: str) -> dict[str, Any]:
        """What this shard knows of `txn_id`: its outcome once finished here,
        "prepared" (voted yes, waiting), or "unknown" (never prepared)."""
        done = self.finished.get(txn_id)
        if done is not None:
            return {
                "ok": True,
                "state": "finished",
                "outcome": done.outcome,
                "succeeded": done.succeeded,
            }
        if txn_id in self.prepared:
            return {"ok": True, "state": "prepared", "outcome": None}
        return {"ok": True, "state": "unknown", "outcome": None}

    def outcomes(self) -> dict[str, list[Any]]:
        """How each remembered transaction finished here: txn -> [outcome,
        participant shards] (what raftctl.judges.transactions judges)."""
        return {txn: [f.outcome, list(f.participants)] for txn, f in self.finished.items()}

    def remember(self, txn_id: str, finished: Finished) -> None:
        self.finished[txn_id] = finished
        while len(self.finished) > FINISHED_MAX:
            del self.finished[next(iter(self.finished))]

    # -- snapshots --------------------------------------------------------------

    def rows(self) -> list[Any]:
        """The tables as msgpack-ready rows, for node.kv's snapshot."""
        prepared = [
            [txn, p.timestamp, p.coordinator, list(p.participants), list(p.keys),
             list(p.writes), p.succeeded, _op_rows(p.success), _op_rows(p.failure), p.index,
             p.precommit]
            for txn, p in self.prepared.items()
        ]  # fmt: skip
        records = [
            [txn, r.outcome, r.succeeded, list(r.participants)] for txn, r in self.records.items()
        ]
        finished = [
            [txn, f.outcome, list(f.results), list(f.participants), f.succeeded]
            for txn, f in self.finished.items()
        ]
        return [prepared, records, finished]

    @classmethod
    def from_rows(cls, rows: Any) -> TxnTables:
        """What `rows` wrote; TypeError or ValueError if it is not that."""
        prepared_rows, record_rows, finished_rows = rows
        tables = cls()
        for row in prepared_rows:
            # A snapshot written before 3PC has no precommit column.
            txn, timestamp, coordinator, participants, keys, writes, succeeded, yes, no, index = (
                row[:10]
            )
            precommit = row[10] if len(row) > 10 else None
            tables.lock(
                str(txn),
                Prepared(
                    int(timestamp),
                    int(coordinator),
                    tuple(int(shard) for shard in participants),
                    tuple(str(key) for key in keys),
                    tuple(str(key) for key in writes),
                    bool(succeeded),
                    _ops(yes),
                    _ops(no),
                    int(index),
                    None if precommit is None else bool(precommit),
                ),
            )
        for txn, outcome, succeeded, participants in record_rows:
            tables.records[str(txn)] = Record(
                str(outcome), bool(succeeded), tuple(int(shard) for shard in participants)
            )
        for txn, outcome, results, participants, *succeeded in finished_rows:
            tables.finished[str(txn)] = Finished(
                str(outcome),
                tuple(dict(r) for r in results),
                tuple(int(shard) for shard in participants),
                bool(succeeded[0]) if succeeded else False,
            )
        return tables


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a resolver sends for a transaction left prepared too long: ask
    the record, proposing "aborted" (written only if there is none), tell
    every participant the outcome in force, and, once all were told, forget
    a committed record. The resolver never decides alone.

    An aborted record is never forgotten by a resolver: its coordinator may
    be alive, late, with its commit decision still on the way, and must find
    "aborted" there rather than write "committed" anew (a tombstone of a few
    dozen bytes for each transaction a resolver aborted). The coordinator
    forgets its own record once its decision was answered."""

    txn_id: str
    coordinator: int
    participants: tuple[int, ...]

    def ask(self) -> TxnDecide:
        return TxnDecide(self.coordinator, self.txn_id, ABORTED, False, self.participants)

    def tell(self, record: dict[str, Any]) -> list[TxnFinish]:
        outcome, succeeded = record["outcome"], record["succeeded"]
        return [TxnFinish(s, self.txn_id, outcome, succeeded) for s in self.participants]

    def forget(self, record: dict[str, Any]) -> TxnForget | None:
        """The forget to send once every participant was told, if any."""
        if record["outcome"] != COMMITTED:
            return None
        return TxnForget(self.coordinator, self.txn_id)


def timeout_outcome(prepared: Prepared) -> tuple[str, bool]:
    """3PC's participant rule when its coordinator is silent past the
    timeout: one that received preCommit commits (with the branch it was
    told); one that did not aborts. Each side of a partition applies it to
    what it alone saw, which is how 3PC can end inconsistent (the notes)."""
    if prepared.precommit is None:
        return ABORTED, False
    return COMMITTED, prepared.precommit


def _op_rows(ops: tuple[TxnOperation, ...]) -> list[list[str]]:
    rows = []
    for op in ops:
        match op:
            case Get(key):
                rows.append(["get", key])
            case Put(key, value):
                rows.append(["put", key, value])
            case Delete(key):
                rows.append(["delete", key])
    return rows


def _ops(rows: Any) -> tuple[TxnOperation, ...]:
    ops: list[TxnOperation] = []
    for kind, key, *value in rows:
        if kind == "put" and len(value) == 1:
            ops.append(Put(str(key), str(value[0])))
        elif kind == "get" and not value:
            ops.append(Get(str(key)))
        elif kind == "delete" and not value:
            ops.append(Delete(str(key)))
        else:
            raise ValueError(f"not a transaction's operation: {[kind, key, *value]!r}")
    return tuple(ops)
