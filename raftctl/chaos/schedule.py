"""The chaos fault language and its schedule: what `--nemesis` means and when
each fault holds. Pure: the seed alone decides (raftctl.chaos.nemesis injects).

Rules:
- `--nemesis` is a comma-separated list of fault kinds, each with an optional
  target after a colon (`kill:leader,partition:ring,loss`); `all` is every kind
  but `byzantine`, which must be named (it needs an --insecure cluster), and
  but the kinds that need shards when the cluster has one.
  A target is a word (leader, one, minority, majority, all) or node ids joined
  by `+` (`pause:n1+n2`, `kill:s2n1+s2n3`).
- A compound fault joins kinds with `+` (`partition:majority+kill:one`):
  its parts start together, hold together and end together, as real outages
  overlap (a partition while a node is down). A `+` followed by a node id
  continues a target (`kill:n1+n2`). At most one network fault per compound
  (they would overwrite each other's faults.toml).
- The kinds come round in a seeded shuffled order, so that a run of a minute
  meets every kind; each fault holds for HOLD_S (longer than an election
  timeout) with a gap of GAP_S before the next.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from node.failpoints import FAILPOINTS
from raftctl.errors import UsageError

__all__ = [
    "GAP_S",
    "HOLD_S",
    "LEADERLESS_KINDS",
    "NEMESIS_KINDS",
    "NETWORK_KINDS",
    "NOT_IN_ALL",
    "PROCESS_TARGETS",
    "SHARD_KINDS",
    "FaultSpec",
    "ScheduledFault",
    "parse_nemesis",
    "schedule",
]

PROCESS_TARGETS = ("leader", "one", "minority", "majority", "all")
PARTITION_SHAPES = ("leader", "one", "minority", "majority", "ring", "bridge", "one-way")

# kind -> the targets it accepts (empty: it takes none) and its default target.
NEMESIS_KINDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "kill": (PROCESS_TARGETS, None),
    "pause": (PROCESS_TARGETS, None),
    "kill-leader": ((), None),
    "partition": (PARTITION_SHAPES, None),
    "delay": ((), None),
    "loss": ((), None),
    "duplicate": ((), None),
    "snapshot-storm": ((), None),
    "isolate-compact": ((), None),
    "transfer": ((), None),
    "membership": ((), None),
    "power-cut": (("majority", "all"), "majority"),
    "slow-fsync": (("leader", "one", "minority"), None),
    "failpoint": (FAILPOINTS, None),
    # Only when named, and only with --insecure (CURVE turns an impostor away).
    "byzantine": ((), None),
    # Only on a sharded cluster (raftctl.chaos.shard_faults).
    "kill-coordinator": ((), None),
    "partition-shard": ((), None),
}
# Kinds that `all` leaves out: they need a choice the run must make knowingly.
NOT_IN_ALL = ("byzantine",)
# Kinds that need several shards: in `all` only then, refused by name otherwise.
SHARD_KINDS = ("kill-coordinator", "partition-shard")

HOLD_S = (2.0, 4.0)
GAP_S = (0.5, 1.5)


NETWORK_KINDS = ("partition", "delay", "loss", "duplicate", "isolate-compact")
# The kinds that need no leader: all a gossip cluster takes, and all a
# comparison (chaos --compare) runs, so that both clusters meet one schedule.
# (Where one names the leader, a node drawn from the fault's seed stands in.)
LEADERLESS_KINDS = (
    "kill",
    "pause",
    "partition",
    "delay",
    "loss",
    "duplicate",
    "snapshot-storm",
    "power-cut",
    "slow-fsync",
)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One item of `--nemesis`: a kind and, optionally, a fixed target; `also`
    holds the other parts of a compound fault."""

    kind: str
    target: str | None = None
    also: tuple[FaultSpec, ...] = ()

    def describe(self) -> str:
        one = self.kind if self.target is None else f"{self.kind}:{self.target}"
        return "+".join([one, *(part.describe() for part in self.also)])

    @property
    def kinds(self) -> list[str]:
        return [self.kind, *(part.kind for part in self.also)]


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """A fault of the schedule: when (seconds from the start), for how long,
    what; `also` the other parts of a compound fault, held with it."""

    start_s: float
    hold_s: float
    kind: str
    target: str
    seed: int
    also: tuple[ScheduledFault, ...] = ()

    def parts(self) -> list[ScheduledFault]:
        """This fault and the ones held with it, in the order they start."""
        return [self, *self.also]

    def to_dict(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "start_s": round(self.start_s, 3),
            "hold_s": round(self.hold_s, 3),
            "kind": self.kind,
            "target": self.target,
        }
        if self.also:
            described["with"] = [{"kind": part.kind, "target": part.target} for part in self.also]
        return described


def parse_nemesis(text: str, shards: int = 1, leaderless: bool = False) -> list[FaultSpec]:
    """`kill:leader,partition,loss` -> specs for a cluster of `shards`
    (`leaderless`: only LEADERLESS_KINDS); a mistake is a UsageError."""
    specs: list[FaultSpec] = []
    left_out = NOT_IN_ALL + (SHARD_KINDS if shards == 1 else ())
    if leaderless:
        left_out += tuple(kind for kind in NEMESIS_KINDS if kind not in LEADERLESS_KINDS)
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item == "all":
            specs.extend(FaultSpec(kind) for kind in NEMESIS_KINDS if kind not in left_out)
            continue
        if item == "none":
            continue
        parts: list[list[str]] = []
        for token in item.split("+"):
            kind, _, target = token.partition(":")
            if parts and kind not in NEMESIS_KINDS and _is_node_id(token):
                parts[-1][1] += "+" + token  # kill:n1+n2: a target goes on
            else:
                parts.append([kind, target])
        first, *rest = [_spec(kind, target) for kind, target in parts]
        needing = [s.kind for s in [first, *rest] if leaderless and s.kind not in LEADERLESS_KINDS]
        if needing:
            raise UsageError(
                f"nemesis {needing[0]} needs a leader (or a log), and a gossip cluster has "
                f"none: use {', '.join(LEADERLESS_KINDS)}"
            )
        sharded = [spec.kind for spec in [first, *rest] if spec.kind in SHARD_KINDS]
        if sharded and shards == 1:
            raise UsageError(f"nemesis {sharded[0]} needs a sharded cluster (--shards 2 or more)")
        network = [spec.kind for spec in [first, *rest] if spec.kind in NETWORK_KINDS]
        if len(network) > 1:
            raise UsageError(
                f"a compound fault holds at most one network fault, not {' and '.join(network)}"
            )
        specs.append(FaultSpec(first.kind, first.target, tuple(rest)))
    return specs


def _is_node_id(token: str) -> bool:
    """`n3`, or `s2n3` on a sharded cluster."""
    return re.fullmatch(r"(s\d+)?n\d+", token) is not None


def _spec(kind: str, target: str) -> FaultSpec:
    if kind not in NEMESIS_KINDS:
        raise UsageError(f"unknown nemesis {kind!r}: use all, none or {', '.join(NEMESIS_KINDS)}")
    targets, _ = NEMESIS_KINDS[kind]
    if target:
        is_ids = kind in ("kill", "pause") and all(_is_node_id(part) for part in target.split("+"))
        if target not in targets and not is_ids:
            accepted = ", ".join(targets) if targets else "no target"
            extra = " or node ids joined by +" if kind in ("kill", "pause") else ""
            raise UsageError(f"nemesis {kind} takes {accepted}{extra}, not {target!r}")
    return FaultSpec(kind, target or None)


def schedule(
    specs: list[FaultSpec], duration_s: float, seed: int, at_once: int = 1
) -> list[ScheduledFault]:
    """The faults of a run of `duration_s`, from the seed alone; with
    `at_once` > 1 each slot joins that many kinds into one compound fault
    (distinct kinds, at most one network fault)."""
    rng = random.Random(f"nemesis-{seed}")
    faults: list[ScheduledFault] = []
    if not specs:
        return faults
    moment = rng.uniform(*GAP_S) + 1.0  # let the workload find the leader first
    order: list[FaultSpec] = []
    while True:
        if not order:
            order = list(specs)
            rng.shuffle(order)
        spec = order.pop()
        if at_once > 1:
            spec = _draw_together(spec, order, specs, at_once, rng)
        hold = rng.uniform(*HOLD_S)
        if moment + hold > duration_s - 0.5:
            break
        targets, default = NEMESIS_KINDS[spec.kind]
        target = spec.target or default or (rng.choice(targets) if targets else "")
        also = tuple(_scheduled(part, moment, hold, rng) for part in spec.also)
        faults.append(ScheduledFault(moment, hold, spec.kind, target, rng.randrange(1 << 30), also))
        moment += hold + rng.uniform(*GAP_S)
    return faults


def _scheduled(spec: FaultSpec, moment: float, hold: float, rng: random.Random) -> ScheduledFault:
    targets, default = NEMESIS_KINDS[spec.kind]
    target = spec.target or default or (rng.choice(targets) if targets else "")
    return ScheduledFault(moment, hold, spec.kind, target, rng.randrange(1 << 30))


def _draw_together(
    first: FaultSpec,
    order: list[FaultSpec],
    specs: list[FaultSpec],
    at_once: int,
    rng: random.Random,
) -> FaultSpec:
    """`first` and the next specs of the shuffled order that can hold with it,
    as one compound; what cannot join waits for a later slot."""
    parts = [first, *first.also]
    waiting: list[FaultSpec] = []
    for _ in range(4 * len(specs)):  # bounded: a list may not hold enough kinds
        if len(parts) >= at_once:
            break
        if not order:
            order.extend(specs)
            rng.shuffle(order)
        candidate = order.pop()
        kinds = [part.kind for part in parts]
        joined = [*kinds, *candidate.kinds]
        networks = [kind for kind in joined if kind in NETWORK_KINDS]
        if len(set(joined)) < len(joined) or len(networks) > 1:
            waiting.append(candidate)
            continue
        parts.extend([FaultSpec(candidate.kind, candidate.target), *candidate.also])
    order.extend(reversed(waiting))
    head, *rest = parts
    return FaultSpec(head.kind, head.target, tuple(rest))
