"""Fault commands: kill, restart, pause, resume, partition, heal."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from raftctl.cli import DirOption, JsonOption, NodeArgument, TimeoutOption, app, session
from raftctl.errors import UsageError

SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM}


@app.command()
def kill(
    ctx: typer.Context,
    node: NodeArgument,
    signal_name: Annotated[str, typer.Option("--signal", help="KILL (default) or TERM.")] = "KILL",
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

    Example: raftctl restart n2
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        node_id = control.resolve(node)
        cluster = control.cluster
        cluster.stop(node_id, grace_s=min(5.0, max(1.0, control.remaining_s())))
        pid = cluster.start(node_id)
        control.wait_until(
            lambda: control.client.status(node_id, 0.3) is not None,
            f"{node_id} answering after its restart",
        )
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
        if not control.cluster.pause(node_id):
            raise UsageError(f"{node_id} is not running")
        output.document({"ok": True, "node": node_id, "process": "paused"}, f"paused {node_id}")


@app.command()
def resume(
    ctx: typer.Context,
    node: NodeArgument,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Let a paused node run again with SIGCONT. Example: raftctl resume n3"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        node_id = (
            control.cluster.check_node(node)
            if node not in ("leader", "follower", "random")
            else None
        )
        if node_id is None:  # the words pick among running nodes; a paused one is not
            raise UsageError("resume takes a node id: a paused node leads no one")
        if not control.cluster.resume(node_id):
            raise UsageError(f"{node_id} is not running or paused")
        output.document({"ok": True, "node": node_id, "process": "running"}, f"resumed {node_id}")


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
            if seen & set(members):
                raise UsageError(f"{sorted(seen & set(members))} named in two groups")
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
