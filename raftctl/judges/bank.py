"""The bank checker: ACID consistency as the founding notes tell it.

Accounts hold integer balances; transfers move money between them inside one
transaction; a read returns every balance at one point of the log. Whatever
the faults, money is neither made nor lost: every successful read sums to the
initial total, and no balance is ever negative (a transfer that would
overdraw must fail as a whole).

History events (DESIGN.md's shape): `{"process", "type", "f", "key": null,
"value", "time"}` with f `transfer` (value `{"from", "to", "amount"}`) or
`read` (value on `ok`: `{account: balance}`). Only `ok` reads are judged;
transfers are judged through the reads (an `info` transfer may or may not
have happened, and either way the total stays).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID

__all__ = ["BankResult", "check_bank"]

PROBLEMS_SHOWN = 5


@dataclass(slots=True)
class BankResult:
    verdict: str
    reads: int
    transfers_ok: int
    problems: list[str] = field(default_factory=list)
    # The bad reads themselves, for a report to point at: process, time, why.
    bad_reads: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.verdict == VALID

    def explain(self) -> str:
        if self.verdict == VALID:
            return (
                f"bank: {self.reads} reads all sum to the total, no balance negative "
                f"({self.transfers_ok} transfers acknowledged)"
            )
        if self.verdict == UNKNOWN:
            return "bank: unknown, no read of the balances succeeded"
        shown = "; ".join(self.problems[:PROBLEMS_SHOWN])
        more = len(self.problems) - PROBLEMS_SHOWN
        return f"bank: {len(self.problems)} bad reads: {shown}" + (
            f" (and {more} more)" if more > 0 else ""
        )


def check_bank(events: Iterable[Mapping[str, Any]], total: int) -> BankResult:
    """Judge a bank history whose accounts started with `total` in all."""
    reads = transfers_ok = 0
    problems: list[str] = []
    bad_reads: list[dict[str, Any]] = []
    for event in events:
        if event.get("type") != "ok":
            continue
        if event.get("f") == "transfer":
            transfers_ok += 1
        elif event.get("f") == "read":
            reads += 1
            balances = event.get("value")
            if not isinstance(balances, Mapping):
                problems.append(f"process {event.get('process')} read {balances!r}, not balances")
                continue
            seen_total = sum(balances.values())
            negative = sorted(account for account, balance in balances.items() if balance < 0)
            when = f"process {event.get('process')} at {event.get('time')}"
            found = []
            if seen_total != total:
                found.append(f"{when} read a total of {seen_total}, not {total}: {balances}")
            if negative:
                found.append(f"{when} read negative balances in {', '.join(negative)}")
            if found:
                problems.extend(found)
                bad_reads.append(
                    {"process": event.get("process"), "time": event.get("time"), "why": found}
                )
    verdict = INVALID if problems else VALID if reads else UNKNOWN
    return BankResult(verdict, reads, transfers_ok, problems, bad_reads)
