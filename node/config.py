"""cluster.toml: the one schema, read by nodes and written by the controller.

Rules:
- Read with tomllib, written with tomli-w; raftctl imports this module rather
  than defining the schema twice.
- Durations are milliseconds, and every name says its unit.
- Unknown keys are an error: a typo must not silently fall back to a default.

    [cluster]
    tick_ms = 25
    heartbeat_interval_ms = 50
    election_timeout_ms_min = 300   # the paper's LAN range is 150-300 ms; PreVote
    election_timeout_ms_max = 600   # and CheckQuorum keep a busy box from electing
    snapshot_threshold_entries = 10000
    pre_vote = true
    check_quorum = true
    fsync = true
    power_loss_mode = false
    slow_factor = 1       # every timer N times slower, to watch an election
    key_bytes_max = 4096  # a larger key or value is refused (status "refused")
    value_bytes_max = 1048576
    watch_history_changes = 10000     # the latest changes `raftctl watch` may ask for
    watch_history_bytes = 4194304     # ... and at most this many bytes of keys and values
    lease_drift_ms = 100  # the lease ends this much before the election timeout
    next_node_number = 4
    shards = 1            # Raft groups; where a key lives: below
    txn_resolve_after_ms = 2000  # a transaction prepared this long is resolved (node.txn_resolver)
    txn_protocol = "2pc"  # 2pc | 2pc-classic | 3pc: how transactions cross shards (below)
    coordinator_port = 0  # 2pc-classic and 3pc: where the coordinator process listens
    coordinator_public_key = "..."
    protocol = "raft"     # raft | paxos | gossip: how the nodes replicate (below)
    paxos_leader = true   # paxos: a distinguished proposer (false: --no-leader)
    paxos_backoff = false # paxos: a preempted proposer waits a random while (--backoff)
    gossip_fanout = 2     # gossip: peers each anti-entropy round talks to
    gossip_interval_ms = 200  # gossip: one anti-entropy round this often
    gossip_ack = 1        # gossip: W, replicas holding a write before it is answered
    gossip_read = 1       # gossip: R, replicas answering a read (R + W > N: read-your-writes)
    curve = true          # false: `raftctl start --insecure`, no authentication
    controller_public_key = "..."  # Z85; the secrets are in keys/ (node.keys)
    client_public_key = "..."

    [[nodes]]
    id = "n1"
    host = "127.0.0.1"
    port = 7101
    bootstrap = true      # false for a node added later by `raftctl add-node`
    public_key = "..."    # with curve
    shard = 1             # the Raft group this node belongs to

A cluster.toml without `curve` predates authentication and runs without it;
one without `shards` has one shard.

Shards: each shard is a Raft group of its own nodes (ids `s2n1`... when there
are several, `n1`... when there is one). A key's shard is `1 + h mod shards`,
where h is the first 8 bytes of SHA-256 over the key's bytes, read as a
big-endian unsigned number: stable across versions, machines and languages,
so any client routes alone, and well mixed, so that keys differing in one
character (`a1`, `a2`...) spread over the shards (crc32's linearity does
not). The shard count is fixed when the cluster is created. A node sees only
its own shard (`ClusterConfig.shard_view`): its peers, its voters, who may
sign in.

Transactions across shards (`txn_protocol`): "2pc" runs two-phase commit
from the client with the decision replicated in a shard's log
(node.transactions). "2pc-classic" and "3pc" are the textbook protocols: one
coordinator process, id `coord` (raftctl.txn.coordinator_process), decides
alone and keeps its decisions in its own WAL; the shards are its
participants. It listens on 127.0.0.1:coordinator_port.

Protocols (`protocol`): "raft" is everything above. "gossip" is a
leaderless, always-writable store (node.gossip, run by node.gossip_server):
every node takes reads and writes, stamps writes with a hybrid logical clock
(the latest stamp wins), and replicas converge by anti-entropy with
`gossip_fanout` random peers every `gossip_interval_ms`; SWIM tells who is
alive. A gossip cluster has one shard and no cross-shard transactions.
"paxos" replicates the same log as Raft by Multi-Paxos (node.paxos, run by
the same node server): a distinguished proposer runs phase 1 once for all
future slots and phase 2 per slot; with `paxos_leader = false` every node
asked to write prepares its own ballot (dueling proposers), and
`paxos_backoff` makes a preempted proposer wait a random, growing while. A
paxos cluster has one shard.

The nodes are the address book. Membership itself lives in the Raft log and
snapshots: the nodes with `bootstrap = true` are the voters the cluster was
created with; a node added later starts knowing no configuration and waits for
the leader to add it as a learner.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from node.errors import ConfigError
from node.raft_config import RaftConfig

__all__ = [
    "COORDINATOR_ID",
    "LOG_PROTOCOLS",
    "PROTOCOLS",
    "TXN_PROTOCOLS",
    "ClusterConfig",
    "ConfigError",
    "NodeAddress",
    "load",
    "node_id_for",
    "save",
    "shard_of_key",
    "write_private",
]


TXN_PROTOCOLS = ("2pc", "2pc-classic", "3pc")
PROTOCOLS = ("raft", "paxos", "gossip")
LOG_PROTOCOLS = ("raft", "paxos")  # the ones that replicate a log: every log command works
COORDINATOR_ID = "coord"  # the coordinator process of 2pc-classic and 3pc


def shard_of_key(key: str | bytes, shards: int) -> int:
    """The placement rule (this module's docstring): the shard of `key`
    among `shards`; a str key stands for its bytes as node.messages carries them."""
    if shards == 1:
        return 1
    data = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
    return 1 + int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % shards


def node_id_for(shard: int, number: int, shards: int) -> str:
    """A node's id: `n3` in a cluster of one shard, `s2n3` in one of several."""
    return f"n{number}" if shards == 1 else f"s{shard}n{number}"


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """Where one node listens (peers, clients and the controller alike)."""

    id: str
    host: str
    port: int
    bootstrap: bool = True
    public_key: str = ""  # Z85, when the cluster uses CURVE
    shard: int = 1

    @property
    def endpoint(self) -> str:
        return f"tcp://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """The whole of cluster.toml."""

    nodes: tuple[NodeAddress, ...]
    tick_ms: int = 25
    heartbeat_interval_ms: int = 50
    election_timeout_ms_min: int = 300
    election_timeout_ms_max: int = 600
    snapshot_threshold_entries: int = 10000
    pre_vote: bool = True
    check_quorum: bool = True
    fsync: bool = True
    power_loss_mode: bool = False
    slow_factor: int = 1
    lease_drift_ms: int = 100
    next_node_number: int = field(default=0)
    key_bytes_max: int = 4096
    value_bytes_max: int = 1 << 20
    watch_history_changes: int = 10_000
    watch_history_bytes: int = 4 << 20
    shards: int = 1
    txn_resolve_after_ms: int = 2000
    txn_protocol: str = "2pc"
    coordinator_port: int = 0
    coordinator_public_key: str = ""
    protocol: str = "raft"
    gossip_fanout: int = 2
    gossip_interval_ms: int = 200
    gossip_ack: int = 1
    gossip_read: int = 1
    paxos_leader: bool = True
    paxos_backoff: bool = False
    curve: bool = False
    controller_public_key: str = ""
    client_public_key: str = ""
    # Where cluster.toml was read from (not a setting: never written): the
    # cluster directory, whose keys/ a process of this cluster signs in with.
    directory: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        ids = [node.id for node in self.nodes]
        if not ids:
            raise ConfigError("cluster.toml names no nodes")
        if len(set(ids)) != len(ids):
            raise ConfigError(f"duplicate node ids in cluster.toml: {ids}")
        ports = [(node.host, node.port) for node in self.nodes]
        if len(set(ports)) != len(ports):
            raise ConfigError("two nodes share a host and port in cluster.toml")
        if self.coordinator_port and (self.nodes[0].host, self.coordinator_port) in ports:
            raise ConfigError("the coordinator shares a port with a node in cluster.toml")
        if self.key_bytes_max < 1 or self.value_bytes_max < 1:
            raise ConfigError("key_bytes_max and value_bytes_max must be >= 1")
        if self.watch_history_changes < 1 or self.watch_history_bytes < 1:
            raise ConfigError("watch_history_changes and watch_history_bytes must be >= 1")
        if self.shards < 1:
            raise ConfigError("shards must be >= 1")
        strays = [node.id for node in self.nodes if not 1 <= node.shard <= self.shards]
        if strays:
            raise ConfigError(f"nodes {strays} name a shard outside 1..{self.shards}")
        if self.txn_protocol not in TXN_PROTOCOLS:
            raise ConfigError(
                f"txn_protocol {self.txn_protocol!r} is not one of {', '.join(TXN_PROTOCOLS)}"
            )
        if (self.txn_protocol != "2pc") != (self.coordinator_port > 0):
            raise ConfigError(
                "txn_protocol 2pc-classic and 3pc need a coordinator_port, and 2pc none"
            )
        if self.curve and self.coordinator_port and not self.coordinator_public_key:
            raise ConfigError("curve = true needs the coordinator's public key")
        if COORDINATOR_ID in ids:
            raise ConfigError(f"{COORDINATOR_ID!r} names the coordinator process, not a node")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        if self.protocol == "gossip" and (self.shards > 1 or self.txn_protocol != "2pc"):
            raise ConfigError("protocol gossip has one shard and no txn_protocol")
        if self.protocol == "paxos" and (self.shards > 1 or self.txn_protocol != "2pc"):
            raise ConfigError("protocol paxos has one shard and no txn_protocol")
        if self.protocol != "paxos" and (not self.paxos_leader or self.paxos_backoff):
            raise ConfigError("paxos_leader and paxos_backoff are protocol paxos's")
        if self.gossip_fanout < 1:
            raise ConfigError("gossip_fanout must be >= 1")
        if not (1 <= self.gossip_ack <= len(ids) and 1 <= self.gossip_read <= len(ids)):
            raise ConfigError("gossip_ack and gossip_read must be within 1..the number of nodes")
        if self.gossip_interval_ms < self.tick_ms:
            raise ConfigError("gossip_interval_ms must be at least tick_ms")
        if self.txn_resolve_after_ms < 1:
            raise ConfigError("txn_resolve_after_ms must be >= 1")
        if self.slow_factor < 1:
            raise ConfigError("slow_factor must be >= 1")
        if self.snapshot_threshold_entries < 0:
            raise ConfigError("snapshot_threshold_entries must be >= 0 (0: only on request)")
        if not 0 <= self.lease_drift_ms < self.election_timeout_ms_min:
            raise ConfigError("need 0 <= lease_drift_ms < election_timeout_ms_min")
        if self.curve and not (
            self.controller_public_key
            and self.client_public_key
            and all(node.public_key for node in self.nodes)
        ):
            raise ConfigError("curve = true needs a public key for every node and both clients")
        if not self.curve and any(
            node.host not in ("127.0.0.1", "localhost", "::1") for node in self.nodes
        ):
            raise ConfigError("a node binds beyond loopback: that needs curve = true")
        if not 0 < self.tick_ms <= self.heartbeat_interval_ms:
            raise ConfigError("need 0 < tick_ms <= heartbeat_interval_ms")
        if not (
            self.heartbeat_interval_ms
            < self.election_timeout_ms_min
            <= self.election_timeout_ms_max
        ):
            raise ConfigError(
                "need heartbeat_interval_ms < election_timeout_ms_min <= election_timeout_ms_max"
            )

    def node(self, node_id: str) -> NodeAddress:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise ConfigError(f"no node {node_id!r} in cluster.toml")

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(node.id for node in self.nodes)

    @property
    def coordinator(self) -> NodeAddress | None:
        """The coordinator process of 2pc-classic and 3pc (shard 0: it belongs
        to none); None under 2pc."""
        if not self.coordinator_port:
            return None
        host = self.nodes[0].host
        return NodeAddress(
            COORDINATOR_ID, host, self.coordinator_port, True, self.coordinator_public_key, 0
        )

    def initial_voters(self, shard: int = 1) -> tuple[str, ...]:
        """The voters shard `shard` was created with."""
        return tuple(node.id for node in self.nodes if node.bootstrap and node.shard == shard)

    # -- shards -------------------------------------------------------------

    def shard_of_key(self, key: str | bytes) -> int:
        """The shard that owns `key` (the placement rule in this module's
        docstring); a str key stands for its bytes as node.messages carries them."""
        return shard_of_key(key, self.shards)

    def shard_of_node(self, node_id: str) -> int:
        return self.node(node_id).shard

    def shard_node_ids(self, shard: int) -> tuple[str, ...]:
        return tuple(node.id for node in self.nodes if node.shard == shard)

    def shard_view(self, node_id: str) -> ClusterConfig:
        """cluster.toml as `node_id` sees it: the nodes of its own shard only."""
        shard = self.node(node_id).shard
        return replace(self, nodes=tuple(node for node in self.nodes if node.shard == shard))

    def raft_config(self, node_id: str, joining: bool = False) -> RaftConfig:
        """The core's configuration: milliseconds turned into ticks. A `joining`
        node (rejoining after its storage was wiped) starts with no voters and
        waits for the leader, whatever the cluster was created with."""
        return RaftConfig(
            node_id=node_id,
            voters=() if joining else self.initial_voters(self.shard_of_node(node_id)),
            election_timeout_ticks_min=max(2, self.election_timeout_ms_min // self.tick_ms),
            election_timeout_ticks_max=max(2, self.election_timeout_ms_max // self.tick_ms),
            heartbeat_interval_ticks=max(1, self.heartbeat_interval_ms // self.tick_ms),
            pre_vote=self.pre_vote,
            check_quorum=self.check_quorum,
            lease_drift_ticks=min(
                self.lease_drift_ms // self.tick_ms,
                max(2, self.election_timeout_ms_min // self.tick_ms) - 1,
            ),
        )

    @property
    def has_log(self) -> bool:
        """Raft or Paxos: a replicated log, a leader, every log command."""
        return self.protocol in LOG_PROTOCOLS

    def with_changes(self, **changes: Any) -> ClusterConfig:
        return replace(self, **changes)


def load(path: Path) -> ClusterConfig:
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"no cluster.toml at {path}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from error
    settings = dict(document.get("cluster", {}))
    known = {f.name for f in fields(ClusterConfig)} - {"nodes", "directory"}
    unknown = set(settings) - known
    if unknown or set(document) - {"cluster", "nodes"}:
        raise ConfigError(
            f"{path}: unknown settings {sorted(unknown | (set(document) - {'cluster', 'nodes'}))}"
        )
    try:
        nodes = tuple(
            NodeAddress(
                str(n["id"]),
                str(n["host"]),
                int(n["port"]),
                bool(n.get("bootstrap", True)),
                str(n.get("public_key", "")),
                int(n.get("shard", 1)),
            )
            for n in document.get("nodes", [])
        )
        return ClusterConfig(nodes=nodes, directory=path.parent, **settings)
    except (KeyError, TypeError) as error:
        raise ConfigError(f"{path}: malformed node or setting ({error})") from error


def save(path: Path, config: ClusterConfig) -> None:
    """Write atomically: a reader never sees half a file."""
    settings = asdict(config)
    settings.pop("directory")
    nodes = settings.pop("nodes")
    temporary = path.with_suffix(".toml.tmp")
    write_private(temporary, tomli_w.dumps({"cluster": settings, "nodes": nodes}))
    temporary.replace(path)


def write_private(path: Path, text: str) -> None:
    """Write `path` readable by this user alone (0600), whatever the umask."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)  # an existing file keeps its mode through O_CREAT
