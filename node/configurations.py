"""The cluster configurations a Raft log holds (dissertation §4.1), and the
one rule that changes a configuration by a single server.

Rules:
- A configuration is in force from the moment its entry is in the log, not
  once it commits; truncating that entry reverts to the one before it.
- Snapshots carry the configuration in force at their index (§5.1): it
  becomes the base, and only configuration entries after it are kept.
- Pure: no I/O, no clock; the core (node.raft) owns one Configurations and
  decides when each of these happens.
"""

from __future__ import annotations

from collections.abc import Mapping

from node.errors import NotNow, ProposalRejected
from node.messages import Membership
from node.ready import MembershipChange

__all__ = ["Configurations", "changed_membership"]


class Configurations:
    """The configuration at the log's base (snapshot or start) and every
    configuration entry after it. Invariant: entry indexes increase and are
    all above `base_index`."""

    def __init__(self, base: Membership, base_index: int) -> None:
        self.base = base
        self.base_index = base_index
        self._entries: list[tuple[int, Membership]] = []

    @property
    def latest(self) -> Membership:
        """The configuration in force: the last one in the log."""
        return self._entries[-1][1] if self._entries else self.base

    @property
    def latest_index(self) -> int:
        """The index of the entry that brought the configuration in force."""
        return self._entries[-1][0] if self._entries else self.base_index

    def at(self, index: int) -> Membership:
        """The configuration in force at `index`."""
        membership = self.base
        for entry_index, entry_membership in self._entries:
            if entry_index > index:
                break
            membership = entry_membership
        return membership

    def add(self, index: int, membership: Membership) -> None:
        """The configuration entry at `index` was appended to the log."""
        self._entries.append((index, membership))

    def truncate_from(self, index: int) -> bool:
        """The log lost every entry from `index` on; True when a configuration
        went with them (the one in force is then `latest` again)."""
        if not self._entries or self._entries[-1][0] < index:
            return False
        while self._entries and self._entries[-1][0] >= index:
            self._entries.pop()
        return True

    def compact_to(self, index: int, membership: Membership) -> None:
        """The log now starts after a snapshot at `index` holding `membership`."""
        self.base, self.base_index = membership, index
        self._entries = [(i, m) for i, m in self._entries if i > index]

    def replace(self, index: int, membership: Membership) -> None:
        """A leader's snapshot at `index` replaced the whole log."""
        self.base, self.base_index = membership, index
        self._entries = []


def changed_membership(
    membership: Membership,
    change: MembershipChange,
    match_index: Mapping[str, int],
    commit_index: int,
) -> Membership:
    """`membership` after one single-server `change` (dissertation §4.1), or
    ProposalRejected (NotNow when it may be allowed later) saying why not.
    `match_index` is how far the leader knows each member's log matches."""
    voters, learners = list(membership.voters), list(membership.learners)
    node = change.node_id
    if change.action == "add-learner":
        if node in voters or node in learners:
            raise ProposalRejected(f"{node} is already a member")
        learners.append(node)
    elif change.action == "promote":
        if node not in learners:
            raise ProposalRejected(f"{node} is not a learner")
        caught_up = match_index.get(node, 0)
        if caught_up < commit_index:
            # §4.2.1: a voter that must first catch up would stall commits.
            raise NotNow(
                f"learner {node} has not caught up (it holds {caught_up} of "
                f"{commit_index} committed entries)"
            )
        learners.remove(node)
        voters.append(node)
    elif change.action == "remove":
        if node in voters:
            if len(voters) == 1:
                raise ProposalRejected(f"{node} is the last voter")
            voters.remove(node)
        elif node in learners:
            learners.remove(node)
        else:
            raise ProposalRejected(f"{node} is not a member")
    else:
        raise ProposalRejected(f"unknown membership change {change.action!r}")
    return Membership(tuple(sorted(voters)), tuple(sorted(learners)))
