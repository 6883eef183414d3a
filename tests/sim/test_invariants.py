"""The safety checker itself: it must flag what breaks Raft and nothing that
Raft allows (raftctl/sim/invariants.py)."""

from __future__ import annotations

import pytest

from node.messages import Entry, EntryKind, Membership, encode_membership
from raftctl.sim.cluster import MemoryStorage
from raftctl.sim.errors import SafetyViolation
from raftctl.sim.invariants import SafetyChecker

VOTERS = ("n1", "n2", "n3")


def stored(*entries: Entry) -> MemoryStorage:
    storage = MemoryStorage()
    storage.persist(entries, None)
    return storage


def test_a_late_leader_of_an_older_term_need_not_hold_later_commits() -> None:
    """Slow votes can elect a leader of term 3 after term 4 committed entries:
    Leader Completeness asks it only for entries committed before term 3."""
    checker = SafetyChecker(VOTERS)
    old, new = Entry(1, 2), Entry(2, 4)
    logs = {"n1": stored(old, new), "n2": stored(old, new), "n3": stored(old)}
    checker.on_commit("n1", 0, 1, logs["n1"].term_at, 0, VOTERS, logs, current_term=2)
    checker.on_commit("n1", 1, 2, logs["n1"].term_at, 0, VOTERS, logs, current_term=4)
    checker.on_became_leader("n3", 3, logs["n3"].term_at, 0)
    with pytest.raises(SafetyViolation, match="Leader Completeness"):
        checker.on_became_leader("n3", 5, logs["n3"].term_at, 0)


def test_a_node_whose_configuration_its_log_does_not_hold_is_caught() -> None:
    """A configuration entry truncated away must take its configuration with
    it: a node still counting its voters is flagged at its next commit."""
    checker = SafetyChecker(VOTERS)
    grown = Membership(("n1", "n2", "n3", "n4"))
    change = Entry(2, 1, EntryKind.CONFIG, encode_membership(grown))
    log = stored(Entry(1, 1), Entry(2, 2))  # the change was truncated away
    checker.on_persist("n9", [Entry(1, 1), change], stored(Entry(1, 1), change))
    logs = {voter: log for voter in VOTERS}
    with pytest.raises(SafetyViolation, match="Configuration"):
        checker.on_commit("n1", 0, 1, log.term_at, 0, grown.voters, logs, current_term=2)
    checker = SafetyChecker(VOTERS)
    checker.on_commit("n1", 0, 1, log.term_at, 0, VOTERS, logs, current_term=2)
