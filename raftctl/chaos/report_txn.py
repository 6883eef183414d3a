"""The report's section on transactions across shards: one row per shard,
each transaction a bar on every shard it touched, from its prepare there to
its finish there, coloured by how it ended, with a tick at its decision. A
transaction whose coordinator died is finished by a shard's resolver: its
bars run to that moment, outlined, so a person sees it survive the kill.

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
    resolved: tuple[int, str, str] | None = None  # (time, outcome, by node)


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
            if event.get("event") == "TxnResolved" and str(event.get("txn")) in txns:
                txn = txns[str(event["txn"])]
                moment = to_history(float(event["time"]))
                if txn.resolved is None or moment < txn.resolved[0]:
                    txn.resolved = (moment, str(event["outcome"]), str(event.get("node")))
    return txns


def transactions_section(
    phases: list[dict[str, Any]],
    node_events: list[dict[str, Any]],
    to_history: Callable[[float], int] | None,
    x: Callable[[float], float],
    width: float,
    left: float,
) -> str:
    """The section's HTML, or "" for a run without transactions across shards."""
    txns = _transactions(phases, node_events, to_history)
    if not txns:
        return ""
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
            end, outcome = txn.finished.get(shard, (None, None))
            by_resolver = end is None and txn.resolved is not None
            if by_resolver and txn.resolved is not None:
                end, outcome = txn.resolved[0], txn.resolved[1]
            if end is None:
                continue  # never seen finished (the run ended first): nothing to draw to
            x0, x1 = x(start), x(end)
            y = row_of[shard] * ROW_H + 3 + lane * 8
            colour = OUTCOME_COLOURS.get(str(outcome), "#555")
            story = f"{txn_id} on shard {shard}: {outcome}"
            if by_resolver and txn.resolved is not None:
                story += f", finished by the resolver on {txn.resolved[2]} (its coordinator died)"
            outline = ' stroke="#d62728" stroke-width="1.2"' if by_resolver else ""
            parts.append(
                f'<rect class="txn" x="{x0:.1f}" y="{y}" width="{max(1.5, x1 - x0):.1f}" '
                f'height="6" fill="{colour}"{outline}><title>{e(story)}</title></rect>'
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
        if txn.resolved is not None:
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
        "resolver after its coordinator died</p>"
        f'<div id="transactions-wrap">{"".join(parts)}</div>{table}'
    )


def _resolved_table(rows: list[tuple[str, _Txn]]) -> str:
    if not rows:
        return "<p>No transaction needed a resolver.</p>"
    e = html.escape
    lines = []
    for txn_id, txn in rows[:RESOLVED_SHOWN_MAX]:
        start = min(txn.prepared.values(), default=0)
        assert txn.resolved is not None
        held = (txn.resolved[0] - start) / 1e6
        decided = txn.decided[2] if txn.decided else "none (died before deciding)"
        lines.append(
            f"<tr><td>{e(txn_id)}</td><td>{e(','.join(map(str, sorted(txn.prepared))))}</td>"
            f"<td>{e(decided)}</td><td>{e(txn.resolved[1])} by {e(txn.resolved[2])}</td>"
            f"<td>{held:.0f} ms</td></tr>"
        )
    more = len(rows) - RESOLVED_SHOWN_MAX
    caption = f"<caption>and {more} more</caption>" if more > 0 else ""
    return (
        '<table id="resolved-table"><thead><tr><th>transaction</th><th>shards</th>'
        "<th>its coordinator's decision</th><th>finished as</th><th>locks held</th></tr>"
        f"</thead><tbody>{''.join(lines)}</tbody>{caption}</table>"
    )
