"""inspect log: every node's log side by side, as the Raft paper draws them."""

from __future__ import annotations

import shutil
import sys
import textwrap
from typing import TYPE_CHECKING, Annotated, Any

import typer

from node.messages import LogWindow
from raftctl.app import DirOption, JsonOption, TimeoutOption, app, session
from raftctl.controller import Controller
from raftctl.errors import UsageError

if TYPE_CHECKING:
    from rich.text import Text

inspect_app = typer.Typer(
    help="Look inside the nodes. Example: raftctl inspect log --count 20", no_args_is_help=True
)
app.add_typer(inspect_app, name="inspect")

# One colour per term, cycling: a term's entries read as one band.
_TERM_COLOURS = ("green", "blue", "magenta", "yellow", "cyan", "red", "bright_green", "bright_blue")
COUNT_MAX = 10_000


@inspect_app.command("log")
def log(
    ctx: typer.Context,
    first: Annotated[
        int | None,
        typer.Option("--from", help="First index shown (default: the end of the longest log)."),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(help="How many indexes (default: as many as fit the terminal)."),
    ] = None,
    shard: Annotated[
        int, typer.Option(help="On a sharded cluster: whose logs (each shard has its own).")
    ] = 1,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Every node's log side by side: one row per node, one column per index,
    each cell the entry's term, a bar after the node's commit index, the
    compacted prefix shown as s. It fits the terminal: more indexes than fit
    are drawn in bands, one under another. Under --protocol paxos each cell is
    the ballot (round.node) the slot was accepted under on that acceptor, and
    the bar follows the slots the node knows chosen.
    Example: raftctl inspect log --count 20
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        control.require_log("inspect log", "a gossip replica keeps items, not a log")
        if (count is not None and not 1 <= count <= COUNT_MAX) or (first is not None and first < 1):
            raise UsageError(f"--count takes 1 to {COUNT_MAX} and --from an index from 1")
        node_ids = control.shard_node_ids(shard)
        longest = _longest_log(control, node_ids)
        if first is not None and first > max(1, longest):
            raise UsageError(f"--from {first} is past every log: the longest ends at {longest}")
        width = shutil.get_terminal_size((80, 24)).columns
        if count is None:
            count = _fitting(width, _label_width(node_ids), longest)
        # Never wider than the logs: indexes no node holds would be empty columns.
        if first is None:
            count = max(1, min(count, longest))
            start = max(1, longest - count + 1)
        else:
            start, count = first, max(1, min(count, longest - first + 1))
        rows = [_node_window(control, node_id, start, count) for node_id in node_ids]
        document = {
            "protocol": control.cluster.config.protocol,
            "from": start,
            "count": count,
            "longest": longest,
            "shard": shard,
            "nodes": rows,
        }
        styled = sys.stdout.isatty() and output.output_format in (None, "table")
        output.document(document, log_grid(document, width, styled))


def _node_window(control: Controller, node_id: str, start: int, count: int) -> dict[str, Any]:
    answer = None
    if control.cluster.state(node_id) == "running":
        answer = control.client.admin(node_id, LogWindow(start, count), timeout_s=0.5)
    if answer is None:
        return {"id": node_id, "answered": False}
    first = answer["first_index"]
    entries: list[dict[str, Any]] = [
        {"index": first + offset, "term": term, "kind": kind}
        for offset, (term, kind) in enumerate(zip(answer["terms"], answer["kinds"], strict=True))
    ]
    # Paxos: the ballot each slot was accepted under on this acceptor (None:
    # a hole, never accepted here).
    for entry, ballot in zip(entries, answer.get("ballots") or (), strict=False):
        entry["ballot"] = ballot if entry["term"] else None
    return {
        "id": node_id,
        "answered": True,
        "role": answer["role"],
        "term": answer["term"],
        "commit_index": answer["commit_index"],
        "snapshot_index": answer["snapshot_index"],
        "snapshot_term": answer["snapshot_term"],
        "last_index": answer["last_index"],
        "entries": entries,
    }


def _longest_log(control: Controller, node_ids: tuple[str, ...]) -> int:
    """The last index of the longest log among the nodes that answer."""
    longest = 0
    for node_id in node_ids:
        if control.cluster.state(node_id) == "running":
            status = control.client.status(node_id, 0.5)
            if status:
                longest = max(longest, status["last_log_index"])
    return longest


# A row's label: the node id, then its role in one letter.
_ROLES = {"leader": "L", "follower": "F", "candidate": "C", "pre-candidate": "P", "learner": "l"}
LEGEND = (
    "cell: the entry's term; |: after the node's commit index (left of it is committed); "
    "s: inside the snapshot; roles: L leader, F follower, C candidate, P pre-candidate, "
    "l learner, - down"
)
_PAXOS_ROLES = {"leader": "L", "acceptor": "A", "proposer": "P", "learner": "l"}
PAXOS_LEGEND = (
    "cell: the ballot (round.node) the slot was accepted under on that acceptor, . for a "
    "hole; |: after the node's chosen index (left of it is chosen, as the node knows); "
    "s: inside the snapshot; roles: L leader, A acceptor, P proposer (phase 1), l learner, "
    "- down"
)


def _label_width(node_ids: tuple[str, ...] | list[str]) -> int:
    return max(len(node_id) for node_id in node_ids) + 3  # "n12 L "


def _shown(entry: dict[str, Any]) -> str:
    """A cell's text: the entry's term, or under Paxos its ballot (. a hole)."""
    if "ballot" in entry:
        return entry["ballot"] or "."
    return str(entry["term"])


def _cell_width(last_index: int, terms: list[str]) -> int:
    return max([len(str(last_index)), *(len(str(term)) for term in terms)]) + 1  # + its trailer


def _fitting(width: int, label_width: int, last_index: int) -> int:
    """How many index columns fit beside the labels."""
    cell = _cell_width(max(1, last_index), [])
    return max(1, (width - label_width) // cell)


def log_grid(document: dict[str, Any], width: int, styled: bool) -> str | Text:
    """The logs as text that fits `width` columns: bands of indexes, one under
    another, each with its header. Styled (a terminal), terms are coloured."""
    from rich.text import Text  # only when drawn: every command's start-up counts

    start, count, rows = document["from"], document["count"], document["nodes"]
    paxos = document.get("protocol") == "paxos"
    end = start + count - 1
    terms = [_shown(e) for row in rows if row["answered"] for e in row["entries"]]
    cell = _cell_width(end, terms)
    label = _label_width([row["id"] for row in rows])
    per_band = max(1, (width - label) // cell)
    text = Text()
    text.append(f"logs, indexes {start}..{end} (the longest ends at {document['longest']})\n")
    for line in textwrap.wrap(PAXOS_LEGEND if paxos else LEGEND, max(20, width - 1)):
        text.append(line + "\n", style="dim")
    for band_start in range(start, end + 1, per_band):
        indexes = range(band_start, min(end, band_start + per_band - 1) + 1)
        text.append(" " * label + "".join(f"{i:>{cell - 1}} " for i in indexes).rstrip() + "\n")
        for row in rows:
            _append_row(text, row, indexes, label, cell, _PAXOS_ROLES if paxos else _ROLES)
    if not styled:
        return text.plain.rstrip("\n")
    return text


def _append_row(
    text: Text, row: dict[str, Any], indexes: range, label: int, cell: int, roles: dict[str, str]
) -> None:
    if not row["answered"]:
        text.append(f"{row['id']} -".ljust(label) + "down\n", style="red")
        return
    from rich.text import Text

    role = roles.get(row["role"] or "", "?")
    line = Text(f"{row['id']} {role}".ljust(label), style="bold" if role == "L" else "")
    by_index = {entry["index"]: entry for entry in row["entries"]}
    for index in indexes:
        if index <= row["snapshot_index"]:
            line.append(f"{'s':>{cell - 1}}", style="dim")
        elif index in by_index:
            entry = by_index[index]
            colour = _TERM_COLOURS[entry["term"] % len(_TERM_COLOURS)]
            line.append(f"{_shown(entry):>{cell - 1}}", style=colour)
        else:
            line.append(" " * (cell - 1))
        line.append("|" if index == row["commit_index"] else " ", style="bold")
    line.rstrip()
    text.append_text(line)
    text.append("\n")
