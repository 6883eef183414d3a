"""Typed events the core reports in every Ready, and their one-line story.

Rule: the core never logs; it appends these. The server writes them to node.log
and events.jsonl, the simulator checks invariants from them, and the demo and
the scenario scripts print them with `describe`, so every reader sees the same
words ("n3 became leader at term 5 with votes n3,n4,n5").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, assert_never

__all__ = [
    "BecameCandidate",
    "BecameFollower",
    "BecameLeader",
    "BecamePreCandidate",
    "CommitAdvanced",
    "EntriesTruncated",
    "Event",
    "FollowerLostEntries",
    "LogCompacted",
    "MembershipChanged",
    "SnapshotInstalled",
    "SnapshotSent",
    "TermChanged",
    "TransferAborted",
    "TransferStarted",
    "VoteGranted",
    "VoteRefused",
    "describe",
    "event_to_dict",
]


@dataclass(frozen=True, slots=True)
class BecameFollower:
    """The node follows `leader_id` (None: unknown yet) in `term`; `reason` says why."""

    term: int
    leader_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class BecamePreCandidate:
    """Election timeout: a PreVote round for term + 1 starts; no term changes yet."""

    term: int


@dataclass(frozen=True, slots=True)
class BecameCandidate:
    """The node raised its term to `term`, voted for itself and asks for votes."""

    term: int


@dataclass(frozen=True, slots=True)
class BecameLeader:
    """The node won `term` with the votes of `votes`."""

    term: int
    votes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TermChanged:
    """The node saw `new_term` in a message from `src` and adopted it."""

    old_term: int
    new_term: int
    src: str


@dataclass(frozen=True, slots=True)
class VoteGranted:
    """The node voted (or pre-voted) for `candidate` in `term`."""

    term: int
    candidate: str
    pre_vote: bool


@dataclass(frozen=True, slots=True)
class VoteRefused:
    """The node refused `candidate` its (pre-)vote in `term`, for `reason`."""

    term: int
    candidate: str
    pre_vote: bool
    reason: str


@dataclass(frozen=True, slots=True)
class EntriesTruncated:
    """`count` conflicting entries from `from_index` on were removed (Raft §5.3)."""

    from_index: int
    count: int
    leader_id: str


@dataclass(frozen=True, slots=True)
class CommitAdvanced:
    """The commit index moved from `old_index` to `new_index`."""

    old_index: int
    new_index: int


@dataclass(frozen=True, slots=True)
class FollowerLostEntries:
    """The leader found that `follower`, after a restart, holds entries only up
    to `holds` though it had acknowledged up to `acknowledged`: its storage lost
    what it had synced (or was wiped). The leader repairs the log; the node may
    still vote unsafely for what it forgot, so it should be replaced."""

    follower: str
    acknowledged: int
    holds: int


@dataclass(frozen=True, slots=True)
class MembershipChanged:
    """The configuration in force is now `voters` + `learners`, from the entry at
    `index` (0: the initial one); `how`: appended, reverted or snapshot."""

    index: int
    voters: tuple[str, ...]
    learners: tuple[str, ...]
    how: str


@dataclass(frozen=True, slots=True)
class LogCompacted:
    """A snapshot at `index` (term `term`) replaced the log up to it (Raft §7)."""

    index: int
    term: int


@dataclass(frozen=True, slots=True)
class SnapshotSent:
    """The leader asked for its snapshot at `index` to go to `peer`, whose log
    lacks entries the leader has compacted away."""

    peer: str
    index: int


@dataclass(frozen=True, slots=True)
class SnapshotInstalled:
    """A snapshot from `leader_id` at `index` replaced this node's state; `kept`
    entries of its log past the snapshot survived (they matched)."""

    index: int
    term: int
    leader_id: str
    kept: int


@dataclass(frozen=True, slots=True)
class TransferStarted:
    """The leader stopped taking proposals to hand leadership to `target` (§3.10)."""

    target: str


@dataclass(frozen=True, slots=True)
class TransferAborted:
    """The transfer to `target` gave up: `reason`."""

    target: str
    reason: str


Event = (
    BecameFollower
    | BecamePreCandidate
    | BecameCandidate
    | BecameLeader
    | TermChanged
    | VoteGranted
    | VoteRefused
    | EntriesTruncated
    | FollowerLostEntries
    | CommitAdvanced
    | MembershipChanged
    | LogCompacted
    | SnapshotSent
    | SnapshotInstalled
    | TransferStarted
    | TransferAborted
)


def describe(node_id: str, event: Event) -> str:
    """One readable line for `event` seen at `node_id`."""
    match event:
        case BecameFollower(term, leader_id, reason):
            following = f"following {leader_id}" if leader_id else "no leader known"
            return f"{node_id} became follower at term {term}, {following} ({reason})"
        case BecamePreCandidate(term):
            return f"{node_id} election timeout: pre-vote for term {term + 1}"
        case BecameCandidate(term):
            return f"{node_id} became candidate at term {term}"
        case BecameLeader(term, votes):
            return f"{node_id} became leader at term {term} with votes {','.join(votes)}"
        case TermChanged(old_term, new_term, src):
            return f"{node_id} term {old_term} -> {new_term} (message from {src})"
        case VoteGranted(term, candidate, pre_vote):
            kind = "pre-vote" if pre_vote else "vote"
            return f"{node_id} granted its {kind} to {candidate} for term {term}"
        case VoteRefused(term, candidate, pre_vote, reason):
            kind = "pre-vote" if pre_vote else "vote"
            return f"{node_id} refused its {kind} to {candidate} for term {term}: {reason}"
        case EntriesTruncated(from_index, count, leader_id):
            plural = "entry" if count == 1 else "entries"
            return (
                f"{node_id} truncated {count} conflicting {plural} from index {from_index}"
                f" (leader {leader_id})"
            )
        case CommitAdvanced(old_index, new_index):
            return f"{node_id} commit index {old_index} -> {new_index}"
        case FollowerLostEntries(follower, acknowledged, holds):
            return (
                f"{node_id} found that {follower} lost entries it had acknowledged (it holds"
                f" up to {holds} of {acknowledged}): repairing its log; a voter that forgot"
                f" what it acknowledged is unsafe: replace it (raftctl rejoin {follower})"
            )
        case MembershipChanged(index, voters, learners, how):
            listening = f", learners {','.join(learners)}" if learners else ""
            where = f"entry {index}" if index else "the initial configuration"
            return (
                f"{node_id} membership {how} ({where}): voters {','.join(voters) or '(none)'}"
                f"{listening}"
            )
        case LogCompacted(index, term):
            return f"{node_id} compacted its log up to index {index} (term {term})"
        case SnapshotSent(peer, index):
            return f"{node_id} sends its snapshot at index {index} to {peer}"
        case SnapshotInstalled(index, term, leader_id, kept):
            kept_text = f", kept {kept} later entries" if kept else ""
            return (
                f"{node_id} installed the snapshot at index {index} (term {term}) from "
                f"{leader_id}{kept_text}"
            )
        case TransferStarted(target):
            return f"{node_id} hands leadership to {target}: proposals paused"
        case TransferAborted(target, reason):
            return f"{node_id} gave up handing leadership to {target}: {reason}"
        case _:
            assert_never(event)


def event_to_dict(node_id: str, event: Event) -> dict[str, Any]:
    """A JSON-ready object for events.jsonl: the event's fields plus its kind."""
    return {"node": node_id, "event": type(event).__name__, **asdict(event)}
