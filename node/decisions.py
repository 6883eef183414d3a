"""The log of the coordinator process of classic 2PC and 3PC
(raftctl.txn.coordinator_process): the only place their decisions live, so
that a coordinator that crashes and comes back knows what it decided (the
notes: "the coordinator is a single point of failure").

Rules:
- Three records per transaction: begin (before the first prepare is sent:
  its participants), decide (the outcome and branch, before any participant
  is told), end (every participant acknowledged its finish). Each is synced
  before the coordinator acts on it.
- Stored in node.wal's segments, one record per entry (msgpack in the
  entry's data), so that torn tails and damage are handled once, there.
- Recovery (`open`): a transaction begun and not decided is decided
  "aborted" now (presumed abort: no participant can have been told to
  commit); one decided and not ended is handed back to be finished again.
- An ended transaction is forgotten from memory; a query about an unknown
  one is answered "aborted" (presumed abort). Decisions are kept for the
  log's life: the laboratory's runs are short, and no compaction is built.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import msgpack

from node.disk import Disk
from node.messages import Entry
from node.transactions import ABORTED
from node.wal import Wal

__all__ = ["Decision", "DecisionLog"]

_TERM = 1  # the WAL's entries need a term; the coordinator has no elections


@dataclass(frozen=True, slots=True)
class Decision:
    """A transaction the coordinator began, and what it decided (None: not yet)."""

    txn_id: str
    participants: tuple[int, ...]
    outcome: str | None = None
    succeeded: bool = False


class DecisionLog:
    """The coordinator's durable decisions; thread-safe (one lock, one fsync
    per record)."""

    def __init__(self, wal: Wal, open_: dict[str, Decision]) -> None:
        self.wal = wal
        self.open = open_  # begun or decided, not ended
        self.decided = 0
        self.lock = threading.RLock()

    @classmethod
    def open_at(cls, directory: Path, fsync: bool = True) -> tuple[DecisionLog, list[Decision]]:
        """The log at `directory`, and the decided transactions recovery
        hands back to be finished (those begun and undecided are aborted)."""
        wal, contents = Wal.open(directory / "wal", Disk(directory, fsync))
        known: dict[str, Decision] = {}
        for entry in contents.entries:
            kind, txn_id, *rest = msgpack.unpackb(entry.data)
            if kind == "begin":
                known[txn_id] = Decision(txn_id, tuple(int(s) for s in rest[0]))
            elif kind == "decide" and txn_id in known:
                known[txn_id] = Decision(txn_id, known[txn_id].participants, rest[0], rest[1])
            elif kind == "end":
                known.pop(txn_id, None)
        log = cls(wal, known)
        for decision in list(known.values()):
            if decision.outcome is None:
                log.decide(decision.txn_id, ABORTED, False)
        return log, list(log.open.values())

    def begin(self, txn_id: str, participants: tuple[int, ...]) -> None:
        self._write(["begin", txn_id, list(participants)])
        with self.lock:
            self.open[txn_id] = Decision(txn_id, participants)

    def decide(self, txn_id: str, outcome: str, succeeded: bool) -> Decision:
        """Record the decision (the first one stands, like a shard's record)."""
        with self.lock:
            current = self.open.get(txn_id)
            if current is not None and current.outcome is not None:
                return current
            self._write(["decide", txn_id, outcome, succeeded])
            participants = current.participants if current is not None else ()
            decision = self.open[txn_id] = Decision(txn_id, participants, outcome, succeeded)
            self.decided += 1
            return decision

    def end(self, txn_id: str) -> None:
        self._write(["end", txn_id])
        with self.lock:
            self.open.pop(txn_id, None)

    def query(self, txn_id: str) -> Decision | None:
        """What is known of `txn_id` while it is open (None: ended or never begun)."""
        with self.lock:
            return self.open.get(txn_id)

    def close(self) -> None:
        with self.lock:
            self.wal.close()

    def _write(self, record: list[object]) -> None:
        data = msgpack.packb(record)
        with self.lock:
            self.wal.append([Entry(self.wal.last_index + 1, _TERM, data=data)], None)
