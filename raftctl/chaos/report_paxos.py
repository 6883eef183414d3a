"""The Paxos part of a chaos report: how the ballots climbed, beside the
timeline (a duel shows as a steep climb and a flat write rate; its cure as
a few steps), and what leadership did.

The figures come from results.json: the monitor's samples of the highest
ballot any node promised (`leaders`, raftctl.chaos.run), the `progress`
check of the dueling control and `availability.leadership`
(raftctl.chaos.dueling).
"""

from __future__ import annotations

import html
from typing import Any, Protocol

from raftctl.chaos.dueling import ballot_text

__all__ = ["ballots_section"]

PLOT_H = 90


class Scale(Protocol):
    start: int
    end: int

    def x(self, moment: float) -> float: ...

    def seconds(self, moment: float) -> float: ...


def ballots_section(results: dict[str, Any], scale: Scale) -> str:
    samples = [s for s in results.get("leaders") or [] if s.get("ballot")]
    leadership = (results.get("availability") or {}).get("leadership") or {}
    progress = next(
        (c for c in results.get("checks") or [] if c.get("checker") == "progress"), None
    )
    lines = []
    if samples:
        first, last = samples[0]["ballot"], samples[-1]["ballot"]
        lines.append(
            f"The highest ballot any node promised went from {ballot_text(first)} to "
            f"{ballot_text(last)}: {last // 1000 - first // 1000} rounds."
        )
    if leadership:
        lines.append(
            f"Leadership moved {leadership.get('leader_changes')} times; no leader was "
            f"established for {leadership.get('without_leader_s')} s in all (longest "
            f"{leadership.get('longest_failover_s')} s)."
        )
    if progress:
        lines.append(f"Progress: {progress['verdict']}: {progress['explanation']}.")
    text = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return f'<h2 id="ballots">Ballots</h2>{text}{_climb(samples, scale)}'


def _climb(samples: list[dict[str, Any]], scale: Scale) -> str:
    """The highest ballot's round over time, as a step line."""
    if not samples:
        return "<p>No ballot was sampled.</p>"
    rounds = [sample["ballot"] // 1000 for sample in samples]
    low, high = min(rounds), max(max(rounds), min(rounds) + 1)
    points = []
    previous_y: float | None = None
    for sample, number in zip(samples, rounds, strict=True):
        x = scale.x(min(max(sample["time"], scale.start), scale.end))
        y = 10 + (PLOT_H - 20) * (1 - (number - low) / (high - low))
        if previous_y is not None:
            points.append(f"{x:.1f},{previous_y:.1f}")
        points.append(f"{x:.1f},{y:.1f}")
        previous_y = y
    width = scale.x(scale.end) + 20
    return (
        f'<svg id="ballot-climb" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{PLOT_H}"><polyline fill="none" stroke="#6a3d9a" stroke-width="1.5" '
        f'points="{" ".join(points)}"/><text x="4" y="12" font-size="10" fill="#555">'
        f'ballot round {high}</text><text x="4" y="{PLOT_H - 4}" font-size="10" '
        f'fill="#555">round {low}</text></svg>'
    )
