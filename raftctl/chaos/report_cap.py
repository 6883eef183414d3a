"""What a report says of CAP (raftctl.chaos.cap_checks): a check the run's
protocol never promised to pass, said in plain words, and each partition's
availability by side."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["NOT_PROMISED", "not_promised_note", "sides_section"]

# What a check a protocol never promised to pass says (gossip's linearizability
# and its lost writes), by checker.
NOT_PROMISED = {
    "linearizability": "as expected: an available store answers from each replica's own "
    "state, so reads go stale and concurrent writes race; this is the price of availability",
    "lost-writes": "not promised: last-writer-wins keeps the later stamp of two writes, and "
    "the other is gone once the replicas meet",
}


def not_promised_note(check: dict[str, Any]) -> str:
    """What to say of a check marked expected to fail ("" for any other)."""
    if not (check.get("details") or {}).get("expected_to_fail"):
        return ""
    return NOT_PROMISED.get(check.get("checker", ""), "not promised by this protocol")


def sides_section(results: dict[str, Any]) -> str:
    """Availability on each side of every partition (homed clients' runs)."""
    partitions = (results.get("availability") or {}).get("by_side") or []
    if not partitions:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(p['fault'])}</td><td>{p['start_s']:g}-{p['end_s']:g} s</td>"
        f"<td>{html.escape(','.join(side['nodes']))}</td><td>{side['ok_per_s']}</td>"
        f"<td>{side['ok']} ok, {side['fail']} fail, {side['info']} info</td></tr>"
        for p in partitions
        for side in p["sides"]
    )
    return (
        "<h2>Availability on each side of every partition</h2>"
        "<p>Clients live beside their nodes: in a partition each reaches only its own side.</p>"
        '<table id="sides"><thead><tr><th>partition</th><th>window</th><th>side</th>'
        f"<th>ok/s</th><th>operations</th></tr></thead><tbody>{rows}</tbody></table>"
    )
