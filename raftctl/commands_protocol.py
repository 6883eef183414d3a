"""Protocol commands: snapshot (Raft §7), transfer-leader (dissertation §3.10),
add-node and remove-node (single-server membership change, §4.1-§4.2)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from raftctl.cli import DirOption, JsonOption, NodeArgument, TimeoutOption, app, session
from raftctl.control import Controller
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
                if not answer.get("retryable"):
                    raise UsageError(f"{target} cannot lead: {message}")
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


def _leader_row(control: Controller) -> dict[str, Any] | None:
    rows = control.status()["nodes"]
    leader = control.established_leader(rows, None)
    return next((row for row in rows if leader and row["id"] == leader[0]), None)


def _change_membership(
    control: Controller, action: str, node_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Ask the leader for one change until its configuration satisfies `done`,
    then wait until everything the leader had appended is committed."""
    settled: dict[str, Any] = {}

    def in_force() -> bool:
        row = _leader_row(control)
        if row is None:
            return False
        if done(row):
            settled.update(row)
            return True
        answer = control.client.admin(
            row["id"], "change_membership", {"action": action, "node": node_id}
        )
        if answer is not None and not answer.get("ok") and not answer.get("retryable"):
            message = answer.get("error", "refused")
            raise UsageError(f"the leader refused to {action} {node_id}: {message}")
        return False

    control.wait_until(in_force, f"{action} {node_id} in force", interval_s=0.1)

    def committed() -> bool:
        row = _leader_row(control)
        return (
            row is not None
            and row["term"] == settled["term"]
            and row["commit_index"] >= settled["last_log_index"]
        ) or (row is not None and row["term"] != settled["term"] and done(row))

    control.wait_until(committed, f"{action} {node_id} committed")
    final = _leader_row(control) or settled
    return {"voters": final["voters"], "learners": final["learners"]}


@app.command("add-node")
def add_node(
    ctx: typer.Context,
    learner: Annotated[
        bool, typer.Option("--learner", help="Leave it a learner: do not promote it.")
    ] = False,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Add a new node: a fresh id, started as a learner, promoted to voter once
    it has caught up. Prints its id.

    Example: raftctl add-node
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        started = time.monotonic()
        control.leader()
        cluster = control.cluster
        node_id = cluster.add_node()
        control.forget_client()
        pid = cluster.start(node_id)
        members = _change_membership(
            control,
            "add-learner",
            node_id,
            lambda row: node_id in row["learners"] or node_id in row["voters"],
        )
        if not learner:

            def caught_up() -> bool:
                row = _leader_row(control)
                status = control.client.status(node_id, 0.5)
                return bool(row and status and status["applied_index"] >= row["commit_index"])

            control.wait_until(caught_up, f"{node_id} catching up")
            members = _change_membership(
                control, "promote", node_id, lambda row: node_id in row["voters"]
            )
        elapsed_ms = round((time.monotonic() - started) * 1000)
        role = "learner" if learner else "voter"
        learners = members["learners"]
        output.note(
            f"{node_id} joined as a {role} in {elapsed_ms} ms (voters "
            f"{','.join(members['voters'])}"
            + (f"; learners {','.join(learners)})" if learners else ")")
        )
        # stdout holds the id alone, so that `new=$(raftctl add-node)` works.
        output.document(
            {
                "ok": True,
                "node": node_id,
                "pid": pid,
                "role": role,
                **members,
                "elapsed_ms": elapsed_ms,
            },
            node_id,
        )


@app.command("remove-node")
def remove_node(
    ctx: typer.Context,
    node: NodeArgument,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Remove NODE from the configuration (the leader too: it steps down once
    the change commits), then stop it and drop it from cluster.toml.

    Example: raftctl remove-node n2
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        node_id = control.resolve(node)
        members = _change_membership(
            control,
            "remove",
            node_id,
            lambda row: node_id not in row["voters"] and node_id not in row["learners"],
        )
        control.cluster.stop(node_id, grace_s=control.stop_grace_s())
        control.cluster.forget_node(node_id)
        control.forget_client()
        output.document(
            {"ok": True, "node": node_id, **members},
            f"removed {node_id} (voters {','.join(members['voters'])})",
        )
