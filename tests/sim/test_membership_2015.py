"""Ongaro's 2015 counterexample, replayed by hand on the scripted cluster.

scripts/membership_2015_correction.txt shows the correct core refusing the
change; here the same schedule runs on the mutant that changes its
configuration before committing an entry of its own term, and two leaders
with disjoint majorities overwrite a committed entry.
"""

from __future__ import annotations

from node.errors import ProposalRejected
from node.raft import RaftCore
from node.ready import MembershipChange, Role
from raftctl.sim.scripted import ScriptedCluster
from tests.sim.mutants import MembershipChangeBeforeOwnTermCommit


def _race(core_factory: type[RaftCore]) -> ScriptedCluster:
    """Run the schedule up to n2's attempt to promote n5 (see the script)."""
    cluster = ScriptedCluster(
        ["n1", "n2", "n3", "n4"], core_factory=core_factory, pre_vote=False, check_quorum=False
    )
    cluster.campaign("n1")
    cluster.stabilize()
    cluster.add_node("n5")
    cluster.change_membership("n1", "add-learner", "n5")
    cluster.stabilize()
    cluster.partition([["n1"], ["n2", "n3", "n4", "n5"]])
    cluster.change_membership("n1", "remove", "n3")  # C1 = n1,n2,n4: n1 alone holds it
    cluster.campaign("n2")
    for src, dst in (("n2", "n3"), ("n2", "n4"), ("n3", "n2"), ("n4", "n2")):
        cluster.deliver(src, dst)
    assert cluster.core("n2").role is Role.LEADER
    cluster.partition([["n1"], ["n2", "n3", "n5"], ["n4"]])
    cluster.stabilize()  # n3 and n5 take n2's no-op: n2 learns that n5 is caught up
    return cluster


def test_correct_core_refuses_the_change() -> None:
    cluster = _race(RaftCore)
    try:
        cluster.core("n2").propose_membership(MembershipChange("promote", "n5"))
    except ProposalRejected as refusal:
        assert "2015" in str(refusal)
    else:
        raise AssertionError("the leader changed its configuration before its no-op committed")


def test_mutant_loses_a_committed_entry() -> None:
    cluster = _race(MembershipChangeBeforeOwnTermCommit)
    cluster.change_membership("n2", "promote", "n5")  # C2 = n1..n5
    cluster.stabilize()
    n2 = cluster.core("n2")
    committed = n2.log.commit_index
    assert n2.log.term_at(committed) == 2, "n2 committed with n2,n3,n5 under C2"
    # n1 comes back with C1 and needs only n4, which voted in term 2 but never
    # heard from n2.
    cluster.partition([["n1", "n4"], ["n2", "n3", "n5"]])
    cluster.tick("n1", 2)  # a heartbeat to n4, whose answer carries term 2
    cluster.stabilize()
    cluster.campaign("n1")
    cluster.stabilize()
    n1 = cluster.core("n1")
    assert n1.role is Role.LEADER and n1.term == 3
    # Leader Completeness is broken: the entry n2 committed is not in n1's log,
    # and n1's next AppendEntries will overwrite it.
    assert n1.log.term_at(committed) != 2
