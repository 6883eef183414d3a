"""The bank checker: ACID consistency as the founding notes tell it.

Accounts hold integer balances; transfers move money between them inside one
transaction; a read returns every balance at one point of the log.

History events (DESIGN.md's shape): `{"process", "type", "f", "key": null,
"value", "time"}` with f `transfer` (value `{"from", "to", "amount"}`, and on
its completion `"expected": {from: balance, to: balance}`, the balances its
transaction compared) or `read` (value on `ok`: `{account: balance}`).

Two checks:
- The reads (cheap, and the clearest explanation): every `ok` read holds
  every account, each an integer, summing to the initial total, none
  negative. A read that lacks an account or holds a null balance is a bad
  read, not a crash.
- The transfers (with the initial balances): the whole bank is one object,
  and the history must be linearizable against it (raftctl.judges.search).
  An `ok` transfer took effect exactly once, where its compared balances
  held; a transfer whose comparison failed (`"error": "mismatch"`) changed
  nothing, and the balances it compared did not both hold at some moment
  inside it; an `info` transfer took effect once or never; every `ok` read
  saw exactly the state at its place. So a transfer applied twice, applied
  although its comparison failed, or lost, is caught even when every read
  sums to the total. What this cannot see: a transfer that failed before its
  transaction (no answer, or too little money) leaves no mark, and money
  moved without any transfer between two reads that both look right.
  Cost: one search over the whole history (no per-key split), bounded by a
  step budget that ends in "unknown", never "valid".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raftctl.judges.operations import pair_operations
from raftctl.judges.search import Operation, operation_of, search
from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID

__all__ = ["BANK_CHECK_STEPS", "BankResult", "check_bank"]

PROBLEMS_SHOWN = 5
BANK_CHECK_STEPS = 2_000_000
_MISMATCH = "mismatch"

State = tuple[tuple[str, int], ...]


@dataclass(slots=True)
class BankResult:
    verdict: str
    reads: int
    transfers_ok: int
    problems: list[str] = field(default_factory=list)
    # The bad reads themselves, for a report to point at: process, time, why.
    bad_reads: list[dict[str, Any]] = field(default_factory=list)
    # The transfers' check: its verdict (None when not run), its search steps,
    # and, when invalid, the operation that could not be placed.
    transfers_verdict: str | None = None
    transfers_checked: int = 0
    steps: int = 0
    blocked: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return self.verdict == VALID

    def explain(self) -> str:
        if self.verdict == UNKNOWN:
            if not self.reads:
                return "bank: unknown, no read of the balances succeeded"
            return (
                f"bank: unknown, {self.reads} reads are right but the transfers' search ran "
                f"out of budget after {self.steps} steps"
            )
        if self.verdict == VALID:
            transfers = (
                f"; those, the failed comparisons and the unknown ones, "
                f"{self.transfers_checked} transfers in all, and the reads are linearizable"
                if self.transfers_verdict == VALID
                else ""
            )
            return (
                f"bank: {self.reads} reads all sum to the total, no balance negative "
                f"({self.transfers_ok} transfers acknowledged{transfers})"
            )
        lines = []
        if self.problems:
            shown = "; ".join(self.problems[:PROBLEMS_SHOWN])
            more = len(self.problems) - PROBLEMS_SHOWN
            lines.append(
                f"bank: {len(self.problems)} bad reads: {shown}"
                + (f" (and {more} more)" if more > 0 else "")
            )
        if self.transfers_verdict == INVALID and self.blocked is not None:
            lines.append(
                "bank: no order of the transfers explains the reads: "
                f"{_describe(self.blocked)} cannot be placed after the longest "
                "linearizable prefix"
            )
        return "\n".join(lines)


def check_bank(
    events: Iterable[Mapping[str, Any]],
    total: int,
    initial: Mapping[str, int] | None = None,
    steps_max: int = BANK_CHECK_STEPS,
) -> BankResult:
    """Judge a bank history whose accounts started with `total` in all; with
    `initial` (each account's first balance) judge the transfers too."""
    events = list(events)
    accounts = sorted(initial) if initial is not None else None
    reads = transfers_ok = 0
    problems: list[str] = []
    bad_reads: list[dict[str, Any]] = []
    began = next((int(e["time"]) for e in events if isinstance(e.get("time"), int)), 0)
    # Transfers that ended since the last read that looked right: the
    # suspects when the next read does not (those of unknown outcome first).
    since_good: list[Mapping[str, Any]] = []
    for event in events:
        if event.get("f") == "transfer" and event.get("type") in ("ok", "info"):
            since_good.append(event)
        if event.get("type") != "ok":
            continue
        if event.get("f") == "transfer":
            transfers_ok += 1
        elif event.get("f") == "read":
            reads += 1
            bad = _read_problems(event, total, accounts, began)
            if not bad:
                since_good = []
                continue
            suspects = sorted(since_good, key=lambda e: e.get("type") != "info")
            named = [_transfer_words(e) for e in suspects[:3]]
            if named:
                bad = [*bad[:-1], f"{bad[-1]}; the transfers since the last good read: "
                       + "; ".join(named)]  # fmt: skip
            problems.extend(bad)
            bad_reads.append({
                "process": event.get("process"),
                "time": event.get("time"),
                "at_s": _seconds(event.get("time"), began),
                "why": bad,
                "suspects": [dict(e) for e in suspects[:3]],
            })  # fmt: skip
    result = BankResult(UNKNOWN, reads, transfers_ok, problems, bad_reads)
    if problems:
        result.verdict = INVALID
        return result
    if not reads:
        return result
    if initial is None:
        result.verdict = VALID
        return result
    operations = _operations(events)
    if operations is None:  # a history recorded before transfers carried their balances
        result.verdict = VALID
        return result
    found = search("the bank", operations, _step, _freeze(initial), steps_max)
    result.transfers_verdict, result.steps = found.verdict, found.steps
    result.transfers_checked = sum(1 for op in operations if op.f == "transfer")
    if found.blocked is not None:
        op = found.blocked
        result.blocked = {
            "process": op.process,
            "f": op.f,
            "value": op.value,
            "call": op.call,
            "ret": None if op.ret == math.inf else op.ret,
            "certain": op.certain,
            "mismatch": op.mismatch,
        }
    result.verdict = found.verdict
    return result


def _seconds(time: Any, began: Any) -> float | None:
    if not isinstance(time, int) or not isinstance(began, int):
        return None
    return round((time - began) / 1e9, 3)


def _transfer_words(event: Mapping[str, Any]) -> str:
    """A transfer for the explanation: what, by whom, how it ended."""
    recorded = event.get("value")
    value: Mapping[str, Any] = recorded if isinstance(recorded, Mapping) else {}
    how = "outcome unknown" if event.get("type") == "info" else "acknowledged"
    return (
        f"{value.get('amount')} from {value.get('from')} to {value.get('to')} by process "
        f"{event.get('process')} ({how})"
    )


def _read_problems(
    event: Mapping[str, Any], total: int, accounts: list[str] | None, began: int = 0
) -> list[str]:
    balances = event.get("value")
    at = _seconds(event.get("time"), began)
    when = f"the read by process {event.get('process')}" + (f" at +{at:g} s" if at else "")
    if not isinstance(balances, Mapping):
        return [f"{when} read {balances!r}, not balances"]
    found = []
    if accounts is not None and sorted(balances) != accounts:
        found.append(f"{when} read accounts {sorted(balances)}, not {accounts}")
    not_numbers = sorted(a for a, b in balances.items() if not isinstance(b, int))
    if not_numbers:
        return [*found, f"{when} read no balance for {', '.join(map(str, not_numbers))}"]
    seen_total = sum(balances.values())
    if seen_total != total:
        found.append(f"{when} read a total of {seen_total}, not {total}: {dict(balances)}")
    negative = sorted(account for account, balance in balances.items() if balance < 0)
    if negative:
        found.append(f"{when} read negative balances in {', '.join(negative)}")
    return found


def _operations(events: list[Mapping[str, Any]]) -> list[Operation] | None:
    """The bank's operations for the search; None if a transfer that may have
    happened lacks the balances it compared."""
    operations: list[Operation] = []
    for paired in pair_operations(events):
        kind = "info" if paired.type == "open" else paired.type
        mismatch = kind == "fail" and paired.error == _MISMATCH
        if paired.f == "read":
            if kind != "ok":
                continue  # a read that failed or timed out saw nothing
            value: Any = _freeze(paired.result)
        elif paired.f == "transfer":
            if kind == "fail" and not mismatch:
                continue  # it never reached its transaction
            recorded = paired.result if isinstance(paired.result, Mapping) else {}
            expected = recorded.get("expected")
            if not isinstance(expected, Mapping):
                return None
            source, target = recorded["from"], recorded["to"]
            value = (source, target, recorded["amount"], expected[source], expected[target])
        else:
            continue
        certain = kind == "ok" or mismatch
        operations.append(operation_of(len(operations), paired, None, value, certain, mismatch))
    return operations


def _step(state: State, op: Operation) -> tuple[bool, State]:
    if op.f == "read":
        return state == op.value, state
    source, target, amount, had, other_had = op.value
    balances = dict(state)
    holds = balances.get(source) == had and balances.get(target) == other_had
    if op.mismatch:
        return not holds, state
    if not holds:
        return not op.certain, state  # an unknown transfer may never have run
    balances[source] = had - amount
    balances[target] = other_had + amount
    return True, _freeze(balances)


def _freeze(balances: Mapping[str, Any]) -> State:
    return tuple(sorted(balances.items()))


def _describe(blocked: Mapping[str, Any]) -> str:
    if blocked["f"] == "read":
        return f"process {blocked['process']}'s read of {dict(blocked['value'])}"
    source, target, amount, had, other_had = blocked["value"]
    how = (
        " (failed: the balances were not those)"
        if blocked["mismatch"]
        else ""
        if blocked["certain"]
        else " (outcome unknown)"
    )
    return (
        f"process {blocked['process']}'s transfer of {amount} from {source} ({had}) to "
        f"{target} ({other_had}){how}"
    )
