"""How a Multi-Paxos cluster's proposers behave (cluster.toml's paxos_leader
and paxos_backoff; node/paxos/core.py's rules)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BACKOFF_DOUBLINGS_MAX", "LEADER", "PaxosOptions"]

BACKOFF_DOUBLINGS_MAX = 4  # a preempted proposer waits at most 2^4 times the base


@dataclass(frozen=True, slots=True)
class PaxosOptions:
    """`leader`: a distinguished proposer (Multi-Paxos); without one, every
    node asked to write prepares on its own. `backoff`: a preempted proposer
    waits randomly before preparing again."""

    leader: bool = True
    backoff: bool = False


LEADER = PaxosOptions()  # Multi-Paxos with a distinguished proposer: the default
