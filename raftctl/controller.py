"""Controller: what every command does, apart from parsing and printing.

Rules:
- One deadline for the whole command (`--timeout`), shared by every wait in it.
- Status is gathered from the supervisor (is the process running, paused,
  stopped?) and from each node's admin answer; a node that does not answer has
  null in every field it could not report.
- NODE may be an id or one of the words leader, follower, random, with a
  shard qualifier on a sharded cluster (`leader@s2`); a bare word means shard 1.
- Status has one leader per shard; its top-level leader and term are shard 1's.
- The controller is the only writer of faults.toml: it raises the version,
  writes atomically, tells every running node, and waits until each applied
  it (a paused node catches up when resumed: nodes re-read the file).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.config import COORDINATOR_ID
from node.messages import Consistency, Operation
from raftctl.client import Client
from raftctl.cluster import ClusterDir, wait_for
from raftctl.errors import Unavailable, UnknownNode, UsageError

# node.faults (with tomli_w) is imported where faults are read or written: a
# put or a get never needs it.
if TYPE_CHECKING:
    from node.faults import Faults, LinkFault

__all__ = ["Controller", "faults_document"]

NODE_FIELDS = (
    "role",
    "term",
    "leader",
    "commit_index",
    "applied_index",
    "last_log_index",
    "snapshot_index",
    "group",
    "voters",
    "learners",
    "fsync",
    "refused",  # frames the node refused, by kind (node.admission); an extension
    "links",  # what the fault filter did to each peer's messages (node.faults); an extension
    "replies_dropped",  # answers dropped for clients that never read (node.reply_queues)
    "txn_prepared",  # transactions across shards prepared here, holding locks (node.transactions)
    "txn_locks",
    "txn_resolved",  # ... and those this node finished for a coordinator that went quiet
    "txn_blocked",  # ... and, under 2pc-classic, those no one can finish while it is away
    "txn_longest_hold_ms",  # ... and the longest a transaction held its locks here
)
# A gossip replica's row (node.gossip_admin): no term, leader or commit
# index (null), and instead its SWIM view of the others, its keys, its
# state's digest, and how far it is behind each peer's last digest.
GOSSIP_FIELDS = (
    *NODE_FIELDS[:13],
    "members",
    "incarnation",
    "keys",
    "digest",
    "behind_by",
    "gossip_rounds",
    "items_sent",
)
# What a Paxos node adds (node.admin_plane): its ballot as round.node (the
# term field holds its one-integer form) and how far it knows the log chosen.
PAXOS_FIELDS = (*NODE_FIELDS, "ballot", "chosen_index")
# What the coordinator process of 2pc-classic and 3pc reports (raftctl.txn.coordinator_process).
COORDINATOR_FIELDS = (
    "in_flight",
    "unfinished",
    "decided",
    "committed",
    "aborted",
    "unknown",
    "diverged",
    "held",
    "failpoints",
)
NODE_WORDS = ("leader", "follower", "random")  # raftctl.app keeps the same, for completion


def faults_document(faults: Faults) -> dict[str, Any]:
    """faults.toml as JSON: the partition groups and every link rule."""
    return {
        "version": faults.version,
        "partition": [sorted(group) for group in faults.partition],
        "links": [
            {
                "from": list(rule.sources),
                "to": list(rule.targets),
                "drop": rule.drop,
                "delay_ms": rule.delay_ms,
                "jitter_ms": rule.jitter_ms,
                "duplicate": rule.duplicate,
            }
            for rule in faults.links
        ],
    }


class Controller:
    """One command's view of one cluster directory."""

    def __init__(self, path: Path, timeout_s: float, shard: int | None = None) -> None:
        """With `shard`, the cluster's nodes are that shard's alone and a bare
        `leader` is its leader (a chaos fault scoped to one shard)."""
        if timeout_s <= 0:
            raise UsageError("--timeout must be positive")
        self.path = path
        self.shard = shard
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self._cluster: ClusterDir | None = None
        self._client: Client | None = None

    @property
    def cluster(self) -> ClusterDir:
        if self._cluster is None:
            self._cluster = ClusterDir(self.path, self.shard)
        return self._cluster

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.cluster.config)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def forget_client(self) -> None:
        """The address book changed: the next `client` is built from it anew."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def stop_grace_s(self) -> float:
        """How long a graceful stop may take before SIGKILL: up to 3 s, and at
        most half of what is left, so that SIGTERM's grace and SIGKILL's wait
        together stay within --timeout."""
        return min(3.0, max(0.05, self.remaining_s() / 2))

    def remaining_s(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def wait_until(
        self, condition: Callable[[], bool], what: str, interval_s: float = 0.05
    ) -> None:
        """Poll `condition` until it holds; Unavailable once the deadline passes."""
        if not wait_for(condition, self.remaining_s(), interval_s):
            raise Unavailable(f"{what} did not happen within {self.timeout_s:g}s")

    # -- status ---------------------------------------------------------------

    def node_status(self, node_id: str) -> dict[str, Any]:
        config = self.cluster.config
        fields = {"gossip": GOSSIP_FIELDS, "paxos": PAXOS_FIELDS}.get(config.protocol, NODE_FIELDS)
        row, _ = self._process_row(node_id, fields, shard=config.shard_of_node(node_id))
        return row

    def _process_row(
        self, process_id: str, fields: tuple[str, ...], **known: Any
    ) -> tuple[dict[str, Any], bool]:
        """A process's line of status: its pid and state, `known`, then
        `fields` as it reports them (None when it does not answer); and
        whether it answered."""
        process_state = self.cluster.state(process_id)
        process = self.cluster.process(process_id)
        answer = None
        if process_state == "running":
            answer = self.client.status(process_id, min(0.5, max(0.05, self.remaining_s())))
        row: dict[str, Any] = {
            "id": process_id,
            "pid": process.pid if process else None,
            "process": process_state,
            **known,
        }
        for field in fields:
            row[field] = answer.get(field) if answer else None
        return row, answer is not None

    def status(self) -> dict[str, Any]:
        """The contract's status document: {"leader", "term", "nodes": [...]},
        plus the network faults in force (an extension): `faults` for the
        cluster, and per node the link rules it sends through."""
        rows = [self.node_status(node_id) for node_id in self.cluster.node_ids()]
        faults = faults_document(self.faults())
        for row in rows:
            row["link_faults"] = [rule for rule in faults["links"] if row["id"] in rule["from"]]
        config = self.cluster.config
        shards = [
            self.shard_summary(shard, [row for row in rows if row["shard"] == shard])
            for shard in range(1, config.shards + 1)
        ]
        return {
            "leader": shards[0]["leader"],
            "term": shards[0]["term"],
            "nodes": rows,
            "shards": shards,
            "txn_protocol": config.txn_protocol,
            "coordinator": self.coordinator_status(),
            "faults": faults,
            "protocol": config.protocol,
            "gossip": (
                {
                    "fanout": config.gossip_fanout,
                    "interval_ms": config.gossip_interval_ms,
                    "ack": config.gossip_ack,
                    "read": config.gossip_read,
                }
                if config.protocol == "gossip"
                else None
            ),
            "paxos": (
                {"leader": config.paxos_leader, "backoff": config.paxos_backoff}
                if config.protocol == "paxos"
                else None
            ),
            "switches": {
                "pre_vote": config.pre_vote,
                "check_quorum": config.check_quorum,
                "fsync": config.fsync,
                "slow_factor": config.slow_factor,
                "security": "curve" if config.curve else "insecure",
            },
        }

    def coordinator_status(self) -> dict[str, Any] | None:
        """The coordinator process of 2pc-classic and 3pc (None under 2pc):
        its process, and what it reports (None fields when it does not answer)."""
        if self.cluster.config.coordinator is None:
            return None
        row, answered = self._process_row(COORDINATOR_ID, COORDINATOR_FIELDS, role=None)
        row["role"] = "coordinator" if answered else None
        return row

    @staticmethod
    def shard_summary(shard: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """One shard's line of status: its leader (the one a majority follows,
        else the latest any node claims to be) and term, and its nodes."""
        leaders = [row for row in rows if row["role"] == "leader"]
        leader = max(leaders, key=lambda row: row["term"]) if leaders else None
        terms = [row["term"] for row in rows if row["term"] is not None]
        return {
            "id": shard,
            "leader": leader["id"] if leader else None,
            "term": leader["term"] if leader else (max(terms) if terms else None),
            "nodes": [row["id"] for row in rows],
        }

    def shard_node_ids(self, shard: int) -> tuple[str, ...]:
        """The nodes of `shard` (a user's number: UsageError if there is no such shard)."""
        config = self.cluster.config
        if not 1 <= shard <= config.shards:
            raise UsageError(f"no shard {shard}: this cluster has shards 1..{config.shards}")
        return config.shard_node_ids(shard)

    def shard_rows(self, shard: int) -> list[dict[str, Any]]:
        """Status of the nodes of one shard."""
        return [self.node_status(node_id) for node_id in self.shard_node_ids(shard)]

    def leader(self, node: str | None = None, shard: int | None = None) -> tuple[str, int]:
        """Wait for a leader that a majority of voters follows in its term (a cut-off
        minority's stale leader never counts): `node`'s shard's (the one it follows),
        else `shard`'s, else shard 1's."""
        found: list[tuple[str, int]] = []
        if node is not None:
            shard = self.cluster.config.shard_of_node(node)
        shard = shard or self.shard or 1

        def established() -> bool:
            leader = self.established_leader(self.shard_rows(shard), node)
            if leader is not None:
                found[:] = [leader]
            return leader is not None

        of_shard = f" of shard {shard}" if self.cluster.config.shards > 1 else ""
        self.wait_until(established, f"a leader{of_shard}{f' known to {node}' if node else ''}")
        return found[0]

    @staticmethod
    def established_leader(rows: list[dict[str, Any]], node: str | None) -> tuple[str, int] | None:
        by_id = {row["id"]: row for row in rows}
        if node is not None:
            leader_id = by_id[node]["leader"]
            leader_row = by_id.get(leader_id) if leader_id else None
            if (
                leader_row
                and leader_row["role"] == "leader"
                and (leader_row["term"] == by_id[node]["term"])
            ):
                return leader_row["id"], leader_row["term"]
            return None
        candidates = sorted(
            (row for row in rows if row["role"] == "leader"),
            key=lambda row: row["term"],
            reverse=True,
        )
        for row in candidates:
            # A majority of the voters of the leader's own configuration: nodes
            # being added, or removed and left running, do not count.
            voters = set(row["voters"] or (other["id"] for other in rows))
            followers = sum(
                1
                for other in rows
                if other["id"] in voters
                and other["leader"] == row["id"]
                and other["term"] == row["term"]
            )
            if followers >= len(voters) // 2 + 1:
                return row["id"], row["term"]
        return None

    # -- nodes --------------------------------------------------------------------

    def resolve(self, word: str, prefer: str | None = None) -> str:
        """An id, or leader / follower / random among running nodes of one
        shard (`leader@s2`; shard 1 when bare). With `prefer` (a process
        state), follower and random pick among the nodes in that state when
        there are any: `restart random` brings back a stopped node rather than
        bouncing a healthy one."""
        from raftctl.shards import split_word

        base, shard = split_word(self.cluster.config, word)
        if self.shard is not None and "@" not in word:
            shard = self.shard
        if base not in NODE_WORDS:
            if base != word:
                raise UsageError(f"{word!r}: only leader, follower and random take @s<N>")
            return self.cluster.check_node(word)
        if base != "random":
            self.require_log(f"the word {base!r}", "there is no leader; use random or an id")
        members = self.cluster.config.shard_node_ids(shard)
        if prefer is not None and base != "leader":
            chosen = [n for n in members if self.cluster.state(n) == prefer]
            if chosen:
                return random.choice(chosen)
        running = [n for n in members if self.cluster.state(n) == "running"]
        if not running:
            raise Unavailable(f"no running node to pick as {word!r}")
        if base == "random":
            return random.choice(running)
        leader, _ = self.leader(shard=shard)
        if base == "leader":
            return leader
        followers = [n for n in running if n != leader]
        if not followers:
            raise UnknownNode("the cluster has no running follower")
        return random.choice(followers)

    def require_log(self, what: str, why: str) -> None:
        """A usage error (exit 2) naming the protocol, for what only a log
        (Raft's or Paxos's) has."""
        protocol = self.cluster.config.protocol
        if not self.cluster.config.has_log:
            raise UsageError(f"{what} has no meaning under protocol {protocol}: {why}")

    def has_leader(self) -> bool:
        """Whether the cluster elects a leader: Raft, and Paxos with a
        distinguished proposer (not gossip, not paxos --no-leader)."""
        config = self.cluster.config
        return config.has_log and config.paxos_leader

    def set_quorum(self, name: str, quorum: int | None) -> None:
        """`put --ack W`, `get --read R`: this command's quorum (gossip only)."""
        if quorum is None:
            return
        self.require_log_not(name)
        replicas = len(self.cluster.config.nodes)
        if not 1 <= quorum <= replicas:
            raise UsageError(f"{name} takes 1 to {replicas} (the replicas), not {quorum}")
        self.client.quorum = quorum

    def require_log_not(self, name: str) -> None:
        config = self.cluster.config
        if config.has_log:
            raise UsageError(
                f"{name} has no meaning under protocol {config.protocol}: every write and "
                "linearizable read already goes through a majority"
            )

    def data_node(self, word: str | None, beside: str | None = None) -> str | None:
        """The node a data command asks: `word`'s (answering), else under
        gossip a random running node (any replica serves), else None (the
        leader, found by the client). With `beside` (`--from NODE`) the
        command is a client living beside that node: it asks it first and
        reaches only the nodes on its side of a partition (raftctl.sides)."""
        if beside is not None:
            if word is not None:
                raise UsageError("--from already names the node asked first: drop --node")
            home = self.answering(self.resolve(beside))
            from raftctl.sides import reachable_from

            self.client.reachable = reachable_from(home, self.cluster.config.node_ids, self.path)
            return home
        if word is not None:
            return self.answering(self.resolve(word))
        if self.cluster.config.protocol == "gossip":
            return self.resolve("random")
        return None

    def on_every_shard(
        self,
        operation: Operation,
        field: str,
        consistency: Consistency = Consistency.LINEARIZABLE,
        node: str | None = None,
    ) -> dict[str, Any]:
        """A prefix operation (`Keys`, `GetPrefix`, `DeletePrefix`) run on
        every shard (or on `node`'s alone), answered as one: the lists under
        `field` in key order, `revision` the highest, and per shard under
        `revisions`. Each shard's part is one point of its log; the whole is
        not one cut across shards."""
        from raftctl.shards import merge_sorted

        config = self.cluster.config
        shards = [config.shard_of_node(node)] if node else range(1, config.shards + 1)
        answers = {
            shard: self.client.call(
                operation, consistency, node, timeout_s=self.remaining_s(), shard=shard
            )
            for shard in shards
        }
        merged = merge_sorted(list(answers.values()), field)
        if "revision" in merged:
            merged["revision"] = max(answer["revision"] for answer in answers.values())
            if config.shards > 1:
                merged["revisions"] = {
                    str(shard): answer["revision"] for shard, answer in answers.items()
                }
        return merged

    def check_holds(self, node_id: str, key: str) -> str:
        """`node_id`, if it belongs to the shard that owns `key`."""
        config = self.cluster.config
        owner, shard = config.shard_of_key(key), config.shard_of_node(node_id)
        if owner != shard:
            raise UsageError(
                f"{node_id} is of shard {shard}, but the key lives in shard {owner}: "
                f"ask a node of shard {owner} (for example random@s{owner})"
            )
        return node_id

    def answering(self, node_id: str, purpose: str = "") -> str:
        """`node_id`, if its process can answer; Unavailable at once if it is
        paused or stopped (status knows: no need to wait out the deadline)."""
        state = self.cluster.state(node_id)
        why = f" {purpose}" if purpose else ""
        if state == "paused":
            raise Unavailable(
                f"{node_id} is paused{why}: resume it first (raftctl resume {node_id})"
            )
        if state == "stopped":
            raise Unavailable(
                f"{node_id} is stopped{why}: start it first (raftctl restart {node_id})"
            )
        return node_id

    # -- faults ------------------------------------------------------------------

    def faults(self) -> Faults:
        from node.faults import load_faults

        return load_faults(self.path / "faults.toml")

    def write_faults(
        self,
        partition: tuple[tuple[str, ...], ...] | None = None,
        links: tuple[LinkFault, ...] | None = None,
    ) -> Faults:
        """Replace the partition and/or the link faults (None keeps them)."""
        from node.faults import Faults, save_faults

        _ = self.cluster  # no cluster, no faults.toml: NoCluster before anything is written
        current = self.faults()
        faults = Faults(
            current.version + 1,
            current.partition if partition is None else partition,
            current.links if links is None else links,
        )
        save_faults(self.path / "faults.toml", faults)
        self._announce(faults.version)
        return faults

    def _announce(self, version: int) -> None:
        """Tell every running node; wait until each applied `version`."""

        from node.messages import ReloadFaults

        def applied() -> bool:
            for node_id in self.cluster.node_ids():
                if self.cluster.state(node_id) != "running":
                    continue  # a paused node re-reads the file when resumed
                answer = self.client.admin(node_id, ReloadFaults(), timeout_s=0.3)
                if answer is None or answer.get("faults_version", -1) < version:
                    return False
            return True

        self.wait_until(applied, f"every running node applying faults version {version}")
