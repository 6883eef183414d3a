"""The node's exceptions, and `invariant` and `known`, the assertions that
survive `python -O`.

NodeError                 base of everything raised on purpose by `node`
├── InvariantViolation    a broken internal invariant: a bug; the node dies loudly
│   └── PeerMisbehaved    ... broken by what a peer said: in a live cluster a forged
│                         or corrupted message, refused and counted by the server
│                         (the core raises it before changing anything); in the
│                         simulator, where nothing is forged, still a bug
├── InvalidMessage        bad input from a peer or a client: count it, drop it
├── ConfigError           cluster.toml is missing or wrong (also a ValueError);
│                         the node exits 2 at start, raftctl says what to fix
├── ProposalRejected      the core cannot take this proposal or request now
│   ├── NotLeader         ... because it is not the leader (carries the leader it knows)
│   └── NotNow            ... but the same request may succeed later
└── StorageError          the node's storage cannot be trusted: it exits 3
    ├── CorruptLog        a damaged WAL batch that a torn write cannot explain
    ├── CorruptSnapshot   a damaged snapshot file
    ├── LostState         storage found empty on a node that once held state
    └── DiskFailure       a write or fsync failed
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = [
    "ConfigError",
    "CorruptLog",
    "CorruptSnapshot",
    "DiskFailure",
    "InvalidMessage",
    "InvariantViolation",
    "LostState",
    "NodeError",
    "NotLeader",
    "NotNow",
    "PeerMisbehaved",
    "ProposalRejected",
    "StorageError",
    "invariant",
    "known",
    "plausible",
]

T = TypeVar("T")


class NodeError(Exception):
    """Base of every exception `node` raises on purpose."""


class InvariantViolation(NodeError):
    """An internal invariant does not hold: a bug. Never caught by the node."""


class PeerMisbehaved(InvariantViolation):
    """A message contradicts what this node knows for certain (a second leader
    in its term, a follower matching beyond its log): the message is refused;
    the core raised before it changed anything."""


class InvalidMessage(NodeError):
    """A message from a peer or client failed validation; it is dropped."""


class ConfigError(NodeError, ValueError):
    """cluster.toml is missing, unreadable or inconsistent."""


class ProposalRejected(NodeError):
    """The core cannot accept a proposal now."""


class NotNow(ProposalRejected):
    """Refused for now: the same request may succeed later (a change pending, a
    transfer under way, no own-term commit yet, a learner still behind)."""


class NotLeader(ProposalRejected):
    """Proposals go to the leader; `leader_id` is the one this node knows, if any."""

    def __init__(self, leader_id: str | None) -> None:
        super().__init__(f"not the leader (leader: {leader_id or 'unknown'})")
        self.leader_id = leader_id


class StorageError(NodeError):
    """The node's storage cannot be trusted; the node refuses to go on."""


class CorruptLog(StorageError):
    """A WAL batch is damaged where a torn write cannot explain it."""

    def __init__(self, path: object, offset: int, reason: str) -> None:
        super().__init__(
            f"{path}: corrupt write-ahead log at byte {offset}: {reason}; refusing to start "
            "(committed data is never dropped silently)"
        )
        self.path = path
        self.offset = offset


class CorruptSnapshot(StorageError):
    """A snapshot file is damaged."""


class LostState(StorageError):
    """The node held Raft state in an earlier life and its storage is empty
    now: it forgot its votes and what it acknowledged (node.lives)."""


class DiskFailure(StorageError):
    """A write or fsync failed: the node must stop acknowledging and exit."""


def invariant(condition: bool, message: str, **context: Any) -> None:
    """Raise InvariantViolation with `context` unless `condition` holds.

    Unlike `assert`, this is not stripped by `python -O`: a Raft node that has
    broken an invariant must stop rather than spread a corrupt log.
    """
    if not condition:
        raise InvariantViolation(_with_context(message, context))


def plausible(condition: bool, message: str, **context: Any) -> None:
    """Raise PeerMisbehaved with `context` unless `condition` holds: an
    `invariant` that a message from the wire can break."""
    if not condition:
        raise PeerMisbehaved(_with_context(message, context))


def _with_context(message: str, context: dict[str, Any]) -> str:
    detail = " ".join(f"{key}={value!r}" for key, value in sorted(context.items()))
    return f"{message} ({detail})" if detail else message


def known(value: T | None, message: str, **context: Any) -> T:
    """`value`, which must not be None: an `invariant` that hands back what it
    checked, so callers need no bare `assert` to narrow its type."""
    if value is None:
        invariant(False, message, **context)
        raise AssertionError("unreachable")  # invariant(False) has raised
    return value
