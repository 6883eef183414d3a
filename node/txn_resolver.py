"""The resolver: a shard's leader acts on transactions whose coordinator
went quiet, each by the rule of the cluster's txn_protocol.

- 2pc (the default): it finishes them from the decision record, so that a
  crashed client blocks no one for long (below).
- 3pc: the participant's timeout rule (node.transactions.timeout_outcome):
  it commits a transaction that received preCommit and aborts one that did
  not, on its own; the coordinator is not asked.
- 2pc-classic: it asks the coordinator process for the outcome; when that
  is unreachable, it asks the other participants (the notes' "mutual
  inquiry") and takes an outcome one of them has applied. When every
  participant voted yes and none has heard, no one can decide: the
  transaction stays prepared, its locks held, and is reported blocked
  (a "TxnBlocked" event, once) until the coordinator answers.

Rules (2pc):
- The loop calls `watch` a few times a second. A transaction prepared here
  for `after_s` (cluster.toml's txn_resolve_after_ms, counted from when this
  node, as leader, first saw it) is handed to one thread.
- The thread asks the coordinator shard for the decision record, proposing
  "aborted" (written only if there is no record: node.transactions), then
  tells every participant shard the outcome in force and, once all did,
  forgets the record if it says committed (an aborted one stays: see
  node.transactions.Resolution). It never decides alone: the record decides, and the
  coordinator that comes back late finds the same record.
- It talks to the shards as a client does (node.shard_asker). It touches
  nothing of the node but its two queues.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from node.messages import TxnFinish, TxnQuery
from node.shard_asker import ShardAsker
from node.transactions import ABORTED, COMMITTED, Prepared, Resolution, TxnTables, timeout_outcome

__all__ = ["Resolved", "Resolver"]

# Classic 2PC: how long a participant waits for the coordinator's answer
# before it asks the other participants instead.
COORDINATOR_ASK_S = 1.0


@dataclass(frozen=True, slots=True)
class Resolved:
    """What one resolution came to: the outcome applied (None: none yet),
    how it was reached, and the event to journal ("TxnResolved",
    "TxnBlocked", or None for a plain line)."""

    txn_id: str
    outcome: str | None
    coordinator: int
    text: str
    event: str | None


@dataclass(frozen=True, slots=True)
class _Job:
    txn_id: str
    part: Prepared


class Resolver:
    """Watches this shard's prepared transactions; resolves stale ones in a thread."""

    def __init__(
        self, cluster_dir: Path, node_id: str, after_s: float, protocol: str, shard: int
    ) -> None:
        self.cluster_dir = cluster_dir
        self.node_id = node_id
        self.after_s = after_s
        self.protocol = protocol
        self.shard = shard
        self.resolved = 0
        self.blocked: set[str] = set()  # 2pc-classic: prepared, and no one can say how it ends
        # The longest a transaction held its locks here, as watched (to a
        # watch's period): from when it was first seen prepared until gone.
        self.longest_hold_s = 0.0
        self._since: dict[str, float] = {}
        # When this node, leading, first saw each transaction in its present
        # state (3PC's timeout counts again from the preCommit).
        self._seen: dict[str, tuple[float, bool | None]] = {}
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._done: queue.Queue[Resolved] = queue.Queue()  # for the loop to journal
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, txns: TxnTables, leading: bool, now: float) -> list[Resolved]:
        """Hand over what waited too long; what the thread has done since."""
        lines: list[Resolved] = []
        with contextlib.suppress(queue.Empty):
            while True:
                lines.append(self._done.get_nowait())
        prepared = txns.prepared
        for gone in [txn for txn in self._since if txn not in prepared]:
            self.longest_hold_s = max(self.longest_hold_s, now - self._since.pop(gone))
        for txn_id in prepared:
            self._since.setdefault(txn_id, now)
        for gone in [txn for txn in self._seen if txn not in prepared]:
            del self._seen[gone]
        with self._lock:  # the thread adds to it
            self.blocked &= set(prepared)
        if not leading:
            self._seen.clear()  # a new leader counts from when it leads
            return lines
        for txn_id, part in prepared.items():
            first, state = self._seen.get(txn_id, (now, part.precommit))
            if state != part.precommit:
                first, state = now, part.precommit
            self._seen[txn_id] = (first, state)
            if now - first < self.after_s:
                continue
            with self._lock:
                if txn_id in self._busy:
                    continue
                self._busy.add(txn_id)
            self._seen[txn_id] = (now, state)  # if this round fails, the next one waits again
            self._start()
            self._jobs.put(_Job(txn_id, part))
        return lines

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    # -- the thread ---------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="txn-resolver", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        client_id = f"resolver-{self.node_id}"
        with ShardAsker(self.cluster_dir, client_id, self._stop, self.node_id) as asker:
            while not self._stop.is_set():
                try:
                    job = self._jobs.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    self._done.put(self._resolve(asker, job))
                finally:
                    with self._lock:
                        self._busy.discard(job.txn_id)

    def _resolve(self, asker: ShardAsker, job: _Job) -> Resolved:
        if self.protocol == "3pc":
            return self._time_out(asker, job)
        if self.protocol == "2pc-classic":
            return self._inquire(asker, job)
        txn_id, part = job.txn_id, job.part
        resolution = Resolution(txn_id, part.coordinator, part.participants)
        record = asker.ask(part.coordinator, resolution.ask())
        if record is None:
            text = f"txn {txn_id}: no answer from shard {part.coordinator} about its record"
            return Resolved(txn_id, None, part.coordinator, text, None)
        finished = [asker.ask(step.shard, step) for step in resolution.tell(record)]
        forget = resolution.forget(record)
        if forget is not None and all(answer is not None for answer in finished):
            asker.ask(part.coordinator, forget)
        self.resolved += 1
        outcome = str(record["outcome"])
        text = (
            f"txn {txn_id} resolved after its coordinator went quiet: "
            f"{outcome} (the record at shard {part.coordinator})"
        )
        return Resolved(txn_id, outcome, part.coordinator, text, "TxnResolved")

    def _time_out(self, asker: ShardAsker, job: _Job) -> Resolved:
        """3PC: decide alone, by what this shard saw."""
        outcome, succeeded = timeout_outcome(job.part)
        why = "it had received preCommit" if outcome == COMMITTED else "no preCommit came"
        return self._apply(
            asker, job, outcome, succeeded, f"on its own, as 3PC's timeout says ({why})"
        )

    def _inquire(self, asker: ShardAsker, job: _Job) -> Resolved:
        """Classic 2PC: ask the coordinator, then the other participants."""
        txn_id = job.txn_id
        answer = asker.ask(0, TxnQuery(0, txn_id), COORDINATOR_ASK_S)
        if answer is not None and answer.get("outcome") in (COMMITTED, ABORTED):
            outcome = str(answer["outcome"])
            return self._apply(asker, job, outcome, bool(answer.get("succeeded")),
                               "as the coordinator answered")  # fmt: skip
        if answer is not None:
            text = f"txn {txn_id}: the coordinator has not decided yet"
            return Resolved(txn_id, None, 0, text, None)
        for shard in job.part.participants:
            if shard == self.shard:
                continue
            told = asker.ask(shard, TxnQuery(shard, txn_id))
            if told is not None and told.get("outcome") in (COMMITTED, ABORTED):
                outcome = str(told["outcome"])
                return self._apply(asker, job, outcome, bool(told.get("succeeded")),
                                   f"as shard {shard} had (mutual inquiry)")  # fmt: skip
        with self._lock:
            told_before = txn_id in self.blocked
            self.blocked.add(txn_id)
        if told_before:
            return Resolved(txn_id, None, 0, f"txn {txn_id}: still blocked", None)
        text = (
            f"txn {txn_id} is blocked: the coordinator does not answer, and no other "
            "participant knows the outcome; having voted yes, this shard may neither commit "
            "nor abort, and holds its locks until the coordinator is back"
        )
        return Resolved(txn_id, None, 0, text, "TxnBlocked")

    def _apply(
        self, asker: ShardAsker, job: _Job, outcome: str, succeeded: bool, how: str
    ) -> Resolved:
        txn_id = job.txn_id
        answer = asker.ask(self.shard, TxnFinish(self.shard, txn_id, outcome, succeeded))
        if answer is None:
            text = f"txn {txn_id}: {outcome} {how}, but this shard did not confirm it yet"
            return Resolved(txn_id, None, 0, text, None)
        self.resolved += 1
        text = f"txn {txn_id} {answer['outcome']} at shard {self.shard} {how}"
        return Resolved(txn_id, str(answer["outcome"]), 0, text, "TxnResolved")
