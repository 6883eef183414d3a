"""Every message between Raft nodes, one frozen dataclass each.

Rule: a message is a plain value. Each carries `term`, `src` and `dst`; the core
dispatches on its type with `match` and `assert_never`. Names follow the paper
(RequestVote, AppendEntries, ...) and fields use its vocabulary unabbreviated.
The wire codec (msgpack with a version byte and strict validation) joins this
module with the transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "AppendEntries",
    "AppendEntriesResponse",
    "Entry",
    "EntryKind",
    "Heartbeat",
    "HeartbeatResponse",
    "Message",
    "RequestVote",
    "RequestVoteResponse",
]


class EntryKind(IntEnum):
    """What a log entry carries."""

    COMMAND = 0  # opaque bytes for the state machine
    NOOP = 1  # appended by a new leader so that earlier entries commit (Raft §5.4.2)


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. Invariant: an (index, term) pair names exactly one entry."""

    index: int
    term: int
    kind: EntryKind = EntryKind.COMMAND
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class RequestVote:
    """Candidate → all: vote for me in `term` (Raft §5.2). With `pre_vote`, a
    dry run that changes no one's term or vote (dissertation §9.6)."""

    term: int
    src: str
    dst: str
    last_log_index: int
    last_log_term: int
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class RequestVoteResponse:
    """The answer to RequestVote; `reason` says why a vote was refused."""

    term: int
    src: str
    dst: str
    granted: bool
    pre_vote: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AppendEntries:
    """Leader → follower: entries after (prev_log_index, prev_log_term) (Raft §5.3)."""

    term: int
    src: str
    dst: str
    prev_log_index: int
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int


@dataclass(frozen=True, slots=True)
class AppendEntriesResponse:
    """Follower → leader.

    On success `match_index` is the last index known to match the leader.
    On rejection `rejected_index` is the prev_log_index that did not match, and
    the hint lets the leader skip a whole term per round trip: `conflict_term`
    is the follower's term at rejected_index (0 when its log is shorter) and
    `conflict_index` the first index the follower holds of that term (or its
    last index + 1 when its log is shorter).
    """

    term: int
    src: str
    dst: str
    success: bool
    match_index: int = 0
    rejected_index: int = 0
    conflict_term: int = 0
    conflict_index: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Leader → follower: I am alive. `commit_index` is never above what the
    follower is known to match, so it can always be applied safely."""

    term: int
    src: str
    dst: str
    commit_index: int


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    """Follower → leader: I heard you (counts for CheckQuorum)."""

    term: int
    src: str
    dst: str


Message = (
    RequestVote
    | RequestVoteResponse
    | AppendEntries
    | AppendEntriesResponse
    | Heartbeat
    | HeartbeatResponse
)
