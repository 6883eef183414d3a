"""The typer app and what every command shares: the global options, their
merge, and the session that turns a user's error into one line and its exit
code. Command modules (raftctl/commands/) import from here; raftctl.cli
imports them, so the arrows run one way.

Global options (--dir, --json, --timeout, -w/--output) are accepted before the
command name and after it; the later one wins; each has an environment
variable (RAFTCTL_DIR, RAFTCTL_JSON, RAFTCTL_TIMEOUT, RAFTCTL_OUTPUT) read
when the option is not given. `--json` is `-w json`. Exit codes: 0 success,
1 a negative answer, 2 usage, 3 unavailable (for a write: outcome unknown),
4 no cluster or unknown node.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

import click
import typer
import typer.core

from raftctl import __version__
from raftctl.controller import Controller
from raftctl.errors import Interrupted, RaftctlError, UsageError
from raftctl.render import Output

__all__ = [
    "GLOBAL_OPTIONS_WITH_VALUE",
    "OUTPUT_FORMATS",
    "DirOption",
    "Globals",
    "JsonOption",
    "NodeArgument",
    "Settings",
    "TimeoutOption",
    "UnusedTimeoutOption",
    "app",
    "complete_node",
    "completing",
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

# The output formats of -w/--output, etcdctl's: table and simple are for
# people (a table, or one plain line per row for awk), json and fields for
# scripts ("name" : value, one field a line). None: the command's own form.
OUTPUT_FORMATS = ("table", "simple", "json", "fields")

# The global options that take a value (the word after them is theirs).
GLOBAL_OPTIONS_WITH_VALUE = ("--dir", "--timeout", "-w", "--output")

# Where the last --json or -w given (before the command name or after it) is
# kept: click runs option callbacks in the order the options were typed,
# and shares ctx.meta between the root and the command.
_OUTPUT_KEY = "raftctl.output"


def _remember_output(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        if value not in OUTPUT_FORMATS:
            raise typer.BadParameter(f"use one of {', '.join(OUTPUT_FORMATS)}")
        ctx.meta[_OUTPUT_KEY] = value


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_OUTPUT_KEY] = "json"
    return value


def _usage_error(error: click.UsageError, words: list[str]) -> int:
    """Print a usage error as the contract says: one line (and the JSON error
    document with --json); the exit code."""
    if type(error).__name__ == "NoArgsIsHelpError":
        print(error.format_message(), file=sys.stderr)  # the help text itself
        return 2
    command = error.ctx.command_path if error.ctx else "raftctl"
    # click names an option's environment variable in its errors even when it
    # has none ("--nodes (env var: 'None')"): that part says nothing.
    said = error.format_message().replace(" (env var: 'None')", "")
    message = f"{said} (see: {command} --help)".replace("\n", " ")
    option = getattr(error, "option_name", "")
    if re.fullmatch(r"-\.?\d.*", option or ""):
        # `put temp -5`: click reads -5 as an option, as POSIX says it must.
        at = words.index(option) if option in words else len(words)
        options, values = _split_globals(words[at:])
        fixed = shlex.join(["raftctl", *words[:at], *options, "--", *values])
        message = (
            f"{option} looks like an option; a value that starts with '-' goes after '--': {fixed}"
        )
    print(f"raftctl: {message}", file=sys.stderr)
    if "--json" in words or _asks_json(words):
        print(json.dumps({"ok": False, "error": {"kind": "usage", "message": message}}))
    return 2


def _split_globals(words: list[str]) -> tuple[list[str], list[str]]:
    """The global options among `words` (with their values), and the rest:
    what may stay before a `--`, and what must follow it."""
    options: list[str] = []
    rest: list[str] = []
    taking = iter(words)
    for word in taking:
        if word in GLOBAL_OPTIONS_WITH_VALUE:
            options += [word, next(taking, "")]
        elif word == "--json":
            options.append(word)
        else:
            rest.append(word)
    return options, rest


def _asks_json(words: list[str]) -> bool:
    return any(
        word in ("-w", "--output") and after == "json" for word, after in itertools.pairwise(words)
    )


def _output_option() -> click.Option:
    return click.Option(
        ["-w", "--output"],
        type=click.Choice(OUTPUT_FORMATS),
        expose_value=False,
        callback=_remember_output,
        help="table, simple, json or fields (env RAFTCTL_OUTPUT; --json is -w json).",
    )


# Typer vendors click in recent releases and depends on it in older ones; its
# public BadParameter derives from click's UsageError in both.
_UsageError = cast(
    type[click.UsageError],
    next(k for k in typer.BadParameter.__mro__ if k.__name__ == "UsageError"),
)


class _Group(typer.core.TyperGroup):
    """Every command, and the root, take -w/--output without each declaring it;
    and every usage error, however the app is run, is one line and exit 2."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.params.append(_output_option())

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        words = list(sys.argv[1:] if args is None else args)
        del standalone_mode  # ours: errors are printed here, the way the contract says
        try:
            # Outside standalone mode click returns a command's exit code.
            code = super().main(words, prog_name or "raftctl", complete_var, False, **extra)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.exceptions.Abort:
            print("raftctl: interrupted", file=sys.stderr)
            sys.exit(130)
        except _UsageError as error:
            sys.exit(_usage_error(error, words))
        sys.exit(code if isinstance(code, int) else 0)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _give_output_option(command)
        return command


def _give_output_option(command: click.Command) -> None:
    if isinstance(command, click.Group):
        for inner in command.commands.values():
            _give_output_option(inner)
    elif not any(param.name == "output" for param in command.params):
        command.params.append(_output_option())


app = typer.Typer(
    cls=_Group,
    help="raftctl: a Raft laboratory on one laptop.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
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
    bool,
    typer.Option(
        "--json",
        callback=_remember_json,
        help="Print exactly one JSON document on stdout (env RAFTCTL_JSON=1).",
    ),
]


TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        help="One deadline for the whole command, in seconds (default 10; env RAFTCTL_TIMEOUT).",
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


def complete_node(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion for NODE: the ids in the cluster at --dir (or
    RAFTCTL_DIR, or ./raft-cluster), then the words."""
    from raftctl.cluster import ClusterDir

    given = ctx.params.get("directory") or ctx.find_root().params.get("directory")
    path = Path(given or os.environ.get("RAFTCTL_DIR") or DEFAULT_DIR)
    words: list[str] = list(NODE_WORDS)
    try:
        config = ClusterDir(path).config
        ids = list(config.node_ids)
        if config.shards > 1:  # leader@s2 ...
            shards = range(1, config.shards + 1)
            words += [f"{word}@s{shard}" for word in NODE_WORDS for shard in shards]
    except RaftctlError:
        ids = []
    return [word for word in (*ids, *words) if word.startswith(incomplete)]


def completing(*choices: str) -> Callable[[str], list[str]]:
    """Shell completion for an option that takes one of `choices`."""
    return lambda incomplete: [choice for choice in choices if choice.startswith(incomplete)]


NODE_WORDS = ("leader", "follower", "random")

NodeArgument = Annotated[
    str,
    typer.Argument(
        help="A node id, or leader, follower or random; on a sharded cluster with a "
        "shard, as in leader@s2 (a bare word means shard 1).",
        autocompletion=complete_node,
    ),
]


@dataclass(frozen=True, slots=True)
class Globals:
    """Global options as given before the command name (None: not given)."""

    directory: Path | None = None
    json_mode: bool = False
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path
    output_format: str | None  # one of OUTPUT_FORMATS; None: the command's own form
    timeout_s: float

    @property
    def json_mode(self) -> bool:
        return self.output_format == "json"


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
    if timeout is None:
        timeout = _environment_timeout()
    output_format = ctx.meta.get(_OUTPUT_KEY)
    if output_format is None and (json_mode or before.json_mode):
        output_format = "json"
    if output_format is None:
        output_format = _environment_output()
    return Settings(path, output_format, DEFAULT_TIMEOUT_S if timeout is None else timeout)


def _environment_timeout() -> float | None:
    text = os.environ.get("RAFTCTL_TIMEOUT", "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"RAFTCTL_TIMEOUT takes seconds, not {text!r}") from None


def _environment_output() -> str | None:
    chosen = os.environ.get("RAFTCTL_OUTPUT", "").strip()
    if chosen:
        if chosen not in OUTPUT_FORMATS:
            raise UsageError(f"RAFTCTL_OUTPUT takes {', '.join(OUTPUT_FORMATS)}, not {chosen!r}")
        return chosen
    flag = os.environ.get("RAFTCTL_JSON", "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return "json"
    if flag not in ("", "0", "false", "no", "off"):
        raise UsageError(f"RAFTCTL_JSON takes 1 or 0, not {flag!r}")
    return None


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
    output = Output()
    controller: Controller | None = None
    with reported(output):
        merged = settings(ctx, directory, json_mode, timeout_s)
        output.output_format = merged.output_format
        if not math.isfinite(merged.timeout_s) or merged.timeout_s <= 0:
            raise UsageError(
                f"--timeout takes a positive number of seconds, not {merged.timeout_s:g}"
            )
        try:
            controller = Controller(merged.path, merged.timeout_s)
            yield controller, output
        except KeyboardInterrupt:
            raise Interrupted(_interrupted(ctx.info_name)) from None
        finally:
            if controller is not None:
                controller.close()


# Commands whose interruption may leave a change half known.
_WRITES = frozenset(
    {"put", "delete", "cas", "txn", "add-node", "remove-node", "rejoin", "transfer-leader"}
)


def _interrupted(command: str | None) -> str:
    if command in _WRITES:
        return (
            f"interrupted: the outcome of {command} is unknown (it may still be applied; "
            "read it back to know)"
        )
    return "interrupted"


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
