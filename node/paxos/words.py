"""A Paxos node in Paxos's words, for the admin plane (node.admin_plane):
its role (the founding notes': leader, proposer, acceptor), its ballot as
round.node, how far it knows the log chosen, and each slot's ballot. Loaded
by Paxos nodes only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node.consensus import ConsensusCore
from node.messages import Entry
from node.paxos.ballot import Ballot
from node.paxos.core import PaxosCore
from node.ready import Role

__all__ = ["ROLES", "slot_ballots", "status_fields"]

# It leads as the distinguished proposer, prepares a ballot as a proposer,
# else accepts (a learner is named by the admin plane, as under Raft).
ROLES = {Role.LEADER: "leader", Role.CANDIDATE: "proposer", Role.FOLLOWER: "acceptor"}


def status_fields(core: ConsensusCore) -> dict[str, Any]:
    """What a Paxos node's status row adds: its ballot (the promise; the
    `term` field holds its one-integer form), how far it knows the log
    chosen, whether it proposes without a leader, and with backoff."""
    if not isinstance(core, PaxosCore):
        raise TypeError(f"a Paxos cluster's node runs a {type(core).__name__}")
    return {
        "ballot": str(core.ballot),
        "chosen_index": core.log.commit_index,
        "leaderless": not core.options.leader,
        "backoff": core.options.backoff,
    }


def slot_ballots(entries: Sequence[Entry]) -> list[str]:
    """Each slot's ballot as round.node (a hole's term, 0, reads 0.0)."""
    return [str(Ballot.decode(entry.term)) for entry in entries]
