"""The transactions swarm: bank transfers across simulated shards (real Raft
cores, the real store and its transaction tables, the real coordinator's
protocol), with coordinators crashing and stalling between phases, cuts
between coordinators or resolvers and shards, and Raft faults inside shards.
Every seed must keep the bank's total, serializability and atomicity; every
broken protocol (txn_mutants.py) must be caught."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from raftctl.sim.txn_swarm import draw_options, run_txn_seed
from tests.sim.txn_mutants import CommitsBeforeTheRecord, DecidesAlone, ReleasesLocksAtPrepare

SEEDS = range(1, 5)
MUTANT_SEEDS = range(1, 11)


def test_every_seed_keeps_the_bank_and_atomicity() -> None:
    results = [run_txn_seed(seed) for seed in SEEDS]
    failed = [(r.options.describe(), r.failure) for r in results if not r.ok]
    assert not failed, failed
    # The seeds did what they are for: transactions committed across shards,
    # coordinators died between phases, and resolvers finished what they left.
    assert sum(r.committed for r in results) > 30
    assert sum(r.coordinators_crashed for r in results) > 10
    assert sum(r.resolved for r in results) > 10
    assert sum(r.transfers_ok for r in results) > 30
    assert {r.options.shards for r in results} == {2, 3}


def test_a_seed_replays_bit_for_bit() -> None:
    short = replace(draw_options(5), duration_ms=1500)
    first, again = run_txn_seed(5, short), run_txn_seed(5, short)
    assert (first.committed, first.aborted, first.resolved, first.stats) == (
        again.committed,
        again.aborted,
        again.resolved,
        again.stats,
    )
    assert first.options == again.options == short and first.committed > 0


@pytest.mark.parametrize(
    ("mutant", "kinds"),
    [
        ("a participant that releases its locks at prepare", {"make_kv": ReleasesLocksAtPrepare}),
        ("a coordinator that commits before the record", {"attempt_class": CommitsBeforeTheRecord}),
        ("a participant that decides alone after its timeout", {"resolver_class": DecidesAlone}),
    ],
)
def test_every_broken_protocol_is_caught(mutant: str, kinds: dict[str, Any]) -> None:
    for seed in MUTANT_SEEDS:
        result = run_txn_seed(seed, **kinds)
        if not result.ok:
            assert "HistoryViolation" in (result.failure or ""), result.failure
            return
    pytest.fail(f"{mutant}: not caught in seeds {MUTANT_SEEDS.start}..{MUTANT_SEEDS.stop - 1}")
