"""The gossip core (node.gossip.core) driven by a tiny in-test network:
writes are acknowledged by the replica that takes them, on both sides of a
partition; after the heal, anti-entropy makes every replica equal within a
few rounds; no add to an observed-remove set is lost; of two concurrent
writes to one register every replica keeps the same one; a converged
cluster exchanges digests and no items; and a replica rebuilt from its
persisted items holds what it held. Messages go through the wire codec."""

from __future__ import annotations

import random

import pytest

from node.gossip.core import GossipCore, GossipOptions
from node.gossip.wire import pack_item, unpack_item
from node.messages import decode, encode
from tests.sim.gossip_mutants import NeverGossipsToTheDead

OPTIONS = GossipOptions(tick_ms=25, gossip_every_ticks=4, fanout=2)
IDS = ["n1", "n2", "n3", "n4", "n5"]


class Cluster:
    def __init__(
        self, seed: int = 1, core: type[GossipCore] = GossipCore, options: GossipOptions = OPTIONS
    ) -> None:
        self.cores = {n: core(n, IDS, random.Random(f"{seed}{n}"), options) for n in IDS}
        self.cut: set[tuple[str, str]] = set()
        self.wire: list[object] = []
        self.persisted: dict[str, list[bytes]] = {n: [] for n in IDS}
        self.acked: dict[str, list[int]] = {n: [] for n in IDS}
        self.failed: dict[str, list[tuple[int, str]]] = {n: [] for n in IDS}

    def partition(self, *groups: list[str]) -> None:
        self.cut = {(a, b) for g in groups for h in groups if g is not h for a in g for b in h}

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            in_flight, self.wire = self.wire, []
            for message in in_flight:
                src, dst = message.src, message.dst  # type: ignore[attr-defined]
                if (src, dst) not in self.cut:
                    # Through the wire codec, as between processes: every
                    # field must be one a frame can carry (a digest's 64-bit
                    # summaries once could not).
                    self.cores[dst].step(decode(encode(message)))  # type: ignore[arg-type]
            for node_id, core in self.cores.items():
                core.tick()
                self.drain(node_id)

    def drain(self, node_id: str) -> None:
        core = self.cores[node_id]
        while core.has_ready():
            rd = core.ready()
            self.wire += rd.messages
            self.persisted[node_id] += [pack_item(item) for item in rd.persist]
            self.wire += rd.after_persist  # only once the items are "durable"
            self.acked[node_id] += rd.acknowledged + rd.reads_done
            self.failed[node_id] += rd.failed

    def converged(self) -> bool:
        return len({core.store.digest.summary() for core in self.cores.values()}) == 1


def test_both_sides_of_a_partition_take_writes_and_converge_after_the_heal() -> None:
    cluster = Cluster()
    cluster.run(20)
    cluster.partition(["n1", "n2"], ["n3", "n4", "n5"])
    minority, majority = cluster.cores["n1"], cluster.cores["n4"]
    tokens = [minority.put("k", "from-minority"), majority.put("j", "from-majority")]
    minority.add("set", "a")
    majority.add("set", "b")
    cluster.drain("n1")
    cluster.drain("n4")
    assert cluster.acked["n1"] == [tokens[0], tokens[0] + 1]  # acknowledged alone, at once
    cluster.run(40)
    assert cluster.cores["n2"].store.get("k").value == "from-minority"  # type: ignore[union-attr]
    assert cluster.cores["n3"].store.get("k") is None  # the partition holds
    cluster.partition()
    rounds = 0
    while not cluster.converged() and rounds < 20:
        cluster.run(OPTIONS.gossip_every_ticks)
        rounds += 1
    assert cluster.converged(), "anti-entropy did not converge within 20 rounds"
    for core in cluster.cores.values():
        assert core.store.get("j").value == "from-majority"  # type: ignore[union-attr]
        assert core.store.members("set") == {"a", "b"}  # no add lost


@pytest.mark.parametrize("core", [GossipCore, NeverGossipsToTheDead], ids=["real", "mutant"])
def test_sides_that_declared_each_other_dead_meet_again_after_the_heal(
    core: type[GossipCore],
) -> None:
    """With no crash to bridge them, only gossip to members held dead brings
    two sides back together; the mutant that never does stays apart."""
    cluster = Cluster(seed=3, core=core)
    cluster.run(20)
    cluster.partition(["n1", "n2"], ["n3", "n4", "n5"])
    cluster.run(200)  # long enough for each side to declare the other dead
    assert cluster.cores["n1"].swim.status_of("n4") == "dead"
    cluster.cores["n1"].put("k", "v")
    cluster.partition()
    cluster.run(40 * OPTIONS.gossip_every_ticks)
    assert cluster.converged() == (core is GossipCore)


def test_of_two_concurrent_writes_every_replica_keeps_the_same_one() -> None:
    cluster = Cluster(seed=2)
    cluster.run(10)
    cluster.partition(["n1"], ["n2", "n3", "n4", "n5"])
    cluster.cores["n1"].put("k", "one")
    cluster.cores["n5"].put("k", "five")
    cluster.run(10)
    cluster.partition()
    cluster.run(80)
    assert cluster.converged()
    kept = {core.store.get("k").value for core in cluster.cores.values()}  # type: ignore[union-attr]
    assert len(kept) == 1 and kept <= {"one", "five"}  # the other write is lost everywhere


def test_a_converged_cluster_sends_digests_and_no_items() -> None:
    cluster = Cluster(seed=3)
    cluster.cores["n2"].put("k", "v")
    cluster.run(120)
    assert cluster.converged()
    sent = sum(core.sent_items for core in cluster.cores.values())
    cluster.run(120)
    assert sum(core.sent_items for core in cluster.cores.values()) == sent


def test_a_replica_rebuilt_from_its_persisted_items_holds_what_it_held() -> None:
    cluster = Cluster(seed=4)
    core = cluster.cores["n3"]
    core.put("a", "1")
    core.put("a", None)
    core.put("b", "2")
    core.add("s", "x")
    core.remove("s", "x")
    core.add("s", "y")
    cluster.drain("n3")
    items = [unpack_item(data) for data in cluster.persisted["n3"]]
    rebuilt = GossipCore("n3", IDS, random.Random(0), OPTIONS, recovered=items)
    assert rebuilt.store.digest.summary() == core.store.digest.summary()
    assert rebuilt.store.keys() == ["b"] and rebuilt.store.members("s") == {"y"}
    assert rebuilt.clock >= core.clock.__class__(core.clock.wall_ms, 0, "n3")
    status = rebuilt.status()
    assert status["keys"] == 2 and len(str(status["digest"])) == 16


def test_one_push_pull_exchange_makes_two_replicas_equal() -> None:
    """Digest, the differing buckets' items and the wanted ones back: after
    those three messages both hold everything, whatever buckets differed."""
    left = GossipCore("n1", ["n1", "n2"], random.Random(1), OPTIONS)
    right = GossipCore("n2", ["n1", "n2"], random.Random(2), OPTIONS)
    for number in range(30):
        (left if number % 3 else right).put(f"key{number}", str(number))
    left.add("set", "x")
    right.add("set", "y")
    for core in (left, right):
        core.ready()
    cores = {"n1": left, "n2": right}
    for _ in range(OPTIONS.gossip_every_ticks):
        left.tick()
    wire = [m for m in left.ready().messages if type(m).__name__ == "GossipDigest"]
    assert wire, "no digest was sent"
    steps = 0
    while wire and steps < 3:
        wire = [reply for m in wire for reply in _deliver(cores, m)]
        steps += 1
    assert left.store.digest.summary() == right.store.digest.summary()
    assert len(left.store.keys()) == 30 and left.store.members("set") == {"x", "y"}


def _deliver(cores: dict[str, GossipCore], message: object) -> list[object]:
    receiver = cores[message.dst]  # type: ignore[attr-defined]
    receiver.step(message)  # type: ignore[arg-type]
    return [m for m in receiver.ready().messages if type(m).__name__.startswith("Gossip")]


# -- Dynamo's quorum: W replicas hold a write, R answer a read ---------------------------

QUIET = GossipOptions(tick_ms=25, gossip_every_ticks=10_000, fanout=2)  # no anti-entropy


def holding(cluster: Cluster, key: str) -> set[str]:
    return {n for n, core in cluster.cores.items() if core.store.get(key) is not None}


def test_a_write_of_w_replicas_is_answered_once_w_hold_it() -> None:
    cluster = Cluster(seed=4, options=QUIET)
    cluster.run(5)
    token = cluster.cores["n1"].put("k", "v", quorum=3)
    cluster.drain("n1")
    assert token not in cluster.acked["n1"]  # durable here, but W is 3
    cluster.run(3)  # the push out, the acks back
    assert token in cluster.acked["n1"] and len(holding(cluster, "k")) >= 3


def test_a_quorum_write_cut_off_from_its_peers_fails_and_says_what_it_got() -> None:
    cluster = Cluster(seed=5, options=QUIET)
    cluster.run(5)
    cluster.partition(["n1"], ["n2", "n3", "n4", "n5"])
    token = cluster.cores["n1"].put("k", "v", quorum=2)
    cluster.run(QUIET.quorum_timeout_ticks + 2)
    assert token not in cluster.acked["n1"]
    assert cluster.failed["n1"] == [(token, "1 of 2 replicas")]
    assert holding(cluster, "k") == {"n1"}  # stored where it reached: it will spread


def test_r_plus_w_over_n_reads_a_write_its_own_replica_missed() -> None:
    cluster = Cluster(seed=6, options=QUIET)
    cluster.run(5)
    cluster.partition(["n1", "n5"], ["n2", "n3", "n4"])
    writer = cluster.cores["n2"]
    token = writer.put("k", "v", quorum=3)
    cluster.run(3)
    assert token in cluster.acked["n2"] and holding(cluster, "k") == {"n2", "n3", "n4"}
    cluster.partition()
    reader = cluster.cores["n1"]
    alone = reader.read("r", "k", quorum=1)  # R + W = 4, not over N = 5: no promise
    cluster.drain("n1")
    assert alone in cluster.acked["n1"] and reader.store.get("k") is None
    both = reader.read("r", "k", quorum=3)  # R + W = 6 > 5: some replica asked holds it
    cluster.run(3)
    assert both in cluster.acked["n1"]
    assert reader.store.get("k").value == "v"  # type: ignore[union-attr]  # read repair


def test_an_add_persists_and_spreads_its_delta_not_the_whole_set() -> None:
    """Found by chaos: each add wrote the whole set to the WAL and rehashed
    it (1,000 adds took 5 s); now an add costs its one new tag, and the
    deltas rebuild the same set, with the same digest, wherever they land."""
    core = GossipCore("n1", IDS, random.Random(1), OPTIONS)
    persisted = []
    for element in ("x", "y", "z"):
        core.add("s", element)
        persisted += core.ready().persist
    assert [sum(len(tags) for tags in item.members.adds.values()) for item in persisted] == [
        1,
        1,
        1,
    ]  # type: ignore[union-attr]
    core.remove("s", "y")
    persisted += core.ready().persist
    rebuilt = GossipCore("n2", IDS, random.Random(2), OPTIONS, recovered=persisted)
    assert rebuilt.store.members("s") == {"x", "z"} == core.store.members("s")
    assert rebuilt.store.digest.summary() == core.store.digest.summary()
