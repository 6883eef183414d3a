"""The console script `raftctl`: every command module registered on the app
(raftctl.app), and a usage error turned into one line and exit 2.

Commands parse and print only; raftctl.controller and the lab modules do the
work. The command modules import raftctl.app, never this module.
"""

from __future__ import annotations

import json
import sys
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
from raftctl.commands import (  # noqa: E402, F401
    chaos,
    check,
    cluster,
    data,
    faults,
    inspect,
    observe,
    protocol,
    sim,
)
