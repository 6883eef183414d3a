"""A short chaos run on a sharded cluster: the bank's accounts spread over
three shards (of one node each, to keep CI's five minutes: a shard's own
failover is the single-shard runs', the example's and the transactions
swarm's), transfers across shards by two-phase commit, while coordinators
are killed between their phases, then a whole shard is killed and
restarted. It must end valid on every checker, the transactions
checker among them, with the coordinators' deaths and the resolutions that
followed on record. (`make soak` runs 60 s on three shards of three nodes
with every fault kind, partition-shard included.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raftctl.chaos.schedule import parse_nemesis
from tests.chaos.browser import open_report
from tests.chaos.conftest import run_chaos
from tests.cli.harness import stop_cluster

NEMESIS = "kill-coordinator,kill:leader"
SEED = 20


def test_a_sharded_bank_run_under_faults_is_valid(tmp_path: Path) -> None:
    kinds = {kind for spec in parse_nemesis(NEMESIS, shards=3) for kind in spec.kinds}
    assert kinds == {"kill-coordinator", "kill"}
    out = tmp_path / "run"
    try:
        run = run_chaos(
            out,
            *("--shards", "3", "--nodes", "1", "--workload", "bank", "--nemesis", NEMESIS),
            *("--duration", "10", "--rate", "40", "--seed", str(SEED), "--json"),
        )
    finally:
        stop_cluster(out / "cluster")
    results: dict[str, Any] = run.results
    assert run.exit_code == 0, run.stdout + run.stderr
    assert results["verdict"] == "valid" and results["shards"] == 3
    assert (
        f"--nodes 1 --shards 3 --duration 10 --workload bank --nemesis {NEMESIS}"
        in results["replay"]
    )
    checks = {check["checker"]: check for check in results["checks"]}
    assert set(checks) >= {"bank", "transactions", "state-machine-safety", "election-safety"}
    assert all(check["verdict"] == "valid" for check in checks.values()), checks
    assert checks["transactions"]["details"]["committed"] > 0
    figures = results["availability"]["transactions"]
    assert figures["cross_shard_ok"] > 0 and figures["coordinators_killed"] > 0
    # A coordinator that died left its prepared parts to the resolvers.
    assert figures["in_doubt_resolved"] > 0
    assert results["faults_without_effect"] == []
    for fault in results["faults"]:
        assert fault["detail"]["shard"] in (1, 2, 3)  # each fault hit one shard
        if fault["kind"] == "kill-coordinator":
            assert fault["detail"]["coordinators"], fault
    history = run.history()
    killed = [
        e
        for e in history
        if isinstance(e.get("value"), dict) and e["value"].get("coordinator_killed")
    ]
    assert killed and all(e["type"] == "info" for e in killed)
    # The report draws each transaction's phases per shard, those a resolver
    # finished after their coordinator died outlined, and lists them.
    opened = open_report(out / "report.html", out / "report.png")
    assert not opened.console_errors, opened.console_errors
    assert '<body data-ready="1">' in opened.dom
    assert 'id="transactions-svg"' in opened.dom and opened.dom.count('class="txn"') > 10
    assert 'stroke="#d62728"' in opened.dom and 'id="resolved-table"' in opened.dom
    for node_id in ("s1n1", "s2n1", "s3n1"):
        assert (out / "nodes" / node_id / "node.log").exists()


def test_a_classic_two_phase_commit_run_survives_its_coordinator_killed(tmp_path: Path) -> None:
    """--txn-protocol 2pc-classic under kill-coordinator: the coordinator
    process is killed and restarted; whatever it left prepared waits for it
    (or is learned from a participant), and nothing is lost."""
    out = tmp_path / "classic"
    try:
        run = run_chaos(
            out,
            *("--shards", "2", "--nodes", "1", "--workload", "bank", "--txn-protocol"),
            *("2pc-classic", "--nemesis", "kill-coordinator", "--duration", "8"),
            *("--rate", "30", "--seed", str(SEED), "--json"),
        )
    finally:
        stop_cluster(out / "cluster")
    results: dict[str, Any] = run.results
    assert run.exit_code == 0, run.stdout + run.stderr
    assert (results["verdict"], results["txn_protocol"]) == ("valid", "2pc-classic")
    assert "--txn-protocol 2pc-classic" in results["replay"]
    figures = results["availability"]["transactions"]
    assert figures["coordinators_killed"] > 0 and figures["cross_shard_ok"] > 0
    assert figures["coordinator"]["process"] == "running"  # restarted at the fault's end
    assert figures["coordinator"]["committed"] > 0
    kills = [fault for fault in results["faults"] if fault["kind"] == "kill-coordinator"]
    assert kills and all(fault["detail"]["coordinators"] == ["coord"] for fault in kills)
    # The coordinator's own steps are in the report's transactions section.
    assert (out / "nodes" / "coord" / "phases.jsonl").exists()
    assert 'id="transactions-svg"' in (out / "report.html").read_text()
