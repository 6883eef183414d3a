"""What a chaos run is made of (`raftctl chaos`'s options), checked, and said
back as the command that replays it.

Under `--protocol gossip`, in both runs of a comparison with gossip (`chaos
--compare raft,gossip`), and under `--protocol paxos --no-leader`, the
clients are homed: client i lives beside node
i mod N, sends there first, and in a partition reaches only its own side, as
in the CAP theorem's setting (a client cut off from the majority cannot ask
it); and the schedule takes only the faults that need no leader, with a node
drawn from each fault's seed standing in where a shape names the leader, so
that both clusters of a comparison meet the very same faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.config import TXN_PROTOCOLS
from node.messages import Consistency
from raftctl.chaos.schedule import parse_nemesis
from raftctl.errors import UsageError

__all__ = ["CHAOS_CLUSTER_SETTINGS", "CHAOS_PROTOCOLS", "SHARDS_MAX", "ChaosOptions"]

# Faster timers than the default, so that a minute holds many faults; still
# wide enough for a busy 2-core machine running five nodes and the clients.
CHAOS_CLUSTER_SETTINGS: dict[str, Any] = {
    "tick_ms": 25,
    "heartbeat_interval_ms": 75,
    "election_timeout_ms_min": 700,
    "election_timeout_ms_max": 1400,
    "lease_drift_ms": 100,
    "snapshot_threshold_entries": 2000,
}
SHARDS_MAX = 8
CHAOS_PROTOCOLS = ("raft", "paxos", "gossip")


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    """Everything a run is made of; `replay_command` says it back."""

    seed: int
    out: Path
    nodes: int = 5  # per shard
    shards: int = 1
    duration_s: float = 30.0
    workload: str = "register"
    nemesis: str = "all"
    clients: int = 5
    rate: float = 100.0  # operations per second over all clients; 0: as fast as they can
    read_consistency: str = "linearizable"
    cluster_dir: Path | None = None  # an explicit --dir; default OUT/cluster
    op_timeout_s: float = 3.0
    insecure: bool = False  # a new cluster without CURVE (byzantine needs it)
    faults_at_once: int = 1  # kinds joined into each compound fault
    txn_protocol: str = "2pc"  # how transactions cross shards (node.config)
    protocol: str = "raft"  # raft | paxos | gossip (node.config)
    compared: str | None = None  # "raft,gossip": one run of a comparison (the module's rules)
    no_leader: bool = False  # paxos without a distinguished proposer (start --no-leader)
    backoff: bool = False  # ... whose preempted proposers back off (start --backoff)
    dueling: bool = False  # the dueling-proposers control (raftctl.chaos.dueling)
    cluster_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def leaderless(self) -> bool:
        """Faults that need no leader, and clients homed beside their nodes:
        gossip, a comparison with gossip, and Paxos without a leader (whose
        clients then ask different nodes, each of which prepares its own)."""
        compared_with_gossip = self.compared is not None and "gossip" in self.compared
        return self.protocol == "gossip" or compared_with_gossip or self.no_leader

    @property
    def elects_leader(self) -> bool:
        """Whether a run waits for a leader (else for every node to answer)."""
        return self.protocol != "gossip" and not self.no_leader

    def protocol_settings(self, every: bool = False) -> dict[str, Any]:
        """What cluster.toml says of the protocol: what differs from the
        defaults, or (`every`) all of it, to compare with a cluster's."""
        settings: dict[str, Any] = {"protocol": self.protocol}
        if self.protocol == "paxos":
            settings.update(paxos_leader=not self.no_leader, paxos_backoff=self.backoff)
        if every:
            return settings
        defaults = {"protocol": "raft", "paxos_leader": True, "paxos_backoff": False}
        return {name: value for name, value in settings.items() if value != defaults[name]}

    @property
    def effective_read_consistency(self) -> str:
        """What reads ask: a gossip replica answers with what it holds."""
        return "stale" if self.protocol == "gossip" else self.read_consistency

    def validate(self) -> None:
        if self.nodes < 1:
            raise UsageError("--nodes must be at least 1")
        if not 1 <= self.shards <= SHARDS_MAX:
            raise UsageError(f"--shards is 1 to {SHARDS_MAX}")
        if self.duration_s <= 0:
            raise UsageError("--duration must be positive")
        if self.clients < 1:
            raise UsageError("--clients must be at least 1")
        if self.rate < 0:
            raise UsageError("--rate must be >= 0 (0: as fast as the clients can)")
        if self.read_consistency not in tuple(Consistency):
            raise UsageError("--read-consistency is linearizable, lease or stale")
        if self.txn_protocol not in TXN_PROTOCOLS:
            raise UsageError(f"--txn-protocol takes {', '.join(TXN_PROTOCOLS)}")
        if self.txn_protocol != "2pc" and self.shards < 2:
            raise UsageError(
                f"--txn-protocol {self.txn_protocol} needs --shards 2 or more: "
                "with one shard no transaction crosses shards"
            )
        if not 1 <= self.faults_at_once <= 4:
            raise UsageError("--faults-at-once is 1 to 4")
        if self.protocol not in CHAOS_PROTOCOLS:
            raise UsageError(f"--protocol takes {', '.join(CHAOS_PROTOCOLS)}")
        if (self.no_leader or self.backoff) and self.protocol != "paxos":
            raise UsageError("--no-leader and --backoff need --protocol paxos")
        if self.backoff and not self.no_leader:
            raise UsageError("--backoff cures dueling proposers, which need --no-leader")
        if self.dueling and not self.no_leader:
            raise UsageError("--control dueling needs --protocol paxos --no-leader")
        if self.protocol == "paxos" and (self.shards > 1 or self.txn_protocol != "2pc"):
            raise UsageError("--protocol paxos runs one shard and no --txn-protocol")
        if self.protocol == "gossip":
            if self.shards > 1 or self.txn_protocol != "2pc":
                raise UsageError("--protocol gossip runs one shard and no --txn-protocol")
            if self.workload == "bank":
                raise UsageError(
                    "the bank workload needs transactions, and protocol gossip has none: "
                    "use --workload register or set"
                )
            if self.read_consistency not in ("linearizable", "stale"):
                raise UsageError("under --protocol gossip every read is local (stale)")
        specs = parse_nemesis(self.nemesis, self.shards, self.leaderless)
        if any("byzantine" in spec.kinds for spec in specs) and not self.insecure:
            raise UsageError(
                "--nemesis byzantine needs --insecure: with CURVE a process without a "
                "node's key is turned away at the door, so there is no impostor to run"
            )

    def replay_command(self) -> str:
        dir_part = f" --dir {self.cluster_dir}" if self.cluster_dir is not None else ""
        if self.compared is not None:
            dir_part = ""  # a comparison makes its own two clusters
        protocol = (
            f"--compare {self.compared} "
            if self.compared is not None
            else f"--protocol {self.protocol} "
            if self.protocol != "raft"
            else ""
        )
        return (
            f"raftctl chaos {protocol}--nodes {self.nodes} "
            + (f"--shards {self.shards} " if self.shards > 1 else "")
            + (f"--txn-protocol {self.txn_protocol} " if self.txn_protocol != "2pc" else "")
            + f"--duration {self.duration_s:g} "
            f"--workload {self.workload} --nemesis {self.nemesis} --clients {self.clients} "
            f"--rate {self.rate:g} --read-consistency {self.read_consistency} "
            f"--seed {self.seed}{' --insecure' if self.insecure else ''}"
            + (f" --faults-at-once {self.faults_at_once}" if self.faults_at_once > 1 else "")
            + (" --no-leader" if self.no_leader else "")
            + (" --backoff" if self.backoff else "")
            + (" --control dueling" if self.dueling else "")
            + dir_part
        )
