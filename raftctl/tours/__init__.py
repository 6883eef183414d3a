"""Narrated live demonstrations (`raftctl tour TOPIC`): real commands, printed
and run against a cluster of real processes in a temporary directory, the
cluster's events between them, and each story's own checks (a tour that did
not see what it shows exits 1).

- raft.py (`make demo`): election, failover, log repair, InstallSnapshot;
- two_pc.py: classic 2PC blocks while its coordinator is down;
- three_pc.py: 3PC loses money when a partition falls after preCommit;
- acid.py: a bank without atomicity or isolation, then with transactions;
- cap.py: in a partition Raft refuses a side and gossip answers both, then
  `chaos --compare raft,gossip` measures it;
- paxos.py: Multi-Paxos's phases, a promise that saves a value only two
  acceptors took, and dueling proposers with and without backoff;
- narration.py and bank_steps.py: how a tour talks, and its bank.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

__all__ = ["TOURS", "tour_main"]

# name -> (module, what it shows)
TOURS: dict[str, tuple[str, str]] = {
    "raft": (
        "raftctl.tours.raft",
        "five Raft nodes: an election, failover, a partitioned leader's entry repaired, "
        "a follower caught up by InstallSnapshot (make demo)",
    ),
    "2pc": (
        "raftctl.tours.two_pc",
        "classic two-phase commit: the coordinator dies after deciding, the shards block "
        "with their locks held until it is back; no money lost",
    ),
    "3pc": (
        "raftctl.tours.three_pc",
        "three-phase commit: a partition after preCommit, each shard decides alone on its "
        "timeout, and money disappears; the checker says where",
    ),
    "acid": (
        "raftctl.tours.acid",
        "a bank without atomicity (a crash between two writes) and without isolation (a lost "
        "update), caught by the checker; then the same with transactions",
    ),
    "cap": (
        "raftctl.tours.cap",
        "CAP: in a partition Raft refuses the minority side and gossip answers both sides "
        "(and loses a write when they meet); then chaos --compare raft,gossip measures it",
    ),
    "paxos": (
        "raftctl.tours.paxos",
        "Multi-Paxos: phase 1 once, phase 2 per slot; a value only two acceptors took is "
        "reported by a promise and chosen by the next leader; dueling proposers and backoff",
    ),
}


def tour_main(name: str) -> Callable[[], int]:
    """The `main` of tour `name` (a key of TOURS)."""
    main: Callable[[], int] = importlib.import_module(TOURS[name][0]).main
    return main
