"""Snapshots on the wire: a leader streams its snapshot file to a follower
as InstallSnapshot chunks; the follower assembles them.

Rules:
- A few chunks per stream per loop turn (1 MiB), so heartbeats keep flowing
  while a large snapshot goes out.
- A stream ends when it is sent, or when its sender stops leading in its term.
- The follower hands the core one InstallSnapshot holding the whole data once
  the last chunk is in. A chunk out of order voids the assembly; the leader's
  core sends the snapshot again after an election timeout.
- An assembly holds at most SNAPSHOT_BYTES_MAX (by default): a stream that claims more is
  refused (InvalidMessage), so a sender cannot grow a follower without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from node.errors import InvalidMessage
from node.messages import InstallSnapshot, SnapshotMeta

__all__ = [
    "SNAPSHOT_BYTES_MAX",
    "SNAPSHOT_CHUNKS_PER_TURN",
    "SNAPSHOT_CHUNK_BYTES",
    "SnapshotStreams",
]

SNAPSHOT_BYTES_MAX = 1 << 30  # far above this laboratory's state machines
SNAPSHOT_CHUNK_BYTES = 256 << 10
SNAPSHOT_CHUNKS_PER_TURN = 4  # 1 MiB a turn: heartbeats are never far behind

Send = Callable[[InstallSnapshot], None]


@dataclass(slots=True)
class _Outgoing:
    """A snapshot going out to one follower, chunk by chunk."""

    term: int
    meta: SnapshotMeta
    data: bytes
    offset: int = 0


@dataclass(slots=True)
class _Incoming:
    """A snapshot coming in from the leader; `key` names the stream."""

    key: tuple[str, int, int, int]
    chunks: list[bytes]
    size: int


class SnapshotStreams:
    """The snapshots one node is sending, and the one it is receiving."""

    def __init__(self, node_id: str, send: Send, bytes_max: int = SNAPSHOT_BYTES_MAX) -> None:
        self.node_id = node_id
        self._send = send
        self._bytes_max = bytes_max
        self.outgoing: dict[str, _Outgoing] = {}
        self.incoming: _Incoming | None = None

    def start(self, peer: str, term: int, meta: SnapshotMeta, data: bytes) -> None:
        """Stream `data` to `peer` as the leader of `term` (restarts any stream to it)."""
        self.outgoing[peer] = _Outgoing(term, meta, data)

    def pump(self, term: int, leading: bool) -> None:
        """Send the next chunks of every stream still wanted."""
        for peer, stream in list(self.outgoing.items()):
            if stream.term != term or not leading:
                del self.outgoing[peer]
                continue
            for _ in range(SNAPSHOT_CHUNKS_PER_TURN):
                chunk = stream.data[stream.offset : stream.offset + SNAPSHOT_CHUNK_BYTES]
                done = stream.offset + len(chunk) >= len(stream.data)
                self._send(
                    InstallSnapshot(
                        stream.term, self.node_id, peer, stream.meta, stream.offset, chunk, done
                    )
                )
                stream.offset += len(chunk)
                if done:
                    del self.outgoing[peer]
                    break

    def receive(self, chunk: InstallSnapshot) -> InstallSnapshot | None:
        """Take one chunk; the whole snapshot once its last chunk is in.
        Raises InvalidMessage for a stream larger than SNAPSHOT_BYTES_MAX."""
        key = (chunk.src, chunk.term, chunk.meta.index, chunk.meta.term)
        assembly = self.incoming
        if chunk.offset == 0:
            assembly = self.incoming = _Incoming(key, [], 0)
        if assembly is None or assembly.key != key or assembly.size != chunk.offset:
            self.incoming = None
            return None
        if assembly.size + len(chunk.data) > self._bytes_max:
            self.incoming = None
            raise InvalidMessage(f"a snapshot stream over {self._bytes_max} bytes")
        assembly.chunks.append(chunk.data)
        assembly.size += len(chunk.data)
        if not chunk.done:
            return None
        self.incoming = None
        data = b"".join(assembly.chunks)
        return InstallSnapshot(chunk.term, chunk.src, chunk.dst, chunk.meta, 0, data, True)
