"""The verdict words every judge answers with, and the error for a history
that is not a history at all."""

from __future__ import annotations

__all__ = ["INVALID", "UNKNOWN", "VALID", "HistoryError"]

VALID, INVALID, UNKNOWN = "valid", "invalid", "unknown"


class HistoryError(ValueError):
    """The history is malformed (an ok without its invoke, an unknown f, ...)."""
