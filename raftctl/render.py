"""How results look: rich tables for people, exactly one JSON document for scripts.

Rules: JSON goes straight to stdout with json.dumps, never through rich (which
wraps and styles). Errors are one line on stderr; with --json the same error
is also a JSON document on stdout. rich is imported only when a table is
drawn: most commands print a line, and every command's start-up counts.

-w/--output picks the form (etcdctl's names): `json` the document; `fields`
the document's fields one a line as `"name" : value` (nested ones named by
path, `"nodes[0].id" : "n1"`); `simple` one plain line per table row, cells
separated by tabs, for awk; `table` (or nothing) the command's own form.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from raftctl.errors import RaftctlError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["Output", "fields", "simple_rows", "status_table"]

_ROLE_STYLE = {"leader": "bold green", "candidate": "yellow", "follower": "", "learner": "cyan"}
_PROCESS_STYLE = {"running": "", "paused": "bold yellow", "stopped": "bold red"}


class Output:
    """Prints for one command, in its mode."""

    def __init__(self, output_format: str | None = None) -> None:
        self.output_format = output_format
        self._console: Console | None = None

    @property
    def json_mode(self) -> bool:
        return self.output_format == "json"

    @property
    def wants_document(self) -> bool:
        """True when the document itself is printed (json, fields), not a human form."""
        return self.output_format in ("json", "fields")

    @property
    def console(self) -> Console:
        """rich's console for tables and live views, made on first use."""
        if self._console is None:
            from rich.console import Console

            # Piped output has no width to fit: never truncate a table for it.
            width = None if sys.stdout.isatty() else 200
            self._console = Console(highlight=False, soft_wrap=True, width=width)
        return self._console

    def document(self, document: dict[str, Any], human: str | Table | None = None) -> None:
        """The JSON document with --json, otherwise the human form (if any)."""
        if self.json_mode:
            sys.stdout.write(json.dumps(document) + "\n")
            sys.stdout.flush()
        elif self.output_format == "fields":
            sys.stdout.write("".join(f"{line}\n" for line in fields(document)))
            sys.stdout.flush()
        elif human is not None:
            if isinstance(human, str):
                sys.stdout.write(human + ("\n" if human and not human.endswith("\n") else ""))
                sys.stdout.flush()
            elif self.output_format == "simple":
                sys.stdout.write("".join(f"{line}\n" for line in simple_rows(human)))
                sys.stdout.flush()
            else:
                self.console.print(human)

    def line(self, document: dict[str, Any], human: str) -> None:
        """One JSON Lines record, or one line for people (streams: --watch, --follow)."""
        if self.json_mode:
            sys.stdout.write(json.dumps(document) + "\n")
        else:
            sys.stdout.write(human + "\n")
        sys.stdout.flush()

    def error(self, error: RaftctlError) -> None:
        message = str(error).replace("\n", " ")
        _to_stderr(f"raftctl: {message}")
        if self.json_mode:
            sys.stdout.write(
                json.dumps({"ok": False, "error": {"kind": error.kind, "message": message}}) + "\n"
            )
            sys.stdout.flush()

    def note(self, text: str) -> None:
        """A remark for people on stderr (never mixed into stdout)."""
        if not self.json_mode:
            _to_stderr(text)


def fields(document: Any, path: str = "") -> list[str]:
    """etcdctl's -w fields: `"name" : value`, one a line, nested names by path."""
    if isinstance(document, dict) and document:
        return [
            line
            for name, value in document.items()
            for line in fields(value, f"{path}.{name}" if path else str(name))
        ]
    if (
        isinstance(document, list)
        and document
        and not all(isinstance(item, str | int | float | bool) or item is None for item in document)
    ):
        return [line for i, item in enumerate(document) for line in fields(item, f"{path}[{i}]")]
    return [f"{json.dumps(path)} : {json.dumps(document)}"]


def simple_rows(table: Table) -> list[str]:
    """A table's rows as plain lines, cells split by tabs (no borders, no styles)."""
    from rich.text import Text

    columns = [list(column.cells) for column in table.columns]
    return [
        "\t".join(
            Text.from_markup(cell).plain if isinstance(cell, str) else str(cell) for cell in row
        )
        for row in zip(*columns, strict=True)
    ]


def _to_stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def status_table(document: dict[str, Any], changed: set[str] | None = None) -> Table:
    """One row per node; `changed` holds ids whose role just changed (highlighted)."""
    title = f"leader {document['leader'] or '-'}, term {_cell(document['term'])}"
    protocol = document.get("protocol")
    if protocol:
        switches = [
            f"PreVote {'on' if protocol['pre_vote'] else 'off'}",
            f"CheckQuorum {'on' if protocol['check_quorum'] else 'off'}",
            f"fsync {'on' if protocol['fsync'] else 'off'}",
        ]
        if protocol["slow_factor"] > 1:
            switches.append(f"timers {protocol['slow_factor']}x slower")
        if protocol.get("security") == "insecure":
            switches.append("INSECURE: no CURVE keys")
        title += " (" + ", ".join(switches) + ")"
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header in (
        "node",
        "pid",
        "process",
        "role",
        "term",
        "leader",
        "commit",
        "applied",
        "last log",
        "snapshot",
        "group",
    ):
        table.add_column(header)
    for row in document["nodes"]:
        role_style = _ROLE_STYLE.get(row["role"] or "", "")
        if changed and row["id"] in changed:
            role_style = "reverse " + (role_style or "white")
        table.add_row(
            row["id"],
            _cell(row["pid"]),
            f"[{_PROCESS_STYLE[row['process']]}]{row['process']}[/]"
            if _PROCESS_STYLE[row["process"]]
            else row["process"],
            f"[{role_style}]{_cell(row['role'])}[/]" if role_style else _cell(row["role"]),
            _cell(row["term"]),
            _cell(row["leader"]),
            _cell(row["commit_index"]),
            _cell(row["applied_index"]),
            _cell(row["last_log_index"]),
            _cell(row["snapshot_index"]),
            _cell(row["group"]),
        )
    return table
