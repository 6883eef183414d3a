"""The admin plane of a gossip replica (node.gossip_server): the controller's
requests that mean something without a leader or a log, and a refusal
naming the protocol for those that do not (membership changes, leadership
transfer, the log's window, transactions, the Byzantine switch).

`status` answers the row of `raftctl status` with what gossip has instead
of a role and a log: the replica's SWIM view of every other member (alive,
suspect or dead, with incarnations), its number of keys, a digest of its
state, and by how many keys it differs from each peer's last digest
("behind_by": what the next exchange with that peer will carry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, assert_never

from node.admin_plane import (
    NodeProcess,
    chaos_switch,
    events_answer,
    process_status,
    reload_faults,
)
from node.messages import (
    AdminCommand,
    ArmFailpoint,
    ChangeMembership,
    Digest,
    DisarmFailpoints,
    Events,
    LieAboutLog,
    LogWindow,
    ReloadFaults,
    SkewClock,
    SlowDisk,
    Status,
    TakeSnapshot,
    Transactions,
    TransferLeader,
)

if TYPE_CHECKING:
    from node.gossip.core import GossipCore
    from node.gossip_client_plane import GossipClientPlane


class GossipNode(NodeProcess, Protocol):
    """What this plane sees of a running replica (node.gossip_server's
    GossipServer), so that the plane never imports the loop that calls it."""

    core: GossipCore
    clients: GossipClientPlane

    def take_snapshot(self) -> dict[str, Any]: ...


__all__ = ["GossipNode", "answer_gossip_admin", "gossip_status"]

PROTOCOL = "gossip"


def answer_gossip_admin(node: GossipNode, command: AdminCommand) -> dict[str, Any]:
    match command:
        case Status():
            return gossip_status(node)
        case Events(limit):
            return events_answer(node, limit)
        case TakeSnapshot():
            return node.take_snapshot()
        case ReloadFaults():
            return reload_faults(node)
        case Digest():
            status = node.core.status()
            return {
                "ok": True,
                "applied_index": None,
                "keys": status["keys"],
                "digest": status["digest"],
            }
        case ArmFailpoint() | DisarmFailpoints() | SlowDisk() | SkewClock():
            return chaos_switch(node, command)
        case LieAboutLog():
            return _refused("the lying follower is a Raft fault: a gossip replica has no log")
        case LogWindow():
            return _refused("a gossip replica has no log to show")
        case ChangeMembership():
            return _refused("membership is SWIM's: a new node joins by `raftctl add-node`")
        case TransferLeader():
            return _refused("there is no leader to transfer")
        case Transactions():
            return _refused("there are no transactions")
        case _:
            assert_never(command)


def _refused(why: str) -> dict[str, Any]:
    return {"ok": False, "error": f"protocol {PROTOCOL}: {why}", "retryable": False}


def gossip_status(node: GossipNode) -> dict[str, Any]:
    """The replica's row of `raftctl status`."""
    core, config = node.core, node.config
    view = core.status()
    wal = node.storage.wal
    return {
        **process_status(node),
        "protocol": PROTOCOL,
        "role": "replica",
        "term": None,
        "leader": None,
        "commit_index": None,
        "applied_index": None,
        "last_log_index": wal.last_index,
        "snapshot_index": wal.snapshot_index,
        "voters": [],
        "learners": [],
        "members": view["members"],
        "incarnation": view["incarnation"],
        "keys": view["keys"],
        "digest": view["digest"],
        "behind_by": view["behind_by"],
        "gossip_rounds": core.round,
        "items_sent": core.sent_items,
        "writes": node.clients.writes,
        "reads": node.clients.reads,
        "fanout": config.gossip_fanout,
        "gossip_interval_ms": config.gossip_interval_ms,
    }
