"""The admin protocol: what the controller asks of one node, one frozen
dataclass per request, so that a misspelt request cannot exist.

Rules:
- The node answers every request with an AdminResponse whose `result` is a
  JSON-ready map holding at least "ok"; a refusal says why in "error".
- A request carries only what it needs. Whether its values make sense
  (a failpoint's name, a clock rate's range) is the node's to judge.
- How they travel is node.messages.codec's business alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AdminCommand",
    "AdminRequest",
    "AdminResponse",
    "ArmFailpoint",
    "ChangeMembership",
    "Digest",
    "DisarmFailpoints",
    "Events",
    "LieAboutLog",
    "LogWindow",
    "ReloadFaults",
    "SkewClock",
    "SlowDisk",
    "Status",
    "TakeSnapshot",
    "TransferLeader",
]


@dataclass(frozen=True, slots=True)
class Status:
    """The node's row of `raftctl status`, and more."""


@dataclass(frozen=True, slots=True)
class Events:
    """The node's latest structured events, `limit` at most (None: all kept)."""

    limit: int | None = None


@dataclass(frozen=True, slots=True)
class TakeSnapshot:
    """Snapshot the state machine now and compact the log."""


@dataclass(frozen=True, slots=True)
class LogWindow:
    """The terms and kinds of `count` log entries from `first_index` on."""

    first_index: int = 1
    count: int = 50


@dataclass(frozen=True, slots=True)
class ChangeMembership:
    """One server at a time: `action` is add-learner, promote or remove."""

    action: str
    node_id: str


@dataclass(frozen=True, slots=True)
class TransferLeader:
    """Hand leadership to `target` (dissertation §3.10)."""

    target: str


@dataclass(frozen=True, slots=True)
class ReloadFaults:
    """Read faults.toml again now, whatever its version."""


@dataclass(frozen=True, slots=True)
class ArmFailpoint:
    """Crash at the failpoint `name` once it has been passed `after` times."""

    name: str
    after: int = 0


@dataclass(frozen=True, slots=True)
class DisarmFailpoints:
    """Disarm the failpoint `name`, or every failpoint when it is None."""

    name: str | None = None


@dataclass(frozen=True, slots=True)
class SlowDisk:
    """Delay every fsync by `fsync_delay_ms` (0: no delay)."""

    fsync_delay_ms: int


@dataclass(frozen=True, slots=True)
class SkewClock:
    """Run the node's clock at `rate` times real time (1.0: a true clock)."""

    rate: float


@dataclass(frozen=True, slots=True)
class LieAboutLog:
    """While `on`, answer every AppendEntries of the current term with success
    up to its last entry without appending anything: the lie of a Byzantine
    member, which Raft does not tolerate (`raftctl chaos --control liar`)."""

    on: bool


@dataclass(frozen=True, slots=True)
class Digest:
    """A hash of the state machine at its applied index."""


@dataclass(frozen=True, slots=True)
class Transactions:
    """This shard's transaction tables (node.transactions): what is prepared,
    the decision records kept, and how each remembered transaction finished."""


AdminCommand = (
    Status
    | Events
    | TakeSnapshot
    | LogWindow
    | ChangeMembership
    | TransferLeader
    | ReloadFaults
    | ArmFailpoint
    | DisarmFailpoints
    | SlowDisk
    | SkewClock
    | LieAboutLog
    | Digest
    | Transactions
)


@dataclass(frozen=True, slots=True)
class AdminRequest:
    """Controller → one node."""

    request_id: int
    command: AdminCommand


@dataclass(frozen=True, slots=True)
class AdminResponse:
    """Node → controller: the answer to the request `request_id`."""

    request_id: int
    result: dict[str, Any]
