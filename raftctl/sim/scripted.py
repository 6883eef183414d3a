"""ScriptedCluster: real cores with every message delivered by hand.

For the scenario scripts (tests/sim/scripts/*.txt) and the paper tests: a
person decides which message arrives when, so a figure of the Raft paper can
be replayed step by step. Each Ready is handled as raft.py Rule 2 says; every
delivered message and every event becomes one line of output.

Script commands (one per block; see `run_script`):
    cluster n1 n2 n3 [pre_vote=false] [check_quorum=false] [entries_per_message_max=N]
    log NODE TERM... [term=T] [vote=ID]  give NODE this durable log, then restart it
    campaign NODE                         NODE's election timeout fires now
    propose NODE DATA                     a client write at NODE
    tick NODE [N]                         N ticks (default 1)
    deliver [SRC->DST] [count=N]          deliver queued messages (all, or one link's)
    drop [SRC->DST]                       lose queued messages
    stabilize                             deliver until nothing is in flight
    crash NODE | restart NODE             lose what NODE did not persist | start it again
    partition A,B C,D | heal              cut links between groups | restore them
    status                                one line per node
    snapshot NODE                         NODE snapshots its state and compacts its log
    add NODE                              a new empty node, in no configuration yet
    member LEADER add-learner|promote|remove NODE   a membership change at LEADER
    transfer LEADER NODE                  LEADER hands leadership to NODE
    read NODE [lease]                     a ReadIndex (or lease) read at NODE
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from node.errors import ProposalRejected, invariant
from node.events import describe
from node.messages import (
    PEER_MESSAGES,
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    EntryKind,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Message,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
    decode_membership,
)
from node.raft import RaftCore
from node.raft_config import RaftConfig
from node.ready import HardState, MembershipChange, Outgoing, Ready, SnapshotSend
from node.ready_driver import drain
from raftctl.sim.cluster import MemoryStorage
from raftctl.sim.errors import ScriptError

__all__ = ["ScriptError", "ScriptedCluster", "format_message", "run_script"]


def _entries_text(entries: tuple[Entry, ...]) -> str:
    parts = []
    for entry in entries:
        if entry.kind is EntryKind.NOOP:
            label = "noop"
        elif entry.kind is EntryKind.CONFIG:
            label = "config(" + decode_membership(entry.data).describe() + ")"
        else:
            label = entry.data.decode(errors="replace")
        parts.append(f"{entry.index}/{entry.term}:{label}")
    return "[" + " ".join(parts) + "]"


def format_message(m: Message) -> str:
    """One readable line per message, in the paper's vocabulary."""
    head = f"{m.src}->{m.dst} {type(m).__name__} term={m.term}"
    match m:
        case RequestVote():
            kind = " pre-vote" if m.pre_vote else " transfer" if m.transfer else ""
            return f"{head}{kind} last={m.last_log_index}/{m.last_log_term}"
        case RequestVoteResponse():
            kind = " pre-vote" if m.pre_vote else ""
            verdict = "granted" if m.granted else "refused"
            return f"{head}{kind} {verdict}"
        case AppendEntries():
            return (
                f"{head} prev={m.prev_log_index}/{m.prev_log_term} "
                f"entries={_entries_text(m.entries)} commit={m.leader_commit}"
            )
        case AppendEntriesResponse():
            if m.success:
                return f"{head} success match={m.match_index}"
            return (
                f"{head} reject rejected={m.rejected_index} "
                f"hint={m.conflict_index}/{m.conflict_term}"
            )
        case Heartbeat():
            return f"{head} commit={m.commit_index}"
        case HeartbeatResponse():
            return head
        case TimeoutNow():
            return head
        case InstallSnapshot():
            meta = m.meta
            return (
                f"{head} snapshot={meta.index}/{meta.term} ({meta.membership.describe()}) "
                f"{len(m.data)} bytes"
            )
    raise AssertionError(f"unknown message {m!r}")


@dataclass(slots=True)
class _Node:
    node_id: str
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    core: RaftCore | None = None
    applied: list[Entry] = field(default_factory=list)
    voters: tuple[str, ...] = ()
    lives: int = 0  # its incarnation: how many times it was started


class ScriptedCluster:
    """A cluster whose network is a queue that only moves when told to."""

    def __init__(
        self, node_ids: list[str], core_factory: type[RaftCore] = RaftCore, **config_overrides: Any
    ) -> None:
        self.node_ids = tuple(node_ids)
        self.core_factory = core_factory
        self.config_overrides = config_overrides
        self.nodes = {node_id: _Node(node_id, voters=self.node_ids) for node_id in node_ids}
        self.in_flight: list[Message] = []
        self.cut: set[tuple[str, str]] = set()
        self.output: list[str] = []
        self.last_ready: dict[str, Ready] = {}
        self.reads = 0
        for node_id in node_ids:
            self.restart(node_id)

    def core(self, node_id: str) -> RaftCore:
        core = self.nodes[node_id].core
        if core is None:
            raise ScriptError(f"{node_id} is down")
        return core

    # -- driving ------------------------------------------------------------------

    def restart(self, node_id: str) -> None:
        node = self.nodes[node_id]
        config = RaftConfig(node_id=node_id, voters=node.voters, **self.config_overrides)
        # A fixed seed per node: scripts must replay identically.
        rng = random.Random(f"{node_id}-{len(self.output)}")
        node.lives += 1
        durable = replace(node.storage.durable_state(), incarnation=node.lives)
        node.core = self.core_factory(config, durable, rng)
        node.applied = []
        self._drain(node)

    def crash(self, node_id: str) -> None:
        self.nodes[node_id].core = None

    def set_log(
        self, node_id: str, terms: list[int], term: int | None = None, vote: str | None = None
    ) -> None:
        """Replace `node_id`'s durable state, then restart it from there."""
        node = self.nodes[node_id]
        node.storage = MemoryStorage()
        entries = [
            Entry(index, entry_term, EntryKind.COMMAND, f"e{index}".encode())
            for index, entry_term in enumerate(terms, start=1)
        ]
        node.storage.persist(
            entries, HardState(term if term is not None else max(terms, default=0), vote, 0)
        )
        node.core = None
        self.restart(node_id)

    def add_node(self, node_id: str) -> None:
        """A new empty node that knows no configuration: it waits to be added."""
        self.nodes[node_id] = _Node(node_id)
        self.restart(node_id)

    def snapshot(self, node_id: str) -> None:
        """Snapshot `node_id`'s state at its applied index and compact its log."""
        node = self.nodes[node_id]
        core = self.core(node_id)
        index = core.log.applied_index
        meta = core.compact(index)
        node.storage.save_snapshot(meta, f"state@{index}".encode())
        self._drain(node)

    def change_membership(self, leader_id: str, action: str, node_id: str) -> None:
        try:
            self.core(leader_id).propose_membership(MembershipChange(action, node_id))
        except ProposalRejected as refusal:
            self.output.append(f"  {leader_id} refused: {refusal}")
        self._drain(self.nodes[leader_id])

    def transfer(self, leader_id: str, target: str) -> None:
        self.core(leader_id).transfer_leadership(target)
        self._drain(self.nodes[leader_id])

    def read(self, node_id: str, lease: bool) -> None:
        self.reads += 1
        self.core(node_id).read_index(f"read{self.reads}".encode(), lease=lease)
        self._drain(self.nodes[node_id])

    def campaign(self, node_id: str) -> None:
        self.core(node_id).campaign()
        self._drain(self.nodes[node_id])

    def propose(self, node_id: str, data: bytes) -> None:
        try:
            self.core(node_id).propose([data])
        except ProposalRejected as refusal:
            self.output.append(f"  {node_id} refused: {refusal}")
        self._drain(self.nodes[node_id])

    def tick(self, node_id: str, count: int = 1) -> None:
        for _ in range(count):
            self.core(node_id).tick()
            self._drain(self.nodes[node_id])

    def drain(self, node_id: str) -> None:
        """Handle `node_id`'s Readies after a test stepped its core directly."""
        self._drain(self.nodes[node_id])

    def deliver(
        self, src: str | None = None, dst: str | None = None, count: int | None = None
    ) -> int:
        """Deliver the queued messages that match, oldest first; messages sent
        while delivering wait for the next call. Returns how many arrived."""
        batch = [m for m in self.in_flight if self._matches(m, src, dst)]
        if count is not None:
            batch = batch[:count]
        chosen = {id(m) for m in batch}
        self.in_flight = [m for m in self.in_flight if id(m) not in chosen]
        for message in batch:
            node = self.nodes[message.dst]
            if (message.src, message.dst) in self.cut or node.core is None:
                self.output.append(f"{format_message(message)}  (lost)")
                continue
            self.output.append(format_message(message))
            node.core.step(message)
            self._drain(node)
        return len(batch)

    def drop(self, src: str | None = None, dst: str | None = None) -> None:
        kept = []
        for message in self.in_flight:
            if self._matches(message, src, dst):
                self.output.append(f"{format_message(message)}  (dropped)")
            else:
                kept.append(message)
        self.in_flight = kept

    def stabilize(self, rounds_max: int = 1000) -> None:
        for _ in range(rounds_max):
            if not self.deliver():
                return
        raise ScriptError(f"not stable after {rounds_max} rounds")

    def partition(self, groups: list[list[str]]) -> None:
        self.cut = {
            (a, b)
            for group in groups
            for other in groups
            if other is not group
            for a in group
            for b in other
        }

    def heal(self) -> None:
        self.cut.clear()

    def status_lines(self) -> list[str]:
        lines = []
        for node_id, node in self.nodes.items():
            core = node.core
            if core is None:
                lines.append(f"{node_id} down")
                continue
            terms = " ".join(str(entry.term) for entry in core.log.all_entries()) or "-"
            snapshot = (
                f"snapshot={core.log.snapshot_index}/{core.log.snapshot_term} "
                if core.log.snapshot_index
                else ""
            )
            members = "" if core.voters == self.node_ids else f" ({core.membership.describe()})"
            lines.append(
                f"{node_id} {core.role.value} term={core.term} leader={core.leader_id or '-'} "
                f"commit={core.log.commit_index} applied={core.log.applied_index} "
                f"{snapshot}log: {terms}{members}"
            )
        return lines

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _matches(message: Message, src: str | None, dst: str | None) -> bool:
        return (src is None or message.src == src) and (dst is None or message.dst == dst)

    def _drain(self, node: _Node) -> None:
        if node.core is not None:
            drain(node.core, _ScriptedReadies(self, node))


# -- the script format -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptBlock:
    """One command of a script and the output written beside it."""

    command: str
    expected: str


def parse_script(text: str) -> Iterator[ScriptBlock]:
    """Blocks are `command`, a `----` line, the output, then a blank line.
    Lines starting with # between blocks are comments."""
    lines = text.splitlines()
    position = 0
    while position < len(lines):
        line = lines[position]
        if not line.strip() or line.startswith("#"):
            position += 1
            continue
        command = line.strip()
        if position + 1 >= len(lines) or lines[position + 1] != "----":
            raise ScriptError(f"line {position + 1}: expected '----' after {command!r}")
        position += 2
        output = []
        while position < len(lines) and lines[position].strip():
            output.append(lines[position])
            position += 1
        yield ScriptBlock(command, "\n".join(output))


def _parse_options(words: list[str]) -> tuple[list[str], dict[str, Any]]:
    plain, options = [], {}
    for word in words:
        if "=" in word:
            key, value = word.split("=", 1)
            options[key] = (
                value == "true"
                if value in ("true", "false")
                else int(value)
                if value.isdigit()
                else value
            )
        else:
            plain.append(word)
    return plain, options


def _link(words: list[str]) -> tuple[str | None, str | None]:
    if not words:
        return None, None
    src, _, dst = words[0].partition("->")
    return (None if src in ("*", "") else src), (None if dst in ("*", "") else dst)


def execute(cluster: ScriptedCluster | None, command: str) -> tuple[ScriptedCluster, str]:
    """Run one command; returns the cluster (new for `cluster`) and its output."""
    name, *words = command.split()
    words, options = _parse_options(words)
    if name == "cluster":
        cluster = ScriptedCluster(words, **options)
        output = cluster.output[:]
        cluster.output.clear()
        return cluster, "\n".join(output) or "ok"
    if cluster is None:
        raise ScriptError(f"{command!r} before any 'cluster' command")
    match name:
        case "log":
            vote = options.get("vote")
            cluster.set_log(
                words[0],
                [int(t) for t in words[1:]],
                term=options.get("term"),
                vote=str(vote) if vote else None,
            )
        case "campaign":
            cluster.campaign(words[0])
        case "propose":
            cluster.propose(words[0], words[1].encode())
        case "tick":
            cluster.tick(words[0], int(words[1]) if len(words) > 1 else 1)
        case "deliver":
            count = options.get("count")
            cluster.deliver(*_link(words), count=int(count) if count else None)
        case "drop":
            cluster.drop(*_link(words))
        case "stabilize":
            cluster.stabilize()
        case "crash":
            cluster.crash(words[0])
        case "restart":
            cluster.restart(words[0])
        case "partition":
            cluster.partition([group.split(",") for group in words])
        case "heal":
            cluster.heal()
        case "status":
            cluster.output.extend(cluster.status_lines())
        case "snapshot":
            cluster.snapshot(words[0])
        case "add":
            cluster.add_node(words[0])
        case "member":
            cluster.change_membership(words[0], words[1], words[2])
        case "transfer":
            cluster.transfer(words[0], words[1])
        case "read":
            cluster.read(words[0], lease=words[1:] == ["lease"])
        case _:
            raise ScriptError(f"unknown command {name!r}")
    output = cluster.output[:]
    cluster.output.clear()
    return cluster, "\n".join(output) or "ok"


def run_script(text: str) -> list[tuple[ScriptBlock, str]]:
    """Run every block; returns each block with the output it really produced."""
    cluster: ScriptedCluster | None = None
    results = []
    for block in parse_script(text):
        cluster, actual = execute(cluster, block.command)
        results.append((block, actual))
    return results


def render_script(results: list[tuple[ScriptBlock, str]], comments: dict[int, str]) -> str:
    """The script text with real outputs in place of the expected ones."""
    parts = []
    for position, (block, actual) in enumerate(results):
        if position in comments:
            parts.append(comments[position])
        parts.append(f"{block.command}\n----\n{actual}\n")
    return "\n".join(parts)


def comments_by_block(text: str) -> dict[int, str]:
    """The comment lines that stand before each block, to keep them on rewrite."""
    comments: dict[int, str] = {}
    pending: list[str] = []
    block = 0
    lines = text.splitlines()
    position = 0
    while position < len(lines):
        line = lines[position]
        if line.startswith("#"):
            pending.append(line)
        elif line.strip():
            if pending:
                comments[block] = "\n".join(pending)
                pending = []
            block += 1
            position += 2
            while position < len(lines) and lines[position].strip():
                position += 1
            continue
        position += 1
    return comments


class _ScriptedReadies:
    """One node's Readies (node.ready_driver): what it sends waits in the
    cluster's queue, and what it does is written to the script's output."""

    def __init__(self, cluster: ScriptedCluster, node: _Node) -> None:
        self.cluster = cluster
        self.node = node

    def begin(self, rd: Ready) -> bool:
        node_id = self.node.node_id
        self.cluster.last_ready[node_id] = rd
        self.cluster.output.extend(f"  {describe(node_id, event)}" for event in rd.events)
        return True

    def send(self, messages: tuple[Outgoing, ...]) -> None:
        raft = [message for message in messages if isinstance(message, PEER_MESSAGES)]
        invariant(len(raft) == len(messages), "the scripted cluster runs Raft cores only")
        self.cluster.in_flight.extend(raft)

    def persist(self, rd: Ready) -> bool:
        node = self.node
        if rd.snapshot is not None:
            node.storage.install_snapshot(rd.snapshot.meta, rd.snapshot.data)
            node.applied = []  # the state machine now starts from the snapshot
        node.storage.persist(rd.entries, rd.hard_state)
        return True

    def send_snapshots(self, requests: tuple[SnapshotSend, ...]) -> None:
        node = self.node
        for request in requests:
            meta = node.storage.snapshot
            if meta is None:
                raise AssertionError(f"{node.node_id} must send a snapshot but has none")
            data = node.storage.snapshot_data
            self.cluster.in_flight.append(
                InstallSnapshot(request.term, node.node_id, request.peer, meta, 0, data, True)
            )

    def apply(self, rd: Ready) -> None:
        self.node.applied.extend(rd.committed_entries)

    def serve_reads(self, rd: Ready) -> None:
        node_id, output = self.node.node_id, self.cluster.output
        for state in rd.read_states:
            output.append(
                f"  {node_id} may serve {state.context.decode()} once index "
                f"{state.index} is applied ({'lease' if state.lease else 'ReadIndex'})"
            )
        for context, reason in rd.reads_dropped:
            output.append(f"  {node_id} dropped {context.decode()}: {reason}")

    def advanced(self, rd: Ready) -> None:
        pass
