"""The console script `raftctl`: the command modules registered on the app
(raftctl.app), and a usage error turned into one line and exit 2.

A command imports only its own module: typer builds the parameters of every
registered command before it parses, which for all thirty commands is about a
third of a command's start-up. Help, completion and a name we do not know
(click suggests the nearest) load every module, in the order `--help` lists
them. tests/cli/test_parsing.py holds COMMAND_MODULES to what the modules
register.

Commands parse and print only; raftctl.controller and the lab modules do the
work. The command modules import raftctl.app, never this module.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import sys
from collections.abc import Sequence
from typing import cast

import click
import typer

from raftctl.app import app

# Typer vendors click in recent releases and depends on it in older ones; its
# public BadParameter derives from click's UsageError in both.
_UsageError = cast(
    type[click.UsageError],
    next(k for k in typer.BadParameter.__mro__ if k.__name__ == "UsageError"),
)


# Every module, in the order their commands appear in `--help`.
# A newcomer's order: start and status, the data, the faults, the protocol's
# own operations, what to look at, then the experiments.
MODULES = (
    "cluster",
    "data",
    "watch",
    "faults",
    "protocol",
    "observe",
    "inspect",
    "chaos",
    "check",
    "sim",
)

# The module that registers each command (a group, for `inspect`).
COMMAND_MODULES = {
    "chaos": "chaos",
    "check": "check",
    **dict.fromkeys(("start", "stop", "destroy", "status", "leader", "wait", "logs"), "cluster"),
    **dict.fromkeys(("put", "get", "delete", "cas", "keys", "txn"), "data"),
    "watch": "watch",
    **dict.fromkeys(("kill", "restart", "pause", "resume", "partition", "heal", "net"), "faults"),
    "inspect": "inspect",
    "events": "observe",
    "bench": "observe",
    **dict.fromkeys(
        ("transfer-leader", "snapshot", "add-node", "remove-node", "rejoin", "member"), "protocol"
    ),
    "sim": "sim",
}

# The global options that take a value, so that the command name is found
# after them: `raftctl --dir X put k v`.
_GLOBAL_OPTIONS_WITH_VALUE = ("--dir", "--timeout")


def command_name(argv: Sequence[str]) -> str | None:
    """The first word of `argv` that is not a global option or its value."""
    words = iter(argv)
    for word in words:
        if word in _GLOBAL_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def load_commands(argv: Sequence[str] = ()) -> typer.Typer:
    """The app with the module of the command named in `argv` registered, or
    every module when `argv` names none we know (or the shell is completing)."""
    module = COMMAND_MODULES.get(command_name(argv) or "")
    if module is None or "_RAFTCTL_COMPLETE" in os.environ:
        return every_command()
    importlib.import_module(f"raftctl.commands.{module}")
    return app


def every_command() -> typer.Typer:
    """The app with every command registered, in `--help`'s order."""
    for name in MODULES:
        importlib.import_module(f"raftctl.commands.{name}")
    return app


def main() -> None:
    """The console script: a usage error becomes one line on stderr and exit 2."""
    load_commands(sys.argv[1:])
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
        # click names an option's environment variable in its errors even when
        # it has none ("--nodes (env var: 'None')"): that part says nothing.
        said = error.format_message().replace(" (env var: 'None')", "")
        message = f"{said} (see: {command} --help)".replace("\n", " ")
        option = getattr(error, "option_name", "")
        if re.fullmatch(r"-\.?\d.*", option or ""):
            # `put temp -5`: click reads -5 as an option, as POSIX says it must.
            words = sys.argv[1:]
            at = words.index(option) if option in words else len(words)
            fixed = shlex.join(["raftctl", *words[:at], "--", *words[at:]])
            message = (
                f"{option} looks like an option; a value that starts with '-' goes "
                f"after '--': {fixed}"
            )
        print(f"raftctl: {message}", file=sys.stderr)
        if "--json" in sys.argv:
            print(json.dumps({"ok": False, "error": {"kind": "usage", "message": message}}))
        sys.exit(2)
