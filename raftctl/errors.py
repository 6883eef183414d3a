"""raftctl's exceptions: each user-facing one carries its exit code (DESIGN.md).

RaftctlError            base; exit_code 1
├── Compacted           a watch asked for a revision no longer kept  exit 1
├── UsageError          bad arguments or options                     exit 2
│   └── Refused         the cluster refused the request as given     exit 2
│                       (a key or value over cluster.toml's limits)
├── Unavailable         no leader or no quorum within the deadline;  exit 3
│                       for a write its outcome is unknown
├── NoCluster           no cluster.toml at --dir                     exit 4
├── UnknownNode         a node id the cluster does not have          exit 4
└── Interrupted         Ctrl-C; for a write its outcome is unknown   exit 130

Errors from below become one of these at the edge, never a traceback:
node.errors.ConfigError becomes NoCluster or UsageError (raftctl.cluster), a
judge's HistoryError a UsageError (raftctl check). Anything else that escapes
a command is a bug and crashes loudly with its context.
"""

from __future__ import annotations

__all__ = [
    "Compacted",
    "Interrupted",
    "NoCluster",
    "RaftctlError",
    "Refused",
    "Unavailable",
    "UnknownNode",
    "UsageError",
]


class RaftctlError(Exception):
    """An error a user can cause: one line on stderr and an exit code."""

    exit_code = 1
    kind = "error"


class Compacted(RaftctlError):
    """The revision a watch asked for is older than what the store keeps."""

    kind = "compacted"


class UsageError(RaftctlError):
    """The command line asks for something that cannot be done."""

    exit_code = 2
    kind = "usage"


class Refused(UsageError):
    """The cluster refused the request as given (it was not applied)."""

    kind = "refused"


class Unavailable(RaftctlError):
    """No leader or no quorum answered within the deadline."""

    exit_code = 3
    kind = "unavailable"


class NoCluster(RaftctlError):
    """There is no cluster at the given directory."""

    exit_code = 4
    kind = "no_cluster"


class UnknownNode(RaftctlError):
    """The cluster has no such node."""

    exit_code = 4
    kind = "unknown_node"


class Interrupted(RaftctlError):
    """The user pressed Ctrl-C (SIGINT): exit 130, as a shell reports it."""

    exit_code = 130
    kind = "interrupted"
