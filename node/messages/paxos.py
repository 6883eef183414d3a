"""Messages between Multi-Paxos nodes (node.paxos): phase 1 (prepare, and the
promise or refusal it gets) and phase 2 (accept, batched over slots, and the
answer), each ballot in its one-integer form (node.paxos.ballot).

A refusal is a promise or an answer whose `promised` is above the ballot
asked: it names the higher ballot, so that the proposer can step aside or
pick a higher one. An accept with no slots is the leader's heartbeat; its
`chosen` tells followers how far the log is chosen (learning).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "PAXOS_MESSAGES",
    "PaxosAccept",
    "PaxosAccepted",
    "PaxosMessage",
    "PaxosPrepare",
    "PaxosPromise",
    "PaxosSlot",
]


@dataclass(frozen=True, slots=True)
class PaxosSlot:
    """A proposal for one slot: its ballot, and its value (`noop`: none;
    `config`: a membership)."""

    slot: int
    ballot: int
    noop: bool
    value: bytes = b""
    config: bool = False


@dataclass(frozen=True, slots=True)
class PaxosPrepare:
    """Phase 1a for every slot from `from_slot` on; `transfer`: the leader
    handed its role over, so an acceptor that still hears it answers."""

    src: str
    dst: str
    ballot: int
    from_slot: int
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class PaxosPromise:
    """Phase 1b: `promised` is `ballot` (a promise, with what was accepted
    from the asked slot on) or above it (a refusal); `compacted`: the slots
    this acceptor forgot into its snapshot (at or past the asked slot, it
    cannot report them: the proposer is behind, steps aside, and is sent the
    snapshot)."""

    src: str
    dst: str
    ballot: int
    promised: int
    accepted: tuple[PaxosSlot, ...] = ()
    compacted: int = 0


@dataclass(frozen=True, slots=True)
class PaxosAccept:
    """Phase 2a for several slots at once; `chosen`: the leader's log is
    chosen up to this slot; `round`: the leader's heartbeat round, echoed
    by the answer (a majority of answers confirms a read)."""

    src: str
    dst: str
    ballot: int
    slots: tuple[PaxosSlot, ...]
    chosen: int
    round: int = 0


@dataclass(frozen=True, slots=True)
class PaxosAccepted:
    """Phase 2b: the slots taken under `ballot` (none, and `promised` above
    it: a refusal); `applied`: how far this node applied, so that the leader
    sends a lagging node the chosen values it lacks."""

    src: str
    dst: str
    ballot: int
    promised: int
    slots: tuple[int, ...]
    applied: int
    round: int = 0


PaxosMessage = PaxosPrepare | PaxosPromise | PaxosAccept | PaxosAccepted
PAXOS_MESSAGES = (PaxosPrepare, PaxosPromise, PaxosAccept, PaxosAccepted)
