"""The transactions judge: atomicity across shards, from what each shard
remembers of how its transactions finished (node.transactions' finished
table, as the Transactions admin request or the simulator reads it).

A transaction is atomic when every shard that finished it finished it the
same way (a read-only one, "released", agrees with any ending: it wrote
nothing), and when one committed anywhere finished committed on every
participant shard it named, unless that shard's memory is full (it forgets
the oldest past a bound, `remembered_max`: such shards are not judged).
Isolation is the bank checker's: it steps every transfer from the balances
it compared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from raftctl.judges.verdicts import INVALID, VALID

__all__ = ["AtomicityResult", "check_atomicity"]


@dataclass(slots=True)
class AtomicityResult:
    verdict: str
    committed: int
    aborted: int
    read_only: int
    broken: list[dict[str, Any]] = field(default_factory=list)

    def explain(self) -> str:
        if self.broken:
            first = self.broken[0]
            return (
                f"{len(self.broken)} transactions not atomic across shards (first: "
                f"{first['txn']}, {first['why']}: {first['outcomes']})"
            )
        return (
            f"{self.committed} committed and {self.aborted} aborted transactions each "
            f"finished alike on every shard ({self.read_only} read-only ones released)"
        )


def check_atomicity(
    finished: Mapping[int, Mapping[str, list[Any]]], remembered_max: int | None = None
) -> AtomicityResult:
    """`finished`: shard -> {txn id: [outcome, participant shards]}; a shard
    that remembers `remembered_max` transactions may have forgotten some."""
    full = frozenset(
        shard
        for shard, table in finished.items()
        if remembered_max is not None and len(table) >= remembered_max
    )
    outcomes: dict[str, dict[int, str]] = defaultdict(dict)
    participants: dict[str, set[int]] = defaultdict(set)
    for shard, table in finished.items():
        for txn, (outcome, shards) in table.items():
            outcomes[txn][shard] = outcome
            participants[txn].update(shards)
    broken: list[dict[str, Any]] = []
    for txn, by_shard in outcomes.items():
        kinds = set(by_shard.values()) - {"released"}
        if len(kinds) > 1:
            broken.append({"txn": txn, "outcomes": by_shard, "why": "finished differently"})
        elif kinds == {"committed"}:
            missing = sorted(participants[txn] - set(by_shard) - full)
            if missing:
                broken.append(
                    {"txn": txn, "outcomes": by_shard, "why": f"not finished on {missing}"}
                )

    def count(kind: str) -> int:
        return sum(1 for by_shard in outcomes.values() if set(by_shard.values()) == {kind})

    return AtomicityResult(
        INVALID if broken else VALID,
        count("committed"),
        count("aborted"),
        count("released"),
        broken,
    )
