"""The linearizability search every judge shares: Wing & Gong's, with Lowe's
refinements as in Porcupine.

Rules:
- A model is a `step(state, op) -> (accepted, next state)` function over
  hashable states; the search looks for an order of the operations,
  consistent with real time (an operation takes effect between its call and
  its return), in which the model accepts each one.
- A linked list of call and return events, a stack to backtrack, and a cache
  of (linearized set, state) so that no configuration is explored twice.
- An uncertain operation returns at infinity: it may be placed last, where it
  changes nothing anyone saw. A model decides what an uncertain operation may
  do where its precondition fails (usually: nothing).
- A step budget bounds the search; running out gives "unknown", never "valid".
- On failure the result holds the longest linearizable prefix found and the
  operation that could not be placed after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raftctl.judges.operations import PairedOperation
from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID

__all__ = ["Operation", "SearchResult", "Step", "operation_of", "search"]


@dataclass(frozen=True, slots=True)
class Operation:
    """One completed or uncertain operation on one object (a register, the bank)."""

    id: int
    process: Any
    f: str
    key: Any
    value: Any  # what the model steps with (register: write value, (expected, new), value read)
    call: float
    ret: float  # math.inf for info operations
    certain: bool  # False for info operations
    mismatch: bool = False  # a compare that failed: an observation, not a change

    def describe(self) -> str:
        outcome = "" if self.certain else " (outcome unknown)"
        if self.mismatch:
            outcome = " (failed: the value was not the expected one)"
        return f"process {self.process} {self.f} {self.value!r}{outcome}"


def operation_of(
    number: int, paired: PairedOperation, key: Any, value: Any, certain: bool, mismatch: bool
) -> Operation:
    """The search's view of a paired operation: an uncertain one returns at
    infinity (it may take effect any time after its call)."""
    return Operation(
        number,
        paired.process,
        paired.f,
        key,
        value,
        float(paired.call),
        float(paired.ret) if certain and paired.ret is not None else math.inf,
        certain,
        mismatch,
    )


Step = Callable[[Any, Operation], tuple[bool, Any]]


@dataclass(slots=True)
class SearchResult:
    verdict: str
    steps: int
    prefix: list[Operation] = field(default_factory=list)
    blocked: Operation | None = None


@dataclass(slots=True)
class _Node:
    op: Operation | None
    is_call: bool
    prev: _Node | None = None
    next: _Node | None = None
    match: _Node | None = None  # a call's return node


def search(
    label: str,
    operations: list[Operation],
    step: Step,
    initial: Any,
    steps_max: int,
    freeze: Callable[[Any], Any] = lambda state: state,
) -> SearchResult:
    """Is there an order of `operations`, consistent with real time, in which
    `step` accepts each from `initial`? `label` names the object in errors.
    The cache holds `freeze(state)`, which must be hashable."""
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
                raise AssertionError(f"{label}: an operation lost its place in the search")
            part.prev.next = part.next
            if part.next is not None:
                part.next.prev = part.prev

    def unlift(node: _Node) -> None:
        for part in (node.match, node):
            if part is None or part.prev is None:
                raise AssertionError(f"{label}: an operation lost its place in the search")
            part.prev.next = part
            if part.next is not None:
                part.next.prev = part

    state: Any = initial
    linearized = 0
    cache: set[tuple[int, Any]] = set()
    stack: list[tuple[_Node, Any]] = []
    best: tuple[list[Operation], Operation | None] = ([], None)
    steps = 0
    entry = head.next
    while head.next is not None:
        steps += 1
        if steps > steps_max:
            return SearchResult(UNKNOWN, steps)
        op = entry.op if entry is not None else None
        if entry is None or op is None:
            raise AssertionError(f"{label}: the search ran off its list of events")
        if entry.is_call:
            ok, new_state = step(state, op)
            if ok:
                bit = 1 << ids[op.id]
                configuration = (linearized | bit, freeze(new_state))
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
                return SearchResult(INVALID, steps, *best)
            node, state = stack.pop()
            if node.op is None:
                raise AssertionError(f"{label}: the search stacked a node without operation")
            linearized &= ~(1 << ids[node.op.id])
            unlift(node)
            entry = node.next
    return SearchResult(VALID, steps)
