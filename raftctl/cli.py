"""The typer app: parsing and printing only; the work happens elsewhere.

Commands that need the node server (start, put, kill, partition, ...) arrive
with it; today raftctl runs the deterministic simulation of the real core.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from node.events import Event, describe
from node.sim.swarm import replay_command, run_seed, run_seeds
from raftctl import __version__

app = typer.Typer(
    help="raftctl: a Raft laboratory on one laptop.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"raftctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """raftctl: a Raft laboratory on one laptop."""


@app.command()
def sim(
    seed: Annotated[int | None, typer.Option(help="Replay this one seed.")] = None,
    seeds: Annotated[int, typer.Option(help="Run seeds 1..N (without --seed).")] = 100,
    nodes: Annotated[int | None, typer.Option(help="Force the cluster size (3, 5 or 7).")] = None,
    story: Annotated[bool, typer.Option(help="With --seed: print every event.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Run the deterministic simulation of the Raft core under random faults.

    Example: raftctl sim --seed 42 --story
    """
    if nodes is not None and nodes not in (3, 5, 7):
        typer.echo("raftctl: --nodes must be 3, 5 or 7", err=True)
        raise typer.Exit(2)
    if seed is not None:
        observer = None
        if story and not json_output:

            def observer(now_ms: int, node_id: str, event: Event) -> None:
                typer.echo(f"[{now_ms / 1000:7.3f}s] {describe(node_id, event)}")

        result = run_seed(seed, node_count=nodes, observer=observer)
        results = [result]
    else:
        results = list(run_seeds(range(1, seeds + 1), node_count=nodes, workers=2))
    failed = next((r for r in results if not r.ok), None)
    if json_output:
        typer.echo(
            json.dumps(
                {
                    "ok": failed is None,
                    "seeds": len(results),
                    "failure": None
                    if failed is None
                    else {
                        "seed": failed.options.seed,
                        "message": failed.failure,
                        "replay": replay_command(failed.options.seed, nodes),
                    },
                }
            )
        )
    elif failed is not None:
        typer.echo(failed.options.describe(), err=True)
        typer.echo(f"FAILED: {failed.failure}", err=True)
        typer.echo(f"replay: raftctl sim --seed {failed.options.seed} --story", err=True)
    elif seed is not None:
        typer.echo(results[0].options.describe())
        typer.echo(
            f"ok: {results[0].elections} elections, {results[0].committed_index} entries "
            "committed, every safety check passed"
        )
    else:
        typer.echo(f"ok: {len(results)} seeds passed every safety and liveness check")
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    app()
