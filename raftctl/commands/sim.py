"""`raftctl sim`: the deterministic simulation of the real Raft core (or,
with --protocol paxos, the Multi-Paxos core), from the command line
(raftctl/sim does the work)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer

from raftctl.app import DirOption, JsonOption, UnusedTimeoutOption, app, reported, settings
from raftctl.errors import UsageError
from raftctl.render import Output

SWARM_SEEDS = 100
EPIDEMIC_SEEDS = 3
GOSSIP_SEEDS = 50
EPIDEMIC_MAX = 100_000


@app.command()
def sim(
    ctx: typer.Context,
    seed: Annotated[int | None, typer.Option(help="Replay this one seed.")] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            help="Run seeds 1..N (without --seed; default 100; --gossip 50; --epidemic 3)."
        ),
    ] = None,
    nodes: Annotated[int | None, typer.Option(help="Force the cluster size (3, 5 or 7).")] = None,
    story: Annotated[bool, typer.Option(help="With --seed: print every event.")] = False,
    faults: Annotated[
        str | None,
        typer.Option(
            help="Only these fault kinds, comma-separated: network, partition, crash, "
            "snapshot, membership, transfer, disk, election (default: all that the seed draws)."
        ),
    ] = None,
    transactions: Annotated[
        bool,
        typer.Option(
            "--transactions",
            help="The transactions swarm instead: bank transfers across simulated shards "
            "by two-phase commit, coordinators crashing between phases.",
        ),
    ] = False,
    gossip: Annotated[
        bool,
        typer.Option(
            "--gossip",
            help="The gossip swarm instead: clusters of the gossip replica under partitions, "
            "loss and crashes must converge and lose no acknowledged add.",
        ),
    ] = False,
    epidemic: Annotated[
        str | None,
        typer.Option(
            help="Gossip's epidemic instead: rounds for one write to reach N replicas by "
            "push-pull anti-entropy, for each comma-separated N, against log N.",
        ),
    ] = None,
    fanout: Annotated[
        int, typer.Option(help="With --epidemic: peers each replica opens per round.")
    ] = 2,
    protocol: Annotated[
        str,
        typer.Option(
            help="The core the swarm runs: raft, or paxos (the Multi-Paxos core with its "
            "own safety checker, under the same faults and the same linearizability judge)."
        ),
    ] = "raft",
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: UnusedTimeoutOption = None,
) -> None:
    """Run the deterministic simulation of the Raft core under random faults.

    Example: raftctl sim --seed 42 --story --faults partition,crash
    (raftctl sim --transactions --seeds 50: transactions across shards;
    raftctl sim --gossip: the gossip replica's swarm;
    raftctl sim --epidemic 10,100,1000,10000: gossip's rounds against log N;
    raftctl sim --protocol paxos --seeds 300: the Multi-Paxos core's swarm)
    """
    # Imported here: the simulator is heavy, and every other command starts faster.
    from node.events import Event, describe
    from raftctl.sim.swarm import CORES, FAULT_KINDS, run_seed, run_seeds

    del timeout_s  # the simulation needs no cluster and no deadline
    output = Output()
    with reported(output):
        output.output_format = settings(ctx, directory, json_mode, None).output_format
        if epidemic is not None:
            sizes = _sizes(epidemic)
            if seed is not None or transactions or nodes is not None or story or faults:
                raise UsageError("--epidemic takes only --seeds and --fanout")
            if not 1 <= fanout <= 10:
                raise UsageError(f"--fanout takes 1 to 10, not {fanout}")
            if seeds is not None and not 1 <= seeds <= 100:
                raise UsageError(f"--seeds takes 1 to 100 with --epidemic, not {seeds}")
    if epidemic is not None:
        _epidemic(output, sizes, fanout, seeds or EPIDEMIC_SEEDS)
    if gossip:
        with reported(output):
            if transactions or nodes is not None or story or faults is not None:
                raise UsageError("--gossip draws its own faults: no --nodes, --story, --faults")
            if seeds is not None and seeds < 1:
                raise UsageError(f"--seeds must be at least 1, not {seeds}")
        _gossip(output, seed, seeds or GOSSIP_SEEDS)
    seeds = SWARM_SEEDS if seeds is None else seeds
    with reported(output):
        if transactions:
            if nodes is not None or story or faults is not None:
                raise UsageError(
                    "--transactions draws its own faults: no --nodes, --story, --faults"
                )
            if seed is None and seeds < 1:
                raise UsageError(f"--seeds must be at least 1, not {seeds}")
        if nodes is not None and nodes not in (3, 5, 7):
            raise UsageError("--nodes must be 3, 5 or 7")
        if protocol not in CORES:
            raise UsageError(f"--protocol takes {', '.join(sorted(CORES))}, not {protocol!r}")
        if protocol != "raft" and (transactions or gossip):
            raise UsageError("--protocol picks the core of the log's swarm: drop it")
        if seed is None and seeds < 1:
            raise UsageError(f"--seeds must be at least 1, not {seeds}")
        kinds = None
        if faults is not None:
            kinds = tuple(kind.strip() for kind in faults.split(",") if kind.strip())
            unknown = sorted(set(kinds) - set(FAULT_KINDS))
            if unknown:
                raise UsageError(
                    f"unknown fault kinds {', '.join(unknown)} (use {', '.join(FAULT_KINDS)})"
                )
    if transactions:
        _transactions(output, seed, seeds)
    if seed is not None:
        observer = None
        if story and not output.wants_document:

            def observer(now_ms: int, node_id: str, event: Event) -> None:
                typer.echo(f"[{now_ms / 1000:7.3f}s] {describe(node_id, event)}")

        results = [
            run_seed(
                seed, CORES[protocol], nodes, observer=observer, faults=kinds, protocol=protocol
            )
        ]
    else:
        results = list(
            run_seeds(
                range(1, seeds + 1),
                CORES[protocol],
                node_count=nodes,
                workers=2,
                faults=kinds,
                protocol=protocol,
            )
        )
    replay = (
        f"raftctl sim --seed {{seed}} --story{f' --nodes {nodes}' if nodes else ''}"
        + (f" --faults {','.join(kinds)}" if kinds is not None else "")
        + (f" --protocol {protocol}" if protocol != "raft" else "")
    )
    failed = next((r for r in results if not r.ok), None)
    if output.wants_document:
        output.document(_verdict(results, failed, replay))
    elif failed is not None:
        _say_failure(failed, replay)
    elif seed is not None:
        typer.echo(results[0].options.describe())
        result = results[0]
        typer.echo(
            f"ok: {result.elections} elections, {result.committed_index} entries committed, "
            f"{result.snapshots_sent} snapshots sent, {result.membership_changes} membership "
            f"changes, {result.transfers} transfers, {result.history_operations} client "
            f"operations linearizable ({result.history_verdict}); every safety check passed"
        )
    else:
        typer.echo(f"ok: {len(results)} seeds passed every safety and liveness check")
    raise typer.Exit(1 if failed else 0)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(
            f"--epidemic takes replica counts like 10,100,1000, not {text!r}"
        ) from None
    if not sizes or any(not 2 <= size <= EPIDEMIC_MAX for size in sizes):
        raise UsageError(f"--epidemic takes replica counts from 2 to {EPIDEMIC_MAX}")
    return sizes


def _epidemic(output: Output, sizes: list[int], fanout: int, seeds: int) -> NoReturn:
    """`raftctl sim --epidemic`: rounds to spread one write, against log N."""
    from raftctl.sim.epidemic import spread

    results = [spread(size, fanout, seeds) for size in sizes]
    if output.wants_document:
        output.document({"ok": True, "epidemic": [result.to_dict() for result in results]})
        raise typer.Exit(0)
    growth = 2 * fanout + 1
    typer.echo(
        f"one write spread by push-pull anti-entropy, {fanout} peers per replica per round, "
        f"{seeds} seeds each:"
    )
    typer.echo(f"{'replicas':>9} {'rounds':>8} {'log2 N':>7} {f'log{growth} N':>7}   per seed")
    for result in results:
        typer.echo(
            f"{result.replicas:>9} {result.mean:>8.2f} {result.log2:>7.2f} "
            f"{result.log_growth:>7.2f}   {result.rounds}"
        )
    typer.echo(
        "rounds grow with log N: each tenfold more replicas costs about the same few rounds more"
    )
    raise typer.Exit(0)


def _gossip(output: Output, seed: int | None, seeds: int) -> NoReturn:
    """`raftctl sim --gossip`: the gossip swarm, seed by seed."""
    from raftctl.sim.gossip_swarm import run_gossip_seed

    chosen = range(seed, seed + 1) if seed is not None else range(1, seeds + 1)
    results = [run_gossip_seed(number) for number in chosen]
    failed = next((r for r in results if not r.ok), None)
    rounds = [r.converge_rounds for r in results if r.converge_rounds is not None]
    totals = {
        "seeds": len(results),
        "writes_acked": sum(r.writes_acked for r in results),
        "adds_acked": sum(r.adds_acked for r in results),
        "crashes": sum(r.crashes for r in results),
        "partitions": sum(r.partitions for r in results),
        "converge_rounds_max": max(rounds, default=None),
    }
    if output.wants_document:
        failure = None if failed is None else {"seed": failed.seed, "failure": failed.failure}
        output.document({"ok": failed is None, **totals, "failed": failure})
    elif failed is not None:
        typer.echo(f"seed {failed.seed} failed: {failed.failure}", err=True)
        typer.echo(f"replay: raftctl sim --gossip --seed {failed.seed}", err=True)
    else:
        typer.echo(
            f"ok: {totals['seeds']} seeds: {totals['writes_acked']} writes and "
            f"{totals['adds_acked']} adds acknowledged through {totals['crashes']} crashes and "
            f"{totals['partitions']} partitions; every cluster converged within "
            f"{totals['converge_rounds_max']} anti-entropy rounds of the heal, no acknowledged "
            "add lost, every register's latest acknowledged write kept"
        )
    raise typer.Exit(1 if failed else 0)


def _transactions(output: Output, seed: int | None, seeds: int) -> NoReturn:
    """`raftctl sim --transactions`: the transactions swarm, seed by seed."""
    from raftctl.sim.txn_swarm import run_txn_seed

    chosen = range(seed, seed + 1) if seed is not None else range(1, seeds + 1)
    results = [run_txn_seed(number) for number in chosen]
    failed = next((r for r in results if not r.ok), None)
    totals = {
        "committed": sum(r.committed for r in results),
        "aborted": sum(r.aborted for r in results),
        "transfers_ok": sum(r.transfers_ok for r in results),
        "coordinators_crashed": sum(r.coordinators_crashed for r in results),
        "resolved": sum(r.resolved for r in results),
    }
    replay = "raftctl sim --transactions --seed {seed}"
    if output.wants_document:
        output.document({**_verdict(results, failed, replay), **totals})
    elif failed is not None:
        _say_failure(failed, replay)
    else:
        if seed is not None:
            typer.echo(results[0].options.describe())
        typer.echo(
            f"ok: {len(results)} seeds: {totals['committed']} transactions committed and "
            f"{totals['aborted']} aborted, {totals['transfers_ok']} transfers, "
            f"{totals['coordinators_crashed']} coordinators crashed between phases, "
            f"{totals['resolved']} transactions finished by resolvers; the bank and every "
            "transaction held"
        )
    raise typer.Exit(1 if failed else 0)


def _verdict(results: Sequence[Any], failed: Any, replay: str) -> dict[str, Any]:
    """The JSON document of a run of seeds: ok, how many, the first failure."""
    failure = None
    if failed is not None:
        failure = {
            "seed": failed.options.seed,
            "message": failed.failure,
            "replay": replay.format(seed=failed.options.seed),
        }
    return {"ok": failed is None, "seeds": len(results), "failure": failure}


def _say_failure(failed: Any, replay: str) -> None:
    typer.echo(failed.options.describe(), err=True)
    typer.echo(f"FAILED: {failed.failure}", err=True)
    typer.echo(f"replay: {replay.format(seed=failed.options.seed)}", err=True)
