"""What a chaos fault did: the evidence each one records, and the verdict
on it (raftctl.chaos.nemesis writes `no_effect` from `effect_missing`).

Rules:
- Measured, not assumed: process faults record the targets seen down and
  back, network faults what the nodes' fault filters counted while they held
  (`observed`, node.faults counters per node and process, so a node restarted
  in the window starts from zero), the others what they did.
- A fault that took no effect says why; one that was skipped already says why.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from raftctl.controller import Controller

__all__ = ["LINK_COUNTERS", "LinkTotals", "effect_missing", "link_totals", "observed"]

LINK_COUNTERS = ("sent", "cut", "lost", "duplicated", "delayed", "received_cut")
# What each network trouble asked for must show in its counter.
ASKED = {"drop": "lost", "duplicate": "duplicated", "delay_ms": "delayed"}


def effect_missing(kind: str, detail: dict[str, Any]) -> str | None:
    """Why a fault that ended took no effect, from what it recorded; None when
    it did."""
    if detail.get("skipped"):
        return None  # it says why already
    nodes = detail.get("nodes") or []
    seen = detail.get("observed") or {}
    if kind in ("partition", "partition-shard") and not (
        seen.get("cut") or seen.get("received_cut")
    ):
        return "no message was cut"
    if kind in ("delay", "loss", "duplicate"):
        missing = [word for name, word in ASKED.items() if detail.get(name) and not seen.get(word)]
        if missing:
            return f"no message was {' or '.join(missing)}"
    if kind in ("kill", "pause"):
        if sorted(detail.get("down", [])) != sorted(nodes):
            return f"not every target was seen {'paused' if kind == 'pause' else 'stopped'}"
        if sorted(detail.get("back", [])) != sorted(nodes):
            return "not every target was seen running again"
    checks = {
        "kill-leader": (bool(nodes), "no leader was killed"),
        "snapshot-storm": (bool(detail.get("snapshots")), "no snapshot was taken"),
        "transfer": (bool(detail.get("transfers")), "no transfer completed"),
        "membership": (
            bool(detail.get("removed")) and bool(detail.get("added")),
            "the configuration did not change both ways",
        ),
        "isolate-compact": (
            detail.get("caught_up_by_snapshot") is True,
            "the node did not catch up by snapshot"
            if detail.get("compacted_at")
            else "the others never compacted past the cut-off node",
        ),
        "failpoint": (bool(detail.get("crashed")), "the failpoint was never reached"),
        "power-cut": (
            sorted(detail.get("back", [])) == sorted(nodes),
            "not every victim was seen restarted",
        ),
        "slow-fsync": (
            sorted(detail.get("slowed", [])) == sorted(nodes),
            "not every victim reported its slow fsync",
        ),
        "byzantine": (
            bool((detail.get("sent") or {}).get("inflated")),
            "the impostor sent nothing",
        ),
        "kill-coordinator": (
            bool(detail.get("coordinators")),
            "no transaction across shards began while it was armed",
        ),
    }
    took_effect, why = checks.get(kind, (True, ""))
    return None if took_effect else why


LinkTotals = dict[tuple[str, Any], Counter[str]]


def link_totals(control: Controller) -> LinkTotals:
    """Each running node's fault-filter counts (node.faults), by node and pid:
    a node restarted in between starts counting from zero again."""
    totals: LinkTotals = {}
    for row in control.status()["nodes"]:
        counts: Counter[str] = Counter()
        for peer_counts in (row.get("links") or {}).values():
            counts.update(peer_counts)
        totals[(row["id"], row["pid"])] = counts
    return totals


def observed(before: LinkTotals, after: LinkTotals) -> dict[str, Any]:
    """What the filters did between two counts: messages and rates."""
    moved: Counter[str] = Counter()
    for node, counts in after.items():
        base = before.get(node, Counter())
        for name in LINK_COUNTERS:
            moved[name] += max(0, counts[name] - base[name])
    seen: dict[str, Any] = {name: moved[name] for name in LINK_COUNTERS}
    sent = seen["sent"]
    seen["lost_rate"] = round(seen["lost"] / sent, 3) if sent else None
    seen["duplicated_rate"] = round(seen["duplicated"] / sent, 3) if sent else None
    return seen
