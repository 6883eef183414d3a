"""The typer app: parsing and printing only; raftctl.control does the work.

Global options (--dir, --json, --timeout) are accepted before the command name
and after it; the later one wins. Exit codes: 0 success, 1 a negative answer,
2 usage, 3 unavailable (for a write: outcome unknown), 4 no cluster or unknown
node.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from raftctl import __version__
from raftctl.control import Controller
from raftctl.errors import RaftctlError
from raftctl.render import Output

app = typer.Typer(
    help="raftctl: a Raft laboratory on one laptop.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
)

DEFAULT_DIR = Path("raft-cluster")
DEFAULT_TIMEOUT_S = 10.0

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="The cluster directory (env RAFTCTL_DIR; default ./raft-cluster).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        help="One deadline for the whole command, in seconds (default 10).",
        show_default=False,
    ),
]
# Chaos and check run for as long as their work takes; they accept the global
# options like every command, and say what they make of them.
UnusedTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        help="Accepted like everywhere, but not a deadline here: the work takes its time.",
        show_default=False,
    ),
]
NodeArgument = Annotated[str, typer.Argument(help="A node id, or leader, follower or random.")]


@dataclass(frozen=True, slots=True)
class Globals:
    """Global options as given before the command name (None: not given)."""

    directory: Path | None = None
    json_mode: bool = False
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path
    json_mode: bool
    timeout_s: float


def _settings(
    ctx: typer.Context, directory: Path | None, json_mode: bool, timeout_s: float | None
) -> Settings:
    """Merge: after the command, then before it, then the environment, then defaults."""
    before = ctx.find_root().obj if isinstance(ctx.find_root().obj, Globals) else Globals()
    path = directory or before.directory
    if path is None:
        path = Path(os.environ["RAFTCTL_DIR"]) if os.environ.get("RAFTCTL_DIR") else DEFAULT_DIR
    timeout = timeout_s if timeout_s is not None else before.timeout_s
    return Settings(
        path, json_mode or before.json_mode, timeout if timeout is not None else DEFAULT_TIMEOUT_S
    )


@contextlib.contextmanager
def session(
    ctx: typer.Context, directory: Path | None, json_mode: bool, timeout_s: float | None
) -> Iterator[tuple[Controller, Output]]:
    """Run one command: a user's error becomes one line and its exit code."""
    settings = _settings(ctx, directory, json_mode, timeout_s)
    output = Output(settings.json_mode)
    controller: Controller | None = None
    try:
        controller = Controller(settings.path, settings.timeout_s)
        yield controller, output
    except RaftctlError as error:
        output.error(error)
        raise typer.Exit(error.exit_code) from None
    finally:
        if controller is not None:
            controller.close()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"raftctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """raftctl: a Raft laboratory on one laptop.

    Example: raftctl start && raftctl put greeting hello && raftctl kill leader
    """
    ctx.obj = Globals(directory, json_mode, timeout_s)


@app.command()
def sim(
    seed: Annotated[int | None, typer.Option(help="Replay this one seed.")] = None,
    seeds: Annotated[int, typer.Option(help="Run seeds 1..N (without --seed).")] = 100,
    nodes: Annotated[int | None, typer.Option(help="Force the cluster size (3, 5 or 7).")] = None,
    story: Annotated[bool, typer.Option(help="With --seed: print every event.")] = False,
    faults: Annotated[
        str | None,
        typer.Option(
            help="Only these fault kinds, comma-separated: network, partition, crash, "
            "snapshot, membership, transfer (default: all that the seed draws)."
        ),
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Run the deterministic simulation of the Raft core under random faults.

    Example: raftctl sim --seed 42 --story --faults partition,crash
    """
    # Imported here: the simulator is heavy, and every other command starts faster.
    from node.events import Event, describe
    from raftctl.sim.swarm import FAULT_KINDS, run_seed, run_seeds

    if nodes is not None and nodes not in (3, 5, 7):
        typer.echo("raftctl: --nodes must be 3, 5 or 7", err=True)
        raise typer.Exit(2)
    kinds = None
    if faults is not None:
        kinds = tuple(kind.strip() for kind in faults.split(",") if kind.strip())
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown:
            typer.echo(
                f"raftctl: unknown fault kinds {', '.join(unknown)} (use {', '.join(FAULT_KINDS)})",
                err=True,
            )
            raise typer.Exit(2)
    if seed is not None:
        observer = None
        if story and not json_mode:

            def observer(now_ms: int, node_id: str, event: Event) -> None:
                typer.echo(f"[{now_ms / 1000:7.3f}s] {describe(node_id, event)}")

        results = [run_seed(seed, node_count=nodes, observer=observer, faults=kinds)]
    else:
        results = list(run_seeds(range(1, seeds + 1), node_count=nodes, workers=2, faults=kinds))
    replay = f"raftctl sim --seed {{seed}} --story{f' --nodes {nodes}' if nodes else ''}" + (
        f" --faults {','.join(kinds)}" if kinds is not None else ""
    )
    failed = next((r for r in results if not r.ok), None)
    if json_mode:
        failure = None
        if failed is not None:
            failure = {
                "seed": failed.options.seed,
                "message": failed.failure,
                "replay": replay.format(seed=failed.options.seed),
            }
        typer.echo(json.dumps({"ok": failed is None, "seeds": len(results), "failure": failure}))
    elif failed is not None:
        typer.echo(failed.options.describe(), err=True)
        typer.echo(f"FAILED: {failed.failure}", err=True)
        typer.echo(f"replay: {replay.format(seed=failed.options.seed)}", err=True)
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


# Typer vendors click in recent releases and depends on it in older ones; its
# public BadParameter derives from click's UsageError in both.
_UsageError = next(k for k in typer.BadParameter.__mro__ if k.__name__ == "UsageError")


def main() -> None:
    """The console script: a usage error becomes one line on stderr and exit 2."""
    try:
        # Outside standalone mode click returns a command's exit code.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        print("raftctl: interrupted", file=sys.stderr)
        sys.exit(130)
    except _UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            print(error.format_message(), file=sys.stderr)  # the help text itself
            sys.exit(2)
        command = error.ctx.command_path if error.ctx else "raftctl"
        message = f"{error.format_message()} (see: {command} --help)".replace("\n", " ")
        print(f"raftctl: {message}", file=sys.stderr)
        if "--json" in sys.argv:
            print(json.dumps({"ok": False, "error": {"kind": "usage", "message": message}}))
        sys.exit(2)


# The commands live one group per module and register themselves on `app`.
from raftctl import (  # noqa: E402, F401
    commands_chaos,
    commands_check,
    commands_cluster,
    commands_data,
    commands_faults,
    commands_inspect,
    commands_observe,
    commands_protocol,
)
