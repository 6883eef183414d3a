"""`raftctl tour [TOPIC]`: the narrated live demonstrations (raftctl.tours);
with no topic, the list of them."""

from __future__ import annotations

from typing import Annotated

import typer

from raftctl.app import (
    DirOption,
    JsonOption,
    UnusedTimeoutOption,
    app,
    completing,
    reported,
    settings,
)
from raftctl.errors import UsageError
from raftctl.render import Output
from raftctl.tours import TOURS, tour_main


@app.command()
def tour(
    ctx: typer.Context,
    topic: Annotated[
        str | None,
        typer.Argument(
            help="raft, 2pc, 3pc or acid (none: list them).", autocompletion=completing(*TOURS)
        ),
    ] = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: UnusedTimeoutOption = None,
) -> None:
    """Play a narrated demonstration on a fresh cluster of its own (in a
    temporary directory, stopped and removed at the end): real commands,
    printed and run, and the events that explain them. Exit 0 when the story
    went as told, 1 when the cluster did something else.

    Example: raftctl tour 3pc
    """
    output = Output()
    with reported(output):
        output.output_format = settings(ctx, directory, json_mode, None).output_format
    del timeout_s  # each step has its own deadline
    if topic is None:
        listed = [{"name": name, "about": about} for name, (_, about) in TOURS.items()]
        width = max(len(name) for name in TOURS)
        lines = [f"{entry['name']:<{width}}  {entry['about']}" for entry in listed]
        lines.append("\nraftctl tour TOPIC plays one (about a minute or less each).")
        output.document({"ok": True, "tours": listed}, "\n".join(lines))
        return
    if topic not in TOURS:
        output.error(UsageError(f"no tour {topic!r}: the tours are {', '.join(TOURS)}"))
        raise typer.Exit(2)
    if output.json_mode:
        output.error(UsageError("a tour is told to people: drop --json"))
        raise typer.Exit(2)
    raise typer.Exit(tour_main(topic)())
