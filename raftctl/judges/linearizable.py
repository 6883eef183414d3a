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
- On failure the result names the key, the longest linearizable prefix found
  and the operation that could not be placed after it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raftctl.judges.operations import pair_operations
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


@dataclass(frozen=True, slots=True)
class Operation:
    """One completed or uncertain operation on one key."""

    id: int
    process: Any
    f: str
    key: Any
    value: Any  # write: the value; cas: (expected, new); read: the value read
    call: float
    ret: float  # math.inf for info operations
    certain: bool  # False for info operations
    mismatch: bool = False  # a cas whose comparison failed: an observation

    def describe(self) -> str:
        outcome = "" if self.certain else " (outcome unknown)"
        if self.mismatch:
            outcome = " (failed: the value was not the expected one)"
        return f"process {self.process} {self.f} {self.value!r}{outcome}"


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
            Operation(
                len(operations),
                paired.process,
                paired.f,
                paired.key,
                value,
                float(paired.call),
                float(paired.ret) if certain and paired.ret is not None else math.inf,
                certain,
                mismatch,
            )
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


@dataclass(slots=True)
class _Node:
    op: Operation | None
    is_call: bool
    prev: _Node | None = None
    next: _Node | None = None
    match: _Node | None = None  # a call's return node


def _check_key(key: Any, operations: list[Operation], steps_max: int) -> KeyResult:
    ids = {op.id: position for position, op in enumerate(operations)}
    events = sorted(
        [(op.call, 0, op.id, True) for op in operations]
        + [(op.ret, 1, op.id, False) for op in operations],
    )
    head = _Node(None, False)
    tail = head
    calls: dict[int, _Node] = {}
    by_id = {op.id: op for op in operations}
    for _, _, op_id, is_call in events:
        node = _Node(by_id[op_id], is_call, prev=tail)
        tail.next = node
        tail = node
        if is_call:
            calls[op_id] = node
        else:
            calls[op_id].match = node

    def lift(node: _Node) -> None:
        for part in (node, node.match):
            if part is None or part.prev is None:
                raise AssertionError(f"key {key!r}: an operation lost its place in the search")
            part.prev.next = part.next
            if part.next is not None:
                part.next.prev = part.prev

    def unlift(node: _Node) -> None:
        for part in (node.match, node):
            if part is None or part.prev is None:
                raise AssertionError(f"key {key!r}: an operation lost its place in the search")
            part.prev.next = part
            if part.next is not None:
                part.next.prev = part

    state: Any = None
    linearized = 0
    cache: set[tuple[int, Any]] = set()
    stack: list[tuple[_Node, Any]] = []
    best: tuple[list[Operation], Operation | None] = ([], None)
    steps = 0
    entry = head.next
    while head.next is not None:
        steps += 1
        if steps > steps_max:
            return KeyResult(key, UNKNOWN, len(operations), steps)
        op = entry.op if entry is not None else None
        if entry is None or op is None:
            raise AssertionError(f"key {key!r}: the search ran off its list of events")
        if entry.is_call:
            ok, new_state = _step(state, op)
            if ok:
                bit = 1 << ids[op.id]
                configuration = (linearized | bit, _hashable(new_state))
                if configuration not in cache:
                    cache.add(configuration)
                    stack.append((entry, state))
                    state, linearized = new_state, linearized | bit
                    lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if len(stack) > len(best[0]) or best[1] is None:
                # Copied only when it grows: at most once per operation.
                best = ([node.op for node, _ in stack if node.op is not None], op)
            if not stack:
                return KeyResult(key, INVALID, len(operations), steps, *best)
            node, state = stack.pop()
            if node.op is None:
                raise AssertionError(f"key {key!r}: the search stacked a node without operation")
            linearized &= ~(1 << ids[node.op.id])
            unlift(node)
            entry = node.next
    return KeyResult(key, VALID, len(operations), steps)


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
    verdicts = {r.verdict for r in results}
    verdict = INVALID if INVALID in verdicts else UNKNOWN if UNKNOWN in verdicts else VALID
    return CheckResult(verdict, results)
