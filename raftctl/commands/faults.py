"""Fault commands: kill, restart, pause, resume, partition, heal."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Annotated

import typer

from node.faults import LinkFault
from raftctl.app import (
    DirOption,
    JsonOption,
    NodeArgument,
    TimeoutOption,
    app,
    completing,
    session,
)
from raftctl.controller import Controller, faults_document
from raftctl.errors import Unavailable, UsageError
from raftctl.render import Output, describe_rule

SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM}


@app.command()
def kill(
    ctx: typer.Context,
    node: NodeArgument,
    signal_name: Annotated[
        str,
        typer.Option(
            "--signal", help="KILL (default) or TERM.", autocompletion=completing(*SIGNALS)
        ),
    ] = "KILL",
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Kill a node's process. Example: raftctl kill leader"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        name = signal_name.upper().removeprefix("SIG")
        if name not in SIGNALS:
            raise UsageError("--signal takes KILL or TERM")
        node_id = control.resolve(node)
        cluster = control.cluster
        if cluster.state(node_id) == "stopped":
            output.document(
                {"ok": True, "node": node_id, "signal": name, "changed": False},
                f"{node_id} is already stopped",
            )
            return
        if name == "KILL":
            cluster.kill(node_id)
        else:
            cluster.signal(node_id, SIGNALS[name])
            control.wait_until(
                lambda: cluster.state(node_id) == "stopped", f"{node_id} stopping on SIGTERM"
            )
        output.document(
            {"ok": True, "node": node_id, "signal": name}, f"killed {node_id} (SIG{name})"
        )


@app.command()
def restart(
    ctx: typer.Context,
    node: NodeArgument,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Start a stopped node, or stop a running or paused one gracefully and start it.

    Example: raftctl restart n2 (follower and random pick a stopped node if any)
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        node_id = control.resolve(node, prefer="stopped")
        cluster = control.cluster
        cluster.stop(node_id, grace_s=control.stop_grace_s())
        pid = cluster.start(node_id)
        failure: list[str] = []

        def answering_or_failed() -> bool:
            problem = cluster.start_failure([node_id])
            if problem:
                failure.append(problem)  # it said why in exit.json: no need to wait
                return True
            return control.client.status(node_id, 0.3) is not None

        control.wait_until(answering_or_failed, f"{node_id} answering after its restart")
        if failure:
            raise Unavailable(failure[0])
        output.document(
            {"ok": True, "node": node_id, "pid": pid}, f"restarted {node_id} (pid {pid})"
        )


@app.command()
def pause(
    ctx: typer.Context,
    node: NodeArgument,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Freeze a node with SIGSTOP. Example: raftctl pause leader"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        node_id = control.resolve(node)
        _move_process(control, output, node_id, "paused", "pause", control.cluster.pause)


@app.command()
def resume(
    ctx: typer.Context,
    node: NodeArgument,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Let a paused node run again with SIGCONT. Example: raftctl resume n3

    follower and random pick a paused node.
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        if node == "leader":  # it picks among running nodes, and a paused one is not
            raise UsageError(
                "resume takes a node id, follower or random: a paused node leads no one"
            )
        node_id = control.resolve(node, prefer="paused")
        _move_process(control, output, node_id, "running", "resume", control.cluster.resume)


def _move_process(
    control: Controller,
    output: Output,
    node_id: str,
    to: str,
    verb: str,
    send: Callable[[str], bool],
) -> None:
    """pause and resume: a node already `to` is said to be (nothing changes,
    exit 0); a stopped one has nothing to pause or resume (usage)."""
    state = control.cluster.state(node_id)
    if state == to:
        output.document(
            {"ok": True, "node": node_id, "process": to, "changed": False},
            f"{node_id} is already {to}",
        )
        return
    if state == "stopped" or not send(node_id):
        raise UsageError(f"{node_id} is stopped: nothing to {verb} (raftctl restart {node_id})")
    # The kernel acts on SIGSTOP/SIGCONT when it next schedules the process: on
    # a busy machine that can be a moment. Return once it has, so that the
    # next command sees the node as this one says.
    control.wait_until(lambda: control.cluster.state(node_id) == to, f"{node_id} {verb}d")
    output.document({"ok": True, "node": node_id, "process": to}, f"{verb}d {node_id}")


@app.command()
def partition(
    ctx: typer.Context,
    groups: Annotated[
        list[str],
        typer.Argument(help="Comma-separated ids per group; nodes not named form one more group."),
    ],
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Cut node-to-node traffic between groups. Example: raftctl partition n1,n2 n3,n4,n5"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        parsed: list[tuple[str, ...]] = []
        seen: set[str] = set()
        for group in groups:
            members = tuple(control.resolve(word) for word in group.split(",") if word)
            if not members:
                raise UsageError(f"empty group {group!r}")
            twice = sorted(seen & set(members))
            if twice:
                raise UsageError(
                    f"{', '.join(twice)} {'is' if len(twice) == 1 else 'are'} named in two "
                    "groups: a node belongs to one side of a partition"
                )
            seen.update(members)
            parsed.append(members)
        rest = tuple(n for n in control.cluster.node_ids() if n not in seen)
        everyone = [*parsed, rest] if rest else parsed
        if len(everyone) < 2:
            raise UsageError("a partition needs at least two groups")
        faults = control.write_faults(partition=tuple(parsed))
        output.document(
            {"ok": True, "version": faults.version, "groups": [sorted(g) for g in everyone]},
            "partitioned " + " | ".join(",".join(sorted(g)) for g in everyone),
        )


@app.command()
def heal(
    ctx: typer.Context,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Clear every network fault: partitions and lossy links. Example: raftctl heal"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        faults = control.write_faults(partition=(), links=())
        output.document({"ok": True, "version": faults.version}, "healed")


def _delay(text: str | None) -> tuple[int, int]:
    """MS or MS:JITTER."""
    if text is None:
        return 0, 0
    try:
        delay, _, jitter = text.partition(":")
        return int(delay), int(jitter or 0)
    except ValueError as error:
        raise UsageError(f"--delay takes MS or MS:JITTER, not {text!r}") from error


def _probability(value: float | None, name: str) -> float:
    if value is None:
        return 0.0
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"{name} is a probability between 0 and 1")
    return value


@app.command()
def net(
    ctx: typer.Context,
    action: Annotated[
        str | None,
        typer.Argument(help="'clear' removes every link fault; nothing (or 'list') lists them."),
    ] = None,
    drop: Annotated[float | None, typer.Option(help="Drop probability (0-1).")] = None,
    delay: Annotated[
        str | None, typer.Option(help="MS or MS:JITTER added to each message.")
    ] = None,
    duplicate: Annotated[float | None, typer.Option(help="Duplication probability (0-1).")] = None,
    sources: Annotated[
        str | None, typer.Option("--from", help="Comma-separated senders (default all).")
    ] = None,
    targets: Annotated[
        str | None, typer.Option("--to", help="Comma-separated receivers (default all).")
    ] = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Make links lossy, slow or duplicating (rules add up; `net clear` removes
    them; `net` alone lists the rules and the partition in force).

    Example: raftctl net --drop 0.2 --delay 50:20 --from n1 --to n2,n3
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        if action not in (None, "clear", "list"):
            raise UsageError(f"unknown net action {action!r}: use 'clear', 'list' or options")
        asked = drop, delay, duplicate, sources, targets
        if action == "list" or (action is None and all(option is None for option in asked)):
            _list_faults(control, output)
            return
        if action == "clear":
            faults = control.write_faults(links=())
            output.document(
                {"ok": True, "version": faults.version, "links": []}, "link faults cleared"
            )
            return
        delay_ms, jitter_ms = _delay(delay)
        drop_p, duplicate_p = _probability(drop, "--drop"), _probability(duplicate, "--duplicate")
        if not (drop_p or delay_ms or jitter_ms or duplicate_p):
            raise UsageError("say what to do to the links: --drop, --delay or --duplicate")
        everyone = control.cluster.node_ids()
        senders = tuple(control.resolve(n) for n in sources.split(",")) if sources else everyone
        receivers = tuple(control.resolve(n) for n in targets.split(",")) if targets else everyone
        link = LinkFault(senders, receivers, drop_p, delay_ms, jitter_ms, duplicate_p)
        faults = control.write_faults(links=(*control.faults().links, link))
        rules = faults_document(faults)["links"]
        count = f"{len(rules)} link fault rule{'' if len(rules) == 1 else 's'}"
        output.document(
            {"ok": True, "version": faults.version, "links": rules},
            f"{count} in force (raftctl net lists them)",
        )


def _list_faults(control: Controller, output: Output) -> None:
    everyone = control.cluster.node_ids()
    document = faults_document(control.faults())
    lines = [describe_rule(rule, everyone) for rule in document["links"]] or ["no link faults"]
    if document["partition"]:
        named = {n for group in document["partition"] for n in group}
        groups = [*document["partition"], [n for n in everyone if n not in named]]
        lines.append("partition " + " | ".join(",".join(g) for g in groups if g))
    output.document({"ok": True, **document}, "\n".join(lines))
