"""Cluster commands: start, stop, destroy, status, leader, wait, logs."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from node.config import PROTOCOLS, TXN_PROTOCOLS
from raftctl.app import (
    DirOption,
    JsonOption,
    NodeArgument,
    TimeoutOption,
    app,
    completing,
    session,
)
from raftctl.cluster import ClusterDir
from raftctl.commands import start_checks
from raftctl.commands.start_checks import SHARDS_MAX
from raftctl.controller import Controller
from raftctl.errors import Unavailable, UsageError
from raftctl.render import STATUS_FIELDS, Output, status_table


# What one idle node costs, measured on a 2-core laptop (psutil's CPU times over
# 5 s, default timers: a tick every 25 ms): about 3.5 % of a core and 27 MiB
# resident. A node under load or in an election needs several times that, so
# `start` wants this much room.
@app.command()
def start(
    ctx: typer.Context,
    nodes: Annotated[
        int | None, typer.Option(help="Nodes in a new cluster, per shard (default 3).")
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(help="Raft groups in a new cluster, each of --nodes nodes (default 1)."),
    ] = None,
    base_port: Annotated[
        int | None, typer.Option(help="Node i listens on P+i (default 7100); 0 picks free ports.")
    ] = None,
    election_timeout: Annotated[
        str | None, typer.Option(help="MIN-MAX milliseconds (default 300-600).")
    ] = None,
    heartbeat: Annotated[int | None, typer.Option(help="Milliseconds (default 50).")] = None,
    snapshot_threshold: Annotated[
        int | None, typer.Option(help="Entries between snapshots (default 10000; 0: on request).")
    ] = None,
    prevote: Annotated[
        bool | None, typer.Option("--prevote/--no-prevote", help="PreVote (default on).")
    ] = None,
    check_quorum: Annotated[
        bool | None,
        typer.Option("--check-quorum/--no-check-quorum", help="CheckQuorum (default on)."),
    ] = None,
    fsync: Annotated[
        bool | None, typer.Option("--fsync/--no-fsync", help="fsync every batch (default on).")
    ] = None,
    slow: Annotated[
        int | None,
        typer.Option(
            "--slow", help="Every timer N times slower, to watch an election (default 1)."
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="No CURVE keys: anyone on this machine may talk to the nodes (an experiment).",
        ),
    ] = False,
    txn_protocol: Annotated[
        str | None,
        typer.Option(
            "--txn-protocol",
            help="How transactions cross shards: 2pc (default: decisions replicated by Raft), "
            "2pc-classic or 3pc (a coordinator process, id coord).",
            autocompletion=completing(*TXN_PROTOCOLS),
        ),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            help="raft (default: consistent, the minority side refuses writes), paxos (the "
            "same log by Multi-Paxos) or gossip (leaderless: every node takes writes, "
            "replicas converge by anti-entropy).",
            autocompletion=completing(*PROTOCOLS),
        ),
    ] = None,
    fanout: Annotated[
        int | None,
        typer.Option(help="gossip: peers each anti-entropy round talks to (default 2)."),
    ] = None,
    gossip_interval: Annotated[
        int | None,
        typer.Option(help="gossip: milliseconds between anti-entropy rounds (default 200)."),
    ] = None,
    ack: Annotated[
        int | None,
        typer.Option(
            help="gossip: W, replicas that hold a write before it is answered (default 1)."
        ),
    ] = None,
    read: Annotated[
        int | None,
        typer.Option(
            help="gossip: R, replicas a read asks (default 1); R + W > N: read-your-writes."
        ),
    ] = None,
    no_leader: Annotated[
        bool,
        typer.Option(
            "--no-leader",
            help="paxos: no distinguished proposer; every node asked to write prepares its "
            "own ballot (dueling proposers).",
        ),
    ] = False,
    backoff: Annotated[
        bool,
        typer.Option(
            "--backoff", help="paxos --no-leader: a preempted proposer waits a random while."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Start more nodes than this machine is estimated to hold."),
    ] = False,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Create the cluster if needed, start stopped nodes, wait for a leader.

    A new cluster authenticates every connection with CURVE keys kept in the
    cluster directory (keys/, readable only by you); --insecure turns that off.

    It refuses more nodes than the machine is estimated to hold (--force
    starts them anyway), and ports outside 1024-65535. If a node cannot start,
    the nodes it started are stopped again.

    With --shards S the cluster is S Raft groups (ids s1n1, s2n1, ...); each
    key lives in one shard (by a SHA-256 of the key) and transactions across
    shards commit atomically by two-phase commit. --txn-protocol 2pc-classic or
    3pc runs the textbook protocols instead, with a coordinator process (id
    coord) that kill, pause and restart accept like a node.

    With --protocol gossip there is no leader: every node takes reads and
    writes, stamps each write with a hybrid logical clock (the latest wins)
    and spreads it by gossip to --fanout peers every --gossip-interval ms;
    --ack W answers a write once W replicas hold it and --read R a read once
    R answered (Dynamo's quorum); start waits until every node answers.

    With --protocol paxos the same store is replicated by Multi-Paxos: a
    leader (the distinguished proposer) runs phase 1 once for every future
    slot, then phase 2 per slot; every command works as under Raft, with a
    ballot (round.node) where Raft has a term. --no-leader drops the
    distinguished proposer (start then waits for every node to answer),
    --backoff adds the randomized backoff that cures dueling proposers.

    Example: raftctl start --nodes 5 --base-port 0
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        if slow is not None and slow < 1:
            raise UsageError("--slow takes a factor of 1 or more")
        switches = {
            "pre_vote": prevote,
            "check_quorum": check_quorum,
            "fsync": fsync,
            "slow_factor": slow,
            "curve": False if insecure else None,
            "txn_protocol": txn_protocol,
            "protocol": protocol,
            "gossip_fanout": fanout,
            "gossip_interval_ms": gossip_interval,
            "gossip_ack": ack,
            "gossip_read": read,
            "paxos_leader": False if no_leader else None,
            "paxos_backoff": True if backoff else None,
        }
        if txn_protocol is not None and txn_protocol not in TXN_PROTOCOLS:
            raise UsageError(f"--txn-protocol takes {', '.join(TXN_PROTOCOLS)}")
        start_checks.check_protocol(protocol, fanout, gossip_interval, shards, txn_protocol)
        start_checks.check_paxos(protocol, no_leader, backoff)
        start_checks.check_quorum(protocol, ack, read, nodes)
        settings = start_checks.requested_settings(
            election_timeout, heartbeat, snapshot_threshold, switches
        )
        if nodes is not None and nodes < 1:
            raise UsageError("--nodes must be at least 1")
        if shards is not None and not 1 <= shards <= SHARDS_MAX:
            raise UsageError(f"--shards takes 1 to {SHARDS_MAX}")
        if (control.path / "cluster.toml").exists():
            start_checks.check_matches(control.cluster, nodes, base_port, settings, shards)
        else:
            port = 7100 if base_port is None else base_port
            total = (nodes or 3) * (shards or 1)
            start_checks.check_node_count(total, force)
            start_checks.check_ports(port, total)
            start_checks.check_timing(settings)
            ClusterDir.create(control.path, nodes or 3, port, shards or 1, **settings)
        cluster = control.cluster
        started, paused = [], []
        for node_id in cluster.process_ids():
            state = cluster.state(node_id)
            if state == "stopped":
                cluster.start(node_id)
                started.append(node_id)
            elif state == "paused":
                paused.append(node_id)
        failure: list[str] = []

        def ready() -> bool:
            problem = cluster.start_failure(started)
            if problem:
                failure.append(problem)
                return True
            return _ready(control)

        awaited = "a leader" if control.has_leader() else "every node"
        try:
            control.wait_until(ready, awaited)
        except Unavailable as error:
            raise Unavailable(
                f"{error}; the nodes keep running and may still elect one "
                "(raftctl status to watch, raftctl destroy --yes to clean up)"
            ) from None
        if failure:
            # One node could not start: stop the ones this command started, so
            # that nothing is left half up.
            cluster.stop_many(started, grace_s=control.stop_grace_s())
            raise Unavailable(
                f"{failure[0]}; stopped the {len(started)} nodes this start began "
                "(fix it and start again, or raftctl destroy --yes)"
            )
        document = control.status()
        document.update({"started": started, "paused": paused})
        for node_id in paused:
            output.note(f"{node_id} is paused and stays paused (raftctl resume {node_id})")
        output.document(document, status_table(document, width=_width(output)))


def _width(output: Output) -> int | None:
    """The terminal's width for a table; None when piped (nothing to fit)."""
    return output.console.width if sys.stdout.isatty() else None


def _ready(control: Controller) -> bool:
    """Raft and Paxos: every shard has a leader a majority of it follows.
    Gossip and Paxos --no-leader: every running node answers (there is no
    leader to wait for)."""
    rows = control.status()["nodes"]
    if not control.has_leader():
        return all(row["role"] is not None for row in rows if row["process"] == "running")
    return all(
        control.established_leader([row for row in rows if row["shard"] == shard], None) is not None
        for shard in range(1, control.cluster.config.shards + 1)
    )


@app.command()
def status(
    ctx: typer.Context,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until Ctrl-C.")] = False,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """One row per node: process, role, term, leader, indexes, partition group.

    Example: raftctl status --watch
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        if not watch:
            document = control.status()
            output.document(document, status_table(document, width=_width(output)))
            return
        _watch(control, output)


def _watch(control: Controller, output: Any) -> None:
    from rich.live import Live

    previous: dict[str, Any] = {}
    try:
        if output.json_mode:
            while True:
                output.line(control.status(), "")
                time.sleep(0.5)
        if not sys.stdout.isatty() or output.output_format in ("simple", "fields"):
            # Piped, or asked for plain lines: a new snapshot each time
            # something changed, flushed at once (a live view draws only at its end).
            last = ""
            while True:
                document = control.status()
                # The table's fields, not the traffic counters of every heartbeat.
                seen = json.dumps(
                    [[row.get(f) for f in STATUS_FIELDS] for row in document["nodes"]]
                )
                if seen != last:
                    last = seen
                    if output.output_format in (None, "table"):
                        sys.stdout.write(time.strftime("-- %H:%M:%S\n"))
                    output.document(document, status_table(document, width=_width(output)))
                    sys.stdout.flush()
                time.sleep(0.5)
        with Live(console=output.console, refresh_per_second=4, transient=False) as live:
            while True:
                document = control.status()
                roles = {row["id"]: row["role"] for row in document["nodes"]}
                changed = {n for n, role in roles.items() if previous and previous.get(n) != role}
                previous = roles
                live.update(status_table(document, changed, _width(output)))
                time.sleep(0.5)
    except KeyboardInterrupt:
        return


@app.command()
def leader(
    ctx: typer.Context,
    shard: Annotated[int, typer.Option(help="On a sharded cluster: whose leader.")] = 1,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Print the leader's id (waiting up to --timeout for one); on a sharded
    cluster, shard 1's unless --shard says. Example: raftctl leader"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        control.require_log("leader", "every replica takes writes; there is no leader")
        control.shard_node_ids(shard)
        node_id, term = control.leader(shard=shard)
        output.document({"leader": node_id, "term": term, "shard": shard}, node_id)


@app.command()
def wait(
    ctx: typer.Context,
    for_leader: Annotated[bool, typer.Option("--leader", help="Until a leader is agreed.")] = False,
    applied: Annotated[
        int | None, typer.Option(help="Until the nodes applied at least INDEX.")
    ] = None,
    caught_up: Annotated[
        bool,
        typer.Option(
            "--caught-up", help="Until the nodes applied everything the leader committed."
        ),
    ] = False,
    converged: Annotated[
        bool,
        typer.Option(
            "--converged",
            help="gossip: until every running replica holds the same state (one digest).",
        ),
    ] = False,
    node: Annotated[str | None, typer.Option(help="Only this node (default: all running).")] = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Block until a condition holds (exit 0) or --timeout passes (exit 3).

    Example: raftctl wait --leader --timeout 30; under --protocol gossip,
    raftctl wait --converged (after a heal, until every replica agrees).
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        if converged:
            if for_leader or applied is not None or caught_up or node:
                raise UsageError("--converged waits for every replica alone: drop the others")
            if control.cluster.config.protocol != "gossip":
                raise UsageError("--converged is for protocol gossip; under raft use --caught-up")
            _wait_converged(control, output)
            return
        if not (for_leader or applied is not None or caught_up):
            raise UsageError(
                "say what to wait for: --leader, --applied INDEX, --caught-up or --converged"
            )
        control.require_log("wait --leader, --applied and --caught-up", "use wait --converged")
        if applied is not None and applied < 0:
            raise UsageError(f"--applied takes an index >= 0, not {applied}")
        cluster = control.cluster
        if node:
            targets = [control.answering(control.resolve(node), "and cannot catch up")]
        else:
            # Every node whose process is there: a paused one is waited for (and
            # cannot catch up: said at once), a stopped one was stopped on purpose.
            targets = [n for n in cluster.node_ids() if cluster.state(n) != "stopped"]
            if applied is not None or caught_up:
                for node_id in targets:
                    control.answering(node_id, "and cannot catch up")
        if for_leader and node:
            control.leader(targets[0])
        elif for_leader:
            for shard in range(1, cluster.config.shards + 1):
                control.leader(shard=shard)
        lacking: list[str] = []
        if applied is not None or caught_up:

            def enough() -> bool:
                lacking[:] = [_lacking(control, targets, applied, caught_up)]
                return not lacking[0]

            try:
                control.wait_until(enough, "the wait condition")
            except Unavailable as error:
                raise Unavailable(f"{error} ({lacking[0]})" if lacking else str(error)) from None
        document = control.status()
        output.document(
            {
                "ok": True,
                "leader": document["leader"],
                "term": document["term"],
                "nodes": targets,
            },
            "OK",
        )


def _wait_converged(control: Controller, output: Output) -> None:
    """Every running gossip replica reports one digest, and its SWIM view
    holds every other running replica alive."""
    seen: dict[str, Any] = {}

    def agreed() -> bool:
        rows = [row for row in control.status()["nodes"] if row["process"] == "running"]
        digests = {row["digest"] for row in rows}
        running = {row["id"] for row in rows}
        seen["digests"] = {row["id"]: row["digest"] for row in rows}
        seen["keys"] = rows[0]["keys"] if rows else 0
        return (
            len(digests) == 1
            and None not in digests
            and all(
                (row["members"] or {}).get(other) == "alive"
                for row in rows
                for other in running - {row["id"]}
            )
        )

    started = time.monotonic()
    try:
        control.wait_until(agreed, "convergence", interval_s=0.1)
    except Unavailable as error:
        raise Unavailable(f"{error} (digests: {seen.get('digests')})") from None
    took = time.monotonic() - started
    output.document(
        {"ok": True, "converged": True, "keys": seen["keys"], "waited_s": round(took, 3)},
        f"converged: {seen['keys']} key{'' if seen['keys'] == 1 else 's'} on every running replica",
    )


def _lacking(control: Controller, targets: list[str], index: int | None, caught_up: bool) -> str:
    """What keeps the wait going, in words (the last value seen); "" when nothing."""
    document = control.status()
    rows = [row for row in document["nodes"] if row["id"] in targets]
    silent = [row["id"] for row in rows if row["applied_index"] is None]
    if silent:
        return f"no answer from {','.join(silent)}"
    goal = index or 0
    what = f"index {index}"
    goals = {row["id"]: (goal, what) for row in rows}
    if caught_up:
        # Each node catches up with the leader of its own shard.
        by_id = {row["id"]: row for row in document["nodes"]}
        for row in rows:
            summary = document["shards"][row["shard"] - 1]
            leader = by_id.get(summary["leader"] or "")
            if leader is None or leader["commit_index"] is None:
                return "no leader to catch up with"
            if leader["commit_index"] > goal:
                commit = leader["commit_index"]
                goals[row["id"]] = (commit, f"the leader's commit index {commit}")
    behind = [
        f"{row['id']} applied {row['applied_index']} of {goals[row['id']][1]}"
        for row in rows
        if row["applied_index"] < goals[row["id"]][0]
    ]
    return ", ".join(behind)


@app.command()
def logs(
    ctx: typer.Context,
    node: NodeArgument,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing new lines.")] = False,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Print a node's log (node.log). Example: raftctl logs n1 --follow"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        node_id = control.resolve(node)
        path: Path = control.path / node_id / "node.log"
        if not path.exists():
            raise Unavailable(f"{node_id} has no log yet ({path})")
        with path.open() as log:
            lines = log.read().splitlines()
            if not follow:
                output.document({"node": node_id, "lines": lines}, "\n".join(lines))
                return
            for line in lines:
                output.line({"node": node_id, "line": line}, line)
            try:
                while True:
                    line = log.readline()
                    if line:
                        output.line({"node": node_id, "line": line.rstrip("\n")}, line.rstrip("\n"))
                    else:
                        time.sleep(0.2)
            except KeyboardInterrupt:
                return


@app.command()
def stop(
    ctx: typer.Context,
    nodes: Annotated[list[str] | None, typer.Argument(help="Nodes to stop (default: all).")] = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Stop nodes gracefully (a paused node is resumed first). Example: raftctl stop n2"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        cluster = control.cluster
        targets = (
            [control.resolve(word) for word in nodes] if nodes else list(cluster.process_ids())
        )
        already = [node_id for node_id in targets if cluster.state(node_id) == "stopped"]
        cluster.stop_many(targets, grace_s=control.stop_grace_s())
        moved = [node_id for node_id in targets if node_id not in already]
        words = [f"stopped {', '.join(moved)}"] if moved else []
        if already:
            words.append(
                f"{', '.join(already)} {'was' if len(already) == 1 else 'were'} already stopped"
            )
        output.document(
            {"ok": True, "stopped": targets, "already_stopped": already, "changed": bool(moved)},
            "; ".join(words),
        )


@app.command()
def destroy(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Stop every node and delete the cluster directory. Example: raftctl destroy --yes"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        cluster = control.cluster  # NoCluster (exit 4) for a directory without cluster.toml
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError("refusing to destroy without --yes when there is no terminal")
            if not typer.confirm(f"Stop every node and delete {control.path}?"):
                raise typer.Exit(1)
        # Every node at once: SIGTERM, then SIGKILL to the stragglers, all
        # within --timeout; removed nodes keep a pid file and are stopped too.
        leftovers = [p.name for p in control.path.iterdir() if (p / "node.pid").exists()]
        cluster.stop_many(
            sorted(set(cluster.node_ids()) | set(leftovers)), grace_s=control.stop_grace_s()
        )
        shutil.rmtree(control.path)
        output.document({"ok": True, "destroyed": str(control.path)}, f"destroyed {control.path}")
