"""The real key-value store as a simulated node's state machine: commands
are node.messages Commands (sessions, transactions and all) applied by
node.kv.KVStateMachine, so the simulator runs the very tables a shard keeps.

An applied command is named `client#sequence` (a session's command), or
`client#0#<hash of its bytes>` for one sent without a session (a resolver's
transaction step), which is what a simulated client waits for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from node.kv import KVStateMachine
from node.messages import Entry, EntryKind, decode_command
from raftctl.sim.machine import Applied, SimMachine

__all__ = ["KVSimMachine", "command_id"]


def command_id(client_id: str, sequence: int, data: bytes) -> str:
    if sequence:
        return f"{client_id}#{sequence}"
    return f"{client_id}#0#{hashlib.sha256(data).hexdigest()[:16]}"


class KVSimMachine(SimMachine):
    """A SimMachine whose state is a KVStateMachine (one shard's)."""

    __slots__ = ("kv",)

    def __init__(self, kv: KVStateMachine) -> None:
        super().__init__()
        self.kv = kv

    @classmethod
    def factory(cls, make_kv: Callable[[], KVStateMachine]) -> Callable[[], SimMachine]:
        return lambda: cls(make_kv())

    def apply(self, entry: Entry) -> Applied | None:
        self.applied_index = entry.index
        if entry.kind is not EntryKind.COMMAND:
            self.kv.apply(entry)
            return None
        command = decode_command(entry.data)  # once: the store takes it as it is
        result = self.kv.apply(entry, command)
        if result is None:
            return None
        self.values = self.kv.data
        return Applied(
            command_id(command.client_id, command.sequence, entry.data),
            bool(result.get("ok", True)),
            result,
        )

    def snapshot(self) -> bytes:
        return self.kv.snapshot()

    def restore(self, data: bytes) -> None:
        self.kv.restore(data)
        self.applied_index = self.kv.applied_index
        self.values = self.kv.data
