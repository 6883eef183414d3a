"""The node process: `python -m node --dir DIR --id n1 [--after-power-loss]`.
(A cluster whose cluster.toml says `protocol = "gossip"` runs
node.gossip_server's replica instead; this module is the node of a log:
Raft's core, or Multi-Paxos's under `protocol = "paxos"`, behind the same
Ready, node.consensus.)

Rules:
- One loop, one thread (etcd raftexample's serveChannels). A turn: poll until
  the next tick; apply every tick that elapsed (a resumed process catches up on
  time before it serves anything); step every frame received; propose all the
  turn's client writes as one batch; then drain the Readies (node.ready_driver:
  send, persist as one WAL batch and one fsync, send the answers, apply, reply).
- The planes around the loop each have their module: client requests
  (node.client_plane), the controller's requests (node.admin_plane), snapshot
  streams (node.snapshot_stream), node.log and events.jsonl (node.journal).
- Snapshots: every `snapshot_threshold_entries` applied entries (and on the
  TakeSnapshot admin request, answered once the snapshot is in use) the node
  saves its state machine and compacts its log and WAL. It is packed a few
  pieces per turn and written by a thread (node.snapshot_taker), and
  `stall_ms` says the longest it held the loop.
- The address book is cluster.toml: re-read when it changes, and at once when
  a message is for a member this node has no address for (`raftctl add-node`
  writes the address just before asking the leader to add the node).
- Why the node stopped goes to exit.json. SIGTERM finishes the turn and exits 0;
  a storage failure exits 3 without acknowledging anything more.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.admin_plane import answer_admin
from node.admission import Admission, Refusal
from node.client_plane import ClientPlane
from node.config import ClusterConfig, ConfigError, load
from node.consensus import ConsensusCore
from node.errors import (
    CorruptLog,
    CorruptSnapshot,
    InvalidMessage,
    LostState,
    PeerMisbehaved,
    StorageError,
    invariant,
)
from node.failpoints import EXIT_FAILPOINT, Failpoints
from node.journal import write_exit
from node.kv import KVStateMachine
from node.lives import REJOINING_FILE
from node.messages import (
    PEER_MESSAGES,
    AdminRequest,
    AppendEntries,
    AppendEntriesResponse,
    ClientRequest,
    InstallSnapshot,
    decode,
    encode,
)
from node.parts import admin_replier, open_parts
from node.raft import RaftCore
from node.ready import DurableState, Outgoing, Ready, Role, SnapshotSend
from node.ready_driver import drain
from node.snapshot_stream import SnapshotStreams
from node.snapshot_taker import SnapshotTaker, WrittenSnapshot
from node.turns import Ticker
from node.txn_resolver import Resolver

if TYPE_CHECKING:
    from node.gossip_server import GossipServer

__all__ = ["EXIT_CONFIG", "EXIT_STORAGE", "NodeServer", "main"]

EXIT_CONFIG = 2
EXIT_STORAGE = 3
# How long one loop turn may spend packing a snapshot.
SNAPSHOT_PACK_BUDGET_S = 0.002
# How often the loop looks whether the snapshot's writer is done.
SNAPSHOT_WRITER_CHECK_S = 0.002


class NodeServer:
    """One running node."""

    def __init__(self, cluster_dir: Path, node_id: str, after_power_loss: bool = False) -> None:
        self.cluster_dir = cluster_dir
        self.node_id = node_id
        rejoining = (cluster_dir / node_id / REJOINING_FILE).exists()
        # This node's shard alone: its peers, voters and who may sign in.
        parts = open_parts(
            cluster_dir,
            node_id,
            lambda config: config.shard_view(node_id),
            after_power_loss,
            rejoining,
        )
        self.node_dir, self.journal, self.filter = parts.node_dir, parts.journal, parts.filter
        self.book, self.transport, self.storage = parts.book, parts.transport, parts.storage
        self.config: ClusterConfig = parts.config
        self.shard = self.config.shard_of_node(node_id)
        recovered = parts.recovered
        self.kv = KVStateMachine(
            changes_max=self.config.watch_history_changes,
            changes_bytes_max=self.config.watch_history_bytes,
            shard=self.shard,
        )
        if recovered.snapshot is not None and recovered.snapshot_data is not None:
            try:
                self.kv.restore(recovered.snapshot_data)
            except InvalidMessage as error:
                raise CorruptSnapshot(
                    f"the snapshot at {recovered.snapshot.index}: {error}"
                ) from None
        durable = DurableState(
            recovered.hard_state,
            recovered.entries,
            recovered.snapshot,
            recovered.incarnation,
        )
        core_config = self.config.raft_config(node_id, joining=rejoining)
        self.core: ConsensusCore
        # The peer messages this node steps: Raft's, or Paxos's too.
        self.peer_messages: tuple[type[Outgoing], ...] = PEER_MESSAGES
        if self.config.protocol == "paxos":
            # Loaded only here: a Raft node's start pays nothing for Paxos.
            from node.messages.paxos import PAXOS_MESSAGES
            from node.paxos.core import PaxosCore
            from node.paxos.options import PaxosOptions

            options = PaxosOptions(self.config.paxos_leader, self.config.paxos_backoff)
            self.core = PaxosCore(core_config, durable, random.Random(), options)
            self.peer_messages = PEER_MESSAGES + PAXOS_MESSAGES
        else:
            self.core = RaftCore(core_config, durable, random.Random())
        self.failpoints = Failpoints(
            lambda name: self.write_exit(f"crashed at failpoint {name}", EXIT_FAILPOINT)
        )
        self.clients = ClientPlane(
            self.core,
            self.kv,
            self.failpoints,
            self.transport.reply,
            self.address_of,
            self.config.key_bytes_max,
            self.config.value_bytes_max,
            any_node_proposes=self.config.protocol == "paxos" and not self.config.paxos_leader,
        )
        self.snapshots = SnapshotStreams(
            node_id, lambda chunk: self.transport.send_to_peer(chunk.dst, encode(chunk))
        )
        self.last_snapshot: dict[str, Any] | None = None
        self.snapshot_taker = SnapshotTaker(self.storage)
        self.resolver = Resolver(
            cluster_dir,
            node_id,
            self.config.txn_resolve_after_ms / 1000,
            self.config.txn_protocol,
            self.shard,
        )
        # TakeSnapshot requests waiting for a snapshot at or past an index.
        self.snapshot_waiters: list[tuple[int, Callable[[dict[str, Any]], None]]] = []
        # --slow N: ticks N times longer make every timer N times slower. A chaos
        # run may also skew this node's clock (the SkewClock admin request).
        self.clock_rate = 1.0
        self.lying = False  # a negative control's Byzantine switch (LieAboutLog)
        self.ticker = Ticker(self._tick_seconds())
        self.admission = Admission(node_id, self.config.node_ids, curve=self.config.curve)
        self.stopping = False
        snapshot = (
            f"snapshot at {recovered.snapshot.index}, " if recovered.snapshot is not None else ""
        )
        self.journal.line(
            f"{node_id} started (pid {os.getpid()}, term {recovered.hard_state.term}, {snapshot}"
            f"{len(recovered.entries)} log entries, fsync {'on' if self.config.fsync else 'off'})"
        )

    # -- the loop ---------------------------------------------------------------

    def run(self) -> None:
        while not self.stopping:
            wait = self.transport.flush(self.ticker.wait_s(time.monotonic()))
            if self.snapshots.outgoing or self.snapshot_taker.packing:
                wait = 0  # more chunks to send or pieces to pack: turn again now
            elif self.snapshot_taker.busy:
                wait = min(wait, SNAPSHOT_WRITER_CHECK_S)
            frames = list(self.transport.receive(wait * 1000))
            now = time.monotonic()
            for _ in range(self.ticker.elapsed(now)):
                self.core.tick()
            checking = now >= self.book.next_check
            if (config := self.book.check(now, self.transport, self.admission)) is not None:
                self.config = config
            if checking:
                leading = self.core.role is Role.LEADER
                for done in self.resolver.watch(self.kv.txns, leading, now):
                    if done.event is None:
                        self.journal.line(done.text)
                    else:
                        self.journal.server_event(
                            done.event,
                            done.text,
                            txn=done.txn_id,
                            outcome=done.outcome,
                            coordinator=done.coordinator,
                            shard=self.shard,
                        )
            for identity, frame, role in frames:
                self.handle_frame(identity, frame, role)
            self.clients.propose_pending(now)
            self.drain_ready()
            self.pump_snapshot()
            self.kv.forget_checked_snapshot()
            self.snapshots.pump(self.core.term, self.core.role is Role.LEADER)

    def handle_frame(self, identity: bytes, frame: bytes, role: str | None = None) -> None:
        """One frame from the wire, sent under `role` (with CURVE): admitted
        (node.admission) or refused and counted; nothing a frame holds ends
        the node."""
        try:
            message = decode(frame)
        except InvalidMessage:
            self.admission.refuse(Refusal.UNDECODABLE)
            return
        if isinstance(message, self.peer_messages):
            if self.admission.admits_peer_message(
                identity, message, role
            ) and self.transport.accepts_from_peer(message.src):
                self.step_peer_message(message)
        elif isinstance(message, ClientRequest):
            if self.admission.admits_client_request(role):
                self.clients.handle(identity, message, len(frame))
        elif isinstance(message, AdminRequest):
            if not self.admission.admits_admin_request(role):
                return
            reply = admin_replier(self.transport, identity, message.request_id)
            answer = answer_admin(self, message.command, reply)
            if answer is not None:
                reply(answer)
        else:
            self.admission.refuse(Refusal.UNEXPECTED)

    def step_peer_message(self, message: Outgoing) -> None:
        if self.lying and isinstance(message, AppendEntries) and message.term == self.core.term:
            # The lie: "I hold all of it", while the log takes nothing.
            matched = message.prev_log_index + len(message.entries)
            lie = AppendEntriesResponse(
                message.term,
                self.node_id,
                message.src,
                True,
                matched,
                incarnation=self.core.incarnation,
            )
            self.transport.send_to_peer(message.src, encode(lie))
            return
        if isinstance(message, InstallSnapshot):
            whole = self.receive_snapshot_chunk(message)
            if whole is None:
                return
            message = whole
        try:
            self.core.step(message)
        except PeerMisbehaved as refused:
            self.admission.refuse(Refusal.IMPOSSIBLE)
            self.journal.line(f"refused a message from {message.src}: {refused}")

    def receive_snapshot_chunk(self, chunk: InstallSnapshot) -> InstallSnapshot | None:
        """The whole snapshot once its last chunk is in, if its state restores.
        Chunks come from the leader of a later term, or of ours."""
        core = self.core
        if chunk.term == core.term and core.leader_id not in (None, chunk.src):
            self.admission.refuse(Refusal.SNAPSHOT_STREAM)
            return None
        try:
            whole = self.snapshots.receive(chunk)
        except InvalidMessage:
            self.admission.refuse(Refusal.SNAPSHOT_STREAM)
            return None
        if whole is None or not self.admission.admits_snapshot(whole):
            return None
        return whole

    def drain_ready(self) -> None:
        drain(self.core, self)

    # -- the Ready, step by step (node.ready_driver) -----------------------------

    def begin(self, rd: Ready) -> bool:
        self.journal.record(rd.events)
        return True

    def send(self, messages: tuple[Outgoing, ...]) -> None:
        for message in messages:
            if message.dst not in self.transport.peers:
                # `raftctl add-node` wrote the node's address just now; without
                # this its first messages would wait for the periodic re-read.
                self._refresh_address_book()
            self.transport.send_to_peer(message.dst, encode(message))

    def persist(self, rd: Ready) -> bool:
        if rd.snapshot is not None:
            # The leader's snapshot replaces our log and our state (and any
            # snapshot of our own still being written is forgotten).
            self.snapshot_taker.abandon()
            self.storage.install_snapshot(rd.snapshot.meta, rd.snapshot.data)
            self.failpoints.hit("snapshot-install")
            self.kv.restore(rd.snapshot.data)
        if rd.entries:
            self.failpoints.hit("before-persist")
        if rd.entries or rd.hard_state is not None:
            self.storage.persist(rd.entries, rd.hard_state)
        if rd.entries:
            self.failpoints.hit("after-persist")
        return True

    def send_snapshots(self, requests: tuple[SnapshotSend, ...]) -> None:
        for request in requests:
            loaded = self.storage.load_snapshot()
            if loaded is None:
                raise AssertionError(
                    f"the core asked to send a snapshot to {request.peer}, but none is saved"
                )
            meta, data = loaded
            self.snapshots.start(request.peer, request.term, meta, data)

    def apply(self, rd: Ready) -> None:
        self.clients.apply(rd)

    def serve_reads(self, rd: Ready) -> None:
        self.clients.serve_reads(rd)

    def advanced(self, rd: Ready) -> None:
        pass

    # -- snapshots, clock, address book ---------------------------------------------

    def snapshot_soon(self, reply: Callable[[dict[str, Any]], None]) -> None:
        """TakeSnapshot: `reply` once a snapshot covering everything applied
        now is in use (or at once, when one already is)."""
        self.snapshot_waiters.append((self.core.log.applied_index, reply))

    def pump_snapshot(self) -> None:
        """Start the snapshot that the threshold or a request calls for, carry
        the one under way a step further, and put it in use once durable."""
        taker = self.snapshot_taker
        if not taker.busy:
            log = self.core.log
            threshold = self.config.snapshot_threshold_entries
            if self.snapshot_waiters or (
                threshold and log.applied_index - log.snapshot_index >= threshold
            ):
                self._start_snapshot()
        written = taker.pump(SNAPSHOT_PACK_BUDGET_S)
        if written is not None:
            self._use_snapshot(written)

    def _start_snapshot(self) -> None:
        started = time.monotonic()
        index = self.core.log.applied_index
        if index <= self.core.log.snapshot_index:
            self._answer_snapshot_waiters(
                {"ok": True, "index": self.core.log.snapshot_index, "taken": False}
            )
            return
        invariant(
            self.kv.applied_index == index,
            "the state machine lags the applied index",
            kv=self.kv.applied_index,
            core=index,
        )
        meta = self.core.snapshot_meta(index)
        self.snapshot_taker.start(meta, self.kv.snapshot_pieces(), started)

    def _use_snapshot(self, written: WrittenSnapshot) -> None:
        """Compact the core's log to the durable snapshot and mark it in the WAL."""
        started = time.monotonic()
        meta = self.core.compact(written.meta.index)
        invariant(meta == written.meta, "the snapshot's meta changed", was=written.meta, now=meta)
        unneeded = self.storage.mark_snapshot(meta)
        self.snapshot_taker.remove_later(unneeded.paths)
        released = len(unneeded.segments)
        stall_ms = max(written.stall_ms, (time.monotonic() - started) * 1000)
        self.last_snapshot = {
            "index": meta.index,
            "term": meta.term,
            "bytes": written.bytes,
            "stall_ms": round(stall_ms, 1),
            "took_ms": round(written.took_ms, 1),
            "released_segments": released,
        }
        self.journal.line(
            f"{self.node_id} snapshot at index {meta.index} (term {meta.term}): "
            f"{written.bytes} bytes in {written.took_ms:.1f} ms, the loop held at most "
            f"{stall_ms:.1f} ms; {released} WAL segments released"
        )
        self._answer_snapshot_waiters({"ok": True, "taken": True, **self.last_snapshot})
        self.drain_ready()

    def _answer_snapshot_waiters(self, answer: dict[str, Any]) -> None:
        covered = answer["index"]
        waiting = self.snapshot_waiters
        self.snapshot_waiters = [(index, reply) for index, reply in waiting if index > covered]
        for index, reply in waiting:
            if index <= covered:
                reply(answer)

    def set_clock_rate(self, rate: float) -> None:
        self.clock_rate = rate
        self.ticker.tick_s = self._tick_seconds()

    def _tick_seconds(self) -> float:
        """Real seconds per tick: `slow_factor` stretches it, a skewed clock too."""
        return self.config.tick_ms * self.config.slow_factor / 1000 / self.clock_rate

    def address_of(self, node_id: str) -> str | None:
        """The endpoint of `node_id`, or None when cluster.toml does not name it."""
        return next((node.endpoint for node in self.config.nodes if node.id == node_id), None)

    def _refresh_address_book(self) -> None:
        """A member has no address here: `raftctl add-node` writes a node into
        cluster.toml before asking the leader to add it."""
        if (config := self.book.refresh(self.transport, self.admission)) is not None:
            self.config = config

    # -- stopping ------------------------------------------------------------------

    def write_exit(self, reason: str, exit_code: int) -> None:
        write_exit(self.node_dir, reason, exit_code)
        self.journal.line(f"{self.node_id} stopped: {reason}")

    def close(self) -> None:
        self.resolver.close()
        self.snapshot_taker.abandon()
        self.transport.close()
        self.storage.close()


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
    os.umask(0o077)  # everything the node writes is its user's alone
    try:
        server: NodeServer | GossipServer
        if load(args.dir / "cluster.toml").protocol == "gossip":
            from node.gossip_server import GossipServer  # (a Raft node never loads it)

            server = GossipServer(args.dir, args.id, args.after_power_loss)
        else:
            server = NodeServer(args.dir, args.id, args.after_power_loss)
    except (ConfigError, StorageError, OSError) as error:
        # Say why in exit.json, so that raftctl start and restart report it at once.
        code = EXIT_CONFIG if isinstance(error, ConfigError) else EXIT_STORAGE
        reason = (
            str(error)
            if isinstance(error, ConfigError | StorageError)
            else (f"cannot open its storage: {error}")
        )
        if isinstance(error, CorruptLog | CorruptSnapshot | LostState):
            reason += f"; bring it back safely with: raftctl rejoin {args.id}"

        print(f"node {args.id}: {reason}", file=sys.stderr)
        write_exit(args.dir / args.id, reason, code)
        return code

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
