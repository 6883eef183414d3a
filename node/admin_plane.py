"""The admin plane of a node: the controller's requests (node.messages.admin)
and their answers.

Rules:
- One `match` over the request types, ending in `assert_never`: a request
  the node does not handle is a type error, not a string that slipped by.
- Every answer is a JSON-ready map with "ok"; a refusal says why in "error",
  and for a protocol request whether asking again may succeed ("retryable").
- The chaos switches (failpoints, a slow fsync, a skewed clock) only change
  how this node behaves; they never touch its data.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any, Protocol, assert_never

from node.admission import Admission
from node.config import ClusterConfig
from node.consensus import ConsensusCore
from node.errors import NotLeader, NotNow, ProposalRejected
from node.failpoints import Failpoints
from node.faults import FaultFilter
from node.journal import Journal
from node.kv import KVStateMachine
from node.messages import (
    AdminCommand,
    ArmFailpoint,
    ChangeMembership,
    Digest,
    DisarmFailpoints,
    Entry,
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
from node.ready import MembershipChange, Role
from node.storage import Storage
from node.transport import Transport
from node.txn_resolver import Resolver

__all__ = [
    "AdminNode",
    "NodeProcess",
    "answer_admin",
    "chaos_switch",
    "events_answer",
    "process_status",
    "reload_faults",
    "role_name",
]

FSYNC_DELAY_MS_MAX = 10_000
CLOCK_RATE_MIN, CLOCK_RATE_MAX = 0.05, 20.0


class NodeProcess(Protocol):
    """What the admin plane sees of a node of any protocol (node.parts): the
    chaos switches, the events, the faults, and the status they share."""

    node_id: str
    config: ClusterConfig
    storage: Storage
    filter: FaultFilter
    transport: Transport
    admission: Admission
    failpoints: Failpoints
    journal: Journal
    clock_rate: float
    lying: bool
    last_snapshot: dict[str, Any] | None

    def set_clock_rate(self, rate: float) -> None: ...


class AdminNode(NodeProcess, Protocol):
    """What the admin plane sees of a running node of a log, Raft's or
    Paxos's (node.server.NodeServer)."""

    core: ConsensusCore
    kv: KVStateMachine
    resolver: Resolver

    def snapshot_soon(self, reply: Callable[[dict[str, Any]], None]) -> None: ...


def answer_admin(
    node: AdminNode, command: AdminCommand, reply: Callable[[dict[str, Any]], None]
) -> dict[str, Any] | None:
    """The answer to one admin request, or None when the node hands it to
    `reply` later (a snapshot is answered once it is in use)."""
    match command:
        case Status():
            return status(node)
        case Events(limit):
            return events_answer(node, limit)
        case TakeSnapshot():
            node.snapshot_soon(reply)
            return None
        case LogWindow(first_index, count):
            return _log_window(node, first_index, count)
        case ChangeMembership(action, node_id):
            return _change_membership(node, action, node_id)
        case TransferLeader(target):
            try:
                node.core.transfer_leadership(target)
            except ProposalRejected as refusal:
                return _refusal(node, refusal)
            return {"ok": True, "target": target}
        case ReloadFaults():
            return reload_faults(node)
        case ArmFailpoint() | DisarmFailpoints() | SlowDisk() | SkewClock() | LieAboutLog():
            return chaos_switch(node, command)
        case Transactions():
            txns = node.kv.txns
            return {
                "ok": True,
                "applied_index": node.kv.applied_index,
                "prepared": {txn: list(p.participants) for txn, p in txns.prepared.items()},
                "records": {txn: r.outcome for txn, r in txns.records.items()},
                "finished": txns.outcomes(),
            }
        case Digest():
            kv = node.kv
            return {
                "ok": True,
                "applied_index": kv.applied_index,
                "keys": len(kv.data),
                "digest": kv.digest(),
            }
        case _:
            assert_never(command)


def chaos_switch(
    node: NodeProcess,
    command: ArmFailpoint | DisarmFailpoints | SlowDisk | SkewClock | LieAboutLog,
) -> dict[str, Any]:
    """Faults a chaos run switches on inside the node: failpoints, a slow
    fsync, a clock that runs at `rate` times real time (what the lease's
    clock-drift bound guards against)."""
    match command:
        case ArmFailpoint(name, after):
            try:
                node.failpoints.arm(name, after)
            except ValueError as error:
                return {"ok": False, "error": str(error)}
        case DisarmFailpoints(name):
            node.failpoints.disarm(name)
        case SlowDisk(delay_ms):
            if not 0 <= delay_ms <= FSYNC_DELAY_MS_MAX:
                return {"ok": False, "error": "fsync_delay_ms must be within 0-10000"}
            disk = node.storage.disk
            disk.faults = dataclasses.replace(disk.faults, fsync_delay_ms=delay_ms)
        case SkewClock(rate):
            if not CLOCK_RATE_MIN <= rate <= CLOCK_RATE_MAX:
                return {"ok": False, "error": "a clock rate must be within 0.05-20"}
            node.set_clock_rate(rate)
        case LieAboutLog(on):
            node.lying = on
        case _:
            assert_never(command)
    node.journal.line(f"{node.node_id} chaos switch {command}")
    return {"ok": True, **chaos_state(node)}


def chaos_state(node: NodeProcess) -> dict[str, Any]:
    return {
        "failpoints": node.failpoints.armed(),
        "fsync_delay_ms": node.storage.disk.faults.fsync_delay_ms,
        "clock_rate": node.clock_rate,
        "lying": node.lying,
    }


def events_answer(node: NodeProcess, limit: int | None) -> dict[str, Any]:
    """The node's latest events (all it keeps when `limit` is None)."""
    events = list(node.journal.recent_events)
    kept = len(events) if limit is None else limit
    return {"ok": True, "events": events[-kept:] if kept else []}


def reload_faults(node: NodeProcess) -> dict[str, Any]:
    node.filter.reload(force=True)
    return {"ok": True, "faults_version": node.filter.faults.version}


def _log_window(node: AdminNode, first_index: int, count: int) -> dict[str, Any]:
    """The terms and kinds of entries first..first+count-1 (for `inspect log`)."""
    log = node.core.log
    first, entries = log.window(first_index, count)
    return {
        "ok": True,
        "first_index": first,
        "terms": [entry.term for entry in entries],
        "kinds": [entry.kind.name.lower() for entry in entries],
        "commit_index": log.commit_index,
        "applied_index": log.applied_index,
        "snapshot_index": log.snapshot_index,
        "snapshot_term": log.snapshot_term,
        "last_index": log.last_index,
        "term": node.core.term,
        "role": role_name(node.core, node.node_id, _paxos(node)),
        # Under Paxos a slot's term is the ballot it was accepted under, and
        # a hole (a slot never accepted) has term 0.
        "ballots": _slot_ballots(entries) if _paxos(node) else None,
    }


def _change_membership(node: AdminNode, action: str, node_id: str) -> dict[str, Any]:
    try:
        proposal = node.core.propose_membership(MembershipChange(action, node_id))
    except ProposalRejected as refusal:
        return _refusal(node, refusal)
    return {"ok": True, "index": proposal.first_index, "term": proposal.term}


def _refusal(node: AdminNode, refusal: ProposalRejected) -> dict[str, Any]:
    """An answer for a refused request; `retryable` says whether the same
    request may succeed later (asked again, or of the leader)."""
    return {
        "ok": False,
        "error": str(refusal),
        "retryable": isinstance(refusal, NotLeader | NotNow),
        "leader": node.core.leader_id,
    }


def role_name(core: ConsensusCore, node_id: str, paxos: bool = False) -> str:
    """The contract's role: leader, follower, candidate or learner (under
    Paxos: leader, proposer, acceptor or learner)."""
    if core.role is Role.PRE_CANDIDATE:
        return "candidate"
    if core.role is Role.FOLLOWER and node_id in core.learners:
        return "learner"
    if paxos:
        from node.paxos.words import ROLES  # (loaded by Paxos nodes only)

        return ROLES[core.role]
    return str(core.role.value)


def _paxos(node: AdminNode) -> bool:
    return node.config.protocol == "paxos"


def _paxos_status(core: ConsensusCore) -> dict[str, Any]:
    """A Paxos node's own fields (node.paxos.words, loaded by Paxos nodes
    only: a Raft node's start pays nothing for Paxos)."""
    from node.paxos.words import status_fields

    return status_fields(core)


def _slot_ballots(entries: list[Entry]) -> list[str]:
    from node.paxos.words import slot_ballots

    return slot_ballots(entries)


def status(node: AdminNode) -> dict[str, Any]:
    """The node's row of `raftctl status`, and the details behind it."""
    core, config = node.core, node.config
    return {
        **process_status(node),
        "role": role_name(core, node.node_id, _paxos(node)),
        "term": core.term,
        "leader": core.leader_id,
        "commit_index": core.log.commit_index,
        "applied_index": core.log.applied_index,
        "last_log_index": core.log.last_index,
        "snapshot_index": core.log.snapshot_index,
        "voters": list(core.voters),
        "learners": list(core.learners),
        "transfer_target": core.status().transfer_target,
        **(_paxos_status(core) if _paxos(node) else {}),
        "pre_vote": config.pre_vote,
        "check_quorum": config.check_quorum,
        # Transactions across shards (node.transactions): prepared here and
        # holding locks, decision records kept, and those this node resolved.
        "txn_prepared": len(node.kv.txns.prepared),
        "txn_locks": len(node.kv.txns.locks),
        "txn_records": len(node.kv.txns.records),
        "txn_resolved": node.resolver.resolved,
        "txn_blocked": len(node.resolver.blocked),
        "txn_longest_hold_ms": round(node.resolver.longest_hold_s * 1000),
    }


def process_status(node: NodeProcess) -> dict[str, Any]:
    """What a status row says of any node's process, whatever its protocol."""
    refused = node.admission.counts()
    if node.transport.zap is not None and node.transport.zap.refused:
        refused["unauthenticated"] = node.transport.zap.refused
    config = node.config
    return {
        "id": node.node_id,
        "pid": os.getpid(),
        "group": node.filter.faults.group_of(node.node_id, config.node_ids),
        "fsync": config.fsync,
        "slow_factor": config.slow_factor,
        "last_snapshot": node.last_snapshot,
        "wal_segments": len(node.storage.wal.segment_paths()),
        "faults_version": node.filter.faults.version,
        # Frames refused (node.admission), and keys the door turned away
        # (node.zap): the total, and by kind.
        "invalid_messages": sum(refused.values()),
        "refused": refused,
        "dropped_messages": node.transport.dropped_full,
        # What the fault filter did to each peer's messages (node.faults): the
        # proof that a partition or a lossy link took effect, and how much.
        "links": {peer: counts.to_dict() for peer, counts in sorted(node.filter.counts.items())},
        # Answers dropped for clients that did not read them (node.reply_queues).
        "replies_dropped": node.transport.replies.dropped_full,
        "replies_waiting_bytes": node.transport.replies.total_bytes,
        **chaos_state(node),
    }
