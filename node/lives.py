"""Lives: a node's incarnation, and whether it ever held Raft state.

`<dir>/<id>/lives` (TOML) outlives the WAL on purpose:
- `incarnation` grows with every start. A leader tells a follower's answers
  from a previous life (stale) from those of a new one, whose log may be
  shorter than what it acknowledged (node.progress).
- `held_state` becomes true the first time the node persists a term, a vote
  or an entry. A node that held state and finds its WAL and snapshots empty
  has lost what it voted and acknowledged; it refuses to start as a voter
  (LostState), and `raftctl rejoin` brings it back through a membership change.
- `<dir>/<id>/rejoining`, written by `raftctl rejoin`, says that an empty
  storage is expected: the node starts with no configuration and waits for the
  leader, as a node added by `raftctl add-node` does.
"""

from __future__ import annotations

import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

__all__ = ["LIVES_FILE", "REJOINING_FILE", "Lives"]

LIVES_FILE = "lives"
REJOINING_FILE = "rejoining"


@dataclass(frozen=True, slots=True)
class Lives:
    incarnation: int = 0
    held_state: bool = False

    @classmethod
    def read(cls, node_dir: Path) -> Lives:
        """The record of earlier lives; a missing or unreadable one counts as
        none (the clock still keeps the incarnation rising)."""
        try:
            document = tomllib.loads((node_dir / LIVES_FILE).read_text())
            return cls(int(document["incarnation"]), bool(document["held_state"]))
        except (OSError, ValueError, KeyError, TypeError, tomllib.TOMLDecodeError):
            return cls()

    def next_life(self, held_state: bool) -> Lives:
        """This start: numbered above every earlier life, by the file when the
        clock stepped back and by the clock (microseconds) when the file was
        lost with the storage."""
        return Lives(max(self.incarnation + 1, time.time_ns() // 1000), held_state)

    def write(self, node_dir: Path, fsync: bool) -> None:
        """Replace the record atomically (temporary file, fsync, rename)."""
        path = node_dir / LIVES_FILE
        temporary = path.with_suffix(".tmp")
        text = tomli_w.dumps({"incarnation": self.incarnation, "held_state": self.held_state})
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode())
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        if fsync:
            directory = os.open(node_dir, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
