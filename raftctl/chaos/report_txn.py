"""The report's section on transactions across shards: one row per shard,
each transaction a bar on every shard it touched, from its prepare there to
its finish there (its lock-hold window), coloured by how it ended, with a
tick at its decision. A transaction whose coordinator died is finished by a
shard's resolver: its bars run to that moment, outlined, so a person sees it
survive the kill. One that classic 2PC's participants reported blocked is
dashed orange (in doubt). One whose shards finished it differently (3PC
under a partition) gets a red callout naming it and each shard's outcome.

Its inputs: OUT/txn-phases.jsonl (the coordinators' steps, monotonic time,
raftctl.txn.coordinator.PhaseLog) and the nodes' TxnResolved events (wall
time, turned into history time by the run's clock pair).
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["load_phases", "transactions_section"]

ROW_H = 30
LANES = 3
OUTCOME_COLOURS = {"committed": "#2e9d4a", "aborted": "#a9a9a9", "released": "#8cb9dd"}
RESOLVED_SHOWN_MAX = 30


@dataclass(slots=True)
class _Txn:
    prepared: dict[int, int] = field(default_factory=dict)  # shard -> first prepare
    finished: dict[int, tuple[int, str]] = field(default_factory=dict)  # shard -> (time, outcome)
    decided: tuple[int, int, str] | None = None  # (time, coordinator shard, outcome)
    resolved: tuple[int, str, str] | None = None  # (time, outcome, by node): the first
    resolved_on: dict[int, tuple[int, str]] = field(
        default_factory=dict
    )  # shard -> (time, outcome)
    blocked: dict[int, int] = field(default_factory=dict)  # shard -> when it said so (2pc-classic)

    def end_on(self, shard: int) -> tuple[int, str, bool] | None:
        """When and how `shard` finished it, and whether a resolver did."""
        if shard in self.finished:
            return (*self.finished[shard], False)
        if shard in self.resolved_on:
            return (*self.resolved_on[shard], True)
        if self.resolved is not None:  # a resolver finished it for every participant
            return (self.resolved[0], self.resolved[1], True)
        return None

    def outcomes(self) -> dict[int, str]:
        """How each shard finished it, as far as the run saw."""
        found = {}
        for shard in self.prepared:
            end = self.end_on(shard)
            if end is not None:
                found[shard] = end[1]
        return found

    @property
    def diverged(self) -> bool:
        """Committed on one shard and aborted on another: the atomicity broken."""
        return {"committed", "aborted"} <= set(self.outcomes().values())


def load_phases(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # a line torn by a coordinator killed mid-write
    return found


def _transactions(
    phases: list[dict[str, Any]],
    node_events: list[dict[str, Any]],
    to_history: Callable[[float], int] | None,
) -> dict[str, _Txn]:
    txns: dict[str, _Txn] = defaultdict(_Txn)
    for event in phases:
        txn, shard, moment = txns[str(event["txn"])], int(event["shard"]), int(event["time"])
        if event["phase"] == "prepare":
            txn.prepared.setdefault(shard, moment)
        elif event["phase"] == "decided":
            txn.decided = (moment, shard, str(event.get("outcome")))
        elif event["phase"] == "finished":
            txn.finished[shard] = (moment, str(event.get("outcome")))
    if to_history is not None:
        for event in node_events:
            name = event.get("event")
            if name not in ("TxnResolved", "TxnBlocked") or str(event.get("txn")) not in txns:
                continue
            txn = txns[str(event["txn"])]
            moment = to_history(float(event["time"]))
            node, shard = str(event.get("node")), int(event.get("shard") or 1)
            if name == "TxnBlocked":
                txn.blocked.setdefault(shard, moment)
                continue
            if event.get("coordinator") == 0:  # 3PC or classic 2PC: each shard for itself
                txn.resolved_on.setdefault(shard, (moment, str(event["outcome"])))
            elif txn.resolved is None or moment < txn.resolved[0]:
                txn.resolved = (moment, str(event["outcome"]), node)
    return txns


def transactions_section(
    phases: list[dict[str, Any]],
    node_events: list[dict[str, Any]],
    to_history: Callable[[float], int] | None,
    x: Callable[[float], float],
    width: float,
    left: float,
) -> tuple[str, list[str]]:
    """The section's HTML ("" for a run without transactions across shards),
    and each transaction whose shards finished it differently, in words."""
    txns = _transactions(phases, node_events, to_history)
    if not txns:
        return "", []
    split = [
        f"transaction {txn_id} finished "
        + ", ".join(f"{o} on shard {s}" for s, o in sorted(txn.outcomes().items()))
        for txn_id, txn in txns.items()
        if txn.diverged
    ]
    shards = sorted({shard for txn in txns.values() for shard in txn.prepared})
    height = len(shards) * ROW_H + 10
    e = html.escape
    parts = [
        f'<svg id="transactions-svg" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height}" viewBox="0 0 {width:.0f} {height}">'
    ]
    for row, shard in enumerate(shards):
        y = row * ROW_H
        parts.append(
            f'<text x="4" y="{y + ROW_H / 2 + 4}" font-size="11">shard {shard}</text>'
            f'<line x1="{left}" y1="{y + ROW_H}" x2="{width}" y2="{y + ROW_H}" stroke="#eee"/>'
        )
    row_of = {shard: row for row, shard in enumerate(shards)}
    resolved_rows = []
    for number, (txn_id, txn) in enumerate(
        sorted(txns.items(), key=lambda item: min(item[1].prepared.values(), default=0))
    ):
        lane = number % LANES
        for shard, start in txn.prepared.items():
            ended = txn.end_on(shard)
            if ended is None:
                continue  # never seen finished (the run ended first): nothing to draw to
            end, outcome, by_resolver = ended
            x0, x1 = x(start), x(end)
            y = row_of[shard] * ROW_H + 3 + lane * 8
            colour = OUTCOME_COLOURS.get(str(outcome), "#555")
            held = (end - start) / 1e6
            story = f"{txn_id} on shard {shard}: {outcome}; its locks held {held:.0f} ms"
            outline = ""
            if by_resolver:
                story += ", finished by a resolver (its coordinator went quiet)"
                outline = ' stroke="#d62728" stroke-width="1.2"'
            if shard in txn.blocked:
                story += ", in doubt: blocked, waiting for its coordinator"
                outline = ' stroke="#ff7f0e" stroke-width="2" stroke-dasharray="4 2"'
            parts.append(
                f'<rect class="txn{" in-doubt" if shard in txn.blocked else ""}" x="{x0:.1f}" '
                f'y="{y}" width="{max(1.5, x1 - x0):.1f}" height="6" fill="{colour}"{outline}>'
                f"<title>{e(story)}</title></rect>"
            )
        if txn.diverged:
            moment = max(end[0] for end in map(txn.end_on, txn.prepared) if end is not None)
            told = ", ".join(f"{o} on shard {s}" for s, o in sorted(txn.outcomes().items()))
            parts.append(
                f'<g class="callout diverged"><line x1="{x(moment):.1f}" y1="0" '
                f'x2="{x(moment):.1f}" y2="{height}" stroke="#d00" stroke-width="1.5"/>'
                f'<text x="{x(moment) + 4:.1f}" y="11" font-size="11" font-weight="bold" '
                f'fill="#d00">{e(f"diverged: {txn_id} {told}")}</text></g>'
            )
        if txn.decided is not None:
            moment, shard, outcome = txn.decided
            if shard in row_of:
                y = row_of[shard] * ROW_H + 1 + lane * 8
                parts.append(
                    f'<line class="decision" x1="{x(moment):.1f}" y1="{y}" x2="{x(moment):.1f}" '
                    f'y2="{y + 10}" stroke="#222"><title>{e(f"{txn_id} decided {outcome}")}'
                    "</title></line>"
                )
        if txn.resolved is not None or txn.resolved_on or txn.blocked:
            resolved_rows.append((txn_id, txn))
    parts.append("</svg>")
    legend = "".join(
        f'<span style="background:{colour}"></span>{name}'
        for name, colour in OUTCOME_COLOURS.items()
    )
    table = _resolved_table(resolved_rows)
    return (
        '<h2 id="transactions">Transactions across shards</h2>'
        f'<p class="legend">one row per shard; each transaction a bar from its prepare to '
        f"its finish on that shard, a tick at its decision: {legend}"
        '<span style="background:#fff;border:1px solid #d62728"></span>finished by a '
        "resolver after its coordinator went quiet"
        '<span style="background:#fff;border:2px dashed #ff7f0e"></span>in doubt: blocked '
        "until its coordinator came back (classic 2PC)</p>"
        f'<div id="transactions-wrap">{"".join(parts)}</div>{table}',
        split,
    )


def _resolved_table(rows: list[tuple[str, _Txn]]) -> str:
    """The transactions left in doubt: finished by a resolver, or blocked."""
    if not rows:
        return "<p>No transaction was left in doubt.</p>"
    e = html.escape
    lines = []
    for txn_id, txn in rows[:RESOLVED_SHOWN_MAX]:
        decided = txn.decided[2] if txn.decided else "none seen (it died deciding, or before)"
        ends = {shard: txn.end_on(shard) for shard in sorted(txn.prepared)}
        finished = "; ".join(
            f"shard {shard}: {end[1]}{' by a resolver' if end[2] else ''}"
            if end is not None else f"shard {shard}: never seen"
            for shard, end in ends.items()
        )  # fmt: skip
        held = max(
            ((end[0] - txn.prepared[shard]) / 1e6 for shard, end in ends.items() if end),
            default=0.0,
        )
        how = "blocked, then finished" if txn.blocked else "resolved"
        if txn.diverged:
            how = "DIVERGED"
        lines.append(
            f"<tr{' class=diverged' if txn.diverged else ''}><td>{e(txn_id)}</td>"
            f"<td>{e(how)}</td><td>{e(decided)}</td><td>{e(finished)}</td>"
            f"<td>{held:.0f} ms</td></tr>"
        )
    more = len(rows) - RESOLVED_SHOWN_MAX
    caption = f"<caption>and {more} more</caption>" if more > 0 else ""
    return (
        '<table id="resolved-table"><thead><tr><th>transaction in doubt</th><th>what became '
        "of it</th><th>its coordinator's decision</th><th>finished as</th><th>locks held "
        f"(longest)</th></tr></thead><tbody>{''.join(lines)}</tbody>{caption}</table>"
    )
