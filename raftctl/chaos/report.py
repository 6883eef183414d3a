"""report.html: one self-contained page that shows why a chaos run got its verdict.

Rules:
- One file, no server, no network: the styles, the SVG drawings and the little
  script that filters node events are all inline. It opens in any browser and
  still shows everything with scripts off (only the event search needs them).
- The verdict and the replay command come first; then the checkers; then the
  timeline: one row per client process, each operation a bar from its
  invocation to its completion (ok, fail and info in distinct colours; an
  info bar runs to the end, its outcome unknown), hover for the details; the
  fault windows and the leader of each moment with its term shaded behind.
- An invalid run's offending operations are outlined in red and labelled on
  the timeline, and the checker's explanation stands beside the drawing.
- Throughput (ok/s) and latency (p50, p99) over time, with the fault windows.
- Node events (from every node's events.jsonl), searchable.
- Node events carry wall time and the history monotonic time: the pair of
  clock readings in results.json lines them up. Without it the timeline has
  no leader band and events show wall time.
"""

from __future__ import annotations

import html
import json
import math
import statistics
from pathlib import Path
from typing import Any

from node.config import COORDINATOR_ID
from raftctl.chaos.checks import fault_windows
from raftctl.chaos.dueling import ballot_text
from raftctl.chaos.report_cap import not_promised_note, sides_section
from raftctl.chaos.report_paxos import ballots_section
from raftctl.chaos.report_txn import load_phases, transactions_section
from raftctl.judges.history import load_history
from raftctl.judges.operations import PairedOperation, pair_operations

__all__ = ["build_report", "load_node_events", "render_report"]

LEFT, RIGHT, PLOT_W = 90, 20, 1100
ROW_H, BAND_H, LABEL_H = 14, 18, 28  # fault labels on two staggered lines
CHART_H = 140
EVENTS_MAX = 20_000
COLOURS = {"ok": "#2e9d4a", "fail": "#e08a1e", "info": "#8d8d8d"}


def load_node_events(nodes_dir: Path) -> list[dict[str, Any]]:
    """Every node's events, in time order; lines torn by kill -9 are skipped."""
    found: list[dict[str, Any]] = []
    if not nodes_dir.is_dir():
        return found
    for path in sorted(nodes_dir.glob("*/events.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "time" in event:
                found.append(event)
    found.sort(key=lambda event: event["time"])
    return found


class _Scale:
    """History time (ns) to x pixels."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, max(end, start + 1)

    def x(self, moment: float) -> float:
        return LEFT + (moment - self.start) / (self.end - self.start) * PLOT_W

    def seconds(self, moment: float) -> float:
        return (moment - self.start) / 1e9


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _offending_indexes(results: dict[str, Any], ops: list[PairedOperation]) -> dict[int, str]:
    """Which operations the checkers point at, with a label for each."""
    marked: dict[int, str] = {}
    by_call = {(op.process, op.call): op for op in ops}
    by_ret = {(op.process, op.ret): op for op in ops}
    for check in results.get("checks", []):
        for item in check.get("offending", []):
            if "call" in item and "process" in item:  # linearizability: the blocked op
                op = by_call.get((item["process"], int(item["call"])))
                if op is not None:
                    shown = op.result if op.f == "read" else op.value
                    what = "nothing (absent)" if shown is None else _short(shown)
                    via = f" from {op.node}" if op.node else ""
                    marked[op.index] = f"cannot be placed: {op.f} {what}{via}"
            elif "time" in item and "process" in item:  # bank: a bad read
                op = by_ret.get((item["process"], item["time"]))
                if op is not None:
                    marked[op.index] = "bad read: " + "; ".join(item.get("why", []))[:80]
                # ... and the transfers since the last good read: the suspects.
                for suspect in item.get("suspects", []):
                    moved = by_ret.get((suspect.get("process"), suspect.get("time")))
                    if moved is not None and moved.index not in marked:
                        value = moved.value if isinstance(moved.value, dict) else {}
                        how = "outcome unknown" if moved.type == "info" else moved.type
                        marked[moved.index] = (
                            f"suspect: {value.get('amount')} from {value.get('from')} to "
                            f"{value.get('to')} ({how})"
                        )
            elif "lost" in item or "unexpected" in item:  # set
                element = item.get("lost", item.get("unexpected"))
                word = "lost" if "lost" in item else "unexpected"
                for op in ops:
                    if op.f == "add" and op.value == element:
                        marked[op.index] = f"{word}: {element}"
    return marked


def _leader_segments(
    node_events: list[dict[str, Any]], clock: dict[str, Any] | None, end: int
) -> list[tuple[int, int, str, int]]:
    """(start, end, leader, term) in history time, from BecameLeader events:
    a reign ends when that node changes role or another node becomes leader."""
    if not clock:
        return []

    def monotonic(wall: float) -> int:
        return int((wall - clock["wall"]) * 1e9 + clock["monotonic_ns"])

    segments: list[list[Any]] = []
    for event in node_events:
        moment = monotonic(event["time"])
        kind = event.get("event")
        if kind == "BecameLeader":
            if segments and segments[-1][1] is None:
                segments[-1][1] = moment
            segments.append([moment, None, event.get("node"), event.get("term")])
        elif (
            kind in ("BecameFollower", "BecameCandidate", "BecamePreCandidate")
            and segments
            and segments[-1][1] is None
            and segments[-1][2] == event.get("node")
        ):
            segments[-1][1] = moment
    return [(s, e if e is not None else end, n, t) for s, e, n, t in segments]


def _timeline(
    ops: list[PairedOperation],
    events: list[dict[str, Any]],
    scale: _Scale,
    leaders: list[tuple[int, int, str, int]],
    marked: dict[int, str],
    paxos: bool = False,
) -> str:
    processes = sorted(
        {op.process for op in ops},
        key=lambda p: (0, p, "") if isinstance(p, int) else (1, 0, str(p)),
    )
    row_of = {process: number for number, process in enumerate(processes)}
    top = LABEL_H + BAND_H + 6
    height = top + len(processes) * ROW_H + 30
    width = LEFT + PLOT_W + RIGHT
    parts = [
        f'<svg id="timeline-svg" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for number, (start, end, name) in enumerate(fault_windows(events)):
        x0, x1 = scale.x(start), scale.x(end)
        label_y = LABEL_H - 4 - (number % 2) * 12  # neighbours' labels never overlap
        parts.append(
            f'<g class="fault"><rect x="{x0:.1f}" y="{LABEL_H}" width="{max(1.0, x1 - x0):.1f}" '
            f'height="{height - LABEL_H - 24}" fill="#d62728" fill-opacity="0.09" '
            f'stroke="#d62728" stroke-opacity="0.35"/><text x="{x0 + 2:.1f}" y="{label_y}" '
            f'font-size="10" fill="#a01c1c">{_e(name)}</text><title>{_e(name)} from '
            f"{scale.seconds(start):.2f} s to {scale.seconds(end):.2f} s</title></g>"
        )
    for start, end, leader, term in leaders:
        x0, x1 = scale.x(max(start, scale.start)), scale.x(min(end, scale.end))
        if x1 <= x0:
            continue
        hue = (int(term or 0) * 47) % 360
        # Under Paxos a reign is a ballot (round.node), not a term.
        word, shown = ("ballot", ballot_text(term)) if paxos else ("term", term)
        label = f"{leader} {word[0]}{shown}" if x1 - x0 > 40 else ""
        parts.append(
            f'<g class="reign"><rect x="{x0:.1f}" y="{LABEL_H}" width="{x1 - x0:.1f}" '
            f'height="{BAND_H}" fill="hsl({hue},65%,82%)" stroke="#fff"/>'
            f'<text x="{x0 + 3:.1f}" y="{LABEL_H + 13}" font-size="10">{_e(label)}</text>'
            f"<title>{_e(leader)} leads in {word} {_e(shown)} from {scale.seconds(start):.2f} s"
            f"</title></g>"
        )
    band = "leader, ballot" if paxos else "leader, term"
    parts.append(f'<text x="4" y="{LABEL_H + 13}" font-size="10" fill="#555">{band}</text>')
    for process, number in row_of.items():
        y = top + number * ROW_H
        parts.append(
            f'<text x="4" y="{y + ROW_H - 4}" font-size="10" fill="#555">process {_e(process)}'
            "</text>"
        )
    labels = []
    for op in ops:
        y = top + row_of[op.process] * ROW_H
        x0 = scale.x(op.call)
        end = op.ret if op.ret is not None and op.type != "info" else scale.end
        bar = max(2.0, scale.x(end) - x0)
        colour = COLOURS.get(op.type, COLOURS["info"])
        faint = (
            ' fill-opacity="0.35" stroke-dasharray="2 2" stroke="#666"'
            if op.type
            in (
                "info",
                "open",
            )
            else ""
        )
        classes = f"op {op.type}" + (" offending" if op.index in marked else "")
        outline = ' stroke="#d00" stroke-width="3"' if op.index in marked else ""
        took = f"{(op.ret - op.call) / 1e6:.1f} ms" if op.ret is not None else "never answered"
        shown = op.result if op.f == "read" and op.type == "ok" else op.value
        title = (
            f"process {op.process}: {op.f} {op.key if op.key is not None else ''} "
            f"{_short(shown, 200)} → {op.type} ({took}) at {scale.seconds(op.call):.3f} s"
            f"{' via ' + op.node if op.node else ''}"
        )
        if op.index in marked:
            title += f"\nCHECKER: {marked[op.index]}"
            labels.append((x0, y, marked[op.index]))
        parts.append(
            f'<rect class="{classes}" data-i="{op.index}" x="{x0:.1f}" y="{y}" '
            f'width="{bar:.1f}" height="{ROW_H - 3}" fill="{colour}"{faint}{outline}>'
            f"<title>{_e(title)}</title></rect>"
        )
    for x0, y, text in labels[:20]:
        # A label near the right edge runs leftwards, so that it stays on the page.
        toward = -1 if x0 > LEFT + PLOT_W * 0.6 else 1
        anchor = ' text-anchor="end"' if toward < 0 else ""
        parts.append(
            f'<g class="callout"><line x1="{x0:.1f}" y1="{y - 2}" x2="{x0 + 12 * toward:.1f}" '
            f'y2="{y - 12}" stroke="#d00" stroke-width="1.5"/><text x="{x0 + 14 * toward:.1f}" '
            f'y="{y - 12}" font-size="11" font-weight="bold" fill="#d00"{anchor}>{_e(text)}</text>'
            "</g>"
        )
    parts.append(_axis(scale, top + len(processes) * ROW_H + 4))
    parts.append("</svg>")
    return "".join(parts)


def _transactions(
    phases: list[dict[str, Any]],
    node_events: list[dict[str, Any]],
    clock: dict[str, Any] | None,
    scale: _Scale,
) -> tuple[str, list[str]]:
    """raftctl.chaos.report_txn's section on this report's time axis, and the
    transactions whose shards finished them differently."""
    if not phases:
        return "", []

    def to_history(wall: float) -> int:
        return int((wall - clock["wall"]) * 1e9 + clock["monotonic_ns"]) if clock else 0

    section, split = transactions_section(
        phases, node_events, to_history if clock else None, scale.x, LEFT + PLOT_W + RIGHT, LEFT
    )
    if section:
        section += f'<svg width="{LEFT + PLOT_W + RIGHT}" height="24">{_axis(scale, 2)}</svg>'
    return section, split


def _axis(scale: _Scale, y: float) -> str:
    duration = scale.seconds(scale.end)
    steps = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300)
    step = next((s for s in steps if duration / s <= 15), 3600)
    parts = [
        f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + PLOT_W}" y2="{y}" stroke="#999"/>',
    ]
    tick = 0.0
    while tick <= duration + 1e-9:
        x = scale.x(scale.start + tick * 1e9)
        parts.append(
            f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#999"/>'
            f'<text x="{x:.1f}" y="{y + 15}" font-size="10" text-anchor="middle">'
            f"{round(tick, 3):g} s</text>"
        )
        tick += step
    return "".join(parts)


def _chart(
    chart_id: str,
    series: list[tuple[str, str, list[float | None]]],
    scale: _Scale,
    buckets: int,
    windows: list[tuple[int, int, str]],
    unit: str,
) -> str:
    values = [v for _, _, points in series for v in points if v is not None]
    peak = max(values, default=1.0) or 1.0
    width, height = LEFT + PLOT_W + RIGHT, CHART_H + 30
    parts = [
        f'<svg id="{chart_id}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for start, end, name in windows:
        x0, x1 = scale.x(start), scale.x(end)
        parts.append(
            f'<rect class="fault" x="{x0:.1f}" y="0" width="{max(1.0, x1 - x0):.1f}" '
            f'height="{CHART_H}" fill="#d62728" fill-opacity="0.09"><title>{_e(name)}</title>'
            "</rect>"
        )
    parts.append(
        f'<text x="4" y="12" font-size="10" fill="#555">{peak:.4g} {_e(unit)}</text>'
        f'<text x="4" y="{CHART_H}" font-size="10" fill="#555">0</text>'
    )
    span = (scale.end - scale.start) / buckets
    for name, colour, points in series:
        coordinates = []
        for number, value in enumerate(points):
            if value is None:
                continue
            x = scale.x(scale.start + (number + 0.5) * span)
            y = CHART_H - value / peak * (CHART_H - 16)
            coordinates.append(f"{x:.1f},{y:.1f}")
        parts.append(
            f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="1.6" '
            f'points="{" ".join(coordinates)}"><title>{_e(name)}</title></polyline>'
        )
    legend_x = LEFT + PLOT_W - 200
    for number, (name, colour, _) in enumerate(series):
        parts.append(
            f'<text x="{legend_x + number * 90}" y="12" font-size="11" fill="{colour}">'
            f"— {_e(name)}</text>"
        )
    parts.append(_axis(scale, CHART_H + 4))
    parts.append("</svg>")
    return "".join(parts)


def _rates(ops: list[PairedOperation], events: list[dict[str, Any]], scale: _Scale) -> str:
    duration_s = max(scale.seconds(scale.end), 1e-3)
    buckets = int(min(120, max(10, duration_s)))
    span = (scale.end - scale.start) / buckets
    done: list[list[float]] = [[] for _ in range(buckets)]
    for op in ops:
        if op.type == "ok" and op.ret is not None:
            bucket = min(buckets - 1, int((op.ret - scale.start) / span))
            done[bucket].append((op.ret - op.call) / 1e6)
    per_s: list[float | None] = [len(latencies) / (span / 1e9) for latencies in done]
    p50 = [statistics.median(b) if b else None for b in done]
    p99 = [sorted(b)[min(len(b) - 1, math.ceil(len(b) * 0.99) - 1)] if b else None for b in done]
    windows = fault_windows(events)
    return _chart(
        "throughput", [("ok/s", "#2e9d4a", per_s)], scale, buckets, windows, "ok/s"
    ) + _chart(
        "latency",
        [("p50", "#1f77b4", p50), ("p99", "#9467bd", p99)],
        scale,
        buckets,
        windows,
        "ms",
    )


def _checks(results: dict[str, Any]) -> str:
    rows = []
    for check in results.get("checks", []):
        verdict = check.get("verdict", "?")
        rows.append(
            f'<tr class="check {_e(verdict)}"><td>{_e(check.get("checker"))}</td>'
            f'<td class="verdict-cell">{_e(verdict)}</td>'
            f"<td><pre>{_e(check.get('explanation', ''))}</pre>"
            + (f"<p><em>{_e(note)}</em></p>" if (note := not_promised_note(check)) else "")
            + "</td></tr>"
        )
    notes = "".join(f"<li>{_e(note)}</li>" for note in results.get("notes", []))
    return (
        '<table id="checks"><thead><tr><th>checker</th><th>verdict</th><th>why</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        + (f'<ul id="notes">{notes}</ul>' if notes else "")
    )


def _faults_table(results: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{_e(f.get('start_s', ''))}</td><td>{_e(f.get('hold_s', ''))}</td>"
        f"<td>{_e(f.get('kind'))}</td><td>{_e(f.get('target', ''))}</td>"
        f"<td><code>{_e(json.dumps(f.get('detail', {})))}</code></td></tr>"
        for f in results.get("faults", [])
    )
    return (
        '<table id="faults"><thead><tr><th>start (s)</th><th>held (s)</th><th>kind</th>'
        f"<th>target</th><th>what was done</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _events_table(
    node_events: list[dict[str, Any]], clock: dict[str, Any] | None, scale: _Scale
) -> str:
    rows = []
    for event in node_events[:EVENTS_MAX]:
        if clock:
            moment = (event["time"] - clock["wall"]) * 1e9 + clock["monotonic_ns"]
            when = f"{scale.seconds(moment):.3f} s"
        else:
            when = f"{event['time']:.3f}"
        rows.append(
            f"<tr><td>{when}</td><td>{_e(event.get('node'))}</td><td>{_e(event.get('event'))}"
            f"</td><td>{_e(event.get('text', ''))}</td></tr>"
        )
    cut = len(node_events) - EVENTS_MAX
    note = f"<p>The first {EVENTS_MAX} of {len(node_events)} events.</p>" if cut > 0 else ""
    return (
        '<input id="event-search" type="search" placeholder="search node events '
        '(e.g. leader, snapshot, n3)" size="50"> <span id="event-count"></span>'
        f'{note}<table id="event-table"><thead><tr><th>time</th><th>node</th><th>event</th>'
        f"<th>what happened</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; margin: 0 0 .3em; } h2 { font-size: 1.15em; margin: 1.6em 0 .4em; }
.verdict { display: inline-block; padding: .15em .6em; border-radius: 4px; color: #fff;
  font-weight: bold; letter-spacing: .04em; }
.verdict.valid { background: #2e9d4a; } .verdict.invalid { background: #d00; }
.verdict.unknown, .verdict.unavailable { background: #e08a1e; }
code, pre { font: 12px ui-monospace, monospace; white-space: pre-wrap; margin: 0; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #ddd; padding: 2px 8px;
  text-align: left; vertical-align: top; }
tr.check.invalid td { background: #fde8e8; } tr.check.valid .verdict-cell { color: #2e9d4a; }
.legend span { display: inline-block; width: 12px; height: 10px; margin: 0 4px 0 12px; }
#timeline-wrap { overflow-x: auto; border: 1px solid #eee; }
#op-detail { font: 12px ui-monospace, monospace; min-height: 1.4em; color: #333; }
#event-table { font-size: 12px; } #event-table td:first-child { white-space: nowrap; }
.figures td:first-child { color: #555; }
"""

_SCRIPT = """
(function () {
  var input = document.getElementById('event-search');
  var rows = Array.prototype.slice.call(document.querySelectorAll('#event-table tbody tr'));
  var count = document.getElementById('event-count');
  function filter() {
    var query = input.value.toLowerCase(), shown = 0;
    rows.forEach(function (row) {
      var keep = !query || row.textContent.toLowerCase().indexOf(query) >= 0;
      row.style.display = keep ? '' : 'none';
      if (keep) { shown += 1; }
    });
    count.textContent = shown + ' of ' + rows.length + ' events';
  }
  input.addEventListener('input', filter);
  filter();
  var detail = document.getElementById('op-detail');
  document.getElementById('timeline-svg').addEventListener('mouseover', function (event) {
    var op = event.target.closest ? event.target.closest('.op') : null;
    if (op) { detail.textContent = op.querySelector('title').textContent; }
  });
  document.body.setAttribute('data-ready', '1');
})();
"""

_ERRORS = """
window.addEventListener('error', function (event) {
  document.body.setAttribute('data-errors',
    (document.body.getAttribute('data-errors') || '') + event.message + ';');
});
"""


def render_report(
    results: dict[str, Any],
    events: list[dict[str, Any]],
    node_events: list[dict[str, Any]],
    phases: list[dict[str, Any]] | None = None,
) -> str:
    ops = pair_operations(events)
    times = [int(event["time"]) for event in events] or [0, 1]
    scale = _Scale(min(times), max(times))
    clock = results.get("clock")
    leaders = _leader_segments(node_events, clock, scale.end)
    paxos = results.get("protocol") == "paxos"
    marked = _offending_indexes(results, ops)
    verdict = str(results.get("verdict", "unknown"))
    counts = {kind: sum(1 for op in ops if op.type == kind) for kind in ("ok", "fail", "info")}
    figures = results.get("availability") or {}
    latency = figures.get("latency_ms") or {}
    title = f"{results.get('control') or results.get('workload', 'history')} — {verdict.upper()}"
    figure_rows = [
        ("workload", results.get("workload")),
        ("nodes", results.get("nodes")),
        ("shards", results.get("shards") if (results.get("shards") or 1) > 1 else None),
        ("duration", f"{scale.seconds(scale.end):.1f} s of history"),
        ("operations", f"{counts['ok']} ok, {counts['fail']} fail, {counts['info']} info"),
        ("ok/s", figures.get("ok_per_s")),
        ("ok/s under faults", figures.get("ok_per_s_during_faults")),
        ("latency p50 / p99", f"{latency.get('p50')} / {latency.get('p99')} ms"),
        ("recovery after healing", figures.get("recovery_s")),
        ("seed", results.get("seed")),
    ]
    txn = figures.get("transactions")
    if txn:
        figure_rows += [
            (
                "transfers across / within shards",
                f"{txn['cross_shard_per_s']} / {txn['single_shard_per_s']} ok/s",
            ),
            ("commit protocol", txn.get("txn_protocol")),
            ("coordinators killed", txn["coordinators_killed"]),
            ("in doubt, finished by a resolver", txn["in_doubt_resolved"]),
            ("in doubt, blocked (classic 2PC)", txn.get("in_doubt_blocked")),
            ("longest lock hold", f"{txn['longest_lock_hold_ms']} ms"),
        ]
    figure_html = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(value)}</td></tr>"
        for name, value in figure_rows
        if value is not None
    )
    offending_note = ""
    if marked:
        first = min(marked)
        offending_note = (
            f'<p id="offending-note"><b>{len(marked)} operation(s) outlined in red</b>; the first '
            f"at {scale.seconds(ops[first].call):.3f} s on the row of process "
            f"{_e(ops[first].process)}: {_e(marked[first])}.</p>"
        )
    transactions, split = _transactions(phases or [], node_events, clock, scale)
    if split:
        offending_note += (
            '<p id="diverged-note" class="callout-text"><b>The shards disagree:</b> '
            + "; ".join(_e(line) for line in split[:5])
            + " (see Transactions across shards below).</p>"
        )
    legend = "".join(
        f'<span style="background:{colour}"></span>{kind}' for kind, colour in COLOURS.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>raftctl chaos: {_e(title)}</title>
<style>{_STYLE}</style>
<script>{_ERRORS}</script>
</head><body>
<h1>raftctl chaos <span class="verdict {_e(verdict)}" id="verdict">{_e(verdict.upper())}</span></h1>
<p>Replay: <code id="replay">{_e(results.get("replay", ""))}</code></p>
<table class="figures">{figure_html}</table>
<h2>Checkers</h2>
{_checks(results)}
{offending_note}
<h2>Timeline</h2>
<p class="legend">one row per client process; a bar from invocation to completion:
{legend}<span style="background:#d62728;opacity:.25"></span>fault in force
<span style="background:hsl(47,65%,82%)"></span>leader and {"ballot" if paxos else "term"}</p>
<div id="op-detail">hover over an operation</div>
<div id="timeline-wrap">{_timeline(ops, events, scale, leaders, marked, paxos)}</div>
{ballots_section(results, scale) if paxos else ""}
{transactions}
{sides_section(results)}
<h2>Throughput and latency</h2>
{_rates(ops, events, scale)}
<h2>Faults</h2>
{_faults_table(results)}
<h2>Node events</h2>
{_events_table(node_events, clock, scale)}
<script>{_SCRIPT}</script>
</body></html>
"""


def build_report(
    out: Path, results: dict[str, Any] | None = None, history: Path | None = None
) -> Path:
    """Write OUT/report.html from OUT's results.json, history.jsonl and nodes/."""
    if results is None:
        results_path = out / "results.json"
        results = json.loads(results_path.read_text()) if results_path.exists() else {}
    events = load_history(history or out / "history.jsonl")
    node_events = load_node_events(out / "nodes")
    # The coordinators' steps: chaos's own (2pc), and the coordinator process's.
    phases = load_phases(out / "txn-phases.jsonl") + load_phases(
        out / "nodes" / COORDINATOR_ID / "phases.jsonl"
    )
    page = out / "report.html"
    page.write_text(render_report(results, events, node_events, phases))
    return page
