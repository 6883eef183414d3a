"""The typer app and what every command shares: the global options, their
merge, and the session that turns a user's error into one line and its exit
code. Command modules (raftctl/commands/) import from here; raftctl.cli
imports them, so the arrows run one way.

Global options (--dir, --json, --timeout) are accepted before the command name
and after it; the later one wins. Exit codes: 0 success, 1 a negative answer,
2 usage, 3 unavailable (for a write: outcome unknown), 4 no cluster or unknown
node.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from raftctl import __version__
from raftctl.controller import Controller
from raftctl.errors import RaftctlError, UsageError
from raftctl.render import Output

__all__ = [
    "DirOption",
    "Globals",
    "JsonOption",
    "NodeArgument",
    "Settings",
    "TimeoutOption",
    "UnusedTimeoutOption",
    "app",
    "given_directory",
    "reported",
    "session",
    "settings",
]

# Plain help (rich_markup_mode=None below), which must stay plain: typer 0.19
# escapes "[required]" and "[default: 16]" for rich whenever rich is
# installed, even when rich does not render the help, and the user would see
# "\[required]". Telling typer's help code that rich is absent keeps it plain.
typer.core.HAS_RICH = False

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


def _before(ctx: typer.Context) -> Globals:
    root = ctx.find_root().obj
    return root if isinstance(root, Globals) else Globals()


def given_directory(ctx: typer.Context, directory: Path | None) -> Path | None:
    """--dir as given, after the command or before it; None when not given."""
    return directory or _before(ctx).directory


def settings(
    ctx: typer.Context, directory: Path | None, json_mode: bool, timeout_s: float | None
) -> Settings:
    """Merge: after the command, then before it, then the environment, then defaults."""
    before = _before(ctx)
    path = directory or before.directory
    if path is None:
        path = Path(os.environ["RAFTCTL_DIR"]) if os.environ.get("RAFTCTL_DIR") else DEFAULT_DIR
    timeout = timeout_s if timeout_s is not None else before.timeout_s
    return Settings(
        path, json_mode or before.json_mode, timeout if timeout is not None else DEFAULT_TIMEOUT_S
    )


@contextlib.contextmanager
def reported(output: Output) -> Iterator[None]:
    """A user's error inside becomes one line (and the JSON error document
    with --json) and its exit code."""
    try:
        yield
    except RaftctlError as error:
        output.error(error)
        raise typer.Exit(error.exit_code) from None


@contextlib.contextmanager
def session(
    ctx: typer.Context, directory: Path | None, json_mode: bool, timeout_s: float | None
) -> Iterator[tuple[Controller, Output]]:
    """Run one command against the cluster at --dir, under `reported`."""
    merged = settings(ctx, directory, json_mode, timeout_s)
    output = Output(merged.json_mode)
    controller: Controller | None = None
    with reported(output):
        if not math.isfinite(merged.timeout_s) or merged.timeout_s <= 0:
            raise UsageError(
                f"--timeout takes a positive number of seconds, not {merged.timeout_s:g}"
            )
        try:
            controller = Controller(merged.path, merged.timeout_s)
            yield controller, output
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
