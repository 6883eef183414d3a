"""Leadership commands: transfer-leader (dissertation §3.10)."""

from __future__ import annotations

import time

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
