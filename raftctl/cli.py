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
import os
import sys
from collections.abc import Sequence

import typer

from raftctl.app import GLOBAL_OPTIONS_WITH_VALUE, app

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
    "tour",
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
    "tour": "tour",
}


def command_name(argv: Sequence[str]) -> str | None:
    """The first word of `argv` that is not a global option or its value."""
    words = iter(argv)
    for word in words:
        if word in GLOBAL_OPTIONS_WITH_VALUE:  # `raftctl --dir X put k v`
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def load_commands(argv: Sequence[str] = ()) -> typer.Typer:
    """The app with the module of the command named in `argv` registered, or
    every module when `argv` names none we know (or the shell is completing)."""
    name = command_name(argv) or ""
    module = COMMAND_MODULES.get(name)
    if module is None or "_RAFTCTL_COMPLETE" in os.environ:
        return every_command()
    importlib.import_module(f"raftctl.commands.{module}")
    # typer turns every registered command into click's before it parses
    # (reading each signature and its annotations): of this module's, keep the
    # one being run. The process runs one command, then exits.
    app.registered_commands = [
        command for command in app.registered_commands if _command_name(command) == name
    ]
    return app


def _command_name(command: typer.models.CommandInfo) -> str:
    if command.name:
        return command.name
    callback = command.callback
    return callback.__name__.replace("_", "-") if callback else ""


def every_command() -> typer.Typer:
    """The app with every command registered, in `--help`'s order."""
    for name in MODULES:
        importlib.import_module(f"raftctl.commands.{name}")
    return app


def main() -> None:
    """The console script: the app, whose every usage error is one line on
    stderr and exit 2 (raftctl.app's group does that, for tests too)."""
    load_commands(sys.argv[1:])
    app()
