"""Protocol commands: snapshot (Raft §7), transfer-leader (dissertation §3.10),
add-node, remove-node and rejoin (single-server membership change, §4.1-§4.2).
raftctl.cluster_ops does the work; these parse and print."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from raftctl import cluster_ops
from raftctl.app import DirOption, JsonOption, NodeArgument, TimeoutOption, app, session
from raftctl.errors import UsageError


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
        control.require_log("transfer-leader", "there is no leader to transfer")
        target = control.answering(control.resolve(node), "and cannot take over")
        result = cluster_ops.transfer_leader(control, target)
        target, previous = result["leader"], result["previous"]
        output.document(
            {"ok": True, **result},
            f"{target} leads (was {previous}), after {result['elapsed_ms']} ms"
            if previous != target
            else f"{target} already leads",
        )


@app.command()
def snapshot(
    ctx: typer.Context,
    nodes: Annotated[
        list[str] | None, typer.Argument(help="Nodes to snapshot (default: the leader).")
    ] = None,
    all_nodes: Annotated[
        bool,
        typer.Option(
            "--all", help="Every running node (paused and stopped are listed as skipped)."
        ),
    ] = False,
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
        skipped: list[dict[str, str]] = []
        if all_nodes:
            targets = [n for n in cluster.node_ids() if cluster.state(n) == "running"]
            skipped = [
                {"node": n, "process": cluster.state(n)}
                for n in cluster.node_ids()
                if n not in targets
            ]
        elif nodes:
            targets = [control.answering(control.resolve(node)) for node in nodes]
        elif cluster.config.protocol == "gossip":
            targets = [control.resolve("random")]  # no leader: any replica
        else:
            targets = [control.leader()[0]]
        results = cluster_ops.snapshot(control, targets)
        lines = [
            f"{r['node']}: snapshot at index {r['index']} ({r['bytes']} bytes, "
            f"the loop held {r['stall_ms']} ms of {r['took_ms']} ms, "
            f"{r['released_segments']} WAL segments released)"
            if r.get("taken")
            else f"{r['node']}: nothing new to snapshot (snapshot at index {r['index']})"
            for r in results
        ] + [f"{s['node']}: skipped ({s['process']})" for s in skipped]
        output.document({"ok": True, "snapshots": results, "skipped": skipped}, "\n".join(lines))


@app.command("add-node")
def add_node(
    ctx: typer.Context,
    learner: Annotated[
        bool, typer.Option("--learner", help="Leave it a learner: do not promote it.")
    ] = False,
    shard: Annotated[int, typer.Option(help="On a sharded cluster: the shard it joins.")] = 1,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Add a new node: a fresh id, started as a learner, promoted to voter once
    it has caught up. Prints its id. Under --protocol gossip it joins through
    any live replica (SWIM) and is done once every running replica holds it
    alive; anti-entropy then fills it.

    Example: raftctl add-node (on a sharded cluster: raftctl add-node --shard 2)
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        if control.cluster.config.protocol == "gossip":
            if learner:
                raise UsageError("--learner has no meaning under protocol gossip: no one votes")
            result = cluster_ops.add_gossip_node(control)
            output.note(f"{result['node']} joined in {result['elapsed_ms']} ms")
            output.document({"ok": True, **result}, result["node"])
            return
        control.shard_node_ids(shard)  # no such shard: a usage error before anything starts
        result = cluster_ops.add_node(control, learner, shard)
        node_id, learners = result["node"], result["learners"]
        output.note(
            f"{node_id} joined as a {result['role']} in {result['elapsed_ms']} ms (voters "
            f"{','.join(result['voters'])}"
            + (f"; learners {','.join(learners)})" if learners else ")")
        )
        # stdout holds the id alone, so that `new=$(raftctl add-node)` works.
        output.document({"ok": True, **result}, node_id)


@app.command("rejoin")
def rejoin(
    ctx: typer.Context,
    node: NodeArgument,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Bring NODE back safely after its storage failed (a corrupt or lost log:
    the node says so in exit.json and node.log): stop it, remove it from the
    configuration, wipe its wal/ and snapshots/, and add it back as a learner
    that copies the leader's log, promoted to voter once it has caught up.

    Example: raftctl rejoin n3
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        control.require_log(
            "rejoin", "a replica that lost its storage starts empty and is filled by gossip"
        )
        result = cluster_ops.rejoin(control, control.resolve(node))
        output.document(
            {"ok": True, **result},
            f"{result['node']} rejoined as a {result['role']} in {result['elapsed_ms']} ms"
            f" (wiped {', '.join(result['wiped']) or 'nothing'};"
            f" voters {','.join(result['voters'])})",
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
        control.require_log(
            "remove-node", "membership is SWIM's: stop the node and the others declare it dead"
        )
        result = cluster_ops.remove_node(control, control.resolve(node))
        voters = ",".join(result["voters"])
        output.document({"ok": True, **result}, f"removed {result['node']} (voters {voters})")


member_app = typer.Typer(
    help="The configuration, as etcdctl shows it. Example: raftctl member list",
    no_args_is_help=True,
)
app.add_typer(member_app, name="member")


@member_app.command("list")
def member_list(
    ctx: typer.Context,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Every node with its place in the configuration (voter, learner, or
    none: in cluster.toml but not in the configuration the log holds), its
    address and its process. The configuration is the leader's, or, with no
    leader, that of the node with the latest term.

    Example: raftctl member list -w simple
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        control.require_log(
            "member list", "there is no configuration in a log; status shows SWIM's view"
        )
        document = control.status()
        configurations = [
            _configuration(document, shard["id"], shard["leader"]) for shard in document["shards"]
        ]
        members = []
        for row in document["nodes"]:
            _, voters, learners = configurations[row["shard"] - 1]
            address = control.cluster.config.node(row["id"]).endpoint
            place = (
                "voter" if row["id"] in voters else "learner" if row["id"] in learners else "none"
            )
            member = {
                "id": row["id"],
                "membership": place,
                "address": address,
                "process": row["process"],
                "is_leader": any(row["id"] == shard["leader"] for shard in document["shards"]),
            }
            if len(configurations) > 1:
                member["shard"] = row["shard"]
            members.append(member)
        source, voters, learners = configurations[0]
        from rich.table import Table

        sharded = len(configurations) > 1
        sources = ", ".join(
            (f"shard {n}: " if sharded else "") + (found["id"] if found else "no node answered")
            for n, (found, _, _) in enumerate(configurations, start=1)
        )
        table = Table(title=f"configuration from {sources}", title_justify="left")
        headers = ("node", "shard") if sharded else ("node",)
        for header in (*headers, "membership", "address", "process", "leader"):
            table.add_column(header, no_wrap=True)
        for member in members:
            table.add_row(
                member["id"],
                *((str(member["shard"]),) if sharded else ()),
                member["membership"],
                member["address"],
                member["process"],
                "yes" if member["is_leader"] else "",
            )
        body: dict[str, Any] = {
            "ok": True,
            "from": source["id"] if source else None,
            "voters": voters,
            "learners": learners,
            "members": members,
        }
        if sharded:  # the top level is shard 1's, as a bare `leader` is
            body["shards"] = [
                {
                    "id": n,
                    "from": found["id"] if found else None,
                    "voters": shard_voters,
                    "learners": shard_learners,
                }
                for n, (found, shard_voters, shard_learners) in enumerate(configurations, start=1)
            ]
        output.document(
            body,
            table,
        )


def _configuration(
    document: dict[str, Any], shard: int, leader: str | None
) -> tuple[dict[str, Any] | None, list[str], list[str]]:
    """A shard's configuration: its leader's, or, with no leader, that of its
    node with the latest term; (the row it came from, voters, learners)."""
    answered = [
        row for row in document["nodes"] if row["shard"] == shard and row["voters"] is not None
    ]
    source = next(
        (row for row in answered if row["id"] == leader),
        max(answered, key=lambda row: row["term"], default=None),
    )
    return source, (source["voters"] if source else []), (source["learners"] if source else [])
