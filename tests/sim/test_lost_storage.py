"""A follower that comes back with less than it acknowledged, on the real core.

The leader tells a follower's lives apart by the incarnation in its answers: an
answer from an earlier life is stale, the first from a later life makes the
leader probe again from its own end, so a shorter log is repaired by the same
leader (no election needed), and a log shorter than what the follower had
acknowledged is reported (FollowerLostEntries), since that node may now vote
for a log that lacks what it forgot.
"""

from __future__ import annotations

from dataclasses import replace

from node.events import FollowerLostEntries, describe
from node.messages import AppendEntriesResponse, HeartbeatResponse
from node.ready import Role
from raftctl.sim.cluster import MemoryStorage
from raftctl.sim.scripted import ScriptedCluster


def cluster_with_writes(count: int) -> ScriptedCluster:
    cluster = ScriptedCluster(["n1", "n2", "n3"])
    cluster.campaign("n1")
    cluster.stabilize()
    for number in range(count):
        cluster.propose("n1", f"w{number}".encode())
    cluster.stabilize()
    return cluster


def lose_entries_after(cluster: ScriptedCluster, node_id: str, keep: int) -> None:
    """Crash `node_id` and cut its durable log to `keep` entries, as a disk
    that lost synced writes (or a wiped one, with keep=0) would."""
    cluster.crash(node_id)
    node = cluster.nodes[node_id]
    damaged = MemoryStorage()
    hard = node.storage.hard_state
    damaged.persist(
        node.storage.entries[:keep], replace(hard, commit_index=min(hard.commit_index, keep))
    )
    node.storage = damaged


def lost_reports(cluster: ScriptedCluster) -> list[str]:
    return [line.strip() for line in cluster.output if "lost entries" in line]


def test_the_same_leader_repairs_a_follower_that_came_back_shorter() -> None:
    cluster = cluster_with_writes(8)
    leader = cluster.core("n1")
    acknowledged = leader.log.last_index
    term = leader.term
    lose_entries_after(cluster, "n3", keep=3)
    cluster.restart("n3")
    for round_number in range(6):
        cluster.propose("n1", f"after{round_number}".encode())
        cluster.tick("n1")
        cluster.stabilize()
    follower = cluster.core("n3")
    assert leader.role is Role.LEADER and leader.term == term  # no leader change
    assert follower.log.last_index == leader.log.last_index
    assert follower.log.commit_index == leader.log.commit_index
    assert lost_reports(cluster) == [describe("n1", FollowerLostEntries("n3", acknowledged, 3))]


def test_a_restart_that_lost_nothing_is_not_reported() -> None:
    cluster = cluster_with_writes(5)
    cluster.crash("n2")
    cluster.restart("n2")
    for round_number in range(4):
        cluster.propose("n1", f"after{round_number}".encode())
        cluster.tick("n1")
        cluster.stabilize()
    assert lost_reports(cluster) == []
    assert cluster.core("n2").log.last_index == cluster.core("n1").log.last_index


def test_an_answer_from_an_earlier_life_is_stale() -> None:
    cluster = cluster_with_writes(4)
    leader = cluster.core("n1")
    progress = leader._progress["n3"]
    life = progress.incarnation
    matched = progress.match_index
    # A rejection from n3's earlier life, delayed past its restart: it must not
    # move the leader back once the new life is known.
    cluster.crash("n3")
    cluster.restart("n3")
    leader.step(HeartbeatResponse(leader.term, "n3", "n1", 0, life + 1))
    cluster.drain("n1")
    assert progress.incarnation == life + 1 and progress.match_index == 0
    leader.step(AppendEntriesResponse(leader.term, "n3", "n1", True, matched, incarnation=life))
    cluster.drain("n1")
    assert progress.match_index == 0  # the old life's acknowledgement no longer counts
