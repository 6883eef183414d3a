"""The checks of a chaos run beyond the workload's own: Raft's invariants from
the nodes' final state and events, node logs scanned for tracebacks, and the
availability figures of the run.

Rules:
- Election Safety from events.jsonl: every BecameLeader event names its term;
  two nodes that became leader in one term is a violation, whatever the
  client history says.
- State Machine Safety at the end: once every node has applied the same index,
  their state digests must be equal (the same prefix applied gives the same
  state). Nodes that never converge within the deadline are reported, not
  guessed at.
- A traceback in a node's log is a bug even when every client answer was right.
- Availability is measured, not judged: ok operations per second with and
  without a fault in force, each fault's own rate, and the time from the final
  heal to the first acknowledged write.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from node.messages import Digest
from raftctl.chaos.workloads import Verdict
from raftctl.client import Client
from raftctl.cluster import ClusterDir, wait_for
from raftctl.judges.history import NEMESIS
from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID

__all__ = [
    "availability",
    "election_safety",
    "shard_of_id",
    "state_digests",
    "state_digests_by_shard",
    "tracebacks",
]

TRACEBACK_MARK = "Traceback (most recent call last)"


def _node_dirs(path: Path) -> list[Path]:
    """Every node directory, removed nodes included (their logs stay)."""
    return sorted(p for p in path.iterdir() if p.is_dir() and (p / "node.log").exists())


def shard_of_id(node_id: str) -> int:
    """The shard a node id names (`s2n4` -> 2); 1 for `n4`. Removed nodes are
    gone from cluster.toml, but their directories keep their ids."""
    found = re.match(r"s(\d+)n\d+$", node_id)
    return int(found.group(1)) if found else 1


def election_safety(path: Path) -> Verdict:
    """At most one leader per term of each shard (each shard counts its own terms)."""
    leaders: dict[tuple[int, int], set[str]] = defaultdict(set)
    for node_dir in _node_dirs(path):
        events = node_dir / "events.jsonl"
        if not events.exists():
            continue
        for line in events.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line torn by kill -9 mid-write
            if event.get("event") == "BecameLeader":
                node = str(event["node"])
                leaders[(shard_of_id(node), int(event["term"]))].add(node)
    doubles = {key: sorted(nodes) for key, nodes in leaders.items() if len(nodes) > 1}
    if doubles:
        shown = "; ".join(
            f"term {term}: {', '.join(nodes)}" for (_, term), nodes in sorted(doubles.items())[:5]
        )
        return Verdict(
            "election-safety",
            INVALID,
            f"two leaders in one term ({shown})",
            [
                {"shard": shard, "term": term, "leaders": nodes}
                for (shard, term), nodes in sorted(doubles.items())
            ],
        )
    return Verdict(
        "election-safety",
        VALID,
        f"at most one leader in each of {len(leaders)} terms",
        details={"terms_with_leader": len(leaders)},
    )


def state_digests(cluster: ClusterDir, client: Client, timeout_s: float) -> Verdict:
    """Wait until every member applied the same index, then compare digests.
    A node the configuration no longer holds (removed by a membership fault
    that did not finish, say) gets no more entries: it is left out, and named."""
    seen: dict[str, dict[str, Any] | None] = {}
    outside: list[str] = []

    def converged() -> bool:
        members = _members(cluster, client)
        outside[:] = [n for n in cluster.node_ids() if n not in members]
        seen.clear()
        for node_id in members:
            seen[node_id] = client.admin(node_id, Digest(), timeout_s=0.5)
        answers = list(seen.values())
        return (
            bool(answers) and all(answers) and len({a["applied_index"] for a in answers if a}) == 1
        )

    if not wait_for(converged, timeout_s, interval_s=0.2):
        marks = {n: (a["applied_index"] if a else None) for n, a in seen.items()}
        return Verdict(
            "state-machine-safety",
            UNKNOWN,
            f"the nodes did not converge within {timeout_s:g}s (applied: {marks})",
            details={"applied": marks},
        )
    digests = {n: a["digest"] for n, a in seen.items() if a}
    applied = next(a["applied_index"] for a in seen.values() if a)
    if len(set(digests.values())) > 1:
        return Verdict(
            "state-machine-safety",
            INVALID,
            f"different states after applying the same {applied} entries: {digests}",
            [{"node": n, "digest": d} for n, d in digests.items()],
        )
    left_out = f" ({', '.join(outside)} no longer a member)" if outside else ""
    return Verdict(
        "state-machine-safety",
        VALID,
        f"all {len(digests)} nodes hold the same state at applied index {applied}{left_out}",
        details={
            "applied_index": applied,
            "digest": next(iter(digests.values())),
            "not_members": list(outside),
        },
    )


def state_digests_by_shard(path: Path, client: Client, timeout_s: float) -> Verdict:
    """state_digests for each shard (each holds its own keys), as one verdict."""
    shards = ClusterDir(path).config.shards
    if shards == 1:
        return state_digests(ClusterDir(path), client, timeout_s)
    verdicts = [
        state_digests(ClusterDir(path, shard), client, timeout_s) for shard in range(1, shards + 1)
    ]
    words = {verdict.verdict for verdict in verdicts}
    overall = INVALID if INVALID in words else UNKNOWN if UNKNOWN in words else VALID
    return Verdict(
        "state-machine-safety",
        overall,
        "; ".join(f"shard {n}: {v.explanation}" for n, v in enumerate(verdicts, start=1)),
        [dict(item, shard=n) for n, v in enumerate(verdicts, start=1) for item in v.offending],
        {str(n): v.details for n, v in enumerate(verdicts, start=1)},
    )


def _members(cluster: ClusterDir, client: Client) -> list[str]:
    """The nodes in the configuration of the node that has committed most."""
    statuses = [client.status(node_id, 0.5) for node_id in cluster.node_ids()]
    known = [status for status in statuses if status]
    if not known:
        return list(cluster.node_ids())
    newest = max(known, key=lambda status: (status["commit_index"], status["term"]))
    members = {*(newest.get("voters") or ()), *(newest.get("learners") or ())}
    return [node_id for node_id in cluster.node_ids() if node_id in members]


def tracebacks(path: Path) -> Verdict:
    found: list[dict[str, Any]] = []
    for node_dir in _node_dirs(path):
        lines = (node_dir / "node.log").read_text(errors="replace").splitlines()
        for number, line in enumerate(lines):
            if TRACEBACK_MARK in line:
                tail = next(
                    (later for later in lines[number + 1 : number + 60] if later[:1] not in " "),
                    "",
                )
                found.append({"node": node_dir.name, "line": number + 1, "error": tail})
    if found:
        first = found[0]
        return Verdict(
            "tracebacks",
            INVALID,
            f"{len(found)} traceback(s) in node logs; first in {first['node']}/node.log line "
            f"{first['line']}: {first['error']}",
            found[:10],
        )
    return Verdict("tracebacks", VALID, "no traceback in any node log")


def fault_windows(events: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(start, end, label) of each fault in history time, the label its kind and
    target (`partition:ring`); a fault never ended ends with the history."""
    last = max((e["time"] for e in events), default=0)
    open_at: dict[str, tuple[int, str]] = {}  # kind -> (start, label)
    windows: list[tuple[int, int, str]] = []
    for event in events:
        if event["process"] != NEMESIS or event["f"] == "heal":
            continue
        value = event.get("value") or {}
        kind = event["f"]
        if value.get("phase") == "start":
            target = value.get("target")
            open_at[kind] = (event["time"], f"{kind}:{target}" if target else kind)
        elif value.get("phase") == "end" and kind in open_at:
            start, label = open_at.pop(kind)
            windows.append((start, event["time"], label))
    windows += [(start, last, label) for start, label in open_at.values()]
    return sorted(windows)


def availability(
    events: list[dict[str, Any]], run_start: int, run_end: int, heal_at: int | None
) -> dict[str, Any]:
    """Throughput with and without faults, per fault, and latency (ms)."""
    windows = fault_windows(events)
    invoked: dict[Any, int] = {}
    oks: list[int] = []
    latencies: list[float] = []
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        if event["process"] == NEMESIS:
            continue
        if event["type"] == "invoke":
            invoked[event["process"]] = event["time"]
            continue
        counts[event["type"]] += 1
        started = invoked.pop(event["process"], None)
        if event["type"] == "ok" and run_start <= event["time"] <= run_end:
            oks.append(event["time"])
            if started is not None:
                latencies.append((event["time"] - started) / 1e6)

    def inside(moment: int) -> bool:
        return any(start <= moment <= end for start, end, _ in windows)

    faulty_ns = sum(end - start for start, end in _union(windows, run_start, run_end))
    total_ns = max(1, run_end - run_start)
    calm_ns = max(1, total_ns - faulty_ns)
    during = sum(1 for moment in oks if inside(moment))
    per_fault = []
    for start, end, name in windows:
        count = sum(1 for moment in oks if start <= moment <= end)
        per_fault.append(
            {"fault": name, "ok_per_s": round(count / max(1e-9, (end - start) / 1e9), 1)}
        )
    recovery_s = None
    if heal_at is not None:
        after = [e["time"] for e in events if e["type"] == "ok" and e["time"] >= heal_at]
        recovery_s = round((min(after) - heal_at) / 1e9, 3) if after else None
    ordered = sorted(latencies)
    return {
        "operations": dict(counts),
        "ok_per_s": round(len(oks) / (total_ns / 1e9), 1),
        "ok_per_s_during_faults": round(during / max(1e-9, faulty_ns / 1e9), 1)
        if faulty_ns
        else None,
        "ok_per_s_without_faults": round((len(oks) - during) / (calm_ns / 1e9), 1),
        "latency_ms": {
            "p50": round(statistics.median(ordered), 2) if ordered else None,
            "p99": round(ordered[int(len(ordered) * 0.99)], 2) if ordered else None,
        },
        "per_fault": per_fault,
        "recovery_s": recovery_s,
    }


def _union(windows: list[tuple[int, int, str]], low: int, high: int) -> list[tuple[int, int]]:
    """The moments covered by at least one window, clipped to [low, high]."""
    merged: list[tuple[int, int]] = []
    for start, end, _ in sorted(windows):
        start, end = max(start, low), min(end, high)
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
