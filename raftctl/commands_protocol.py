"""Protocol commands: snapshot (Raft §7) and transfer-leader (dissertation §3.10)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from raftctl.cli import DirOption, JsonOption, NodeArgument, TimeoutOption, app, session
from raftctl.errors import Unavailable, UsageError


@app.command("transfer-leader")
def transfer_leader(
    ctx: typer.Context,
    node: NodeArgument,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Hand leadership to NODE: the leader stops taking writes, brings NODE up to
    date and tells it to campaign at once.

    Example: raftctl transfer-leader n3
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        target = control.resolve(node)
        started = time.monotonic()
        previous, term = control.leader()
        if previous != target:
            answer = control.client.admin(previous, "transfer_leader", {"target": target})
            if answer is None:
                raise Unavailable(f"leader {previous} did not answer the transfer request")
            if not answer.get("ok"):
                message = answer.get("error", "refused")
                if "not a voter" in message:
                    raise UsageError(f"{target} is not a voter and cannot lead")
                raise Unavailable(f"leader {previous} refused the transfer: {message}")

            def target_leads() -> bool:
                leader = control.established_leader(control.status()["nodes"], None)
                return leader is not None and leader[0] == target

            control.wait_until(target_leads, f"{target} leading after the transfer")
            _, term = control.leader()
        elapsed_ms = round((time.monotonic() - started) * 1000)
        output.document(
            {
                "ok": True,
                "leader": target,
                "previous": previous,
                "term": term,
                "elapsed_ms": elapsed_ms,
            },
            f"{target} leads (was {previous}), after {elapsed_ms} ms"
            if previous != target
            else f"{target} already leads",
        )


@app.command()
def snapshot(
    ctx: typer.Context,
    nodes: Annotated[
        list[str] | None, typer.Argument(help="Nodes to snapshot (default: the leader).")
    ] = None,
    all_nodes: Annotated[bool, typer.Option("--all", help="Every running node.")] = False,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Snapshot the state machine now and compact the log (and WAL) behind it.

    Example: raftctl snapshot --all
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        if all_nodes and nodes:
            raise UsageError("give node names or --all, not both")
        cluster = control.cluster
        if all_nodes:
            targets = [n for n in cluster.node_ids() if cluster.state(n) == "running"]
        elif nodes:
            targets = [control.resolve(node) for node in nodes]
        else:
            targets = [control.leader()[0]]
        results: list[dict[str, Any]] = []
        for node_id in targets:
            answer = control.client.admin(
                node_id, "snapshot", {}, timeout_s=max(1.0, control.remaining_s())
            )
            if answer is None:
                raise Unavailable(f"{node_id} did not answer the snapshot request")
            results.append({"node": node_id, **answer})
        lines = [
            f"{r['node']}: snapshot at index {r['index']} ({r['bytes']} bytes, "
            f"{r['stall_ms']} ms, {r['released_segments']} WAL segments released)"
            if r.get("taken")
            else f"{r['node']}: nothing new to snapshot (snapshot at index {r['index']})"
            for r in results
        ]
        output.document({"ok": True, "snapshots": results}, "\n".join(lines))
