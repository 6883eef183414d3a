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
    from rich.text import Text

__all__ = [
    "STATUS_FIELDS",
    "Output",
    "describe_rule",
    "fields",
    "rule_effects",
    "simple_rows",
    "status_table",
]

_ROLE_STYLE = {
    "leader": "bold green",
    "candidate": "yellow",
    "proposer": "yellow",
    "follower": "",
    "acceptor": "",
    "learner": "cyan",
}
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

    def document(self, document: dict[str, Any], human: str | Table | Text | None = None) -> None:
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
            else:
                from rich.table import Table as RichTable

                if self.output_format == "simple" and isinstance(human, RichTable):
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


# The status table's columns: (header, the row's field). When the terminal is
# too narrow for all of them, they are hidden in DROP_ORDER's order, and the
# caption names what was hidden: what is shown is always shown whole.
_STATUS_COLUMNS = (
    ("node", "id"),
    ("shard", "shard"),
    ("pid", "pid"),
    ("process", "process"),
    ("role", "role"),
    ("term", "term"),
    ("leader", "leader"),
    ("commit", "commit_index"),
    ("applied", "applied_index"),
    ("last log", "last_log_index"),
    ("snapshot", "snapshot_index"),
    ("group", "group"),
    ("link faults", "link_faults"),
)
# A gossip cluster's table: no leader, term or log; each replica's SWIM view
# of the others, its keys and digest, and how far behind each peer it is.
_GOSSIP_COLUMNS = (
    ("node", "id"),
    ("shard", "shard"),
    ("pid", "pid"),
    ("process", "process"),
    ("role", "role"),
    ("members", "members"),
    ("keys", "keys"),
    ("digest", "digest"),
    ("behind by", "behind_by"),
    ("group", "group"),
    ("link faults", "link_faults"),
)
# A Paxos cluster's table: Raft's, with the ballot (round.node) for the term
# and "chosen" for the commit index (the slots known chosen, contiguously).
_PAXOS_COLUMNS = tuple(
    {"term": ("ballot", "ballot"), "commit": ("chosen", "chosen_index")}.get(header, (header, f))
    for header, f in _STATUS_COLUMNS
)
# The fields the table shows, for whoever watches them change.
STATUS_FIELDS = tuple(
    dict.fromkeys(field for _, field in _STATUS_COLUMNS + _GOSSIP_COLUMNS + _PAXOS_COLUMNS)
)
DROP_ORDER = (
    "pid",
    "snapshot",
    "last log",
    "group",
    "leader",
    "term",
    "ballot",
    "link faults",
    "applied",
    "digest",
    "behind by",
)


def _paxos_title(document: dict[str, Any], paxos: dict[str, Any]) -> str:
    """Who leads which ballot, and how the proposers behave."""
    ballot = next(
        (row.get("ballot") for row in document["nodes"] if row["id"] == document["leader"]), None
    )
    if paxos.get("leader", True):
        return f"protocol paxos: leader {document['leader'] or '-'}, ballot {ballot or '-'}"
    cure = "with backoff" if paxos.get("backoff") else "no backoff: proposers may duel"
    return f"protocol paxos, no distinguished proposer ({cure}): latest leader " + (
        f"{document['leader']}, ballot {ballot}" if document["leader"] else "-"
    )


def rule_effects(rule: dict[str, Any]) -> list[str]:
    """What one link rule (node.faults, as faults_document writes it) does."""
    effects = []
    if rule["drop"]:
        effects.append("cut" if rule["drop"] >= 1 else f"drop {rule['drop']:.0%}")
    if rule["delay_ms"] or rule["jitter_ms"]:
        jitter = f"±{rule['jitter_ms']}" if rule["jitter_ms"] else ""
        effects.append(f"delay {rule['delay_ms']}{jitter} ms")
    if rule["duplicate"]:
        effects.append(f"duplicate {rule['duplicate']:.0%}")
    return effects


def describe_rule(rule: dict[str, Any], everyone: tuple[str, ...]) -> str:
    """One link rule for people: `n1 -> n2,n3: drop 20%, delay 50±20 ms`."""

    def who(ids: list[str]) -> str:
        return "all" if sorted(ids) == sorted(everyone) else ",".join(ids)

    return f"{who(rule['from'])} -> {who(rule['to'])}: {', '.join(rule_effects(rule))}"


def _link_faults_cell(rules: list[dict[str, Any]] | None) -> str:
    """A node's outgoing link rules: `drop 20%, delay 50 ms ->n2,n3`."""
    parts = [f"{', '.join(rule_effects(rule))} ->{','.join(rule['to'])}" for rule in rules or []]
    return "; ".join(parts) or "-"


def status_table(
    document: dict[str, Any], changed: set[str] | None = None, width: int | None = None
) -> Table:
    """One row per node, fitted to `width` columns (None: no limit); `changed`
    holds ids whose role just changed (highlighted)."""
    shards = document.get("shards") or []
    if len(shards) > 1:
        title = "; ".join(
            f"shard {shard['id']}: leader {shard['leader'] or '-'}, term {_cell(shard['term'])}"
            for shard in shards
        )
    else:
        title = f"leader {document['leader'] or '-'}, term {_cell(document['term'])}"
    gossip = document.get("protocol") == "gossip"
    paxos = document.get("paxos")
    columns = _GOSSIP_COLUMNS if gossip else _PAXOS_COLUMNS if paxos else _STATUS_COLUMNS
    protocol = document.get("switches")
    if paxos:
        title = _paxos_title(document, paxos)
    if gossip:
        settings = document.get("gossip") or {}
        title = (
            f"protocol gossip: no leader, every node takes writes (fanout "
            f"{settings.get('fanout')}, a round every {settings.get('interval_ms')} ms, "
            f"W={settings.get('ack')} R={settings.get('read')} of N={len(document['nodes'])})"
        )
    elif protocol:
        switches = [
            f"PreVote {'on' if protocol['pre_vote'] else 'off'}",
            f"CheckQuorum {'on' if protocol['check_quorum'] else 'off'}",
            f"fsync {'on' if protocol['fsync'] else 'off'}",
        ][1 if paxos else 0 :]  # (a Paxos proposer has no PreVote)
        if protocol["slow_factor"] > 1:
            switches.append(f"timers {protocol['slow_factor']}x slower")
        if protocol.get("security") == "insecure":
            switches.append("INSECURE: no CURVE keys")
        title += " (" + ", ".join(switches) + ")"
    from rich.table import Table

    rows = document["nodes"]
    texts = {
        header: [_status_cell(field, row.get(field)) for row in rows] for header, field in columns
    }
    shown = [header for header, _ in columns]
    if not any(row.get("link_faults") for row in rows):
        shown.remove("link faults")  # no column for what is not there
    if len(shards) <= 1:
        shown.remove("shard")
    hidden = []
    for header in DROP_ORDER:
        if width is None or _table_width(shown, texts) <= width:
            break
        if header in shown:
            shown.remove(header)
            hidden.append(header)
    captions = [_coordinator_line(document.get("coordinator"), document.get("txn_protocol"))]
    if hidden:
        captions.append(f"hidden to fit: {', '.join(hidden)} (-w fields shows all)")
    caption = "\n".join(line for line in captions if line) or None
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for header in shown:
        table.add_column(header, no_wrap=True)
    for number, row in enumerate(rows):
        role_style = _ROLE_STYLE.get(row["role"] or "", "")
        if changed and row["id"] in changed:
            role_style = "reverse " + (role_style or "white")
        styles = {"role": role_style, "process": _PROCESS_STYLE[row["process"]]}
        table.add_row(
            *(
                f"[{styles[header]}]{texts[header][number]}[/]"
                if styles.get(header)
                else texts[header][number]
                for header in shown
            )
        )
    return table


def _status_cell(field: str, value: Any) -> str:
    if field == "link_faults":
        return _link_faults_cell(value)
    if field == "members" and isinstance(value, dict):
        # SWIM's view: "n2 n3 alive, n4 dead" (who is what, grouped).
        by_status: dict[str, list[str]] = {}
        for member, status in sorted(value.items()):
            by_status.setdefault(status, []).append(member)
        return ", ".join(f"{' '.join(ids)} {status}" for status, ids in by_status.items()) or "-"
    if field == "behind_by" and isinstance(value, dict):
        behind = [f"{peer} {count}" for peer, count in sorted(value.items()) if count]
        return ", ".join(behind) or "0"
    return _cell(value)


def _coordinator_line(row: dict[str, Any] | None, protocol: Any) -> str:
    """The coordinator process of 2pc-classic and 3pc, under the table."""
    if not row:
        return ""
    line = f"coordinator {row['id']} ({protocol}): {row['process']}"
    if row.get("pid"):
        line += f", pid {row['pid']}"
    if row.get("role"):
        line += (
            f"; {row['committed']} committed, {row['aborted']} aborted, "
            f"{row['in_flight']} in flight"
        )
        if row.get("diverged"):
            line += f", {row['diverged']} diverged"
        if row.get("held"):
            line += f", holding {', '.join(row['held'])} at a failpoint"
    return line


def _table_width(headers: list[str], texts: dict[str, list[str]]) -> int:
    """What rich draws for these columns: each column's widest cell, padding
    and border (3 more), and the closing border."""
    return sum(max(len(h), *(len(t) for t in texts[h])) + 3 for h in headers) + 1
