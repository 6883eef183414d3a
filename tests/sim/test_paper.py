"""One test per rule of the Raft paper and the dissertation, on the real core.

Each test quotes the rule it checks and names its section; messages move only
when the test says so (raftctl.sim.scripted.ScriptedCluster).
"""

from __future__ import annotations

import random

import pytest

from node.errors import NotLeader
from node.events import VoteRefused
from node.messages import AppendEntries, Entry, Heartbeat, RequestVote, RequestVoteResponse
from node.raft import RaftCore
from node.raft_config import RaftConfig
from node.ready import DurableState, Role
from raftctl.sim.scripted import ScriptedCluster


def elect(cluster: ScriptedCluster, node_id: str) -> None:
    cluster.campaign(node_id)
    cluster.stabilize()
    assert cluster.core(node_id).role is Role.LEADER


def test_follower_updates_term_from_message() -> None:
    """ "If RPC request or response contains term T > currentTerm: set
    currentTerm = T, convert to follower" (Raft §5.1, Figure 2)."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    elect(cluster, "n1")
    core = cluster.core("n1")
    core.step(Heartbeat(term=7, src="n2", dst="n1", commit_index=0))
    assert (core.role, core.term, core.leader_id, core.vote) == (Role.FOLLOWER, 7, "n2", None)


def test_follower_rejects_stale_term_and_tells_its_own() -> None:
    """ "Reply false if term < currentTerm" (Figure 2); the reply carries our term
    so that a stale leader steps down (§5.1)."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    cluster.set_log("n2", [1], term=5)
    cluster.core("n2").step(AppendEntries(3, "n1", "n2", 0, 0, (), 0))
    cluster.drain("n2")
    (reply,) = cluster.last_ready["n2"].messages_after_persist
    assert reply.term == 5 and not reply.success  # type: ignore[union-attr]


def test_voter_grants_at_most_one_vote_per_term() -> None:
    """ "Each server will vote for at most one candidate in a given term, on a
    first-come-first-served basis" (§5.2)."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    voter = cluster.core("n3")
    voter.step(RequestVote(1, "n1", "n3", 0, 0))
    cluster.drain("n3")
    voter.step(RequestVote(1, "n2", "n3", 0, 0))
    cluster.drain("n3")
    replies = [m for m in cluster.in_flight if isinstance(m, RequestVoteResponse)]
    assert [(m.dst, m.granted) for m in replies] == [("n1", True), ("n2", False)]
    assert voter.vote == "n1"


@pytest.mark.parametrize(
    ("voter_log", "candidate_last_term_index", "granted"),
    [
        ([1, 1, 2], (3, 1), True),  # later last term wins although shorter
        ([1, 1, 2], (1, 9), False),  # earlier last term loses although longer
        ([1, 1, 2], (3, 2), True),  # same last term: at least as long
        ([1, 1, 2], (2, 2), False),  # same last term: shorter loses
    ],
)
def test_voter_refuses_candidate_with_stale_log(
    voter_log: list[int], candidate_last_term_index: tuple[int, int], granted: bool
) -> None:
    """ "The voter denies its vote if its own log is more up-to-date than that of
    the candidate" — last term first, then length (§5.4.1)."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    cluster.set_log("n3", voter_log, term=3)
    last_term, last_index = candidate_last_term_index
    cluster.core("n3").step(RequestVote(4, "n1", "n3", last_index, last_term))
    cluster.drain("n3")
    (reply,) = [m for m in cluster.in_flight if isinstance(m, RequestVoteResponse)]
    assert reply.granted is granted


def test_vote_is_sent_only_after_it_is_persisted() -> None:
    """Figure 2: currentTerm and votedFor are "updated on stable storage before
    responding to RPCs" — the answer sits in messages_after_persist."""
    core = RaftCore(RaftConfig("n2", ("n1", "n2", "n3")), DurableState(), random.Random(1))
    core.advance(core.ready())
    core.step(RequestVote(1, "n1", "n2", 0, 0))
    rd = core.ready()
    assert rd.hard_state is not None and rd.hard_state.vote == "n1"
    assert not rd.messages
    assert [type(m) for m in rd.messages_after_persist] == [RequestVoteResponse]


def test_candidate_steps_down_on_append_from_leader_of_its_term() -> None:
    """ "If the leader's term is at least as large as the candidate's current term,
    then the candidate recognizes the leader as legitimate" (§5.2)."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    cluster.campaign("n2")
    candidate = cluster.core("n2")
    candidate.step(AppendEntries(candidate.term, "n1", "n2", 0, 0, (), 0))
    assert (candidate.role, candidate.leader_id) == (Role.FOLLOWER, "n1")


def test_leader_appends_a_noop_when_elected() -> None:
    """§8: "each leader commit a blank no-op entry into the log at the start of
    its term", so that entries of earlier terms commit promptly."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    cluster.set_log("n1", [1, 1], term=1)
    elect(cluster, "n1")
    core = cluster.core("n1")
    assert core.log.last_index == 3 and core.log.term_at(3) == core.term
    assert core.log.commit_index == 3


def test_leader_commits_only_entries_of_its_own_term() -> None:
    """ "Raft never commits log entries from previous terms by counting replicas"
    (§5.4.2, Figure 8): see tests/sim/scripts/figure8_commit_rule.txt."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False, entries_per_message_max=1)
    cluster.set_log("n1", [1, 2], term=2)
    cluster.set_log("n2", [1], term=2)
    cluster.set_log("n3", [1], term=2)
    cluster.campaign("n1")
    cluster.deliver()  # votes requested
    cluster.deliver()  # votes granted: n1 leads term 3, probes at index 2
    cluster.drop("n1", "n3")
    cluster.deliver()  # n2 rejects the probe: it lacks index 2
    cluster.deliver()  # n1 sends index 2 (term 2) alone
    cluster.deliver()  # n2 acknowledges index 2
    cluster.deliver("n2", "n1")
    leader = cluster.core("n1")
    assert leader.role is Role.LEADER and leader.log.commit_index == 0  # majority, but term 2
    cluster.stabilize()
    assert leader.log.commit_index == 3  # the no-op of term 3 commits index 2 with it


def test_follower_truncates_conflicting_entries() -> None:
    """ "If an existing entry conflicts with a new one (same index but different
    terms), delete the existing entry and all that follow it" (Figure 2)."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    cluster.set_log("n1", [1, 3], term=3)
    cluster.set_log("n2", [1, 2, 2, 2], term=2)
    elect(cluster, "n1")
    truncations = [line for line in cluster.output if "truncated" in line]
    assert truncations == ["  n2 truncated 3 conflicting entries from index 2 (leader n1)"]
    assert cluster.core("n2").log.all_entries() == cluster.core("n1").log.all_entries()


def test_leader_skips_a_whole_term_per_round_trip() -> None:
    """§5.3: "the follower can include the term of the conflicting entry and the
    first index it stores for that term" — one round trip per term, not per entry."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    cluster.set_log("n1", [1, 1, 4, 4, 4, 4, 4, 4], term=4)
    cluster.set_log("n2", [1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3], term=4)
    elect(cluster, "n1")
    probes_to_n2 = [line for line in cluster.output if line.startswith("n1->n2 AppendEntries")]
    # The first probe at index 8, then index 6 (n2's term 3 starts at 7, n1 has no
    # term 3), then index 2 (n2's term 2 starts at 3): three probes, not eight.
    assert len(probes_to_n2) <= 4
    assert cluster.core("n2").log.all_entries() == cluster.core("n1").log.all_entries()


def test_proposals_go_to_the_leader() -> None:
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    elect(cluster, "n1")
    with pytest.raises(NotLeader) as refused:
        cluster.core("n2").propose([b"x"])
    assert refused.value.leader_id == "n1"


def test_leader_counts_its_own_copy_only_after_its_fsync() -> None:
    """DESIGN.md trap: the leader's own vote for an entry counts only after its
    own persist, and so does a candidate's vote for itself. A one-node cluster
    leads once its vote is durable and commits once its no-op is, never before."""
    core = RaftCore(RaftConfig("n1", ("n1",)), DurableState(), random.Random(1))
    core.advance(core.ready())
    core.campaign()
    rd = core.ready()
    assert core.role is Role.CANDIDATE and rd.hard_state and rd.hard_state.vote == "n1"
    core.advance(rd)  # the vote for itself is durable now
    rd = core.ready()
    assert core.role is Role.LEADER and rd.entries and not rd.committed_entries
    assert core.log.commit_index == 0
    core.advance(rd)  # the no-op is durable now
    assert core.log.commit_index == 1


def test_heartbeat_never_commits_past_what_the_follower_matches() -> None:
    """The commit index in a heartbeat is min(match_index, commit_index): a
    follower with a divergent log must never commit its own entries."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False)
    elect(cluster, "n1")
    cluster.crash("n3")
    for value in (b"a", b"b"):
        cluster.propose("n1", value)
    cluster.stabilize()
    cluster.restart("n3")
    cluster.tick("n1", 1)
    heartbeats = [m for m in cluster.in_flight if isinstance(m, Heartbeat) and m.dst == "n3"]
    assert heartbeats and all(m.commit_index <= 1 for m in heartbeats)


def test_prevote_keeps_a_returning_node_from_deposing_the_leader() -> None:
    """Dissertation §9.6: with PreVote a partitioned server's term does not grow,
    so on its return it does not disrupt the cluster."""
    cluster = ScriptedCluster(["n1", "n2", "n3"])
    elect(cluster, "n1")
    cluster.partition([["n3"], ["n1", "n2"]])
    cluster.tick("n3", 60)
    cluster.drop()
    cluster.heal()
    cluster.tick("n1")
    cluster.stabilize()
    assert cluster.core("n1").role is Role.LEADER and cluster.core("n3").term == 1


def test_without_prevote_a_returning_node_deposes_the_leader() -> None:
    """The switch has teeth: without PreVote the same story ends the term."""
    cluster = ScriptedCluster(["n1", "n2", "n3"], pre_vote=False, check_quorum=False)
    elect(cluster, "n1")
    cluster.partition([["n3"], ["n1", "n2"]])
    cluster.tick("n3", 60)
    cluster.drop()
    cluster.heal()
    cluster.tick("n1")
    cluster.stabilize()
    assert cluster.core("n1").role is Role.FOLLOWER and cluster.core("n1").term > 1


def test_check_quorum_leader_steps_down_when_cut_off() -> None:
    """Dissertation §6.2: a leader that has not heard from a majority within an
    election timeout steps down."""
    cluster = ScriptedCluster(["n1", "n2", "n3"])
    elect(cluster, "n1")
    cluster.partition([["n1"], ["n2", "n3"]])
    for _ in range(25):
        cluster.tick("n1")
        cluster.deliver()
    assert cluster.core("n1").role is Role.FOLLOWER


def test_without_check_quorum_a_cut_off_leader_stays() -> None:
    cluster = ScriptedCluster(["n1", "n2", "n3"], check_quorum=False)
    elect(cluster, "n1")
    cluster.partition([["n1"], ["n2", "n3"]])
    for _ in range(25):
        cluster.tick("n1")
        cluster.deliver()
    assert cluster.core("n1").role is Role.LEADER


def test_lease_refuses_votes_while_the_leader_is_heard() -> None:
    """Dissertation §4.2.3: a server that heard from a leader within the minimum
    election timeout neither adopts a higher term nor votes."""
    cluster = ScriptedCluster(["n1", "n2", "n3"])
    elect(cluster, "n1")
    follower = cluster.core("n2")
    follower.step(RequestVote(5, "n3", "n2", 99, 99))
    rd = follower.ready()
    follower.advance(rd)
    assert follower.term == 1 and not rd.messages_after_persist
    assert any(isinstance(event, VoteRefused) for event in rd.events)


def test_node_whose_term_rose_while_cut_off_can_rejoin() -> None:
    """DESIGN.md trap (PreVote + CheckQuorum): a node with a higher term answers
    the leader's lower-term messages with its own term; the cluster re-elects at
    a term above it, and the node is back in."""
    cluster = ScriptedCluster(["n1", "n2", "n3"])
    elect(cluster, "n1")
    cluster.crash("n3")
    cluster.set_log("n3", [1], term=9)
    for _ in range(80):
        for node_id in ("n1", "n2", "n3"):
            cluster.tick(node_id)
        cluster.stabilize()
        leaders = [
            c for c in (cluster.core(n) for n in ("n1", "n2", "n3")) if c.role is Role.LEADER
        ]
        if (
            leaders
            and leaders[0].term > 9
            and all(cluster.core(n).leader_id == leaders[0].id for n in ("n1", "n2", "n3"))
        ):
            break
    else:
        pytest.fail("the cluster never re-formed around the higher term")


def test_a_candidates_vote_for_itself_counts_once_durable() -> None:
    """Figure 2: currentTerm and votedFor are persistent state, the candidate's
    vote for itself included. With its write still on the disk (accept, not
    yet persisted), one granted vote of three is not a majority; the durable
    self-vote completes it. (Counting it early let a candidate win, crash
    with the vote unwritten and vote for a rival in the same term: swarm seed
    229 of a latent disk.)"""
    voters = ("n1", "n2", "n3")
    core = RaftCore(RaftConfig("n1", voters, pre_vote=False), DurableState(), random.Random(1))
    core.advance(core.ready())
    core.campaign()
    campaign = core.ready()
    core.accept(campaign)  # sent; the term and vote are on their way to the disk
    core.step(RequestVoteResponse(core.term, "n2", "n1", True, False))
    assert core.role is Role.CANDIDATE
    core.persisted(campaign)
    assert core.role is Role.LEADER


def test_a_candidate_claims_only_the_log_it_has_made_durable() -> None:
    """§5.4.1 with a disk beside the loop: entries still on their way to the
    disk are not claimed in a RequestVote. A crash could take them, and the
    candidate could campaign again in the same term and collect votes granted
    to a longer log than it has (swarm seed 4286)."""
    voters = ("n1", "n2", "n3")
    core = RaftCore(RaftConfig("n1", voters, pre_vote=False), DurableState(), random.Random(1))
    core.advance(core.ready())
    core.step(AppendEntries(1, "n2", "n1", 0, 0, (Entry(1, 1),), 0))
    on_its_way = core.ready()
    core.accept(on_its_way)  # entry 1 is handed to the disk, not yet durable
    core.campaign()
    requests = [m for m in core.ready().messages if isinstance(m, RequestVote)]
    assert requests and all((m.last_log_index, m.last_log_term) == (0, 0) for m in requests)
