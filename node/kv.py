"""KVStateMachine: the replicated key-value store, fed committed entries in order.

Rules:
- `apply` is deterministic: the same entries give every node the same state
  and the same answers. No clock, no randomness, no I/O.
- Exactly-once (dissertation §6.3): each client has a session. A command's
  answer is kept under its sequence number until the client acknowledges it;
  a retried command (same sequence) gets the saved answer and is not applied
  again. With pipelining a client has many commands in flight, so a session
  keeps every answer above the client's acknowledged mark, not only the last.
- Sessions expire deterministically: when more than `sessions_max` exist, the
  one idle for the most log entries goes (ties: the smallest client id). A
  command from an expired session whose answer is gone is refused, never
  applied twice.
- Keys and values are bytes, carried as str (node.messages.client's PEP 383
  convention); the snapshot writes them as their bytes.
- Revisions (etcd's MVCC, node.changes): each command that changes anything
  takes the next revision, shared by all its writes; its answer carries it,
  and the latest changes are kept for watches. A transaction's comparisons and its chosen
  branch happen at one point of the log (etcd's Txn).
- Commands arrive encoded by node.messages.codec; the snapshot and the digest
  are this module's own encoding (msgpack of the data and the sessions).
- Transactions across shards keep their locks, prepared parts and decision
  records in node.transactions' tables, part of the state and the snapshot.
  An operation on a locked key is answered `{"locked": txn}` and is not
  applied, nor saved in its session: its client asks again, and the node
  tells it "retry" (node.client_plane).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack

from node.changes import CHANGES_BYTES_MAX, CHANGES_MAX, Change, ChangeLog
from node.errors import InvalidMessage
from node.messages import (
    BYTES_AS_TEXT,
    Cas,
    Changes,
    Command,
    Delete,
    DeletePrefix,
    Entry,
    EntryKind,
    Get,
    GetPrefix,
    Keys,
    Operation,
    Put,
    Txn,
    TxnDecide,
    TxnFinish,
    TxnForget,
    TxnPreCommit,
    TxnPrepare,
    TxnQuery,
    TxnStep,
    data_bytes,
    decode_command,
    is_read_only,
)
from node.transactions import COMMITTED, RELEASED, Finished, Prepared, Record, TxnTables

__all__ = ["KVStateMachine", "Session"]

Result = dict[str, Any]

# The most changes one answer to a watch carries; it asks again for the rest.
CHANGES_PER_ANSWER = 1000
# About half a millisecond of packing each (a loop turn packs for ~2 ms).
SNAPSHOT_ITEMS_PER_PIECE = 1024


@dataclass(slots=True)
class Session:
    """One client's memory of answers it may still ask for again."""

    acknowledged: int = 0
    last_index: int = 0
    answers: dict[int, Result] = field(default_factory=dict)


class KVStateMachine:
    """The key-value store and its client sessions."""

    def __init__(
        self,
        sessions_max: int = 10_000,
        changes_max: int = CHANGES_MAX,
        changes_bytes_max: int = CHANGES_BYTES_MAX,
        shard: int | None = None,
    ) -> None:
        self.shard = shard  # None: take every transaction step (one shard, or a test)
        self.txns = TxnTables()
        self.data: dict[str, str] = {}
        self.sessions: dict[str, Session] = {}
        self.sessions_max = sessions_max
        self.applied_index = 0
        self.changes = ChangeLog(changes_max, changes_bytes_max)
        self._next_revision = 1  # the revision the command being executed writes at

    # -- the log ------------------------------------------------------------

    def apply(self, entry: Entry, command: Command | None = None) -> Result | None:
        """Apply one committed entry; its answer, or None for a no-op. A
        leader passes the `command` it encoded into the entry, sparing a decode."""
        if entry.index != self.applied_index + 1:
            raise AssertionError(
                f"entries applied out of order: {entry.index} after {self.applied_index}"
            )
        self.applied_index = entry.index
        if entry.kind is not EntryKind.COMMAND:  # no-ops and membership changes
            return None
        if command is not None:
            return self.apply_command(command, entry.index)
        try:
            command = decode_command(entry.data)
        except InvalidMessage as error:
            # The leader validated it before proposing; every node answers alike.
            return {"ok": False, "error": f"undecodable command: {error}"}
        return self.apply_command(command, entry.index)

    def apply_command(self, command: Command, index: int) -> Result:
        if command.sequence == 0:
            return self.execute(command.operation)  # a read that needs no session
        session = self.sessions.get(command.client_id)
        if session is None:
            session = self.sessions[command.client_id] = Session()
        session.last_index = index
        saved = session.answers.get(command.sequence)
        if saved is not None:
            return saved
        if command.sequence <= session.acknowledged:
            return {"ok": False, "error": "sequence already acknowledged: not applied again"}
        answer = self.execute(command.operation)
        if "locked" in answer:
            return answer  # not applied: the retry must run it, not read this
        session.answers[command.sequence] = answer
        if command.acknowledged > session.acknowledged:
            session.acknowledged = command.acknowledged
            for sequence in [s for s in session.answers if s <= command.acknowledged]:
                del session.answers[sequence]
        if len(self.sessions) > self.sessions_max:
            self._expire_one()
        return answer

    def _expire_one(self) -> None:
        idle = min(self.sessions.items(), key=lambda item: (item[1].last_index, item[0]))
        del self.sessions[idle[0]]

    # -- operations ------------------------------------------------------------

    def execute(self, operation: Operation, honour_locks: bool = True) -> Result:
        """Run one operation against the current state (reads change nothing).
        A write's answer carries the revision it made (or the current one,
        when it changed nothing). One that touches a key a transaction has
        locked is not run (`locked`); a stale read passes `honour_locks`
        False and reads the last committed value."""
        if honour_locks and (self.txns.locks or self.txns.shared):
            holder = self._lock_holder(operation)
            if holder is not None:
                return {"ok": False, "locked": holder}
        self._next_revision = self.changes.revision + 1
        result = self._execute(operation)
        if not is_read_only(operation) or isinstance(operation, GetPrefix):
            result["revision"] = self.changes.revision
        return result

    def _execute(self, operation: Operation) -> Result:
        match operation:
            case Get(key):
                return self._get(key)
            case Put(key, value):
                previous = self.data.get(key)
                self._set(key, value)
                return {"ok": True, "key": key, "previous": previous}
            case Delete(key):
                found = self._delete(key)
                return {"ok": found, "key": key, "found": found}
            case Cas(key, expected, new):
                current = self.data.get(key)
                if current != expected:
                    return {"ok": False, "key": key, "value": current, "found": current is not None}
                self._set(key, new)
                return {"ok": True, "key": key, "value": new, "found": True}
            case Keys(prefix):
                return {"ok": True, "keys": self._keys(prefix)}
            case GetPrefix(prefix):
                pairs = [[key, self.data[key]] for key in self._keys(prefix)]
                return {"ok": True, "prefix": prefix, "pairs": pairs}
            case DeletePrefix(prefix):
                deleted = [key for key in self._keys(prefix) if self._delete(key)]
                return {"ok": True, "prefix": prefix, "deleted": deleted}
            case Changes(key, prefix, after):
                return self._changes_after(key, prefix, after)
            case Txn(compare, success, failure):
                succeeded = all(self.data.get(c.key) == c.value for c in compare)
                branch = success if succeeded else failure
                return {
                    "ok": True,
                    "succeeded": succeeded,
                    "results": [self._execute(op) for op in branch],
                }
            case (
                TxnPrepare() | TxnDecide() | TxnFinish() | TxnForget() | TxnPreCommit() | TxnQuery()
            ):
                if self.shard is not None and operation.shard != self.shard:
                    return {"ok": False, "error": f"shard {operation.shard}'s step at {self.shard}"}
                return self._txn_step(operation)
        raise AssertionError(f"unknown operation {operation!r}")

    def _txn_step(self, step: TxnStep) -> Result:
        txns = self.txns
        match step:
            case TxnPrepare(_, txn_id, timestamp, coordinator, participants, compare, yes, no):
                keys = tuple(dict.fromkeys([c.key for c in compare] + [o.key for o in yes + no]))
                writes = tuple(dict.fromkeys(o.key for o in yes + no if not isinstance(o, Get)))
                refusal = txns.vote(txn_id, timestamp, keys, writes)
                if refusal is not None:
                    return refusal
                succeeded = all(self.data.get(c.key) == c.value for c in compare)
                txns.lock(
                    txn_id,
                    Prepared(
                        timestamp,
                        coordinator,
                        participants,
                        keys,
                        writes,
                        succeeded,
                        yes,
                        no,
                        self.applied_index,
                    ),
                )
                return {"ok": True, "vote": "yes", "succeeded": succeeded}
            case TxnDecide(_, txn_id, outcome, succeeded, participants):
                record = txns.decide(txn_id, Record(outcome, succeeded, participants))
                return {
                    "ok": True,
                    "outcome": record.outcome,
                    "succeeded": record.succeeded,
                    "participants": list(record.participants),
                }
            case TxnFinish(_, txn_id, outcome, succeeded):
                done = txns.finished.get(txn_id)
                held = txns.prepared.get(txn_id)
                if done is None and outcome == RELEASED and held is not None and held.writes:
                    # Only a transaction of gets is released without a decision.
                    return {"ok": False, "error": "a transaction that writes was released"}
                if done is None:
                    prepared = txns.release(txn_id)
                    results: list[Result] = []
                    if outcome in (COMMITTED, RELEASED) and prepared is not None:
                        branch = prepared.success if succeeded else prepared.failure
                        results = [self._execute(op) for op in branch]
                    shards = prepared.participants if prepared is not None else ()
                    done = Finished(outcome, tuple(results), shards, succeeded)
                    txns.remember(txn_id, done)
                return {"ok": True, "outcome": done.outcome, "results": list(done.results)}
            case TxnForget(_, txn_id):
                return {"ok": True, "forgotten": txns.forget(txn_id)}
            case TxnPreCommit(_, txn_id, succeeded):
                return txns.precommit(txn_id, succeeded)
            case TxnQuery(_, txn_id):
                return txns.query(txn_id)
        raise AssertionError(f"unknown transaction step {step!r}")

    def _lock_holder(self, operation: Operation) -> str | None:
        """The transaction whose lock `operation` would cross, if any."""
        txns = self.txns
        match operation:
            case Get(key):
                return txns.holder((key,), writing=False)
            case Put(key, _) | Delete(key) | Cas(key, _, _):
                return txns.holder((key,), writing=True)
            case Keys(prefix) | GetPrefix(prefix):
                return txns.holder_under(prefix, writing=False)
            case DeletePrefix(prefix):
                return txns.holder_under(prefix, writing=True)
            case Txn(compare, success, failure):
                writes = [o.key for o in success + failure if not isinstance(o, Get)]
                reads = [c.key for c in compare] + [o.key for o in success + failure]
                return txns.holder(writes, writing=True) or txns.holder(reads, writing=False)
        return None  # transaction steps, and watches (they read committed history)

    def _set(self, key: str, value: str) -> None:
        self.data[key] = value
        self.changes.record(self._next_revision, key, value)

    def _delete(self, key: str) -> bool:
        if self.data.pop(key, None) is None:
            return False
        self.changes.record(self._next_revision, key, None)
        return True

    def _keys(self, prefix: str) -> list[str]:
        """Sorted as etcd sorts them: by their bytes."""
        return sorted((k for k in self.data if k.startswith(prefix)), key=data_bytes)

    def _changes_after(self, key: str, prefix: bool, after: int) -> Result:
        log = self.changes
        if after < log.compacted:
            return {
                "ok": False,
                "error": f"revision {after + 1} is compacted: the oldest kept is "
                f"{log.compacted + 1} (the store keeps its latest changes)",
                "compacted": log.compacted,
                "revision": log.revision,
            }
        found = log.since(key, prefix, after, CHANGES_PER_ANSWER)
        return {
            "ok": True,
            "revision": log.revision,
            "changes": [[c.revision, c.key, c.value] for c in found],
        }

    def _get(self, key: str) -> Result:
        value = self.data.get(key)
        return {"key": key, "value": value, "found": value is not None}

    # -- snapshots ------------------------------------------------------------

    def digest(self) -> str:
        """A short hash of the data at the applied index: nodes that applied
        the same prefix of the log hold the same digest."""
        packed = msgpack.packb(
            [sorted(self.data.items()), self.changes.revision], unicode_errors=BYTES_AS_TEXT
        )
        return hashlib.sha256(packed).hexdigest()[:16]

    def snapshot(self) -> bytes:
        return b"".join(self.snapshot_pieces())

    def snapshot_pieces(self, items_per_piece: int = SNAPSHOT_ITEMS_PER_PIECE) -> Iterator[bytes]:
        """The snapshot in pieces whose concatenation is exactly `snapshot()`'s
        bytes. The state is copied now, shallowly (keys, values and saved
        answers are never changed in place), and each piece is packed only
        when asked for: a node packs a few per loop turn while it goes on
        applying (DESIGN.md, "fork and ZeroMQ")."""
        sessions = {
            client: [s.acknowledged, s.last_index, list(s.answers.items())]
            for client, s in self.sessions.items()
        }
        return _packed_pieces(
            self.applied_index,
            dict(self.data),
            sessions,
            self.changes.frozen(),
            self.txns.rows(),
            items_per_piece,
        )

    def restore(self, blob: bytes) -> None:
        decoded = _last_checked.pop() if _last_checked and _last_checked[0][0] is blob else None
        applied_index, data, sessions, changes, txns = (
            decoded[1] if decoded is not None else _decode_snapshot(blob)
        )
        self.txns = txns
        # The history keeps this node's bounds (cluster.toml's), not the defaults
        # it was decoded with.
        changes.changes_max, changes.bytes_max = self.changes.changes_max, self.changes.bytes_max
        self.applied_index, self.data, self.sessions, self.changes = (
            applied_index,
            data,
            sessions,
            changes,
        )

    @staticmethod
    def forget_checked_snapshot() -> None:
        """Drop what `check_snapshot` decoded and no `restore` took (the core
        refused that snapshot): a node calls this once per loop turn."""
        _last_checked.clear()

    @staticmethod
    def check_snapshot(blob: bytes, index: int) -> None:
        """Raise InvalidMessage unless `blob` is a snapshot of this state
        machine taken at applied `index`: a snapshot from the wire is checked
        before it is installed (and `restore` of the same bytes, which follows,
        takes what this decoded instead of decoding 10 MB again)."""
        decoded = _decode_snapshot(blob)
        if decoded[0] != index:
            raise InvalidMessage(f"a snapshot at {decoded[0]} where {index} was announced")
        _last_checked[:] = [(blob, decoded)]


_Decoded = tuple[int, dict[str, str], dict[str, "Session"], ChangeLog, TxnTables]
# The snapshot check_snapshot decoded last, with its bytes (one slot): decoding
# is pure, so this is a cache; restore takes its state out, and a node empties
# it at the end of the loop turn that checked it (forget_checked_snapshot).
_last_checked: list[tuple[bytes, _Decoded]] = []


def _packed_pieces(
    applied_index: int,
    data: dict[str, str],
    sessions: dict[str, list[object]],
    changes: tuple[list[object], tuple[Change, ...]],
    txns: list[Any],
    per_piece: int,
) -> Iterator[bytes]:
    """msgpack of [applied_index, data, sessions, change rows, transaction
    tables], its maps and its long array packed `per_piece` items at a time:
    each as a small map or array whose own header is cut off, so the bytes
    are those of one packing. (The transaction tables are small: in-flight
    transactions and a bounded memory of finished ones.)"""
    packer = msgpack.Packer(unicode_errors=BYTES_AS_TEXT)
    yield packer.pack_array_header(5) + packer.pack(applied_index)
    for mapping in (data, sessions):
        yield packer.pack_map_header(len(mapping))
        pairs = iter(mapping.items())
        while piece := dict(itertools.islice(pairs, per_piece)):
            yield packer.pack(piece)[len(packer.pack_map_header(len(piece))) :]
    head, rest = changes
    yield packer.pack_array_header(1 + len(rest)) + packer.pack(head)
    for first in range(0, len(rest), per_piece):
        rows = [[c.revision, c.key, c.value] for c in rest[first : first + per_piece]]
        yield packer.pack(rows)[len(packer.pack_array_header(len(rows))) :]
    yield packer.pack(txns)


def _decode_snapshot(blob: bytes) -> _Decoded:
    """The applied index, data, sessions, change log and transaction tables in
    `blob`; InvalidMessage if it is not exactly what `snapshot` writes. (A
    snapshot written before revisions existed has no change log: revision 0;
    one from before transactions across shards has no tables: none in flight.)"""
    try:
        applied_index, data, sessions, *rest = msgpack.unpackb(
            blob, strict_map_key=False, unicode_errors=BYTES_AS_TEXT
        )
        if len(rest) > 2:
            raise ValueError("more fields than a snapshot has")
        changes = ChangeLog.from_rows(rest[0]) if rest else ChangeLog()
        txns = TxnTables.from_rows(rest[1]) if len(rest) > 1 else TxnTables()
        if not isinstance(applied_index, int) or applied_index < 0:
            raise TypeError("the applied index is not a count")
        if not isinstance(data, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in data.items()
        ):
            raise TypeError("the data is not a map of strings")
        restored: dict[str, Session] = {}
        for client, (acknowledged, last_index, answers) in sessions.items():
            if not isinstance(client, str):
                raise TypeError("a session without a client id")
            restored[client] = Session(
                int(acknowledged),
                int(last_index),
                {int(sequence): dict(result) for sequence, result in answers},
            )
    except (ValueError, TypeError, AttributeError, msgpack.UnpackException) as error:
        raise InvalidMessage(f"not a key-value snapshot: {error}") from None
    return applied_index, data, restored, changes, txns
