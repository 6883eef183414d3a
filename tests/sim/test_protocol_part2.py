"""One test per rule of snapshots, membership change, leadership transfer and
reads (Raft §7; dissertation chapters 3, 4, 5 and 6), on the real core.

Messages move only when a test says so (raftctl.sim.scripted.ScriptedCluster).
"""

from __future__ import annotations

import random

import pytest

from node.errors import NotLeader, ProposalRejected
from node.events import FollowerLostEntries, MembershipChanged, TransferAborted
from node.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    EntryKind,
    Heartbeat,
    InstallSnapshot,
    Membership,
    RequestVote,
    RequestVoteResponse,
    SnapshotMeta,
    encode_membership,
)
from node.raft import RaftCore
from node.raft_config import RaftConfig
from node.ready import DurableState, HardState, MembershipChange, Role
from raftctl.sim.scripted import ScriptedCluster


def elect(cluster: ScriptedCluster, node_id: str) -> RaftCore:
    cluster.campaign(node_id)
    cluster.stabilize()
    core = cluster.core(node_id)
    assert core.role is Role.LEADER
    return core


def committed_cluster(*writes: str) -> ScriptedCluster:
    cluster = ScriptedCluster(["n1", "n2", "n3"])
    elect(cluster, "n1")
    for write in writes:
        cluster.propose("n1", write.encode())
    cluster.stabilize()
    return cluster


def follower(entries: list[Entry], commit: int) -> RaftCore:
    """A follower of n1 at term 2 holding `entries`, committed up to `commit`."""
    config = RaftConfig(node_id="n2", voters=("n1", "n2", "n3"))
    core = RaftCore(
        config, DurableState(HardState(2, None, commit), tuple(entries)), random.Random(1)
    )
    core.advance(core.ready())
    return core


def log_of(*terms: int) -> list[Entry]:
    return [Entry(index, term, EntryKind.COMMAND, b"x") for index, term in enumerate(terms, 1)]


def snapshot(
    index: int, term: int, voters: tuple[str, ...] = ("n1", "n2", "n3")
) -> InstallSnapshot:
    return InstallSnapshot(2, "n1", "n2", SnapshotMeta(index, term, voters), 0, b"state", True)


# -- snapshots (Raft §7, Figure 13) --------------------------------------------------


def test_compaction_keeps_the_last_included_term_and_the_configuration() -> None:
    cluster = committed_cluster("a", "b")
    leader = cluster.core("n1")
    meta = leader.compact(leader.log.applied_index)
    assert (meta.index, meta.term, meta.voters) == (3, 1, ("n1", "n2", "n3"))
    assert leader.log.snapshot_index == 3 and leader.log.term_at(3) == 1
    assert leader.log.term_at(2) is None


def test_a_snapshot_older_than_the_commit_index_keeps_the_log() -> None:
    core = follower(log_of(1, 1, 2, 2), commit=3)
    core.step(snapshot(2, 1))
    rd = core.ready()
    assert rd.snapshot is None
    assert core.log.last_index == 4 and core.log.snapshot_index == 0
    assert rd.messages_after_persist[0].match_index == 3  # type: ignore[union-attr]


def test_a_snapshot_whose_last_entry_matches_keeps_what_follows() -> None:
    """ "If existing log entry has same index and term as snapshot's last included
    entry, retain log entries following it and reply" (Figure 13, step 6)."""
    core = follower(log_of(1, 1, 2, 2, 2), commit=1)
    core.step(snapshot(3, 2))
    rd = core.ready()
    assert rd.snapshot is None
    assert core.log.last_index == 5 and core.log.commit_index == 3


def test_a_snapshot_that_disagrees_with_the_log_replaces_it() -> None:
    core = follower(log_of(1, 1, 1, 1), commit=1)
    core.step(snapshot(6, 2, voters=("n1", "n2", "n3", "n4")))
    rd = core.ready()
    assert rd.snapshot is not None and rd.snapshot.data == b"state"
    assert (core.log.snapshot_index, core.log.last_index, core.log.commit_index) == (6, 6, 6)
    assert core.log.applied_index == 6 and rd.committed_entries == ()
    assert core.voters == ("n1", "n2", "n3", "n4")


def test_a_node_restarts_from_its_snapshot() -> None:
    meta = SnapshotMeta(5, 2, ("n1", "n2", "n3"), ("n4",))
    durable = DurableState(HardState(2, None, 6), (Entry(6, 2, EntryKind.COMMAND, b"x"),), meta)
    core = RaftCore(RaftConfig(node_id="n2", voters=("n1",)), durable, random.Random(1))
    assert (core.log.snapshot_index, core.log.last_index, core.log.applied_index) == (5, 6, 5)
    assert core.voters == ("n1", "n2", "n3") and core.learners == ("n4",)
    assert [entry.index for entry in core.ready().committed_entries] == [6]


# -- membership (dissertation §4.1-§4.2) ------------------------------------------------


def test_a_configuration_takes_effect_on_append_and_reverts_on_truncation() -> None:
    config_entry = Entry(3, 2, EntryKind.CONFIG, encode_membership(Membership(("n1", "n2"))))
    core = follower(log_of(1, 1), commit=1)
    core.step(AppendEntries(2, "n1", "n2", 2, 1, (config_entry,), 1))
    assert core.voters == ("n1", "n2")
    replacement = Entry(3, 3, EntryKind.COMMAND, b"y")
    core.advance(core.ready())
    core.step(AppendEntries(3, "n3", "n2", 2, 1, (replacement,), 1))
    assert core.voters == ("n1", "n2", "n3")
    hows = [e.how for e in core.ready().events if isinstance(e, MembershipChanged)]
    assert hows == ["reverted"]


def test_membership_change_waits_for_a_commit_of_the_leaders_term() -> None:
    cluster = ScriptedCluster(["n1", "n2", "n3"])
    cluster.campaign("n1")
    cluster.deliver()  # pre-votes
    cluster.deliver()  # pre-vote answers
    cluster.deliver()  # votes
    cluster.deliver()  # vote answers: n1 leads, its no-op is not committed
    leader = cluster.core("n1")
    assert leader.role is Role.LEADER and leader.log.commit_index == 0
    with pytest.raises(ProposalRejected, match="2015"):
        leader.propose_membership(MembershipChange("remove", "n3"))


def test_one_membership_change_at_a_time() -> None:
    cluster = committed_cluster()
    leader = cluster.core("n1")
    leader.propose_membership(MembershipChange("add-learner", "n4"))
    with pytest.raises(ProposalRejected, match="one at a time"):
        leader.propose_membership(MembershipChange("remove", "n3"))


@pytest.mark.parametrize(
    ("action", "node", "reason"),
    [
        ("add-learner", "n2", "already a member"),
        ("promote", "n2", "not a learner"),
        ("remove", "n9", "not a member"),
        ("demote", "n2", "unknown membership change"),
    ],
)
def test_invalid_changes_are_refused(action: str, node: str, reason: str) -> None:
    leader = committed_cluster().core("n1")
    with pytest.raises(ProposalRejected, match=reason):
        leader.propose_membership(MembershipChange(action, node))


def test_a_learner_does_not_count_toward_commit_nor_campaign() -> None:
    cluster = committed_cluster()
    cluster.add_node("n4")
    cluster.change_membership("n1", "add-learner", "n4")
    cluster.stabilize()
    cluster.partition([["n1", "n4"], ["n2", "n3"]])
    cluster.propose("n1", b"w")
    cluster.stabilize()
    leader = cluster.core("n1")
    assert leader.log.commit_index < leader.log.last_index  # n1 + learner n4 is no quorum
    learner = cluster.core("n4")
    learner.campaign()
    assert learner.role is Role.FOLLOWER


def test_a_learner_is_promoted_only_once_caught_up() -> None:
    cluster = committed_cluster("a")
    cluster.add_node("n4")
    cluster.change_membership("n1", "add-learner", "n4")
    cluster.partition([["n1", "n2", "n3"], ["n4"]])
    cluster.stabilize()
    with pytest.raises(ProposalRejected, match="has not caught up"):
        cluster.core("n1").propose_membership(MembershipChange("promote", "n4"))


# -- leadership transfer (dissertation §3.10) -------------------------------------------


def test_transfer_pauses_proposals_and_gives_up_after_an_election_timeout() -> None:
    cluster = committed_cluster()
    cluster.partition([["n1", "n2"], ["n3"]])
    leader = cluster.core("n1")
    leader.transfer_leadership("n3")
    with pytest.raises(ProposalRejected, match="transfer to n3"):
        leader.propose([b"x"])
    cluster.tick("n1", leader.config.election_timeout_ticks_min)
    assert leader.role is Role.LEADER and leader.status().transfer_target is None
    aborted = [e for e in cluster.last_ready["n1"].events if isinstance(e, TransferAborted)]
    assert aborted or any("gave up" in line for line in cluster.output)
    leader.propose([b"y"])  # proposals flow again


def test_transfer_elects_the_target_despite_the_leader_lease() -> None:
    cluster = committed_cluster("a")
    cluster.transfer("n1", "n2")
    cluster.stabilize()
    assert cluster.core("n2").role is Role.LEADER
    assert cluster.core("n1").role is Role.FOLLOWER


def test_transfer_target_must_be_a_voter() -> None:
    leader = committed_cluster().core("n1")
    with pytest.raises(ProposalRejected, match="not a voter"):
        leader.transfer_leadership("n9")


# -- reads (dissertation §6.4) -----------------------------------------------------------


def test_read_index_waits_for_a_heartbeat_round() -> None:
    cluster = committed_cluster("a")
    cluster.read("n1", lease=False)
    assert not cluster.last_ready["n1"].read_states
    cluster.stabilize()
    assert any("may serve read1 once index 2" in line for line in cluster.output)


def test_read_index_on_a_cut_off_leader_is_never_served() -> None:
    cluster = committed_cluster("a")
    cluster.partition([["n1"], ["n2", "n3"]])
    cluster.read("n1", lease=False)
    cluster.stabilize()
    assert not any("may serve read1" in line for line in cluster.output)


def test_reads_wait_for_a_commit_of_the_leaders_term_and_drop_on_step_down() -> None:
    cluster = ScriptedCluster(["n1", "n2", "n3"])
    cluster.campaign("n1")
    for _ in range(4):
        cluster.deliver()
    leader = cluster.core("n1")
    assert leader.role is Role.LEADER and leader.log.commit_index == 0
    cluster.read("n1", lease=False)
    assert not cluster.last_ready["n1"].read_states
    cluster.partition([["n1"], ["n2", "n3"]])
    cluster.tick("n1", leader.config.election_timeout_ticks_min * 2)  # CheckQuorum
    assert leader.role is Role.FOLLOWER
    assert any("dropped read1" in line for line in cluster.output)


def test_lease_read_is_immediate_while_the_lease_holds_and_not_after() -> None:
    cluster = committed_cluster("a")
    leader = cluster.core("n1")
    cluster.tick("n1")
    cluster.stabilize()  # a heartbeat round answered: the lease starts
    assert leader.status().lease_valid
    cluster.read("n1", lease=True)
    assert cluster.last_ready["n1"].read_states[0].lease
    cluster.partition([["n1"], ["n2", "n3"]])
    lease_ticks = leader.config.election_timeout_ticks_min - leader.config.lease_drift_ticks
    cluster.tick("n1", lease_ticks)
    cluster.stabilize()
    assert not leader.status().lease_valid
    cluster.read("n1", lease=True)  # falls back to ReadIndex, which cannot complete
    cluster.stabilize()
    assert not any("may serve read2" in line for line in cluster.output)


def test_sending_timeout_now_ends_the_lease() -> None:
    cluster = committed_cluster("a")
    leader = cluster.core("n1")
    cluster.tick("n1")
    cluster.stabilize()
    leader.transfer_leadership("n2")
    assert not leader.status().lease_valid
    cluster.drain("n1")
    cluster.partition([["n1", "n3"], ["n2"]])  # the TimeoutNow is lost
    cluster.stabilize()
    cluster.tick("n1", leader.config.election_timeout_ticks_min)  # transfer abandoned
    cluster.stabilize()
    assert leader.role is Role.LEADER and not leader.status().lease_valid


def test_no_lease_without_check_quorum() -> None:
    cluster = ScriptedCluster(["n1", "n2", "n3"], check_quorum=False)
    leader = elect(cluster, "n1")
    cluster.tick("n1")
    cluster.stabilize()
    assert not leader.status().lease_valid


def test_reads_need_the_leader() -> None:
    cluster = committed_cluster()
    with pytest.raises(NotLeader):
        cluster.core("n2").read_index(b"r")


def test_a_learner_never_holds_back_the_voters_election() -> None:
    """Issue 17, seed 3644: a node that missed its promotion believes it is a
    learner while the voters count it. It never campaigns, and its election
    clock must run on past the timeout (not restart), so that its lease ("I
    heard from a leader recently") ends and it grants the voters' pre-votes;
    before, it refused them for ever and no leader was elected."""
    learner = RaftCore(
        RaftConfig("n4", ("n1", "n2", "n3")), DurableState(HardState(2, None, 0)), random.Random(1)
    )
    learner.advance(learner.ready())
    learner.step(Heartbeat(2, "n1", "n4", 0, 1))
    learner.advance(learner.ready())
    assert learner.leader_id == "n1"
    for _ in range(learner._randomized_election_timeout):
        learner.tick()
        if learner.has_ready():
            learner.advance(learner.ready())
    assert learner.role is Role.FOLLOWER  # it never campaigns
    learner.step(RequestVote(3, "n2", "n4", 0, 0, True))
    answers = [
        m for m in learner.ready().messages_after_persist if isinstance(m, RequestVoteResponse)
    ]
    assert answers and answers[0].granted, answers


def test_a_late_answer_to_an_earlier_terms_message_says_nothing_of_the_log() -> None:
    """Swarm seed 385 (late-votes): n1 answers a stale AppendEntries with its
    own term; by the time the answer lands its sender leads that very term.
    The answer (a rejection at index 0, which no real rejection can be) must
    not read as "my log is empty": the follower acknowledged entries and
    still holds them."""
    cluster = committed_cluster("a", "b")
    leader = cluster.core("n1")
    answer = AppendEntriesResponse(
        leader.term, "n2", "n1", False, 0, incarnation=cluster.core("n2").incarnation + 1
    )
    leader.step(answer)
    events = leader.ready().events
    assert not [event for event in events if isinstance(event, FollowerLostEntries)]
