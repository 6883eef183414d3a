"""Observing commands: events (the cluster's timeline) and bench."""

from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from raftctl.app import DirOption, JsonOption, TimeoutOption, app, session
from raftctl.errors import UsageError


def _stamp(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment)) + f".{int(moment % 1 * 1000):03d}"


def _parse(line: str) -> dict[str, Any] | None:
    try:
        event: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError:
        return None  # a line being written right now
    return event if "time" in event and "text" in event else None


_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def since_moment(text: str, now: float) -> float:
    """--since: a duration back from now (90s, 5m, 1h, 250ms) or a clock
    time today (14:05 or 14:05:30); the epoch moment it names."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text.strip())
    if match:
        return now - float(match[1]) * _UNITS_S[match[2]]
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if match and int(match[1]) < 24 and int(match[2]) < 60 and int(match[3] or 0) < 60:
        today = time.localtime(now)
        return time.mktime(
            (
                today.tm_year,
                today.tm_mon,
                today.tm_mday,
                int(match[1]),
                int(match[2]),
                int(match[3] or 0),
                0,
                0,
                -1,
            )
        )
    raise UsageError(
        f"--since takes a duration (90s, 5m, 1h) or a time today (14:05), not {text!r}"
    )


@app.command()
def events(
    ctx: typer.Context,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing new events.")] = False,
    node: Annotated[str | None, typer.Option(help="Only this node's events.")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only events since: a duration back (90s, 5m, 1h) or a time (14:05)."),
    ] = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Every node's events merged into one timeline, sorted by time.

    Example: raftctl events --since 5m --follow
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        start = since_moment(since, time.time()) if since is not None else 0.0
        ids = [control.resolve(node)] if node else list(control.cluster.node_ids())
        paths = [control.path / n / "events.jsonl" for n in ids]
        handles: dict[Path, IO[str]] = {}
        collected: list[dict[str, Any]] = []
        for path in paths:
            if path.exists():
                handles[path] = path.open()
                collected.extend(e for e in map(_parse, handles[path]) if e)
        collected = sorted((e for e in collected if e["time"] >= start), key=lambda e: e["time"])
        try:
            if not follow:
                output.document(
                    {"events": collected},
                    "\n".join(f"{_stamp(e['time'])} {e['text']}" for e in collected),
                )
                return
            for event in collected:
                output.line(event, f"{_stamp(event['time'])} {event['text']}")
            while True:
                time.sleep(0.2)
                fresh: list[dict[str, Any]] = []
                for path in paths:
                    if path not in handles and path.exists():
                        handles[path] = path.open()
                    if path in handles:
                        fresh.extend(e for e in map(_parse, handles[path].readlines()) if e)
                for event in sorted(fresh, key=lambda e: e["time"]):
                    output.line(event, f"{_stamp(event['time'])} {event['text']}")
        except KeyboardInterrupt:
            return
        finally:
            for handle in handles.values():
                handle.close()


@app.command()
def bench(
    ctx: typer.Context,
    clients: Annotated[int, typer.Option(help="Operations in flight at once.")] = 16,
    duration: Annotated[float, typer.Option(help="Seconds to run.")] = 10.0,
    value_size: Annotated[int, typer.Option(help="Bytes per written value.")] = 100,
    read_ratio: Annotated[float, typer.Option(help="Share of reads (0-1).")] = 0.0,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Load the cluster and report throughput and latency percentiles.

    It runs for --duration; --timeout bounds the wait for a leader and each
    operation. The progress bar goes to stderr, and only on a terminal. Ctrl-C
    ends the run early and reports what finished (exit 130).

    Example: raftctl bench --clients 64 --duration 10 --read-ratio 0.5
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from raftctl.bench.live import WorkloadOptions, run_workload

        if clients < 1 or not 0 < duration < math.inf or value_size < 0 or not 0 <= read_ratio <= 1:
            raise UsageError(
                "need --clients >= 1, --duration > 0, --value-size >= 0 and 0 <= --read-ratio <= 1"
            )
        if control.has_leader():
            control.leader()  # (a gossip replica serves whoever asks: no leader to wait for)
        options = WorkloadOptions(
            clients=clients,
            duration_s=duration,
            value_size=value_size,
            read_ratio=read_ratio,
            operation_timeout_s=control.timeout_s,
        )
        if output.wants_document or not sys.stderr.isatty():
            report = run_workload(control.client, options)
        else:
            with Progress(
                TextColumn("bench"),
                BarColumn(),
                TextColumn("{task.fields[ops]} ops"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            ) as progress:
                task = progress.add_task("bench", total=duration, ops=0)
                done = [0]

                def tick(_outcome: object) -> None:
                    done[0] += 1
                    if done[0] % 50 == 0:
                        progress.update(
                            task, completed=min(duration, time.monotonic() - start), ops=done[0]
                        )

                start = time.monotonic()
                report = run_workload(control.client, options, on_done=tick)
                progress.update(task, completed=duration, ops=done[0])
        from rich.table import Table

        table = Table(
            title=f"{clients} in flight, {value_size} B values, "
            f"{read_ratio:.0%} reads, {report.elapsed_s:.1f} s"
            + (" (interrupted: what finished before Ctrl-C)" if report.interrupted else "")
        )
        for header in ("ops/s", "ops", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"):
            table.add_column(header, justify="right")
        table.add_row(
            f"{report.throughput_per_s:,.0f}",
            str(report.operations),
            str(report.errors),
            f"{report.latency_ms_p50:.1f}",
            f"{report.latency_ms_p90:.1f}",
            f"{report.latency_ms_p99:.1f}",
            f"{report.latency_ms_max:.1f}",
        )
        output.document(report.to_json(), table)
        if report.interrupted:
            output.note("raftctl: interrupted; the figures cover what finished before it")
            raise typer.Exit(130)
