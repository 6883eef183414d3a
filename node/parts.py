"""The parts every node process stands on, whatever its protocol (node.server
for Raft, node.gossip_server for gossip), opened in the order that matters:
its directory and journal, the fault filter, the address book (cluster.toml
as this node sees it; an unknown id is a configuration error), the transport
(bound before storage opens: a port in use fails cleanly, and it keeps a
second copy of the node from opening the same WAL), then storage, whose
recovery warnings go to the journal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from node.config import ClusterConfig, ConfigError
from node.faults import FaultFilter
from node.journal import Journal
from node.keys import load_key
from node.messages import AdminResponse, encode
from node.storage import Recovered, Storage, StorageOptions
from node.transport import Transport
from node.turns import AddressBook

__all__ = ["NodeParts", "admin_replier", "open_parts"]


@dataclass(slots=True)
class NodeParts:
    node_dir: Path
    journal: Journal
    filter: FaultFilter
    book: AddressBook
    transport: Transport
    storage: Storage
    recovered: Recovered

    @property
    def config(self) -> ClusterConfig:
        return self.book.config


def open_parts(
    cluster_dir: Path,
    node_id: str,
    view: Callable[[ClusterConfig], ClusterConfig],
    after_power_loss: bool,
    rejoining: bool,
) -> NodeParts:
    """Open a node's parts; `rejoining` says whether empty storage is
    expected (node.storage: a node that held state and lost it refuses)."""
    node_dir = cluster_dir / node_id
    node_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(node_id, node_dir)
    fault_filter = FaultFilter(node_id, (), cluster_dir / "faults.toml")
    book = AddressBook(cluster_dir, node_id, view, journal, fault_filter)
    config = book.config
    endpoint = config.node(node_id).endpoint
    fault_filter.all_ids = config.node_ids
    keys = load_key(cluster_dir, node_id) if config.curve else None
    try:
        transport = Transport(node_id, config, fault_filter, keys=keys)
    except zmq.ZMQError as error:
        raise ConfigError(f"cannot listen on {endpoint}: {error}") from error
    options = StorageOptions(fsync=config.fsync, power_loss_mode=config.power_loss_mode)
    storage, recovered = Storage.open(node_dir, options, after_power_loss, rejoining)
    for warning in recovered.warnings:
        journal.line(f"warning: {warning}")
    return NodeParts(node_dir, journal, fault_filter, book, transport, storage, recovered)


def admin_replier(
    transport: Transport, identity: bytes, request_id: int
) -> Callable[[dict[str, Any]], None]:
    """How an admin request is answered, now or later (a snapshot's answer)."""

    def reply(answer: dict[str, Any]) -> None:
        transport.reply(identity, encode(AdminResponse(request_id, answer)))

    return reply
