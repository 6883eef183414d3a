"""The verdict words every judge answers with, and the error for a history
that is not a history at all.

HistoryError (a ValueError)   malformed: an ok without its invoke, an unknown f,
│                             a cas value that is not [expected, new], ...
└── EdnError                  (raftctl.chaos.export) EDN that cannot be read back,
                              or a value EDN cannot hold

`raftctl check` turns a HistoryError into a usage error (exit 2).
"""

from __future__ import annotations

__all__ = ["INVALID", "UNKNOWN", "VALID", "HistoryError"]

VALID, INVALID, UNKNOWN = "valid", "invalid", "unknown"


class HistoryError(ValueError):
    """The history is malformed (an ok without its invoke, an unknown f, ...)."""
