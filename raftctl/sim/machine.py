"""SimMachine: the simulated nodes' state machine, registers for the history.

Rules:
- A command is `op_id|w|key|value` (write) or `op_id|c|key|expected|new`
  (compare-and-set; an empty expected means the key is absent). Anything else
  (the swarm's plain values, no-ops, membership entries) changes nothing.
- An op_id applies once: a command proposed again after a lost answer is a
  duplicate and does nothing, as a client session would ensure.
- Every node applies the same commands in the same order, so every node
  computes the same result; the first application anywhere answers the client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from node.messages import Entry, EntryKind

__all__ = ["Applied", "SimMachine", "cas_command", "write_command"]


@dataclass(frozen=True, slots=True)
class Applied:
    """What one command did: `ok` False for a cas whose comparison failed;
    `result` the key-value store's answer (raftctl.sim.kv_machine)."""

    op_id: str
    ok: bool
    result: dict[str, Any] | None = None


def write_command(op_id: str, key: str, value: str) -> bytes:
    return f"{op_id}|w|{key}|{value}".encode()


def cas_command(op_id: str, key: str, expected: str | None, new: str) -> bytes:
    return f"{op_id}|c|{key}|{expected or ''}|{new}".encode()


class SimMachine:
    """Registers, with the set of op_ids applied so far."""

    __slots__ = ("applied_index", "done", "values")

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.done: set[str] = set()
        self.applied_index = 0

    def apply(self, entry: Entry) -> Applied | None:
        self.applied_index = entry.index
        if entry.kind is not EntryKind.COMMAND or b"|" not in entry.data:
            return None
        fields = entry.data.decode().split("|")
        op_id = fields[0]
        if op_id in self.done:
            return None
        self.done.add(op_id)
        if fields[1] == "w":
            self.values[fields[2]] = fields[3]
            return Applied(op_id, True)
        key, expected, new = fields[2], fields[3] or None, fields[4]
        if self.values.get(key) != expected:
            return Applied(op_id, False)
        self.values[key] = new
        return Applied(op_id, True)

    def snapshot(self) -> bytes:
        return json.dumps(
            [self.applied_index, self.values, sorted(self.done)], separators=(",", ":")
        ).encode()

    def restore(self, data: bytes) -> None:
        applied_index, values, done = json.loads(data)
        self.applied_index, self.values, self.done = applied_index, values, set(done)
