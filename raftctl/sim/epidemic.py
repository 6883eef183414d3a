"""The epidemic: how many anti-entropy rounds one write takes to reach every
one of N replicas, against the theory's O(log N), for N up to tens of
thousands (`raftctl sim --epidemic 10,100,1000,10000`).

The replicas are real stores (node.gossip.store) exchanging by the real
push-pull steps (node.gossip.anti_entropy); what is left out is what does
not bear on the spread: SWIM (every replica is alive and knows every other;
membership of 10,000 would cost 10^8 entries), the network's delay and
loss, and the clock.

Rounds are synchronous, as in the analyses: in each round every replica
opens an exchange with FANOUT peers drawn at random, and a replica learns
the write in a round only from a peer that held it when the round began.
For push-pull with one peer per round, Karp et al. (2000) give
log3 N + O(log log N) rounds; with f peers the early phase grows about
(2f + 1)-fold a round, so log_(2f+1) N is printed beside log2 N.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from node.gossip import anti_entropy
from node.gossip.crdt import Stamp
from node.gossip.store import Store

__all__ = ["Spread", "spread"]

ROUNDS_MAX = 200


@dataclass(frozen=True, slots=True)
class Spread:
    replicas: int
    fanout: int
    seeds: int
    rounds: list[int]  # one per seed
    exchanges: int  # exchanges that moved the write, over every seed

    @property
    def mean(self) -> float:
        return sum(self.rounds) / len(self.rounds)

    @property
    def log2(self) -> float:
        return math.log2(self.replicas)

    @property
    def log_growth(self) -> float:
        return math.log(self.replicas, 2 * self.fanout + 1)

    def to_dict(self) -> dict[str, object]:
        return {
            "replicas": self.replicas,
            "fanout": self.fanout,
            "seeds": self.seeds,
            "rounds": self.rounds,
            "mean_rounds": round(self.mean, 2),
            "log2_n": round(self.log2, 2),
            f"log{2 * self.fanout + 1}_n": round(self.log_growth, 2),
            "exchanges_moving_the_write": self.exchanges,
        }


def spread(replicas: int, fanout: int = 2, seeds: int = 3) -> Spread:
    """Rounds for one write to reach all `replicas`, for seeds 1..`seeds`."""
    if replicas < 2 or fanout < 1 or seeds < 1:
        raise ValueError("need at least 2 replicas, a fanout and a seed")
    rounds, moved = [], 0
    for seed in range(1, seeds + 1):
        taken, exchanges = _one(replicas, fanout, random.Random(seed))
        rounds.append(taken)
        moved += exchanges
    return Spread(replicas, fanout, seeds, rounds, moved)


def _one(replicas: int, fanout: int, rng: random.Random) -> tuple[int, int]:
    stores = [Store() for _ in range(replicas)]
    origin = rng.randrange(replicas)
    stores[origin].write("k", "v", Stamp(1, 0, f"n{origin}"))
    holders = {origin}
    moved = 0
    for number in range(1, ROUNDS_MAX + 1):
        at_start = frozenset(holders)
        for opener in range(replicas):
            for peer in _peers(rng, replicas, opener, fanout):
                if (opener in at_start) == (peer in at_start):
                    continue  # both or neither held it when the round began: nothing moves
                _exchange(stores[opener], stores[peer])
                holders.update((opener, peer))
                moved += 1
        if len(holders) == replicas:
            missing = [i for i, store in enumerate(stores) if store.get("k") is None]
            assert not missing, f"replicas {missing[:5]} were counted but never merged the write"
            return number, moved
    raise AssertionError(f"the write had not reached {replicas} replicas in {ROUNDS_MAX} rounds")


def _peers(rng: random.Random, replicas: int, opener: int, fanout: int) -> list[int]:
    chosen: set[int] = set()
    while len(chosen) < min(fanout, replicas - 1):
        peer = rng.randrange(replicas)
        if peer != opener:
            chosen.add(peer)
    return sorted(chosen)


def _exchange(opener: Store, peer: Store) -> None:
    """One push-pull exchange, by the replica's own three steps."""
    pushed, want = anti_entropy.on_digest(peer, anti_entropy.digest(opener))
    _, pulled = anti_entropy.on_items(opener, pushed, want)
    anti_entropy.on_items(peer, pulled, ())
