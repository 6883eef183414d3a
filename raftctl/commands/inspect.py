"""inspect log: every node's log side by side, as the Raft paper draws them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from node.messages import LogWindow
from raftctl.app import DirOption, JsonOption, TimeoutOption, app, session
from raftctl.controller import Controller
from raftctl.errors import UsageError

if TYPE_CHECKING:
    from rich.table import Table

inspect_app = typer.Typer(
    help="Look inside the nodes. Example: raftctl inspect log --count 20", no_args_is_help=True
)
app.add_typer(inspect_app, name="inspect")

# One colour per term, cycling: a term's entries read as one band.
_TERM_COLOURS = ("green", "blue", "magenta", "yellow", "cyan", "red", "bright_green", "bright_blue")
COUNT_DEFAULT = 30


@inspect_app.command("log")
def log(
    ctx: typer.Context,
    first: Annotated[
        int | None,
        typer.Option("--from", help="First index shown (default: the last COUNT indexes)."),
    ] = None,
    count: Annotated[int, typer.Option(help="How many indexes to show.")] = COUNT_DEFAULT,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Every node's log side by side: one row per node, one column per index,
    each cell the entry's term, the commit index underlined, the compacted
    prefix shown as the snapshot. Example: raftctl inspect log --count 20
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        if count < 1 or (first is not None and first < 1):
            raise UsageError("--count must be at least 1 and --from at least 1")
        start = first if first is not None else _default_first(control, count)
        rows = [
            _node_window(control, node_id, start, count) for node_id in control.cluster.node_ids()
        ]
        document = {"from": start, "count": count, "nodes": rows}
        output.document(document, _grid(document))


def _node_window(control: Controller, node_id: str, start: int, count: int) -> dict[str, Any]:
    answer = None
    if control.cluster.state(node_id) == "running":
        answer = control.client.admin(node_id, LogWindow(start, count), timeout_s=0.5)
    if answer is None:
        return {"id": node_id, "answered": False}
    first = answer["first_index"]
    entries = [
        {"index": first + offset, "term": term, "kind": kind}
        for offset, (term, kind) in enumerate(zip(answer["terms"], answer["kinds"], strict=True))
    ]
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


def _default_first(control: Controller, count: int) -> int:
    """Show the last `count` indexes of the longest log."""
    longest = 0
    for node_id in control.cluster.node_ids():
        if control.cluster.state(node_id) == "running":
            status = control.client.status(node_id, 0.5)
            if status:
                longest = max(longest, status["last_log_index"])
    return max(1, longest - count + 1)


def _grid(document: dict[str, Any]) -> Table:
    from rich.table import Table  # only when drawn: every command's start-up counts
    from rich.text import Text

    start, count = document["from"], document["count"]
    table = Table(
        title=f"logs, indexes {start}..{start + count - 1} (cell: term; underlined: committed; "
        "s: inside the snapshot)",
        title_justify="left",
    )
    table.add_column("node")
    table.add_column("role")
    for index in range(start, start + count):
        table.add_column(str(index), justify="right")
    for row in document["nodes"]:
        if not row["answered"]:
            table.add_row(row["id"], Text("down", style="red"), *[""] * count)
            continue
        by_index = {entry["index"]: entry for entry in row["entries"]}
        cells: list[Text | str] = []
        for index in range(start, start + count):
            if index <= row["snapshot_index"]:
                cells.append(Text("s", style="dim"))
            elif index in by_index:
                term = by_index[index]["term"]
                style = _TERM_COLOURS[term % len(_TERM_COLOURS)]
                if index <= row["commit_index"]:
                    style += " underline"
                cells.append(Text(str(term), style=style))
            else:
                cells.append("")
        table.add_row(row["id"], row["role"], *cells)
    return table
