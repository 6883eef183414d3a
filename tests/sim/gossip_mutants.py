"""Deliberately broken gossip replicas: the gossip swarm must catch each
(tests/sim/test_gossip_swarm.py), or it could not see the rule broken."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, ClassVar

from node.gossip.core import GossipCore, GossipOptions
from node.gossip.digest import bucket_of
from node.gossip.store import Item, Store


class _LastReceivedWins(Store):
    """A merge that is not commutative: whatever arrives last replaces what
    is here, whatever its stamp."""

    def merge(self, items: Iterable[Item]) -> list[Item]:
        changed = []
        for item in items:
            if item.register is not None and self.registers.get(item.key) != item.register:
                old = self.registers.get(item.key)
                self.registers[item.key] = item.register
                self.digest.change(f"r:{item.key}", old, item.register)
                changed.append(item)
            elif item.members is not None:
                changed += super().merge([item])
        return changed


class _SkipsABucket(Store):
    """A digest exchange that never sends the keys of one bucket."""

    def items_in(self, buckets: Iterable[int]) -> list[Item]:
        return [
            item
            for item in super().items_in(buckets)
            if bucket_of(f"{item.kind}:{item.key}") != bucket_of("r:k0")
        ]


class _Mutant(GossipCore):
    store_class: ClassVar[type[Store]] = Store
    option_changes: ClassVar[dict[str, Any]] = {}

    def __init__(self, node_id: str, peers: Iterable[str], rng: random.Random,
                 options: GossipOptions | None = None, recovered: Iterable[Item] = (),
                 incarnation: int = 0, start_ms: int = 0) -> None:  # fmt: skip
        recovered = list(recovered)
        changed = replace(options or GossipOptions(), **self.option_changes)
        super().__init__(node_id, peers, rng, changed, recovered, incarnation, start_ms)
        self.store = self.store_class()
        self.store.merge(recovered)


class NonCommutativeMerge(_Mutant):
    """The last item received wins, not the last written."""

    store_class: ClassVar[type[Store]] = _LastReceivedWins


class DigestSkipsABucket(_Mutant):
    """Anti-entropy leaves one bucket's keys behind."""

    store_class: ClassVar[type[Store]] = _SkipsABucket


class TombstonesExpireAtOnce(_Mutant):
    """A delete's tombstone is dropped before it has spread: a replica that
    missed the delete brings the value back."""

    option_changes: ClassVar[dict[str, Any]] = {"tombstone_ttl_ms": 0, "expire_every_ticks": 1}


class NeverGossipsToTheDead(_Mutant):
    """Two sides of a healed partition that declared each other dead stay apart.
    (Caught by tests/unit/test_gossip_core.py's directed partition: the
    swarm's restarts, whose fresh incarnations spread, bridge the two sides
    too often for its seeds to catch it.)"""

    option_changes: ClassVar[dict[str, Any]] = {"reconnect_probability": 0.0}


GOSSIP_MUTANTS: tuple[type[GossipCore], ...] = (
    NonCommutativeMerge,
    DigestSkipsABucket,
    TombstonesExpireAtOnce,
)
