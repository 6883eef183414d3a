"""The node process: `python -m node --dir DIR --id n1 [--after-power-loss]`.

Rules:
- One loop, one thread (etcd raftexample's serveChannels). A turn: poll until
  the next tick; apply every tick that elapsed (a resumed process catches up on
  time before it serves anything); step every frame received; propose all the
  turn's client writes as one batch; then handle Readies as raft.py Rule 2 says:
  send, persist (one WAL batch, one fsync), send the answers, apply, reply.
- Writes go through the log. A linearizable read asks the core for a ReadIndex
  (confirmed by a heartbeat round, dissertation §6.4), a lease read for the
  leader's lease (§6.4.1, falling back to ReadIndex when the lease is not
  valid); either is answered once the state machine has applied the index the
  core hands back, without a log write. A stale read is answered from local
  state at once. A non-leader answers not_leader with the leader it knows.
- A client whose proposal may or may not commit (leadership lost) is told
  "retry": it asks again with the same sequence number and its session makes
  the retry harmless.
- Events go to events.jsonl (one object per line, with wall time) and node.log
  (one readable line); commit-index moves are left out, they are per batch.
- Snapshots: every `snapshot_threshold_entries` applied entries (and on the
  admin request "snapshot") the node saves its state machine and compacts its
  log and WAL. A leader streams its snapshot file to a follower that needs it
  as InstallSnapshot chunks, a few per loop turn, so heartbeats keep flowing;
  the follower assembles them and hands the core the whole snapshot once the
  last chunk is in. A lost chunk voids the stream; the leader's core sends the
  snapshot again after an election timeout.
- Why the node stopped goes to exit.json. SIGTERM finishes the turn and exits 0;
  a storage failure exits 3 without acknowledging anything more.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import msgpack
import zmq

from node.config import ClusterConfig, ConfigError, load
from node.errors import InvalidMessage, NotLeader, NotNow, ProposalRejected, StorageError
from node.events import CommitAdvanced, Event, describe, event_to_dict
from node.failpoints import EXIT_FAILPOINT, Failpoints
from node.faults import FaultFilter
from node.kv import KVStateMachine
from node.messages import (
    AdminRequest,
    AdminResponse,
    AppendEntries,
    AppendEntriesResponse,
    ClientRequest,
    ClientResponse,
    Command,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Message,
    Operation,
    RequestVote,
    RequestVoteResponse,
    SnapshotMeta,
    TimeoutNow,
    decode,
    encode,
    encode_command,
    is_read_only,
)
from node.raft import RaftCore
from node.ready import DurableState, MembershipChange, Ready, Role
from node.storage import Storage, StorageOptions
from node.transport import Transport

__all__ = ["EXIT_CONFIG", "EXIT_STORAGE", "NodeServer", "main"]

EXIT_CONFIG = 2
EXIT_STORAGE = 3
_PEER_MESSAGES = (
    RequestVote,
    RequestVoteResponse,
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    TimeoutNow,
    InstallSnapshot,
)
_FAULTS_CHECK_S = 0.2
SNAPSHOT_CHUNK_BYTES = 256 << 10
SNAPSHOT_CHUNKS_PER_TURN = 4  # 1 MiB a turn: heartbeats are never far behind
RECENT_EVENTS_MAX = 1000  # answered by the "events" admin request


@dataclass(slots=True)
class _SnapshotStream:
    """A snapshot going out to one follower, chunk by chunk."""

    term: int
    meta: SnapshotMeta
    data: bytes
    offset: int = 0


@dataclass(slots=True)
class _SnapshotAssembly:
    """A snapshot coming in from the leader; `key` names the stream."""

    key: tuple[str, int, int, int]
    chunks: list[bytes]
    size: int


@dataclass(frozen=True, slots=True)
class _Read:
    """A client read waiting for its ReadIndex, then for that index to apply."""

    identity: bytes
    request_id: int
    operation: Operation
    index: int = 0


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A client waiting for the entry at some index to be applied."""

    identity: bytes
    request_id: int
    term: int


class NodeServer:
    """One running node."""

    def __init__(self, cluster_dir: Path, node_id: str, after_power_loss: bool = False) -> None:
        self.cluster_dir = cluster_dir
        self.node_id = node_id
        self.config: ClusterConfig = load(cluster_dir / "cluster.toml")
        self.config_stamp = (cluster_dir / "cluster.toml").stat().st_mtime
        self.config.node(node_id)  # an unknown id is a configuration error
        self.node_dir = cluster_dir / node_id
        self.node_dir.mkdir(parents=True, exist_ok=True)
        self._log: TextIO = open(self.node_dir / "node.log", "a", buffering=1)  # noqa: SIM115
        self._events: TextIO = open(self.node_dir / "events.jsonl", "a", buffering=1)  # noqa: SIM115
        # Bind first: a port in use fails cleanly, and it keeps a second copy of
        # this node from opening the same WAL.
        self.filter = FaultFilter(node_id, self.config.node_ids, cluster_dir / "faults.toml")
        try:
            self.transport = Transport(node_id, self.config, self.filter)
        except zmq.ZMQError as error:
            endpoint = self.config.node(node_id).endpoint
            raise ConfigError(f"cannot listen on {endpoint}: {error}") from error
        options = StorageOptions(
            fsync=self.config.fsync, power_loss_mode=self.config.power_loss_mode
        )
        self.storage, recovered = Storage.open(self.node_dir, options, after_power_loss)
        for warning in recovered.warnings:
            self.log_line(f"warning: {warning}")
        self.kv = KVStateMachine()
        if recovered.snapshot is not None and recovered.snapshot_data is not None:
            self.kv.restore(recovered.snapshot_data)
        self.core = RaftCore(
            self.config.raft_config(node_id),
            DurableState(recovered.hard_state, recovered.entries, recovered.snapshot),
            random.Random(),
        )
        self.outgoing_snapshots: dict[str, _SnapshotStream] = {}
        self.incoming_snapshot: _SnapshotAssembly | None = None
        self.last_snapshot: dict[str, Any] | None = None
        # --slow N: ticks N times longer make every timer N times slower. A chaos
        # run may also skew this node's clock (the "clock" admin request).
        self.clock_rate = 1.0
        self.tick_s = self.tick_seconds()
        self.failpoints = Failpoints(
            lambda name: self.write_exit(f"crashed at failpoint {name}", EXIT_FAILPOINT)
        )
        self.waiting: dict[int, _Waiting] = {}
        self.proposals: list[tuple[bytes, bytes, int]] = []  # (command, identity, request id)
        # Reads by context: asked of the core, then confirmed and waiting to apply.
        self.reads_asked: dict[bytes, _Read] = {}
        self.reads_ready: list[_Read] = []
        self.next_read = 0
        self.invalid_messages = 0
        self.recent_events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS_MAX)
        self.stopping = False
        snapshot = (
            f"snapshot at {recovered.snapshot.index}, " if recovered.snapshot is not None else ""
        )
        self.log_line(
            f"{node_id} started (pid {os.getpid()}, term {recovered.hard_state.term}, {snapshot}"
            f"{len(recovered.entries)} log entries, fsync {'on' if self.config.fsync else 'off'})"
        )

    # -- the loop ---------------------------------------------------------------

    def run(self) -> None:
        next_tick = time.monotonic() + self.tick_s
        next_faults_check = 0.0
        while not self.stopping:
            now = time.monotonic()
            wait = next_tick - now
            due = self.transport.flush_delayed()
            if due is not None:
                wait = min(wait, due - now)
            frames = list(self.transport.receive(wait * 1000))
            now = time.monotonic()
            if now >= next_tick:
                elapsed = int((now - next_tick) / self.tick_s) + 1
                for _ in range(elapsed):
                    self.core.tick()
                next_tick += elapsed * self.tick_s
            if now >= next_faults_check:
                next_faults_check = now + _FAULTS_CHECK_S
                if self.filter.reload():
                    self.log_line(f"faults version {self.filter.faults.version} in force")
                if self.address_book_stamp() != self.config_stamp:
                    self.refresh_address_book()
            for identity, frame in frames:
                self.handle_frame(identity, frame)
            self.propose_batch()
            self.drain_ready()
            threshold = self.config.snapshot_threshold_entries
            log = self.core.log
            if threshold and log.applied_index - log.snapshot_index >= threshold:
                self.take_snapshot()
                self.drain_ready()
            self.stream_snapshots()

    def handle_frame(self, identity: bytes, frame: bytes) -> None:
        try:
            message = decode(frame)
        except InvalidMessage:
            self.invalid_messages += 1
            return
        if isinstance(message, _PEER_MESSAGES):
            if message.dst != self.node_id or identity != message.src.encode():
                self.invalid_messages += 1
            elif not self.transport.accepts_from_peer(message.src):
                pass
            elif isinstance(message, InstallSnapshot):
                self.receive_snapshot_chunk(message)
            else:
                self.core.step(message)
        elif isinstance(message, ClientRequest):
            self.handle_client(identity, message)
        elif isinstance(message, AdminRequest):
            self.transport.reply(
                identity, encode(AdminResponse(message.request_id, self.admin(message)))
            )
        else:
            self.invalid_messages += 1

    def handle_client(self, identity: bytes, request: ClientRequest) -> None:
        read_only = is_read_only(request.operation)
        if read_only and request.consistency == "stale":
            self.answer(identity, request.request_id, "ok", self.kv.execute(request.operation))
            return
        if self.core.role is not Role.LEADER:
            self.redirect(identity, request.request_id)
            return
        if read_only:
            self.read(identity, request)
            return
        sequence = request.sequence
        command = Command(request.client_id, sequence, request.acknowledged, request.operation)
        self.proposals.append((encode_command(command), identity, request.request_id))

    def read(self, identity: bytes, request: ClientRequest) -> None:
        """A read without a log write: the core confirms leadership (a heartbeat
        round, or the lease) and names the index to wait for."""
        self.next_read += 1
        context = self.next_read.to_bytes(8, "big")
        try:
            self.core.read_index(context, lease=request.consistency == "lease")
        except NotLeader:
            self.redirect(identity, request.request_id)
            return
        except ProposalRejected as refusal:  # a leadership transfer is under way
            self.answer(identity, request.request_id, "retry", {"message": str(refusal)})
            return
        self.reads_asked[context] = _Read(identity, request.request_id, request.operation)

    def serve_reads(self, rd: Ready) -> None:
        for state in rd.read_states:
            read = self.reads_asked.pop(state.context, None)
            if read is not None:
                self.reads_ready.append(
                    _Read(read.identity, read.request_id, read.operation, state.index)
                )
        for context, _reason in rd.reads_dropped:
            read = self.reads_asked.pop(context, None)
            if read is not None:  # leadership lost before it was confirmed
                self.answer(read.identity, read.request_id, "retry", {}, self.core.leader_id)
        if not self.reads_ready:
            return
        applied = self.kv.applied_index
        waiting = []
        for read in self.reads_ready:
            if read.index <= applied:
                self.answer(read.identity, read.request_id, "ok", self.kv.execute(read.operation))
            else:
                waiting.append(read)
        self.reads_ready = waiting

    def propose_batch(self) -> None:
        """All the turn's writes become one append: one fsync, one AppendEntries."""
        if not self.proposals:
            return
        if self.core.role is not Role.LEADER:
            for _, identity, request_id in self.proposals:
                self.redirect(identity, request_id)
        else:
            try:
                proposal = self.core.propose([command for command, _, _ in self.proposals])
            except ProposalRejected as refusal:
                # A leadership transfer is under way (found by raftctl chaos: the
                # leader used to crash here). The client asks again shortly, with
                # the same sequence number, of whoever leads by then.
                leader, why = self.core.leader_id, {"message": str(refusal)}
                for _, identity, request_id in self.proposals:
                    self.answer(identity, request_id, "retry", why, leader)
            else:
                for offset, (_, identity, request_id) in enumerate(self.proposals):
                    self.waiting[proposal.first_index + offset] = _Waiting(
                        identity, request_id, proposal.term
                    )
        self.proposals.clear()

    def drain_ready(self) -> None:
        core = self.core
        while core.has_ready():
            rd = core.ready()
            self.send(rd.messages)
            if rd.snapshot is not None:
                # The leader's snapshot replaces our log and our state.
                self.storage.install_snapshot(rd.snapshot.meta, rd.snapshot.data)
                self.failpoints.hit("snapshot-install")
                self.kv.restore(rd.snapshot.data)
            if rd.entries:
                self.failpoints.hit("before-persist")
            if rd.entries or rd.hard_state is not None:
                self.storage.persist(rd.entries, rd.hard_state)
            if rd.entries:
                self.failpoints.hit("after-persist")
            self.send(rd.messages_after_persist)
            for request in rd.snapshots_to_send:
                self.start_snapshot_stream(request.peer, request.term)
            self.apply(rd)
            self.serve_reads(rd)
            self.record(rd.events)
            core.advance(rd)

    # -- snapshots ---------------------------------------------------------------

    def take_snapshot(self) -> dict[str, Any]:
        """Save the state machine at the applied index and compact log and WAL.
        Serialising runs on the loop: `stall_ms` says how long it held it."""
        started = time.monotonic()
        index = self.core.log.applied_index
        if index <= self.core.log.snapshot_index:
            return {"ok": True, "index": self.core.log.snapshot_index, "taken": False}
        data = self.kv.snapshot()
        meta = self.core.compact(index)
        released = self.storage.save_snapshot(meta, data)
        stall_ms = (time.monotonic() - started) * 1000
        self.last_snapshot = {
            "index": meta.index,
            "term": meta.term,
            "bytes": len(data),
            "stall_ms": round(stall_ms, 1),
            "released_segments": released,
        }
        self.log_line(
            f"{self.node_id} snapshot at index {meta.index} (term {meta.term}): {len(data)} "
            f"bytes in {stall_ms:.1f} ms, {released} WAL segments released"
        )
        return {"ok": True, "taken": True, **self.last_snapshot}

    def start_snapshot_stream(self, peer: str, term: int) -> None:
        loaded = self.storage.load_snapshot()
        if loaded is None:
            raise AssertionError(f"the core asked to send a snapshot to {peer}, but none is saved")
        meta, data = loaded
        self.outgoing_snapshots[peer] = _SnapshotStream(term, meta, data)

    def stream_snapshots(self) -> None:
        """A few chunks per stream per turn; the rest waits for the next turn."""
        for peer, stream in list(self.outgoing_snapshots.items()):
            if stream.term != self.core.term or self.core.role is not Role.LEADER:
                del self.outgoing_snapshots[peer]
                continue
            for _ in range(SNAPSHOT_CHUNKS_PER_TURN):
                chunk = stream.data[stream.offset : stream.offset + SNAPSHOT_CHUNK_BYTES]
                done = stream.offset + len(chunk) >= len(stream.data)
                message = InstallSnapshot(
                    stream.term, self.node_id, peer, stream.meta, stream.offset, chunk, done
                )
                self.transport.send_to_peer(peer, encode(message))
                stream.offset += len(chunk)
                if done:
                    del self.outgoing_snapshots[peer]
                    break

    def receive_snapshot_chunk(self, chunk: InstallSnapshot) -> None:
        """Assemble a stream in order; a gap voids it (the leader will resend)."""
        key = (chunk.src, chunk.term, chunk.meta.index, chunk.meta.term)
        assembly = self.incoming_snapshot
        if chunk.offset == 0:
            assembly = self.incoming_snapshot = _SnapshotAssembly(key, [], 0)
        if assembly is None or assembly.key != key or assembly.size != chunk.offset:
            self.incoming_snapshot = None
            return
        assembly.chunks.append(chunk.data)
        assembly.size += len(chunk.data)
        if chunk.done:
            self.incoming_snapshot = None
            whole = InstallSnapshot(
                chunk.term, chunk.src, chunk.dst, chunk.meta, 0, b"".join(assembly.chunks), True
            )
            self.core.step(whole)

    def send(self, messages: tuple[Message, ...]) -> None:
        for message in messages:
            if (
                message.dst not in self.transport.peers
                and self.address_book_stamp() != self.config_stamp
            ):
                # `raftctl add-node` wrote the node's address just now; without
                # this its first messages would wait for the periodic re-read.
                self.refresh_address_book()
            self.transport.send_to_peer(message.dst, encode(message))

    def address_book_stamp(self) -> float:
        try:
            return (self.cluster_dir / "cluster.toml").stat().st_mtime
        except FileNotFoundError:
            return self.config_stamp

    def refresh_address_book(self) -> None:
        """cluster.toml changed, or a member has no address here: `raftctl
        add-node` writes a node into it before asking the leader to add it."""
        self.config_stamp = self.address_book_stamp()
        try:
            self.config = load(self.cluster_dir / "cluster.toml")
        except ConfigError as error:
            self.log_line(f"warning: cannot re-read cluster.toml: {error}")
            return
        self.filter.all_ids = self.config.node_ids
        added = self.transport.add_peers(self.config)
        if added:
            self.log_line(f"{self.node_id} connects to new nodes {', '.join(added)}")

    def apply(self, rd: Ready) -> None:
        if rd.committed_entries:
            self.failpoints.hit("before-apply")
        for entry in rd.committed_entries:
            result = self.kv.apply(entry)
            waiting = self.waiting.pop(entry.index, None)
            if waiting is None:
                continue
            if waiting.term == entry.term and result is not None:
                self.answer(waiting.identity, waiting.request_id, "ok", result)
            else:  # another leader's entry took this index: ours was lost
                self.answer(waiting.identity, waiting.request_id, "retry", {})
        if self.waiting and self.core.role is not Role.LEADER:
            # Our proposals may still commit under the new leader, or not.
            for waiting in self.waiting.values():
                self.answer(waiting.identity, waiting.request_id, "retry", {}, self.core.leader_id)
            self.waiting.clear()

    def redirect(self, identity: bytes, request_id: int) -> None:
        """not_leader, with the leader's id and address when this node knows them."""
        leader = self.core.leader_id
        address = self.config.node(leader).endpoint if leader else None
        result = {"leader": leader, "leader_address": address}
        self.answer(identity, request_id, "not_leader", result, leader)

    def answer(
        self,
        identity: bytes,
        request_id: int,
        status: str,
        result: dict[str, Any],
        leader_id: str | None = None,
    ) -> None:
        self.transport.reply(
            identity, encode(ClientResponse(request_id, status, result, leader_id))
        )

    # -- admin, events, logs -------------------------------------------------------

    def admin(self, request: AdminRequest) -> dict[str, Any]:
        if request.command == "status":
            return self.status()
        if request.command == "events":
            limit = int(request.arguments.get("limit", len(self.recent_events)))
            return {"ok": True, "events": list(self.recent_events)[-limit:] if limit else []}
        if request.command == "snapshot":
            result = self.take_snapshot()
            self.drain_ready()
            return result
        if request.command == "log":
            return self.log_window(request.arguments)
        if request.command == "change_membership":
            return self.change_membership(request.arguments)
        if request.command == "transfer_leader":
            return self.transfer_leader(request.arguments.get("target"))
        if request.command == "reload_faults":
            self.filter.reload(force=True)
            return {"ok": True, "faults_version": self.filter.faults.version}
        if request.command in ("failpoint", "disk", "clock"):
            return self.chaos_switch(request.command, request.arguments)
        if request.command == "digest":
            return self.digest()
        return {"ok": False, "error": f"unknown admin command {request.command!r}"}

    def chaos_switch(self, command: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Faults a chaos run switches on inside the node: failpoints, a slow
        fsync, a clock that runs at `rate` times real time (what the lease's
        clock-drift bound guards against)."""
        try:
            if command == "failpoint":
                name = arguments.get("name")
                if arguments.get("off"):
                    self.failpoints.disarm(name if isinstance(name, str) else None)
                elif isinstance(name, str):
                    self.failpoints.arm(name, int(arguments.get("after", 0)))
                else:
                    return {"ok": False, "error": "failpoint needs a name, or off"}
            elif command == "disk":
                delay_ms = int(arguments.get("fsync_delay_ms", 0))
                if not 0 <= delay_ms <= 10_000:
                    return {"ok": False, "error": "fsync_delay_ms must be within 0-10000"}
                disk = self.storage.disk
                disk.faults = dataclasses.replace(disk.faults, fsync_delay_ms=delay_ms)
            else:
                rate = float(arguments.get("rate", 1.0))
                if not 0.05 <= rate <= 20:
                    return {"ok": False, "error": "a clock rate must be within 0.05-20"}
                self.clock_rate = rate
                self.tick_s = self.tick_seconds()
        except (TypeError, ValueError) as error:
            return {"ok": False, "error": str(error)}
        self.log_line(f"{self.node_id} chaos switch {command}: {arguments}")
        return {"ok": True, **self.chaos_state()}

    def tick_seconds(self) -> float:
        """Real seconds per tick: `slow_factor` stretches it, a skewed clock too."""
        return self.config.tick_ms * self.config.slow_factor / 1000 / self.clock_rate

    def chaos_state(self) -> dict[str, Any]:
        return {
            "failpoints": self.failpoints.armed(),
            "fsync_delay_ms": self.storage.disk.faults.fsync_delay_ms,
            "clock_rate": self.clock_rate,
        }

    def digest(self) -> dict[str, Any]:
        """A hash of the state machine's data at its applied index: nodes that
        applied the same prefix of the log hold the same digest."""
        packed = msgpack.packb(sorted(self.kv.data.items()))
        return {
            "ok": True,
            "applied_index": self.kv.applied_index,
            "keys": len(self.kv.data),
            "digest": hashlib.sha256(packed).hexdigest()[:16],
        }

    def log_window(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The terms and kinds of entries first..first+count-1 (for `inspect log`)."""
        log = self.core.log
        first = max(int(arguments.get("from", 1)), log.snapshot_index + 1)
        last = min(log.last_index, first + max(0, int(arguments.get("count", 50))) - 1)
        entries = log.entries_between(first, last) if first <= last else []
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
            "term": self.core.term,
            "role": self.role_name(),
        }

    def change_membership(self, arguments: dict[str, Any]) -> dict[str, Any]:
        action, node = arguments.get("action"), arguments.get("node")
        if not isinstance(action, str) or not isinstance(node, str):
            return {"ok": False, "error": "change_membership needs an action and a node"}
        try:
            proposal = self.core.propose_membership(MembershipChange(action, node))
        except ProposalRejected as refusal:
            return self.refusal(refusal)
        return {"ok": True, "index": proposal.first_index, "term": proposal.term}

    def transfer_leader(self, target: object) -> dict[str, Any]:
        if not isinstance(target, str):
            return {"ok": False, "error": "transfer_leader needs a target node id"}
        try:
            self.core.transfer_leadership(target)
        except ProposalRejected as refusal:
            return self.refusal(refusal)
        return {"ok": True, "target": target}

    def refusal(self, refusal: ProposalRejected) -> dict[str, Any]:
        """An admin answer for a refused request; `retryable` says whether the
        same request may succeed later (asked again, or of the leader)."""
        return {
            "ok": False,
            "error": str(refusal),
            "retryable": isinstance(refusal, NotLeader | NotNow),
            "leader": self.core.leader_id,
        }

    def role_name(self) -> str:
        """The contract's role: leader, follower, candidate or learner."""
        core = self.core
        if core.role is Role.PRE_CANDIDATE:
            return "candidate"
        if core.role is Role.FOLLOWER and self.node_id in core.learners:
            return "learner"
        return core.role.value

    def status(self) -> dict[str, Any]:
        core = self.core
        return {
            "id": self.node_id,
            "pid": os.getpid(),
            "role": self.role_name(),
            "term": core.term,
            "leader": core.leader_id,
            "commit_index": core.log.commit_index,
            "applied_index": core.log.applied_index,
            "last_log_index": core.log.last_index,
            "snapshot_index": core.log.snapshot_index,
            "group": self.filter.faults.group_of(self.node_id, self.config.node_ids),
            "voters": list(core.voters),
            "learners": list(core.learners),
            "transfer_target": core.status().transfer_target,
            "fsync": self.config.fsync,
            "pre_vote": self.config.pre_vote,
            "check_quorum": self.config.check_quorum,
            "slow_factor": self.config.slow_factor,
            "last_snapshot": self.last_snapshot,
            "wal_segments": len(self.storage.wal.segment_paths()),
            "faults_version": self.filter.faults.version,
            "invalid_messages": self.invalid_messages,
            "dropped_messages": self.transport.dropped_full,
            **self.chaos_state(),
        }

    def record(self, events: tuple[Event, ...]) -> None:
        for event in events:
            if isinstance(event, CommitAdvanced):
                continue
            line = describe(self.node_id, event)
            document = {"time": time.time(), **event_to_dict(self.node_id, event), "text": line}
            self._events.write(json.dumps(document) + "\n")
            self.recent_events.append(document)
            self.log_line(line)

    def log_line(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
        self._log.write(f"{stamp} {text}\n")

    def write_exit(self, reason: str, exit_code: int) -> None:
        document = {
            "reason": reason,
            "exit_code": exit_code,
            "pid": os.getpid(),
            "time": time.time(),
        }
        temporary = self.node_dir / "exit.json.tmp"
        temporary.write_text(json.dumps(document))
        temporary.replace(self.node_dir / "exit.json")
        self.log_line(f"{self.node_id} stopped: {reason}")

    def close(self) -> None:
        self.transport.close()
        self.storage.close()


def _write_early_exit(cluster_dir: Path, node_id: str, reason: str, exit_code: int) -> None:
    node_dir = cluster_dir / node_id
    if node_dir.is_dir():
        (node_dir / "exit.json").write_text(
            json.dumps(
                {"reason": reason, "exit_code": exit_code, "pid": os.getpid(), "time": time.time()}
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node", description="Run one raftctl node.")
    parser.add_argument("--dir", type=Path, required=True, help="the cluster directory")
    parser.add_argument("--id", required=True, help="this node's id in cluster.toml")
    parser.add_argument(
        "--after-power-loss",
        action="store_true",
        help="first cut files back to what was synced (simulated power cut)",
    )
    args = parser.parse_args(argv)
    try:
        server = NodeServer(args.dir, args.id, args.after_power_loss)
    except ConfigError as error:
        print(f"node {args.id}: {error}", file=sys.stderr)
        _write_early_exit(args.dir, args.id, str(error), EXIT_CONFIG)
        return EXIT_CONFIG
    except StorageError as error:
        print(f"node {args.id}: {error}", file=sys.stderr)
        _write_early_exit(args.dir, args.id, str(error), EXIT_STORAGE)
        return EXIT_STORAGE

    def stop(signum: int, _frame: object) -> None:
        server.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()
    except StorageError as error:
        # The disk can no longer be trusted: acknowledge nothing more.
        server.write_exit(f"storage failure: {error}", EXIT_STORAGE)
        print(f"node {args.id}: {error}", file=sys.stderr)
        return EXIT_STORAGE
    except BaseException as error:
        server.write_exit(f"crashed: {type(error).__name__}: {error}", 1)
        raise
    server.close()
    server.write_exit("stopped by signal", 0)
    return 0
