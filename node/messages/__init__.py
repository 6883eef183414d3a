"""Every message a node sends or receives, by vocabulary, and the one codec.

- peer.py: the Raft peer messages and the entries, memberships and snapshot
  descriptions they carry;
- client.py: the key-value operations and a client's requests and answers;
- admin.py: what the controller asks of one node;
- codec.py: the only module that knows how any of them becomes bytes.

The names are re-exported here, so `from node.messages import Put` works,
and each vocabulary is imported when one of its names is first asked for: a
command-line `put` never pays for the peer and admin messages (each module
of frozen dataclasses costs a fresh process about 15 ms to define).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from node.messages.admin import (
        AdminCommand,
        AdminRequest,
        AdminResponse,
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
        TransferLeader,
    )
    from node.messages.client import (
        BYTES_AS_TEXT,
        Cas,
        Changes,
        ClientRequest,
        ClientResponse,
        Command,
        Compare,
        Consistency,
        Delete,
        DeletePrefix,
        Get,
        GetPrefix,
        Keys,
        Operation,
        Put,
        Txn,
        TxnOperation,
        data_bytes,
        data_text,
        is_read_only,
        is_utf8,
    )
    from node.messages.codec import (
        WIRE_VERSION,
        decode,
        decode_command,
        decode_membership,
        encode,
        encode_command,
        encode_membership,
    )
    from node.messages.peer import (
        PEER_MESSAGES,
        AppendEntries,
        AppendEntriesResponse,
        Entry,
        EntryKind,
        Heartbeat,
        HeartbeatResponse,
        InstallSnapshot,
        Membership,
        Message,
        RequestVote,
        RequestVoteResponse,
        SnapshotMeta,
        TimeoutNow,
    )

_WHERE: dict[str, str] = {
    "AdminCommand": "node.messages.admin",
    "AdminRequest": "node.messages.admin",
    "AdminResponse": "node.messages.admin",
    "AppendEntries": "node.messages.peer",
    "AppendEntriesResponse": "node.messages.peer",
    "ArmFailpoint": "node.messages.admin",
    "BYTES_AS_TEXT": "node.messages.client",
    "Cas": "node.messages.client",
    "ChangeMembership": "node.messages.admin",
    "Changes": "node.messages.client",
    "ClientRequest": "node.messages.client",
    "ClientResponse": "node.messages.client",
    "Command": "node.messages.client",
    "Compare": "node.messages.client",
    "Consistency": "node.messages.client",
    "Delete": "node.messages.client",
    "DeletePrefix": "node.messages.client",
    "Digest": "node.messages.admin",
    "DisarmFailpoints": "node.messages.admin",
    "Entry": "node.messages.peer",
    "EntryKind": "node.messages.peer",
    "Events": "node.messages.admin",
    "Get": "node.messages.client",
    "GetPrefix": "node.messages.client",
    "Heartbeat": "node.messages.peer",
    "HeartbeatResponse": "node.messages.peer",
    "InstallSnapshot": "node.messages.peer",
    "Keys": "node.messages.client",
    "LieAboutLog": "node.messages.admin",
    "LogWindow": "node.messages.admin",
    "Membership": "node.messages.peer",
    "Message": "node.messages.peer",
    "Operation": "node.messages.client",
    "PEER_MESSAGES": "node.messages.peer",
    "Put": "node.messages.client",
    "ReloadFaults": "node.messages.admin",
    "RequestVote": "node.messages.peer",
    "RequestVoteResponse": "node.messages.peer",
    "SkewClock": "node.messages.admin",
    "SlowDisk": "node.messages.admin",
    "SnapshotMeta": "node.messages.peer",
    "Status": "node.messages.admin",
    "TakeSnapshot": "node.messages.admin",
    "TimeoutNow": "node.messages.peer",
    "TransferLeader": "node.messages.admin",
    "Txn": "node.messages.client",
    "TxnOperation": "node.messages.client",
    "WIRE_VERSION": "node.messages.codec",
    "data_bytes": "node.messages.client",
    "data_text": "node.messages.client",
    "decode": "node.messages.codec",
    "decode_command": "node.messages.codec",
    "decode_membership": "node.messages.codec",
    "encode": "node.messages.codec",
    "encode_command": "node.messages.codec",
    "encode_membership": "node.messages.codec",
    "is_read_only": "node.messages.client",
    "is_utf8": "node.messages.client",
}


def __getattr__(name: str) -> Any:
    """PEP 562: a name of the package, imported from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'node.messages' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BYTES_AS_TEXT",
    "PEER_MESSAGES",
    "WIRE_VERSION",
    "AdminCommand",
    "AdminRequest",
    "AdminResponse",
    "AppendEntries",
    "AppendEntriesResponse",
    "ArmFailpoint",
    "Cas",
    "ChangeMembership",
    "Changes",
    "ClientRequest",
    "ClientResponse",
    "Command",
    "Compare",
    "Consistency",
    "Delete",
    "DeletePrefix",
    "Digest",
    "DisarmFailpoints",
    "Entry",
    "EntryKind",
    "Events",
    "Get",
    "GetPrefix",
    "Heartbeat",
    "HeartbeatResponse",
    "InstallSnapshot",
    "Keys",
    "LieAboutLog",
    "LogWindow",
    "Membership",
    "Message",
    "Operation",
    "Put",
    "ReloadFaults",
    "RequestVote",
    "RequestVoteResponse",
    "SkewClock",
    "SlowDisk",
    "SnapshotMeta",
    "Status",
    "TakeSnapshot",
    "TimeoutNow",
    "TransferLeader",
    "Txn",
    "TxnOperation",
    "data_bytes",
    "data_text",
    "decode",
    "decode_command",
    "decode_membership",
    "encode",
    "encode_command",
    "encode_membership",
    "is_read_only",
    "is_utf8",
]
