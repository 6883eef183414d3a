"""What CAP costs, measured on a history: availability on each side of every
partition, acknowledged writes that did not survive, and (gossip) how long
the replicas took to agree after the final heal.

Rules:
- Sides are a partition's groups as the nemesis recorded them; a client's
  side is its own node's (chaos's homed clients name it on every invoke).
  A side's availability is its operations asked and answered ok inside the
  fault's window, per second of the window (one asked before the cut, or
  answered only after the heal, is no evidence either way).
- A lost write is an acknowledged write of a register that the final state
  does not hold although the write that does was not invoked after it
  completed: a later write overwriting it is no loss, in any system. It is
  `to_concurrent` when the two overlapped (last-writer-wins kept the other;
  a linearizable store may order them so too) and `to_earlier` when the
  surviving write had completed before the lost one began: real time put
  the lost one last, and only a store without a linearizable order (or with
  skewed clocks) does that. Only `to_earlier` makes the check invalid.
- Convergence (gossip): every running replica reports one digest and holds
  every other running replica alive; the time is counted from the heal.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from raftctl.chaos.workloads import Verdict
from raftctl.controller import Controller
from raftctl.judges.history import NEMESIS
from raftctl.judges.verdicts import INVALID, VALID

__all__ = ["availability_by_side", "convergence", "lost_writes"]

LOST_SHOWN_MAX = 20


def availability_by_side(events: list[dict[str, Any]], run_start: int) -> list[dict[str, Any]]:
    """Per partition: its window (seconds from the run's start) and, per side,
    the operations its clients completed ok, failed or left unknown."""
    homes: dict[Any, tuple[int, str | None]] = {}  # process -> (invoked, home)
    finished: list[tuple[int, int, str | None, str]] = []  # (invoked, ended, home, type)
    starts: dict[str, int] = {}
    partitions: list[tuple[int, int, list[list[str]], str]] = []
    for event in events:
        if event["process"] == NEMESIS:
            value = event.get("value") or {}
            if event["f"] != "partition":
                continue
            if value.get("phase") == "start":
                starts["partition"] = event["time"]
            elif "partition" in starts and value.get("groups"):
                label = f"partition:{value['target']}" if value.get("target") else "partition"
                partitions.append((starts.pop("partition"), event["time"], value["groups"], label))
            continue
        if event["type"] == "invoke":
            homes[event["process"]] = (event["time"], event.get("node"))
        elif event["process"] in homes:
            invoked, home = homes.pop(event["process"])
            finished.append((invoked, event["time"], home, event["type"]))
    figures = []
    for start, end, groups, label in partitions:
        seconds = max(1e-9, (end - start) / 1e9)
        sides = []
        for group in groups:
            inside = [kind for invoked, ended, home, kind in finished
                      if start <= invoked and ended <= end and home in group]  # fmt: skip
            ok = inside.count("ok")
            sides.append(
                {
                    "nodes": sorted(group),
                    "ok": ok,
                    "fail": inside.count("fail"),
                    "info": inside.count("info"),
                    "ok_per_s": round(ok / seconds, 1),
                }
            )
        figures.append(
            {
                "fault": label,
                "start_s": round((start - run_start) / 1e9, 2),
                "end_s": round((end - run_start) / 1e9, 2),
                "sides": sides,
            }
        )
    return figures


def lost_writes(events: list[dict[str, Any]]) -> Verdict:
    """Acknowledged register writes the final state lost (the module's rules);
    the final state is each key's last ok read (the run's final reads)."""
    invoked: dict[Any, dict[str, Any]] = {}
    writes: dict[
        Any, list[tuple[int, int | None, Any, str]]
    ] = {}  # key -> (call, ret, value, type)
    final: dict[Any, Any] = {}
    for event in events:
        if event["process"] == NEMESIS:
            continue
        if event["type"] == "invoke":
            invoked[event["process"]] = event
            continue
        invocation = invoked.pop(event["process"], None)
        if invocation is None:
            continue
        if event["f"] == "write":
            ret = event["time"] if event["type"] == "ok" else None
            writes.setdefault(event["key"], []).append(
                (invocation["time"], ret, invocation["value"], event["type"])
            )
        elif event["f"] == "read" and event["type"] == "ok":
            final[event["key"]] = event["value"]
    concurrent, earlier = [], []
    for key, done in sorted(writes.items(), key=lambda item: str(item[0])):
        if key not in final:
            continue
        winner = next((w for w in done if w[2] == final[key]), None)
        if winner is None:
            continue  # the final value is the initial one, or a write not recorded
        for call, ret, value, kind in done:
            if kind != "ok" or value == final[key] or ret is None or ret < winner[0]:
                continue  # not acknowledged, the survivor, or overwritten by a later write
            lost = {"key": key, "value": value, "kept": final[key]}
            if winner[1] is not None and winner[1] < call:
                earlier.append(lost)
            else:
                concurrent.append(lost)
    total = len(concurrent) + len(earlier)
    details = {"lost": total, "to_concurrent": len(concurrent), "to_earlier": len(earlier)}
    if earlier:
        first = earlier[0]
        return Verdict(
            "lost-writes",
            INVALID,
            f"{len(earlier)} acknowledged writes lost to a write that had completed before "
            f"they began (first: {first['key']} = {first['value']!r}, kept {first['kept']!r}); "
            f"{len(concurrent)} more lost to concurrent writes",
            (earlier + concurrent)[:LOST_SHOWN_MAX],
            details,
        )
    explanation = (
        f"{total} acknowledged writes lost to concurrent writes (one of two overlapping "
        "writes is kept); none to an earlier one"
        if total
        else "no acknowledged write lost"
    )
    return Verdict("lost-writes", VALID, explanation, concurrent[:LOST_SHOWN_MAX], details)


def convergence(path: Path, heal_at: int, timeout_s: float) -> Verdict:
    """Gossip: every running replica agrees (one digest, every other alive)
    within `timeout_s` of now; the seconds are counted from `heal_at`."""
    control = Controller(path, timeout_s)
    deadline = time.monotonic() + timeout_s
    digests: dict[str, Any] = {}
    try:
        while time.monotonic() < deadline:
            rows = [row for row in control.status()["nodes"] if row["process"] == "running"]
            digests = {row["id"]: row["digest"] for row in rows}
            running = set(digests)
            agreed = len(set(digests.values())) == 1 and None not in digests.values()
            if agreed and all(
                (row["members"] or {}).get(other) == "alive"
                for row in rows
                for other in running - {row["id"]}
            ):
                seconds = round((time.monotonic_ns() - heal_at) / 1e9, 3)
                return Verdict(
                    "convergence",
                    VALID,
                    f"every replica agreed {seconds} s after the heal "
                    f"({rows[0]['keys']} keys, digest {rows[0]['digest']})",
                    details={"seconds": seconds, "keys": rows[0]["keys"]},
                )
            time.sleep(0.1)
    finally:
        control.close()
    return Verdict(
        "convergence",
        INVALID,
        f"the replicas still differed {timeout_s:g} s after the heal: {digests}",
        details={"seconds": None, "digests": digests},
    )
