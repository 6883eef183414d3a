"""`raftctl chaos --compare raft,gossip` (or raft,paxos): one seed, one
fault schedule, two fresh clusters one after the other, and one
side-by-side verdict: the founding notes' CAP section as an experiment, or
Raft against the Paxos it is the understandable version of.

Rules:
- Each run is an ordinary chaos run in OUT/<protocol>/ (its own cluster,
  history, results.json and report.html: --dir is not used). With gossip in
  the pair the clients are homed and the schedule leaderless
  (raftctl.chaos.options); raft against paxos runs every nemesis, leader
  faults included, on both. Either way both clusters meet the very same
  faults, the same node ids hit the same way.
- Each column has the verdicts, throughput, latency (p50, p99) and the
  failover windows (time without an established leader, from the run's
  monitor: raftctl.chaos.dueling.leadership_figures).
- OUT/results.json holds the comparison: per protocol its verdict, whether
  it kept its own promise, its availability on each side of every
  partition, the first operation the linearizability checker could not
  place (for gossip, a stale read), how long until the cluster was whole
  again (gossip: until the replicas agreed; raft: until a write got
  through), and its lost writes. OUT/report.html shows them side by side.
- A protocol keeps its promise when every check is valid, except those it
  never made: gossip does not promise linearizability (that check is
  marked expected_to_fail). Exit 0 when both kept theirs, 1 when one
  broke it, 3 when a cluster never came up or back; Ctrl-C ends the run
  under way as any chaos run ends, and no comparison is made (exit 130).
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable
from typing import Any

from raftctl.chaos.options import CHAOS_PROTOCOLS, ChaosOptions
from raftctl.chaos.run import EXIT_INVALID, EXIT_UNAVAILABLE, ChaosRun, write_results
from raftctl.errors import Interrupted, UsageError
from raftctl.judges.verdicts import VALID

__all__ = ["compare_summary", "parse_compare", "run_compare"]

Progress = Callable[[str, bool], None]


def parse_compare(text: str) -> tuple[str, str]:
    """`raft,gossip` -> the two protocols; a mistake is a UsageError."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if len(names) != 2 or len(set(names)) != 2 or not set(names) <= set(CHAOS_PROTOCOLS):
        raise UsageError(
            f"--compare takes two different protocols of {', '.join(CHAOS_PROTOCOLS)}, "
            f"like raft,gossip or raft,paxos, not {text!r}"
        )
    return names[0], names[1]


def run_compare(options: ChaosOptions, progress: Progress) -> tuple[int, dict[str, Any]]:
    """Both runs, then the comparison (written to OUT/results.json and report.html)."""
    if options.compared is None:
        raise AssertionError("run_compare needs options.compared")
    protocols = parse_compare(options.compared)
    # Two fresh clusters under OUT, always: a --dir (or RAFTCTL_DIR) is not used.
    options = dataclasses.replace(options, cluster_dir=None)
    if options.out.exists() and any(options.out.iterdir()):
        raise UsageError(f"{options.out} already holds a run: choose another --out")
    runs: dict[str, dict[str, Any]] = {}
    for protocol in protocols:
        progress(f"--compare: the {protocol} cluster ({options.out / protocol})", True)
        one = dataclasses.replace(options, protocol=protocol, out=options.out / protocol)
        run = ChaosRun(one, progress)
        run.run()
        if run.results is None:
            raise AssertionError("a chaos run returned without its results")
        runs[protocol] = run.results
        if run.interrupted:  # Ctrl-C: this run healed and was judged; no second one
            raise Interrupted(
                f"interrupted: the {protocol} run was judged ({options.out / protocol}), "
                "there is no comparison"
            )
    columns = {protocol: _column(protocol, runs[protocol]) for protocol in protocols}
    unavailable = [p for p in protocols if runs[p]["verdict"] == "unavailable"]
    broken = [p for p in protocols if not columns[p]["kept_promise"]]
    code = EXIT_UNAVAILABLE if unavailable else EXIT_INVALID if broken else 0
    results = {
        "ok": code == 0,
        "compare": list(protocols),
        "exit_code": code,
        "seed": options.seed,
        "workload": options.workload,
        "nodes": options.nodes,
        "duration_s": options.duration_s,
        "nemesis": runs[protocols[0]]["nemesis"],
        "schedule": runs[protocols[0]]["schedule"],
        "replay": options.replay_command(),
        "out": str(options.out),
        "columns": columns,
        "partitions": _partitions(protocols, columns),
    }
    write_results(options.out, results)
    (options.out / "report.html").write_text(render_comparison(results))
    return code, results


def _column(protocol: str, results: dict[str, Any]) -> dict[str, Any]:
    """One protocol's side of the comparison, from its results.json."""
    checks = {check["checker"]: check for check in results.get("checks", [])}
    expected = [name for name, c in checks.items() if c["details"].get("expected_to_fail")]
    kept = results["verdict"] != "unavailable" and all(
        check["verdict"] == VALID or name in expected for name, check in checks.items()
    )
    figures = results.get("availability") or {}
    linear = checks.get("linearizability")
    first_stale = dict(linear["offending"][0]) if linear and linear["offending"] else None
    if first_stale is not None and figures.get("run_start_ns") is not None:
        first_stale["at_s"] = round((first_stale["call"] - figures["run_start_ns"]) / 1e9, 2)
    converged = checks.get("convergence")
    lost = checks.get("lost-writes")
    return {
        "protocol": protocol,
        "verdict": results["verdict"],
        "kept_promise": kept,
        "not_promised": expected,
        "checks": {name: check["verdict"] for name, check in checks.items()},
        "linearizability": _first_line(linear["explanation"]) if linear else None,
        "first_unplaceable": first_stale,
        "ok_per_s": figures.get("ok_per_s"),
        "ok_per_s_during_faults": figures.get("ok_per_s_during_faults"),
        "latency_ms": figures.get("latency_ms") or {},
        "leadership": figures.get("leadership") or {},
        "by_side": figures.get("by_side", []),
        "whole_again_s": (
            converged["details"].get("seconds") if converged else figures.get("recovery_s")
        ),
        "whole_again_means": (
            "replicas agreed after the heal" if converged else "first write after the heal"
        ),
        "lost_writes": lost["details"] if lost else None,
        "operations": results.get("operations", {}),
        "report": f"{protocol}/report.html",
    }


def _first_line(text: str) -> str:
    lines = text.splitlines()
    more = f" (and {len(lines) - 1} more keys)" if len(lines) > 1 else ""
    return (lines[0] if lines else "") + more


def _stale(op: dict[str, Any] | None) -> str:
    """The first operation the linearizability checker could not place, for people."""
    if op is None:
        return "-"
    at = f" at {op['at_s']:g} s" if op.get("at_s") is not None else ""
    return f"process {op['process']} {op['f']} {op['key']} = {op['value']!r}{at}"


def _partitions(protocols: tuple[str, str], columns: dict[str, Any]) -> list[dict[str, Any]]:
    """Each partition once, with each protocol's ok/s on each of its sides."""
    rows = []
    first, second = (columns[p]["by_side"] for p in protocols)
    for a, b in zip(first, second, strict=False):
        sides = []
        for side_a, side_b in zip(a["sides"], b["sides"], strict=False):
            rates = dict(zip(protocols, (side_a["ok_per_s"], side_b["ok_per_s"]), strict=True))
            sides.append({"nodes": side_a["nodes"], **rates})
        rows.append({"fault": a["fault"], "start_s": a["start_s"], "sides": sides})
    return rows


def compare_summary(results: dict[str, Any]) -> str:
    """The comparison for people: both verdicts, the figures, the replay."""
    protocols = results["compare"]
    columns = results["columns"]
    lines = [
        f"COMPARE {' vs '.join(protocols)}: {results['workload']} on {results['nodes']} nodes "
        f"for {results['duration_s']:g} s, one schedule (seed {results['seed']})"
    ]
    for protocol in protocols:
        c = columns[protocol]
        promise = "kept its promises" if c["kept_promise"] else "BROKE a promise"
        unpromised = f" (not promised: {', '.join(c['not_promised'])})" if c["not_promised"] else ""
        lines.append(f"  {protocol}: {c['verdict'].upper()}, {promise}{unpromised}")
        lines.append(
            f"    {c['ok_per_s']} ok/s overall, {c['ok_per_s_during_faults']} under faults; "
            f"whole again {c['whole_again_s']} s ({c['whole_again_means']})"
        )
        lines.append(f"    latency {_latency(c)}; {_failover(c)}")
        if c["linearizability"]:
            lines.append(f"    linearizability: {c['linearizability']}")
        first = c["first_unplaceable"]
        if first:
            what = (
                "first stale read" if first["f"] == "read" else "first operation no order explains"
            )
            lines.append(f"    {what}: {_stale(first)}")
        if c["lost_writes"] is not None:
            lines.append(f"    lost writes: {_lost(c)}")
    for partition in results["partitions"]:
        sides = "; ".join(
            f"{','.join(side['nodes'])}: "
            + ", ".join(f"{p} {side[p]}" for p in protocols)
            + " ok/s"
            for side in partition["sides"]
        )
        lines.append(f"  {partition['fault']} at {partition['start_s']:g} s: {sides}")
    lines.append(f"  out: {results['out']} (report.html: side by side)")
    lines.append(f"replay: {results['replay']}")
    return "\n".join(lines)


def _lost(column: dict[str, Any]) -> str:
    lost = column["lost_writes"]
    if lost is None:
        return "-"
    return (
        f"{lost['lost']} ({lost['to_concurrent']} to concurrent writes, "
        f"{lost['to_earlier']} to earlier ones)"
    )


def _latency(column: dict[str, Any]) -> str:
    latency = column.get("latency_ms") or {}
    return f"p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms"


def _failover(column: dict[str, Any]) -> str:
    """Time without an established leader: what a failover costs."""
    lead = column.get("leadership") or {}
    if not lead:
        return "failover: -"
    return (
        f"{lead.get('leader_changes')} leader changes, {lead.get('without_leader_s')} s "
        f"without a leader (longest {lead.get('longest_failover_s')} s)"
    )


def _whole_again(column: dict[str, Any]) -> str:
    return f"{column['whole_again_s']} ({column['whole_again_means']})"


def render_comparison(results: dict[str, Any]) -> str:
    """OUT/report.html: the two columns, and each partition's sides."""
    protocols = results["compare"]
    columns = results["columns"]

    def cell(value: Any) -> str:
        return html.escape("-" if value is None else str(value))

    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("verdict", lambda c: c["verdict"].upper()),
        ("kept its promises", lambda c: "yes" if c["kept_promise"] else "NO"),
        ("not promised", lambda c: ", ".join(c["not_promised"]) or "-"),
        ("ok/s overall", lambda c: c["ok_per_s"]),
        ("ok/s under faults", lambda c: c["ok_per_s_during_faults"]),
        ("latency", _latency),
        ("failover", _failover),
        ("linearizability", lambda c: c["linearizability"]),
        ("first operation no order explains", lambda c: _stale(c["first_unplaceable"])),
        (
            "whole again after the heal (s)",
            lambda c: f"{c['whole_again_s']} ({c['whole_again_means']})",
        ),
        ("lost writes", _lost),
        ("checks", lambda c: ", ".join(f"{k}: {v}" for k, v in c["checks"].items())),
        ("its own report", lambda c: f'<a href="{c["report"]}">{c["report"]}</a>'),
    ]
    head = "".join(f"<th>{html.escape(p)}</th>" for p in protocols)
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>"
        + "".join(
            f"<td>{value(columns[p]) if name == 'its own report' else cell(value(columns[p]))}</td>"
            for p in protocols
        )
        + "</tr>"
        for name, value in rows
    )
    partitions = ""
    for partition in results["partitions"]:
        widest = max([1.0] + [side[p] or 0 for side in partition["sides"] for p in protocols])
        bars = "".join(
            f"<tr><td>{cell(','.join(side['nodes']))}</td>"
            + "".join(
                f'<td><div class="bar {html.escape(p)}" '
                f'style="width:{180 * (side[p] or 0) / widest:.0f}px"></div>'
                f"{cell(side[p])} ok/s</td>"
                for p in protocols
            )
            + "</tr>"
            for side in partition["sides"]
        )
        partitions += (
            f"<h3>{cell(partition['fault'])} at {cell(partition['start_s'])} s</h3>"
            f"<table><tr><th>side</th>{head}</tr>{bars}</table>"
        )
    verdict_word = "both kept their promises" if results["ok"] else "see below"
    return f"""<!doctype html><meta charset="utf-8"><title>raftctl chaos --compare</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}}.bar{{display:inline-block;height:12px;margin-right:6px}}
.raft{{background:#2e6fd0}}.gossip{{background:#2e9d4a}}</style>
<h1>CAP, measured: {" vs ".join(html.escape(p) for p in protocols)}</h1>
<p>One seed ({results["seed"]}), one schedule of faults, two fresh clusters of
{results["nodes"]} nodes, {results["workload"]} workload for {results["duration_s"]:g} s:
{verdict_word}. Clients live beside their nodes: in a partition each reaches only its
own side. A consistent (CP) store refuses the side without a majority; an available
(AP) store answers on both sides, and pays in consistency: its history is not
linearizable, and one of two concurrent writes is lost.</p>
<table><tr><th></th>{head}</tr>{body}</table>
<h2>Availability on each side of every partition</h2>
<p>Each partition that cut the cluster into sides (a ring, a bridge or a one-way cut
has none), with the operations each side's clients asked and had answered inside it,
per second.</p>{partitions or "<p>no partition ran</p>"}
<p>replay: <code>{html.escape(results["replay"])}</code></p>
"""
