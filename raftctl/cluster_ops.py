"""Protocol operations on a live cluster: leadership transfer (dissertation
§3.10), snapshots (Raft §7) and single-server membership changes (§4.1-§4.2).

The commands of raftctl.commands.protocol print what these return; the chaos nemesis
calls them too. Each waits with the Controller's deadline and raises
Unavailable (retryable trouble) or UsageError (a refusal that will not change).
On a sharded cluster each works within the shard of the node it names (or the
shard it is given): that shard's leader, voters and log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from node.messages import ChangeMembership, TakeSnapshot, TransferLeader
from raftctl.controller import Controller
from raftctl.errors import Unavailable, UsageError

__all__ = ["add_node", "leader_row", "remove_node", "snapshot", "transfer_leader"]


def leader_row(control: Controller, shard: int | None = None) -> dict[str, Any] | None:
    """The status row of the leader a majority of `shard` (the controller's
    own, or 1) follows, if there is one."""
    rows = control.shard_rows(shard or control.shard or 1)
    leader = control.established_leader(rows, None)
    return next((row for row in rows if leader and row["id"] == leader[0]), None)


def transfer_leader(control: Controller, target: str) -> dict[str, Any]:
    """Hand leadership to `target`; returns {"leader", "previous", "term", "elapsed_ms"}."""
    started = time.monotonic()
    shard = control.cluster.config.shard_of_node(target)
    previous, term = control.leader(shard=shard)
    if previous != target:
        answer = control.client.admin(previous, TransferLeader(target))
        if answer is None:
            raise Unavailable(f"leader {previous} did not answer the transfer request")
        if not answer.get("ok"):
            message = answer.get("error", "refused")
            if not answer.get("retryable"):
                raise UsageError(f"{target} cannot lead: {message}")
            raise Unavailable(f"leader {previous} refused the transfer: {message}")

        def target_leads() -> bool:
            leader = control.established_leader(control.shard_rows(shard), None)
            return leader is not None and leader[0] == target

        control.wait_until(target_leads, f"{target} leading after the transfer")
        _, term = control.leader(shard=shard)
    return {
        "leader": target,
        "previous": previous,
        "term": term,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }


def snapshot(control: Controller, node_ids: list[str]) -> list[dict[str, Any]]:
    """Ask each node to snapshot now; one answer per node."""
    results: list[dict[str, Any]] = []
    for node_id in node_ids:
        answer = control.client.admin(
            node_id, TakeSnapshot(), timeout_s=max(1.0, control.remaining_s())
        )
        if answer is None:
            raise Unavailable(f"{node_id} did not answer the snapshot request")
        results.append({"node": node_id, **answer})
    return results


def _change_membership(
    control: Controller, action: str, node_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Ask the leader for one change until its configuration satisfies `done`,
    then wait until everything the leader had appended is committed."""
    settled: dict[str, Any] = {}
    shard = control.cluster.config.shard_of_node(node_id)

    def in_force() -> bool:
        row = leader_row(control, shard)
        if row is None:
            return False
        if done(row):
            settled.update(row)
            return True
        answer = control.client.admin(row["id"], ChangeMembership(action, node_id))
        if answer is not None and not answer.get("ok") and not answer.get("retryable"):
            message = answer.get("error", "refused")
            raise UsageError(f"the leader refused to {action} {node_id}: {message}")
        return False

    control.wait_until(in_force, f"{action} {node_id} in force", interval_s=0.1)

    def committed() -> bool:
        row = leader_row(control, shard)
        return (
            row is not None
            and row["term"] == settled["term"]
            and row["commit_index"] >= settled["last_log_index"]
        ) or (row is not None and row["term"] != settled["term"] and done(row))

    control.wait_until(committed, f"{action} {node_id} committed")
    final = leader_row(control, shard) or settled
    return {"voters": final["voters"], "learners": final["learners"]}


def add_node(
    control: Controller, learner: bool = False, shard: int | None = None
) -> dict[str, Any]:
    """A fresh node of `shard`: started as a learner, promoted once it has caught up
    (unless `learner`). Returns {"node", "pid", "role", "voters", "learners", "elapsed_ms"}."""
    started = time.monotonic()
    shard = shard or control.shard or 1
    control.leader(shard=shard)
    node_id = control.cluster.add_node(shard)
    control.forget_client()
    pid = control.cluster.start(node_id)
    members = _join(control, node_id, learner)
    return {
        "node": node_id,
        "pid": pid,
        "role": "learner" if learner else "voter",
        **members,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }


def add_gossip_node(control: Controller) -> dict[str, Any]:
    """A fresh gossip replica: written into cluster.toml (the address book
    the others re-read), started, and done once every running replica's SWIM
    view holds it alive. Returns {"node", "pid", "role", "members", "elapsed_ms"}."""
    started = time.monotonic()
    node_id = control.cluster.add_node(1)
    control.forget_client()
    pid = control.cluster.start(node_id)
    members: list[str] = []

    def known() -> bool:
        rows = [row for row in control.status()["nodes"] if row["process"] == "running"]
        members[:] = [row["id"] for row in rows]
        return node_id in members and all(
            row["role"] is not None
            and (row["id"] == node_id or (row["members"] or {}).get(node_id) == "alive")
            for row in rows
        )

    control.wait_until(known, f"{node_id} known alive to every running replica")
    return {
        "node": node_id,
        "pid": pid,
        "role": "replica",
        "members": members,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }


def rejoin(control: Controller, node_id: str) -> dict[str, Any]:
    """Bring back a node whose storage cannot be trusted (it lost entries it
    had acknowledged, its log is corrupt, or its storage was wiped): stop it,
    take it out of the configuration, wipe its Raft state and add it back as a
    learner, promoted once it has caught up if it was a voter. Out of the
    configuration it cannot vote with what it forgot; it comes back with the
    leader's log. Returns {"node", "pid", "role", "voters", "learners",
    "wiped", "elapsed_ms"}."""
    started = time.monotonic()
    cluster = control.cluster
    shard = cluster.config.shard_of_node(node_id)
    row = leader_row(control, shard)
    if row is None:
        control.leader(shard=shard)
        row = leader_row(control, shard)
    was_voter = row is None or node_id not in row["learners"]
    cluster.stop(node_id, grace_s=control.stop_grace_s())
    if row is None or node_id in row["voters"] or node_id in row["learners"]:
        _change_membership(
            control,
            "remove",
            node_id,
            lambda row: node_id not in row["voters"] and node_id not in row["learners"],
        )
    wiped = cluster.wipe_state(node_id)
    control.forget_client()
    pid = cluster.start(node_id)
    members = _join(control, node_id, learner=not was_voter)
    cluster.end_rejoin(node_id)
    return {
        "node": node_id,
        "pid": pid,
        "role": "voter" if was_voter else "learner",
        **members,
        "wiped": wiped,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }


def _join(control: Controller, node_id: str, learner: bool) -> dict[str, Any]:
    """Add the running `node_id` as a learner, then (unless `learner`) promote
    it once it has caught up with the leader's commit index."""
    members = _change_membership(
        control,
        "add-learner",
        node_id,
        lambda row: node_id in row["learners"] or node_id in row["voters"],
    )
    if learner:
        return members

    def caught_up() -> bool:
        row = leader_row(control, control.cluster.config.shard_of_node(node_id))
        status = control.client.status(node_id, 0.5)
        return bool(row and status and status["applied_index"] >= row["commit_index"])

    control.wait_until(caught_up, f"{node_id} catching up")
    return _change_membership(control, "promote", node_id, lambda row: node_id in row["voters"])


def remove_node(control: Controller, node_id: str) -> dict[str, Any]:
    """Remove `node_id` from the configuration, stop it and drop it from
    cluster.toml (its directory stays). Returns {"node", "voters", "learners"}."""
    members = _change_membership(
        control,
        "remove",
        node_id,
        lambda row: node_id not in row["voters"] and node_id not in row["learners"],
    )
    control.cluster.stop(node_id, grace_s=control.stop_grace_s())
    control.cluster.forget_node(node_id)
    control.forget_client()
    return {"node": node_id, **members}
