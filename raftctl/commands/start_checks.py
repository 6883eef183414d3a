"""What `raftctl start` checks before it creates a cluster or starts one
that exists: the machine's room for the nodes, the ports, the timers, that
an explicit option agrees with an existing cluster.toml, and the options of
a protocol beside Raft. raftctl.commands.cluster's `start` calls them."""

from __future__ import annotations

from typing import Any

from node.config import PROTOCOLS, ClusterConfig
from raftctl.cluster import ClusterDir
from raftctl.errors import UsageError

__all__ = [
    "SHARDS_MAX",
    "check_matches",
    "check_node_count",
    "check_ports",
    "check_protocol",
    "check_quorum",
    "check_timing",
    "machine_capacity",
    "requested_settings",
]

NODE_CORE_SHARE = 0.035
NODE_MEMORY_BYTES = 64 << 20
CPU_HEADROOM = 4  # idle nodes may take at most a quarter of the machine
PORT_MIN, PORT_MAX = 1024, 65535
SHARDS_MAX = 16


def machine_capacity() -> tuple[int, str]:
    """About how many nodes this machine holds, and why (for the refusal)."""
    import psutil

    cores = psutil.cpu_count() or 1
    by_cpu = int(cores / (NODE_CORE_SHARE * CPU_HEADROOM))
    available = psutil.virtual_memory().available
    by_memory = int(available // NODE_MEMORY_BYTES)
    why = (
        f"{cores} cores hold about {by_cpu} (an idle node takes ~3.5% of a core, and "
        f"elections need {CPU_HEADROOM}x that free); {available >> 30} GiB free holds "
        f"about {by_memory} (~64 MiB each)"
    )
    return max(1, min(by_cpu, by_memory)), why


def check_node_count(nodes: int, force: bool) -> None:
    capacity, why = machine_capacity()
    if nodes > capacity and not force:
        raise UsageError(
            f"--nodes {nodes} is more than this machine holds, about {capacity}: {why}; "
            "--force starts them anyway"
        )


def check_ports(base_port: int, nodes: int) -> None:
    if base_port == 0:
        return  # free ports are picked
    low, high = base_port + 1, base_port + nodes
    if low < PORT_MIN or high > PORT_MAX:
        raise UsageError(
            f"--base-port {base_port} gives ports {low}-{high}; node ports must lie "
            f"within {PORT_MIN}-{PORT_MAX} (or --base-port 0 picks free ones)"
        )


def _election_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split("-", 1))
    except ValueError as error:
        raise UsageError(
            f"--election-timeout takes MIN-MAX in milliseconds, not {text!r}"
        ) from error
    if low > high:
        raise UsageError(f"--election-timeout {text}: MIN must not exceed MAX")
    return low, high


def check_timing(settings: dict[str, Any]) -> None:
    """The timers of a new cluster, said in terms of the options a user gave."""
    defaults = ClusterConfig.__dataclass_fields__
    heartbeat = settings.get("heartbeat_interval_ms", defaults["heartbeat_interval_ms"].default)
    low = settings.get("election_timeout_ms_min", defaults["election_timeout_ms_min"].default)
    if heartbeat < 1:
        raise UsageError(f"--heartbeat takes a positive number of milliseconds, not {heartbeat}")
    drift = 100  # cluster.toml's lease_drift_ms: a lease ends this much early
    if low <= max(heartbeat, drift):
        raise UsageError(
            f"the election timeout's MIN ({low} ms) must exceed the heartbeat interval "
            f"({heartbeat} ms) and the lease's clock-drift margin ({drift} ms): "
            "a follower must hear several heartbeats before it gives up on the leader "
            "(try --election-timeout 300-600)"
        )


def requested_settings(
    election_timeout: str | None,
    heartbeat: int | None,
    snapshot_threshold: int | None,
    switches: dict[str, Any] | None = None,
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        name: value for name, value in (switches or {}).items() if value is not None
    }
    if election_timeout is not None:
        low, high = _election_range(election_timeout)
        settings["election_timeout_ms_min"] = low
        settings["election_timeout_ms_max"] = high
    if heartbeat is not None:
        settings["heartbeat_interval_ms"] = heartbeat
        settings["tick_ms"] = max(1, min(50, heartbeat // 2))
    if snapshot_threshold is not None:
        settings["snapshot_threshold_entries"] = snapshot_threshold
    return settings


def check_matches(
    cluster: ClusterDir,
    nodes: int | None,
    base_port: int | None,
    settings: dict[str, Any],
    shards: int | None = None,
) -> None:
    """On an existing cluster an explicit option must agree with cluster.toml."""
    config = cluster.config
    if shards is not None and shards != config.shards:
        raise UsageError(
            f"cluster.toml has {config.shards} shards; --shards {shards} "
            "contradicts it (destroy the cluster to change it)"
        )
    per_shard = len(config.shard_node_ids(1))
    if nodes is not None and nodes != per_shard:
        each = " in each shard" if config.shards > 1 else ""
        raise UsageError(
            f"cluster.toml has {per_shard} nodes{each}; --nodes {nodes} "
            "contradicts it (destroy the cluster to change it)"
        )
    if base_port not in (None, 0) and [n.port for n in config.nodes] != [
        base_port + i for i in range(1, len(config.nodes) + 1)
    ]:
        raise UsageError(
            f"cluster.toml has ports {[n.port for n in config.nodes]}; "
            f"--base-port {base_port} contradicts them"
        )
    for name, value in settings.items():
        if name != "tick_ms" and getattr(config, name) != value:
            raise UsageError(
                f"cluster.toml has {name} = {getattr(config, name)}; the option "
                f"asking for {value} contradicts it (destroy the cluster to "
                "change it)"
            )


def check_protocol(
    protocol: str | None,
    fanout: int | None,
    gossip_interval: int | None,
    shards: int | None,
    txn_protocol: str | None,
) -> None:
    if protocol is not None and protocol not in PROTOCOLS:
        raise UsageError(f"--protocol takes {', '.join(PROTOCOLS)}")
    if protocol != "gossip" and (fanout is not None or gossip_interval is not None):
        raise UsageError("--fanout and --gossip-interval need --protocol gossip")
    if protocol in ("gossip", "paxos") and ((shards or 1) > 1 or txn_protocol not in (None, "2pc")):
        raise UsageError(
            f"protocol {protocol} runs one shard and no cross-shard transactions: "
            "drop --shards and --txn-protocol"
        )
    if fanout is not None and fanout < 1:
        raise UsageError("--fanout must be at least 1")
    if gossip_interval is not None and gossip_interval < 25:
        raise UsageError("--gossip-interval takes 25 milliseconds or more")


def check_paxos(protocol: str | None, no_leader: bool, backoff: bool) -> None:
    if protocol != "paxos" and (no_leader or backoff):
        raise UsageError("--no-leader and --backoff need --protocol paxos")
    if backoff and not no_leader:
        raise UsageError(
            "--backoff cures dueling proposers, which need --no-leader "
            "(a leader's election is already randomized)"
        )


def check_quorum(
    protocol: str | None, ack: int | None, read: int | None, nodes: int | None
) -> None:
    if protocol != "gossip" and (ack is not None or read is not None):
        raise UsageError("--ack and --read need --protocol gossip")
    for name, value in (("--ack", ack), ("--read", read)):
        if value is not None and not 1 <= value <= (nodes or 3):
            raise UsageError(f"{name} takes 1 to the number of nodes ({nodes or 3}), not {value}")
