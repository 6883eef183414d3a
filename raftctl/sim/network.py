"""SimNetwork: a seeded network that drops, duplicates, delays and reorders
messages, cuts links (partitions, one-way links, non-transitive bridges) and
slows chosen links down.

Rule: a link is cut per direction, so every partition shape is a set of cut
(src, dst) pairs. A message is filtered when it is sent and again when it
arrives, as the real node's fault filter does on both ends.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["NetworkOptions", "SimNetwork"]


@dataclass(frozen=True, slots=True)
class NetworkOptions:
    """The fault mix of one simulated network."""

    delay_ms_min: int = 1
    delay_ms_max: int = 10
    drop_probability: float = 0.0
    duplicate_probability: float = 0.0
    # A few messages take much longer: this is what reorders them.
    slow_probability: float = 0.0
    slow_delay_ms_max: int = 200
    # Votes and their answers alone may be slow too: the late votes of a
    # term the receiver has left, while the rest of the traffic flows.
    vote_slow_probability: float = 0.0

    def describe(self) -> str:
        votes = self.vote_slow_probability
        return (
            f"delay={self.delay_ms_min}-{self.delay_ms_max}ms drop={self.drop_probability:.2f} "
            f"duplicate={self.duplicate_probability:.2f} slow={self.slow_probability:.2f}"
            f"(<={self.slow_delay_ms_max}ms)" + (f" slow-votes={votes:.2f}" if votes else "")
        )


class SimNetwork:
    """Decides for each message whether, when and how often it arrives."""

    def __init__(self, rng: random.Random, options: NetworkOptions) -> None:
        self._rng = rng
        self.options = options
        self._cut: set[tuple[str, str]] = set()
        # Links that still carry messages, but late: (src, dst) -> longest delay.
        self._slow: dict[tuple[str, str], int] = {}
        # Bumped by every heal and partition: a cut planned for later checks
        # that the network is still the one it was planned for.
        self.epoch = 0

    def delays_ms(self, src: str, dst: str, vote: bool = False) -> list[int]:
        """Delivery delays for one message (`vote`: a RequestVote or its
        answer): none (lost), one, or two (duplicated)."""
        if (src, dst) in self._cut:
            return []
        options = self.options
        rng = self._rng
        if options.drop_probability and rng.random() < options.drop_probability:
            return []
        copies = (
            2
            if options.duplicate_probability and (rng.random() < options.duplicate_probability)
            else 1
        )
        delays = []
        slow_link_ms = self._slow.get((src, dst)) if self._slow else None
        for _ in range(copies):
            slow = options.vote_slow_probability if vote else 0.0
            if slow_link_ms is not None:
                delays.append(rng.randint(options.delay_ms_max, slow_link_ms))
            elif (slow and rng.random() < slow) or (
                options.slow_probability and rng.random() < options.slow_probability
            ):
                delays.append(rng.randint(options.delay_ms_max, options.slow_delay_ms_max))
            else:
                delays.append(rng.randint(options.delay_ms_min, options.delay_ms_max))
        return delays

    def connected(self, src: str, dst: str) -> bool:
        return (src, dst) not in self._cut

    def cut(self, links: Iterable[tuple[str, str]]) -> None:
        self._cut.update(links)

    def slow_down(self, links: Iterable[tuple[str, str]], delay_ms_max: int) -> None:
        """Every message on `links` takes up to `delay_ms_max` (until healed)."""
        self._slow.update(dict.fromkeys(links, delay_ms_max))

    def partition(self, groups: list[list[str]]) -> None:
        """Only nodes of one group reach each other."""
        self.epoch += 1
        self._cut.clear()
        self._slow.clear()
        for group in groups:
            for other in groups:
                if other is not group:
                    self._cut.update((a, b) for a in group for b in other)

    def restore(self, links: Iterable[tuple[str, str]]) -> None:
        self._cut.difference_update(links)

    def heal(self) -> None:
        self.epoch += 1
        self._cut.clear()
        self._slow.clear()

    def set_options(self, options: NetworkOptions) -> None:
        self.options = options

    def cut_links(self) -> list[tuple[str, str]]:
        return sorted(self._cut)
