"""The chaos command: parse, show progress, print the verdict; raftctl.chaos.run runs it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from raftctl.app import (
    DirOption,
    JsonOption,
    UnusedTimeoutOption,
    app,
    given_directory,
    reported,
    settings,
)
from raftctl.commands.check import ExportOption, check_exports, check_lines
from raftctl.errors import RaftctlError, UsageError
from raftctl.render import Output

DEFAULT_OUT_ROOT = Path("chaos-runs")
PLAIN_PROGRESS_EVERY_S = 5.0


class _Progress:
    """One refreshing line on a terminal; a line every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_plain = 0.0
        self.width = 0

    def __call__(self, text: str, final: bool) -> None:
        if self.tty:
            padded = text.ljust(self.width)
            self.width = len(text)
            sys.stderr.write("\r" + padded + ("\n" if final else ""))
        elif final or time.monotonic() - self.last_plain >= PLAIN_PROGRESS_EVERY_S:
            self.last_plain = time.monotonic()
            sys.stderr.write(text + "\n")
        sys.stderr.flush()


def summary(results: dict[str, Any]) -> str:
    """The verdict for people: first line the verdict, last line the replay."""
    figures = results.get("availability") or {}
    operations = results.get("operations") or {}
    shards = results.get("shards") or 1
    on = (
        f"{shards} shards of {results['nodes']} nodes"
        if shards > 1
        else f"{results['nodes']} nodes"
    )
    if results.get("txn_protocol", "2pc") != "2pc":
        on += f", {results['txn_protocol']}"
    if results.get("protocol", "raft") != "raft":
        on += f", protocol {results['protocol']}"
    lines = [
        f"{results['verdict'].upper()}: {results['workload']} on {on} for "
        f"{results['duration_s']:g} s, {len(results['faults'])} fault"
        f"{'' if len(results['faults']) == 1 else 's'}"
        + (" (interrupted)" if results.get("interrupted") else "")
    ]
    if results.get("reason"):
        lines.append(f"  why: {results['reason']}")
    if figures:
        latency = figures["latency_ms"]
        during = figures["ok_per_s_during_faults"]
        lines.append(
            f"  operations: {operations.get('ok', 0)} ok, {operations.get('fail', 0)} fail, "
            f"{operations.get('info', 0)} info; {figures['ok_per_s']} ok/s "
            f"({during if during is not None else '-'} under faults, "
            f"{figures['ok_per_s_without_faults']} without); latency p50 {latency['p50']} ms, "
            f"p99 {latency['p99']} ms"
            + (
                f"; recovered {figures['recovery_s']} s after healing"
                if figures.get("recovery_s") is not None
                else ""
            )
        )
    for partition in (figures or {}).get("by_side", []):
        sides = "; ".join(
            f"{','.join(side['nodes'])} {side['ok_per_s']} ok/s" for side in partition["sides"]
        )
        lines.append(f"  {partition['fault']} at {partition['start_s']:g} s, by side: {sides}")
    txn = figures.get("transactions") if figures else None
    if txn:
        lines.append(
            f"  transactions: {txn['cross_shard_ok']} transfers across shards "
            f"({txn['cross_shard_per_s']}/s), {txn['single_shard_ok']} within one "
            f"({txn['single_shard_per_s']}/s); {txn['coordinators_killed']} coordinators "
            f"killed, {txn['in_doubt_resolved']} in doubt finished by a resolver "
            f"({txn['in_doubt_committed']} committed); longest lock hold "
            f"{txn['longest_lock_hold_ms']} ms"
        )
    for note in results.get("notes", []):
        lines.append(f"  note: {note}")
    for fault in results.get("faults_without_effect", []):
        lines.append(f"  no effect: {fault['kind']} at {fault['start_s']:g} s: {fault['why']}")
    lines += check_lines(results["checks"])
    lines.append(f"  out: {results['out']} (report.html: open it in a browser)")
    lines += [f"  export: {path}" for path in results.get("exports", [])]
    if results.get("exports_error"):
        lines.append(f"  export: {results['exports_error']}")
    lines.append(f"replay: {results['replay']}")
    return "\n".join(lines)


@app.command()
def chaos(
    ctx: typer.Context,
    nodes: Annotated[int, typer.Option(help="Cluster size, per shard (for a new cluster).")] = 5,
    shards: Annotated[
        int,
        typer.Option(
            help="Raft groups (for a new cluster); bank transfers then cross shards "
            "by two-phase commit, and kill-coordinator and partition-shard join --nemesis all."
        ),
    ] = 1,
    txn_protocol: Annotated[
        str,
        typer.Option(
            "--txn-protocol",
            help="How bank transfers cross shards: 2pc (replicated decisions), "
            "2pc-classic or 3pc (a coordinator process that kill-coordinator kills).",
        ),
    ] = "2pc",
    duration: Annotated[float, typer.Option(help="Seconds of workload and faults.")] = 30.0,
    workload: Annotated[
        str, typer.Option(help="register (read/write/cas), bank (transfers) or set (adds).")
    ] = "register",
    nemesis: Annotated[
        str,
        typer.Option(
            help="Comma-separated faults, each KIND[:TARGET]: kill, pause, kill-leader, "
            "partition, delay, loss, duplicate, snapshot-storm, isolate-compact, transfer, "
            "membership, power-cut, slow-fsync, failpoint; all; none; and byzantine "
            "(an impostor under a member's name: needs --insecure; not in all)."
        ),
    ] = "all",
    clients: Annotated[int, typer.Option(help="Concurrent clients.")] = 5,
    rate: Annotated[float, typer.Option(help="Operations per second in all; 0: no limit.")] = 100,
    read_consistency: Annotated[
        str, typer.Option(help="Reads: linearizable, lease or stale (stale ones may fail!).")
    ] = "linearizable",
    seed: Annotated[int | None, typer.Option(help="Replay this seed (default: random).")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Where the run goes (default ./chaos-runs/TIME-WORKLOAD-seedN)."),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option(
            help="Run a scripted negative control instead: stale-read, lease-drift, "
            "power-loss or liar (each must end invalid); or dueling, with --protocol paxos "
            "--no-leader: proposers preempt each other and writes stall (invalid: liveness "
            "lost), unless --backoff cures it."
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="Create the cluster without CURVE (what --nemesis byzantine needs)."
        ),
    ] = False,
    faults_at_once: Annotated[
        int,
        typer.Option(
            help="Kinds drawn together into each fault (1-4): compound outages, at most one "
            "of them a network fault."
        ),
    ] = 1,
    protocol: Annotated[
        str,
        typer.Option(
            help="raft, paxos (the same log by Multi-Paxos), or gossip (leaderless and always "
            "writable: its register history is expected to fail linearizability under "
            "partitions; clients live beside nodes)."
        ),
    ] = "raft",
    no_leader: Annotated[
        bool,
        typer.Option(
            "--no-leader",
            help="paxos: no distinguished proposer; clients live beside nodes, each of which "
            "prepares its own ballot.",
        ),
    ] = False,
    backoff: Annotated[
        bool,
        typer.Option("--backoff", help="paxos --no-leader: preempted proposers back off."),
    ] = False,
    compare: Annotated[
        str | None,
        typer.Option(
            help="Two protocols, like raft,gossip or raft,paxos: the same seed and schedule "
            "against a fresh cluster of each, one after the other, and one side-by-side report "
            "(exit 0 when each kept its own promises)."
        ),
    ] = None,
    export: ExportOption = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: UnusedTimeoutOption = None,
) -> None:
    """Run a workload against a fresh cluster while a nemesis injects faults,
    heal, check the history, and exit 0 valid, 1 invalid, 3 unavailable,
    5 unknown.

    Example: raftctl chaos --workload bank --nemesis partition,kill:leader --duration 60;
    raftctl chaos --compare raft,gossip --nemesis partition --duration 60;
    raftctl chaos --protocol paxos --no-leader --control dueling --duration 20
    """
    from raftctl.chaos.compare import compare_summary, parse_compare, run_compare
    from raftctl.chaos.controls import CONTROLS, run_control
    from raftctl.chaos.export import write_exports
    from raftctl.chaos.run import ChaosOptions, ChaosRun, write_results
    from raftctl.judges.history import load_history

    del timeout_s  # the run lasts --duration, then heals and settles
    output = Output()
    with reported(output):
        output.output_format = settings(ctx, directory, json_mode, None).output_format
    json_mode = output.json_mode
    chosen_seed = seed if seed is not None else int.from_bytes(os.urandom(3), "big")
    label = control or (f"compare-{workload}" if compare else workload)
    out_dir = (
        out or DEFAULT_OUT_ROOT / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}-seed{chosen_seed}"
    )
    progress = _Progress()
    formats = check_exports(export)
    dueling = control == "dueling"
    try:
        if control is not None and not dueling:
            if control not in CONTROLS:
                raise typer.BadParameter(
                    f"use one of {', '.join(CONTROLS)}", param_hint="--control"
                )
            code, results = run_control(control, chosen_seed, out_dir, progress)
        else:
            if workload not in ("register", "bank", "set"):
                raise typer.BadParameter("use register, bank or set", param_hint="--workload")
            options = ChaosOptions(
                seed=chosen_seed,
                out=out_dir,
                nodes=nodes,
                shards=shards,
                txn_protocol=txn_protocol,
                duration_s=duration,
                workload="register" if dueling else workload,
                nemesis="none" if dueling else nemesis,
                clients=clients,
                rate=rate,
                read_consistency=read_consistency,
                cluster_dir=given_directory(ctx, directory),
                insecure=insecure,
                faults_at_once=faults_at_once,
                protocol=protocol,
                compared=compare,
                no_leader=no_leader,
                backoff=backoff,
                dueling=dueling,
            )
            if compare is not None:
                parse_compare(compare)
                if protocol != "raft":
                    raise UsageError("--compare names both protocols: drop --protocol")
                if formats:
                    raise UsageError("--export writes one history: export each run alone")
                code, results = run_compare(options, progress)
                output.document(results, compare_summary(results))
                raise typer.Exit(code)
            run = ChaosRun(options, progress)
            code = run.run()
            if run.results is None:
                raise AssertionError("a chaos run returned without its results")
            results = run.results
        if formats:
            events = load_history(out_dir / "history.jsonl")
            try:
                results["exports"] = [str(p) for p in write_exports(out_dir, events, formats)]
            except ValueError as error:  # porcupine for a bank or set history
                results["exports_error"] = str(error)
            write_results(out_dir, results)
    except RaftctlError as error:
        output.error(error)
        raise typer.Exit(error.exit_code) from None
    output.document(results, summary(results))
    raise typer.Exit(code)
