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
  one is answered "aborted" (presumed abort). Each begin names the client
  request it serves (client id, sequence): the latest attempt of each of the
  last REQUESTS_MAX requests is kept, ended or not, and rebuilt on start, so
  that a client asking again after a restart is answered from the decision
  instead of running its transaction a second time. Decisions are kept for the
  log's life: the laboratory's runs are short, and no compaction is built.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

import msgpack

from node.disk import Disk
from node.messages import Entry
from node.transactions import ABORTED
from node.wal import Wal

__all__ = ["Decision", "DecisionLog"]

_TERM = 1  # the WAL's entries need a term; the coordinator has no elections
REQUESTS_MAX = 10_000  # client requests remembered (oldest forgotten first)


@dataclass(frozen=True, slots=True)
class Decision:
    """A transaction the coordinator began, and what it decided (None: not yet)."""

    txn_id: str
    participants: tuple[int, ...]
    outcome: str | None = None
    succeeded: bool = False
    request: tuple[str, int] | None = None  # the client's (id, sequence) it answers


class DecisionLog:
    """The coordinator's durable decisions; thread-safe (one lock, one fsync
    per record)."""

    def __init__(self, wal: Wal, open_: dict[str, Decision]) -> None:
        self.wal = wal
        self.open = open_  # begun or decided, not ended
        # The latest attempt of each client request, ended or not: a client
        # that asks again after a restart is answered from it, never run twice.
        self.by_request: dict[tuple[str, int], Decision] = {}
        self.decided = 0
        self.lock = threading.RLock()

    @classmethod
    def open_at(cls, directory: Path, fsync: bool = True) -> tuple[DecisionLog, list[Decision]]:
        """The log at `directory`, and the decided transactions recovery
        hands back to be finished (those begun and undecided are aborted)."""
        wal, contents = Wal.open(directory / "wal", Disk(directory, fsync))
        known: dict[str, Decision] = {}
        requests: dict[tuple[str, int], Decision] = {}
        for entry in contents.entries:
            kind, txn_id, *rest = msgpack.unpackb(entry.data)
            if kind == "begin":
                request = (str(rest[1]), int(rest[2])) if len(rest) > 2 else None
                known[txn_id] = Decision(txn_id, tuple(int(s) for s in rest[0]), request=request)
            elif kind == "decide" and txn_id in known:
                known[txn_id] = replace(known[txn_id], outcome=rest[0], succeeded=rest[1])
            elif kind == "end":
                known.pop(txn_id, None)
                continue
            decision = known.get(txn_id)
            if decision is not None and decision.request is not None:
                requests[decision.request] = decision
        log = cls(wal, dict(known))
        log.by_request = requests
        for decision in list(known.values()):
            if decision.outcome is None:
                log.decide(decision.txn_id, ABORTED, False)
        return log, list(log.open.values())

    def begin(
        self, txn_id: str, participants: tuple[int, ...], request: tuple[str, int] | None = None
    ) -> None:
        record: list[object] = ["begin", txn_id, list(participants)]
        if request is not None:
            record += list(request)
        self._write(record)
        with self.lock:
            decision = self.open[txn_id] = Decision(txn_id, participants, request=request)
            self._remember(decision)

    def decide(self, txn_id: str, outcome: str, succeeded: bool) -> Decision:
        """Record the decision (the first one stands, like a shard's record)."""
        with self.lock:
            current = self.open.get(txn_id)
            if current is not None and current.outcome is not None:
                return current
            self._write(["decide", txn_id, outcome, succeeded])
            decision = Decision(
                txn_id,
                current.participants if current is not None else (),
                outcome,
                succeeded,
                current.request if current is not None else None,
            )
            self.open[txn_id] = decision
            self._remember(decision)
            self.decided += 1
            return decision

    def for_request(self, client_id: str, sequence: int) -> Decision | None:
        """The latest attempt of a client's request, if this log began one."""
        with self.lock:
            return self.by_request.get((client_id, sequence))

    def _remember(self, decision: Decision) -> None:
        if decision.request is None:
            return
        self.by_request[decision.request] = decision
        while len(self.by_request) > REQUESTS_MAX:
            del self.by_request[next(iter(self.by_request))]

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
