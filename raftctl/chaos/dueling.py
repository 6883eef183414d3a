"""Paxos's liveness problem as an experiment: `raftctl chaos --protocol paxos
--no-leader --control dueling [--backoff]`, and the leadership figures a
comparison of two leader-based protocols reads from any run.

Rules:
- The dueling control is an ordinary chaos run of the register workload
  with no faults, a Paxos cluster without a distinguished proposer, and
  clients homed on different nodes, each of which prepares its own ballot
  for its client (node.paxos.core). Without --backoff the proposers preempt
  each other: the ballots climb and writes stall. With --backoff a preempted
  proposer waits a random, growing while, and writes get through.
- Its `progress` check is the control's verdict: invalid (liveness lost)
  when fewer than half of the run's one-second windows saw a write
  acknowledged, or writes were acknowledged at less than 5 % of the rate
  the clients asked for (at least 1 a second); valid otherwise. Safety is
  judged as in every run: a duel must never make the history
  non-linearizable.
- The ballot climb (`ballots`) comes from the run's monitor: the highest
  ballot any node has promised, sampled as the run goes.
"""

from __future__ import annotations

from typing import Any

from node.paxos.ballot import Ballot
from raftctl.chaos.workloads import Verdict
from raftctl.judges.verdicts import INVALID, VALID

__all__ = ["PROGRESS_WINDOWS_MIN", "ballot_text", "leadership_figures", "progress"]

WINDOW_NS = 1_000_000_000
PROGRESS_WINDOWS_MIN = 0.5  # the share of one-second windows that must see a write
PROGRESS_RATE_SHARE = 0.05  # acknowledged writes per second, as a share of the rate asked


def ballot_text(term: int | None) -> str | None:
    """A Paxos term (a ballot's one-integer form) as round.node."""
    return None if term is None else str(Ballot.decode(term))


def progress(
    events: list[dict[str, Any]],
    run_start: int,
    run_end: int,
    ballots: list[dict[str, Any]],
    rate: float = 0.0,
) -> Verdict:
    """Did writes keep getting through? (the module's rules)"""
    seconds = max(1e-9, (run_end - run_start) / 1e9)
    windows = max(1, (run_end - run_start) // WINDOW_NS)
    moments = [
        event["time"]
        for event in events
        if event["type"] == "ok"
        and event.get("f") in ("write", "cas")
        and run_start <= event["time"] < run_end
    ]
    with_writes = {min(windows - 1, (moment - run_start) // WINDOW_NS) for moment in moments}
    per_s = len(moments) / seconds
    floor = max(1.0, rate * PROGRESS_RATE_SHARE)
    first, last = (ballots[0], ballots[-1]) if ballots else ({}, {})
    climb = (last.get("ballot") or 0) // 1000 - (first.get("ballot") or 0) // 1000
    details = {
        "windows": windows,
        "windows_with_a_write": len(with_writes),
        "writes_ok": len(moments),
        "writes_per_s": round(per_s, 1),
        "writes_per_s_floor": floor,
        "ballot_rounds_climbed": climb,
        "first_ballot": ballot_text(first.get("ballot")),
        "last_ballot": ballot_text(last.get("ballot")),
    }
    said = (
        f"{len(moments)} writes acknowledged ({per_s:.1f}/s), in {len(with_writes)} of "
        f"{windows} seconds, while the ballots climbed {climb} rounds"
    )
    if len(with_writes) / windows < PROGRESS_WINDOWS_MIN or per_s < floor:
        return Verdict(
            "progress",
            INVALID,
            f"liveness lost: {said} (dueling proposers; progress needs {floor:g} writes/s "
            f"and a write in half the seconds)",
            details=details,
        )
    return Verdict("progress", VALID, said, details=details)


def leadership_figures(
    leaders: list[dict[str, Any]], run_start: int, run_end: int
) -> dict[str, Any]:
    """From the monitor's leader samples: how many times leadership moved, and
    the windows without an established leader (failover), in seconds."""
    gaps: list[float] = []
    changes = 0
    gap_start: int | None = None
    previous: str | None = None
    for sample in leaders:
        moment, leader = sample["time"], sample["leader"]
        if not run_start <= moment <= run_end:
            continue
        if leader is None and gap_start is None:
            gap_start = moment
        elif leader is not None:
            if gap_start is not None:
                gaps.append((moment - gap_start) / 1e9)
                gap_start = None
            if previous is not None and leader != previous:
                changes += 1
            previous = leader
    if gap_start is not None:
        gaps.append((run_end - gap_start) / 1e9)
    return {
        "leader_changes": changes,
        "without_leader_s": round(sum(gaps), 3),
        "longest_failover_s": round(max(gaps, default=0.0), 3),
        "failovers": len(gaps),
    }
