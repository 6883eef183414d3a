"""The transactions checker of a chaos run on a sharded cluster, read from
the shards themselves once the run has healed:

- nothing stays in doubt: within the deadline no node of any shard holds a
  prepared transaction (its resolver finishes what a dead coordinator left);
- atomicity: a transaction finished the same way on every shard that knows
  it, and one committed anywhere finished committed on every participant
  shard (all of its branch's writes or none).

Isolation (no two conflicting transactions overlapping) is the bank checker's
to judge from the history: it steps each transfer from the balances it
compared, so two transfers that both took effect from one state show up
there. This module also gives the figures the report shows: transactions
committed and aborted, in-doubt ones a resolver finished, the longest lock
hold, and cross-shard against single-shard transfer throughput.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from node.messages import Transactions
from node.transactions import FINISHED_MAX
from raftctl.chaos.workloads import Verdict
from raftctl.client import Client
from raftctl.cluster import ClusterDir, wait_for
from raftctl.judges.transactions import check_atomicity
from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID

__all__ = ["resolved_in_doubt", "transactions", "transfer_rates"]


def transactions(path: Path, client: Client, timeout_s: float) -> Verdict:
    cluster = ClusterDir(path)
    config = cluster.config
    silent: list[str] = []
    holding: dict[str, int] = {}

    def nothing_prepared() -> bool:
        silent.clear()
        holding.clear()
        for node_id in cluster.node_ids():
            status = client.status(node_id, 0.5)
            if status is None:
                silent.append(node_id)
            elif status.get("txn_prepared"):
                holding[node_id] = status["txn_prepared"]
        return not silent and not holding

    if not wait_for(nothing_prepared, timeout_s, 0.2):
        why = f"still prepared: {holding}" if holding else f"no answer from {silent}"
        verdict = UNKNOWN if silent and not holding else INVALID
        return Verdict(
            "transactions",
            verdict,
            f"transactions stayed in doubt {timeout_s:g}s after healing ({why})",
            [{"node": n, "prepared": c} for n, c in holding.items()],
        )
    tables = {}
    for shard in range(1, config.shards + 1):
        answers = [
            client.admin(node_id, Transactions(), timeout_s=1.0)
            for node_id in config.shard_node_ids(shard)
        ]
        known = [answer for answer in answers if answer]
        if not known:
            return Verdict("transactions", UNKNOWN, f"no node of shard {shard} answered")
        tables[shard] = max(known, key=lambda answer: answer["applied_index"])
    return _judge(tables)


def _judge(tables: dict[int, dict[str, Any]]) -> Verdict:
    finished = {shard: table["finished"] for shard, table in tables.items()}
    result = check_atomicity(finished, FINISHED_MAX)
    details = {
        "committed": result.committed,
        "aborted": result.aborted,
        "read_only": result.read_only,
        "shards": len(tables),
    }
    explanation = result.explain()
    if result.verdict == VALID:
        explanation += "; none left in doubt"
    return Verdict("transactions", result.verdict, explanation, result.broken[:20], details)


def resolved_in_doubt(out_nodes: Path, event_name: str = "TxnResolved") -> dict[str, str]:
    """The transactions a resolver finished (the coordinator had gone quiet),
    from the nodes' events: txn id -> the outcome applied. With
    "TxnBlocked": those classic 2PC's participants could not finish (-> "")."""
    found: dict[str, str] = {}
    for path in sorted(out_nodes.glob("*/events.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line torn by kill -9 mid-write
            if event.get("event") == event_name:
                found[str(event["txn"])] = str(event.get("outcome") or "")
    return found


def transfer_rates(events: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    """Acknowledged transfers per second, across shards and within one
    (the bank workload records `shards` in each transfer's value)."""
    cross = single = 0
    for event in events:
        value = event.get("value")
        if event.get("f") != "transfer" or event.get("type") != "ok" or not isinstance(value, dict):
            continue
        if len(value.get("shards") or ()) > 1:
            cross += 1
        else:
            single += 1
    seconds = max(duration_s, 1e-9)
    return {
        "cross_shard_ok": cross,
        "single_shard_ok": single,
        "cross_shard_per_s": round(cross / seconds, 2),
        "single_shard_per_s": round(single / seconds, 2),
    }
