"""The Raft peer messages (Raft paper, Figure 2 and §7; Ongaro's dissertation)
and the log entries, memberships and snapshot descriptions they carry.

Rules:
- A message is a plain value: a frozen dataclass named as a noun after the
  paper, using its vocabulary unabbreviated. Each carries `term`, `src` and
  `dst`; the core dispatches on the type with `match` and `assert_never`.
- How they travel is node.messages.codec's business alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from node.errors import InvalidMessage

__all__ = [
    "PEER_MESSAGES",
    "AppendEntries",
    "AppendEntriesResponse",
    "Entry",
    "EntryKind",
    "Heartbeat",
    "HeartbeatResponse",
    "InstallSnapshot",
    "Membership",
    "Message",
    "RequestVote",
    "RequestVoteResponse",
    "SnapshotMeta",
    "TimeoutNow",
]


class EntryKind(IntEnum):
    """What a log entry carries."""

    COMMAND = 0  # opaque bytes for the state machine
    NOOP = 1  # appended by a new leader so that earlier entries commit (Raft §5.4.2)
    CONFIG = 2  # a new Membership, in force from the moment it is appended (§4.1)


@dataclass(frozen=True, slots=True)
class Membership:
    """Who votes and who only listens (dissertation §4.1, §4.2.1 learners).
    Invariant: a node is in at most one of the two, each listed once, sorted."""

    voters: tuple[str, ...]
    learners: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        members = (*self.voters, *self.learners)
        if len(set(members)) != len(members):
            raise InvalidMessage(f"a node listed twice in {members}")

    @property
    def members(self) -> tuple[str, ...]:
        return (*self.voters, *self.learners)

    def describe(self) -> str:
        learners = f" learners {','.join(self.learners)}" if self.learners else ""
        return f"voters {','.join(self.voters) or '(none)'}{learners}"


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """What a snapshot covers: the log up to (index, term), and the membership
    in force at `index` (snapshots carry the configuration, dissertation §5.1)."""

    index: int
    term: int
    voters: tuple[str, ...]
    learners: tuple[str, ...] = ()

    @property
    def membership(self) -> Membership:
        return Membership(self.voters, self.learners)


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
    # Sent on a TimeoutNow: voters must not refuse because they heard from
    # the leader recently, since that leader asked for this election (§3.10).
    transfer: bool = False


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
    last index + 1 when its log is shorter). `incarnation` numbers the
    follower's process lives, so that the leader can tell an answer from before
    a restart (stale) from one after it (the log may have shrunk).
    """

    term: int
    src: str
    dst: str
    success: bool
    match_index: int = 0
    rejected_index: int = 0
    conflict_term: int = 0
    conflict_index: int = 0
    incarnation: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Leader → follower: I am alive. `commit_index` is never above what the
    follower is known to match, so it can always be applied safely. `round`
    numbers the leader's heartbeat broadcasts: its echo confirms leadership
    for ReadIndex and dates the leader's lease (dissertation §6.4)."""

    term: int
    src: str
    dst: str
    commit_index: int
    round: int = 0


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    """Follower → leader: I heard your heartbeat `round` (counts for CheckQuorum);
    `incarnation` as in AppendEntriesResponse."""

    term: int
    src: str
    dst: str
    round: int = 0
    incarnation: int = 0


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leader → transfer target: start an election at once (dissertation §3.10)."""

    term: int
    src: str
    dst: str


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """Leader → follower: the state up to `meta` (Raft §7, Figure 13). The
    server streams a snapshot as chunks at `offset`; the core sees one message
    holding the whole of `data` once the last chunk (`done`) has arrived."""

    term: int
    src: str
    dst: str
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


Message = (
    RequestVote
    | RequestVoteResponse
    | AppendEntries
    | AppendEntriesResponse
    | Heartbeat
    | HeartbeatResponse
    | TimeoutNow
    | InstallSnapshot
)
PEER_MESSAGES = (
    RequestVote,
    RequestVoteResponse,
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    TimeoutNow,
    InstallSnapshot,
)
