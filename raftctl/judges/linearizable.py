"""A linearizability checker for histories of registers (read, write, cas).

Rules:
- Histories are Jepsen-shaped events: {"process", "type": invoke|ok|fail|info,
  "f": read|write|cas, "key", "value", "time"}; a cas value is [expected, new];
  a read's ok carries the value read (null: the key is absent).
- `fail` operations did not happen and are dropped, except a cas whose
  comparison failed (`"error": "mismatch"`): it changed nothing, but it is an
  observation, like a read, that the register did not hold its expected value
  at some moment inside the operation (as Porcupine's etcd model keeps it).
  Dropping it would let a server that fails a cas wrongly go unseen. An `info` operation may
  have taken effect at any moment after its invocation, or never: it returns
  at infinity, so it may be placed last, where it changes nothing anyone saw.
  An info read constrains nothing and is dropped; an info cas takes effect only
  if its comparison holds where it is placed.
- Keys are independent registers, checked one by one (P-compositionality).
- The search is Wing & Gong's, with Lowe's refinements as in Porcupine: a
  linked list of call and return events, a stack to backtrack, and a cache of
  (linearized set, state) so that no configuration is explored twice.
- A step budget bounds the search; running out gives "unknown", never "valid".
  So does a history without operations: it proves nothing.
- On failure the result names the key, the longest linearizable prefix found
  and the operation that could not be placed after it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raftctl.judges.operations import pair_operations
from raftctl.judges.search import Operation, operation_of, search
from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID, HistoryError

__all__ = [
    "CHECK_STEPS_PER_KEY",
    "MISMATCH",
    "REGISTER_FS",
    "CheckResult",
    "KeyResult",
    "Operation",
    "check",
    "operations_from",
]

REGISTER_FS = ("read", "write", "cas")
# The `error` of a cas whose comparison failed (raftctl.judges.history).
MISMATCH = "mismatch"
# The search's budget per key: past it a key is "unknown", never "valid".
CHECK_STEPS_PER_KEY = 2_000_000


@dataclass(slots=True)
class KeyResult:
    key: Any
    verdict: str
    operations: int
    steps: int
    prefix: list[Operation] = field(default_factory=list)
    blocked: Operation | None = None

    def explain(self) -> str:
        if self.verdict == VALID:
            return f"key {self.key!r}: linearizable ({self.operations} operations)"
        if self.verdict == UNKNOWN:
            return (
                f"key {self.key!r}: unknown, the search ran out of budget after {self.steps} steps"
            )
        placed = "; ".join(op.describe() for op in self.prefix[-5:]) or "nothing"
        return (
            f"key {self.key!r}: not linearizable. The longest linearizable prefix has "
            f"{len(self.prefix)} operations (last ones: {placed}); then "
            f"{self.blocked.describe() if self.blocked else '?'} cannot be placed"
        )


@dataclass(slots=True)
class CheckResult:
    verdict: str
    keys: list[KeyResult]

    @property
    def valid(self) -> bool:
        return self.verdict == VALID

    def explain(self) -> str:
        if not self.keys:
            return "unknown: no operations to check (a history with nothing in it proves nothing)"
        bad = [k for k in self.keys if k.verdict != VALID]
        if not bad:
            return (
                f"linearizable: {len(self.keys)} keys, "
                f"{sum(k.operations for k in self.keys)} operations"
            )
        return "\n".join(k.explain() for k in bad)


def operations_from(events: Iterable[Mapping[str, Any]]) -> list[Operation]:
    """The register operations of `events` that may have happened."""
    operations: list[Operation] = []
    for paired in pair_operations(events):
        if paired.f not in REGISTER_FS:
            raise HistoryError(f"unknown operation f={paired.f!r}")
        kind = "info" if paired.type == "open" else paired.type
        mismatch = kind == "fail" and paired.f == "cas" and paired.error == MISMATCH
        if (kind == "fail" and not mismatch) or (kind == "info" and paired.f == "read"):
            continue  # did not happen, or constrains nothing
        value = paired.result if paired.f == "read" else paired.value
        if paired.f == "cas":
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise HistoryError(f"a cas value is [expected, new], not {value!r}")
            value = (value[0], value[1])
        certain = kind == "ok" or mismatch
        operations.append(
            operation_of(len(operations), paired, paired.key, value, certain, mismatch)
        )
    return operations


def _step(state: Any, op: Operation) -> tuple[bool, Any]:
    """The register: may `op` happen in `state`, and what state follows?"""
    if op.f == "read":
        return state == op.value, state
    if op.f == "write":
        return True, op.value
    expected, new = op.value
    if op.mismatch:
        return state != expected, state
    if state == expected:
        return True, new
    return (not op.certain), state  # an uncertain cas may simply have failed


def _check_key(key: Any, operations: list[Operation], steps_max: int) -> KeyResult:
    found = search(f"key {key!r}", operations, _step, None, steps_max, _hashable)
    return KeyResult(key, found.verdict, len(operations), found.steps, found.prefix, found.blocked)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def check(
    events: Iterable[Mapping[str, Any]], steps_max_per_key: int = CHECK_STEPS_PER_KEY
) -> CheckResult:
    """Check a register history, key by key."""
    by_key: dict[Any, list[Operation]] = defaultdict(list)
    for op in operations_from(events):
        by_key[_hashable(op.key)].append(op)
    results = [_check_key(key, ops, steps_max_per_key) for key, ops in by_key.items()]
    if not results:
        return CheckResult(UNKNOWN, [])  # nothing happened: nothing is shown
    verdicts = {r.verdict for r in results}
    verdict = INVALID if INVALID in verdicts else UNKNOWN if UNKNOWN in verdicts else VALID
    return CheckResult(verdict, results)
