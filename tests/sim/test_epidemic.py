"""Gossip's epidemic (raftctl.sim.epidemic): one write reaches every one of
N replicas, through the real stores and push-pull steps, in O(log N)
rounds: never fewer than the (2f + 1)-fold growth allows, never more than a
small multiple of log2 N, and a few rounds more for each tenfold more."""

from __future__ import annotations

import math

from raftctl.sim.epidemic import spread


def test_a_write_reaches_every_replica_in_logarithmic_rounds() -> None:
    results = [spread(size, fanout=2, seeds=2) for size in (10, 100, 1000)]
    for result in results:
        assert all(math.floor(result.log_growth) <= r <= 2 * result.log2 for r in result.rounds)
    means = [result.mean for result in results]
    assert means == sorted(means) and means[-1] - means[0] <= 2 * math.log2(100)


def test_more_peers_per_round_spread_it_faster() -> None:
    assert spread(1000, fanout=4, seeds=2).mean < spread(1000, fanout=1, seeds=2).mean
