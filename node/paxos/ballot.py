"""Ballots: a proposal number that no two proposers share, (round, node),
ordered by round and then by node, so that two proposers that pick the
same round are still ordered (the founding notes' "numbered proposals").

A ballot travels and is stored as one integer, `round * NODES + node`, in
the place a Raft entry keeps its term: the integer order is the ballot order,
and it reads as the ballot does (5002 is round 5 of n2), so that a `term`
column of a Paxos cluster is legible. `node` is the proposer's number (n3 is
3, s2n3 is 3 too: ballots are compared within one group).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["NODES", "ZERO", "Ballot", "node_number"]

NODES = 1000  # node numbers below 1000
_NODE_NUMBER = re.compile(r"(?:s\d+)?n(\d+)")


def node_number(node_id: str) -> int:
    """`n3` -> 3 (`s2n3` -> 3); ValueError for an id of another shape."""
    match = _NODE_NUMBER.fullmatch(node_id)
    if match is None or not 0 < int(match.group(1)) < NODES:
        raise ValueError(f"a Paxos node id is n<number> below {NODES}, not {node_id!r}")
    return int(match.group(1))


@dataclass(frozen=True, slots=True, order=True)
class Ballot:
    round: int
    node: int

    def encode(self) -> int:
        return self.round * NODES + self.node

    @classmethod
    def decode(cls, value: int) -> Ballot:
        return cls(*divmod(value, NODES))

    def above(self, node: int) -> Ballot:
        """The lowest ballot of `node` greater than this one."""
        return Ballot(self.round + 1, node) if node <= self.node else Ballot(self.round, node)

    def __str__(self) -> str:
        return f"{self.round}.{self.node}"


ZERO = Ballot(0, 0)  # below every proposer's: nothing promised or accepted yet
