"""faults.toml: the network faults in force, and the filter that applies them.

Rules:
- The controller is the only writer, atomically (temp file, rename), with a
  version that grows. Nodes re-read the file when it changes (and at start), so
  a node paused while faults changed catches up as soon as it runs again.
- Only node-to-node traffic is filtered; clients and the controller always
  get through. A node filters both what it sends and what it receives, so a
  fault holds even while one side has not yet re-read the file.
- Every decision is counted per peer (`counts`: sent, cut, lost,
  duplicated, delayed, and cut on receive), so that a fault is shown to have
  happened, and how much (the loss rate observed against the one asked for),
  not assumed; status reports them and chaos compares them across a fault.
- Partition groups: nodes of one group reach each other; nodes named in no
  group form one more group. A link rule with `drop = 1.0` is a cut of those
  links alone: one-way, or non-transitive (a ring, a bridge).

    version = 3
    partition = [["n1", "n2"], ["n3", "n4", "n5"]]
    [[links]]
    from = ["n1"]
    to = ["n2", "n3"]
    drop = 0.1           # probability
    delay_ms = 50
    jitter_ms = 10
    duplicate = 0.05     # probability
"""

from __future__ import annotations

import os
import random
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from node.config import write_private

__all__ = ["FaultFilter", "Faults", "LinkCounts", "LinkFault", "load_faults", "save_faults"]


@dataclass(frozen=True, slots=True)
class LinkFault:
    """Trouble on the links from every node of `sources` to every one of `targets`."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    drop: float = 0.0
    delay_ms: int = 0
    jitter_ms: int = 0
    duplicate: float = 0.0


@dataclass(frozen=True, slots=True)
class Faults:
    """Everything in faults.toml."""

    version: int = 0
    partition: tuple[tuple[str, ...], ...] = ()
    links: tuple[LinkFault, ...] = field(default_factory=tuple)

    def group_of(self, node_id: str, all_ids: Sequence[str]) -> list[str]:
        """The sorted ids `node_id` can reach (itself included)."""
        if not self.partition:
            return sorted(all_ids)
        for group in self.partition:
            if node_id in group:
                return sorted(group)
        named = {member for group in self.partition for member in group}
        return sorted(n for n in all_ids if n not in named)


def load_faults(path: Path) -> Faults:
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return Faults()
    links = tuple(
        LinkFault(
            tuple(link["from"]),
            tuple(link["to"]),
            float(link.get("drop", 0.0)),
            int(link.get("delay_ms", 0)),
            int(link.get("jitter_ms", 0)),
            float(link.get("duplicate", 0.0)),
        )
        for link in document.get("links", [])
    )
    partition = tuple(tuple(group) for group in document.get("partition", []))
    return Faults(int(document.get("version", 0)), partition, links)


def save_faults(path: Path, faults: Faults) -> None:
    document = {
        "version": faults.version,
        "partition": [list(group) for group in faults.partition],
        "links": [
            {
                "from": list(link.sources),
                "to": list(link.targets),
                "drop": link.drop,
                "delay_ms": link.delay_ms,
                "jitter_ms": link.jitter_ms,
                "duplicate": link.duplicate,
            }
            for link in faults.links
        ],
    }
    temporary = path.with_suffix(".toml.tmp")
    write_private(temporary, tomli_w.dumps(document))
    os.replace(temporary, path)


@dataclass(slots=True)
class LinkCounts:
    """What the filter did to the messages between this node and one peer."""

    sent: int = 0  # messages this node tried to send the peer
    cut: int = 0  # ... dropped by a partition or a cut link
    lost: int = 0  # ... dropped by a lossy link
    duplicated: int = 0  # ... sent twice
    delayed: int = 0  # ... held back by a delay
    received_cut: int = 0  # messages from the peer dropped on receipt (a cut)

    def to_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "cut": self.cut,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "delayed": self.delayed,
            "received_cut": self.received_cut,
        }


class FaultFilter:
    """Decides the fate of each node-to-node message for one node, and counts it."""

    def __init__(
        self, node_id: str, all_ids: Sequence[str], path: Path, rng: random.Random | None = None
    ) -> None:
        self.node_id = node_id
        self.all_ids = tuple(all_ids)
        self.path = path
        self.rng = rng or random.Random()
        self.faults = Faults()
        self._stamp: tuple[int, int] | None = None
        self._groups: dict[str, int] = {}
        self._cut: set[tuple[str, str]] = set()
        self.counts: dict[str, LinkCounts] = {}
        self.reload()

    def count(self, peer: str) -> LinkCounts:
        counts = self.counts.get(peer)
        if counts is None:
            counts = self.counts[peer] = LinkCounts()
        return counts

    def admits(self, source: str) -> bool:
        """The receive side: a message from `source` gets through unless cut."""
        if self.connected(source, self.node_id):
            return True
        self.count(source).received_cut += 1
        return False

    def reload(self, force: bool = False) -> bool:
        """Re-read faults.toml if it changed; True when the faults changed."""
        try:
            status = self.path.stat()
            stamp = (status.st_mtime_ns, status.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp == self._stamp and not force:
            return False
        self._stamp = stamp
        faults = load_faults(self.path)
        if faults == self.faults:
            return False
        self.faults = faults
        self._groups = {}
        for number, group in enumerate(faults.partition):
            for member in group:
                self._groups[member] = number
        # Links that drop everything are cuts, one-way or not (ring, bridge):
        # both ends enforce them, like a partition.
        self._cut = {
            (source, target)
            for link in faults.links
            if link.drop >= 1.0
            for source in link.sources
            for target in link.targets
        }
        return True

    def connected(self, source: str, target: str) -> bool:
        if self._cut and (source, target) in self._cut:
            return False
        if not self.faults.partition:
            return True
        unnamed = len(self.faults.partition)
        return self._groups.get(source, unnamed) == self._groups.get(target, unnamed)

    def delays_ms(self, source: str, target: str) -> list[float]:
        """When copies of a message from `source` to `target` should leave:
        [] (lost), [0.0] (now), or delays, two of them when duplicated."""
        counts = self.count(target)
        counts.sent += 1
        if not self.connected(source, target):
            counts.cut += 1
            return []
        delays = [0.0]
        for link in self.faults.links:
            if source in link.sources and target in link.targets:
                if link.drop and self.rng.random() < link.drop:
                    counts.lost += 1
                    return []
                if link.duplicate and self.rng.random() < link.duplicate:
                    delays.append(0.0)
                    counts.duplicated += 1
                if link.delay_ms or link.jitter_ms:
                    delays = [
                        delay
                        + max(
                            0.0, link.delay_ms + self.rng.uniform(-link.jitter_ms, link.jitter_ms)
                        )
                        for delay in delays
                    ]
        if delays[0] > 0:
            counts.delayed += 1
        return delays
