"""The other protocols under chaos, short enough for CI, side by side (each
run mostly waits on the clock): CAP as an experiment, `chaos --compare
raft,gossip` putting one schedule to a Raft cluster and a gossip cluster
(the cut-off side is refused by Raft and served by gossip; both keep their
own promises, gossip's history is not linearizable and it says so); `chaos
--protocol gossip --workload set` losing no add of its observed-remove set;
and `chaos --protocol paxos` under leader faults, judged by the same
checkers as Raft and valid, its report speaking of ballots. (The
dueling-proposers control, with and without backoff, is played by `raftctl
tour paxos`, in tests/examples/test_tours.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.chaos.conftest import ChaosResult, run_chaos
from tests.cli.harness import stop_cluster

COMPARE = ["--compare", "raft,gossip", "--nemesis", "partition:one", "--duration", "6"]
GOSSIP_SET = ["--protocol", "gossip", "--workload", "set"]
GOSSIP_SET += ["--nemesis", "partition:minority+kill:one"]
COMMON = ["--nodes", "3", "--rate", "60", "--json"]
# A majority partition at 2.3 s, then the leader killed at 5.9 s (seed 1).
PAXOS = ["--protocol", "paxos", "--nemesis", "kill-leader,partition:majority"]
PAXOS += ["--duration", "10", "--seed", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[ChaosResult]]]:
    """Both runs side by side (each mostly waits on the clock); every
    cluster they made is stopped by pid at the end."""
    base = tmp_path_factory.mktemp("cap")
    arguments = {
        "compare": [*COMPARE, "--seed", "11"],
        "set": [*GOSSIP_SET, "--duration", "6", "--seed", "11"],
        "paxos": PAXOS,
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            name: pool.submit(run_chaos, base / name, *args, *COMMON)
            for name, args in arguments.items()
        }
        try:
            yield futures
        finally:
            for future in futures.values():
                future.exception()
            for cluster in (
                base / "compare" / "raft" / "cluster",
                base / "compare" / "gossip" / "cluster",
                base / "set" / "cluster",
                base / "paxos" / "cluster",
            ):
                stop_cluster(cluster)


def test_one_schedule_shows_what_each_protocol_gives_up(
    runs: dict[str, Future[ChaosResult]],
) -> None:
    run = runs["compare"].result()
    assert run.exit_code == 0, run.stdout + run.stderr
    document = json.loads(run.stdout)
    assert document == run.results and document["compare"] == ["raft", "gossip"]
    raft, gossip = document["columns"]["raft"], document["columns"]["gossip"]
    assert raft["verdict"] == "valid" and raft["kept_promise"] and raft["not_promised"] == []
    # Gossip's reads go stale (partition or not: a write spreads in rounds),
    # and it never promised otherwise.
    assert gossip["verdict"] == "invalid" and gossip["kept_promise"]
    assert "linearizability" in gossip["not_promised"] and gossip["first_unplaceable"]
    assert gossip["checks"]["convergence"] == "valid" and gossip["whole_again_s"] is not None
    # The very same faults, the same node cut off, in both runs.
    runs_of = {
        p: json.loads((run.out / p / "results.json").read_text()) for p in ("raft", "gossip")
    }
    assert runs_of["raft"]["schedule"] == runs_of["gossip"]["schedule"]
    groups = {p: [f["detail"].get("groups") for f in r["faults"]] for p, r in runs_of.items()}
    assert groups["raft"] == groups["gossip"] and groups["raft"]
    assert document["partitions"], "the partition's sides were measured"
    for partition in document["partitions"]:
        cut_off, rest = partition["sides"]
        assert len(cut_off["nodes"]) == 1 and len(rest["nodes"]) == 2
        assert cut_off["raft"] <= 0.5 < cut_off["gossip"]  # CP refuses, AP answers
        assert rest["raft"] > 0 and rest["gossip"] > 0
    assert "COMPARE raft vs gossip" not in run.stdout  # --json: the document alone
    report = (run.out / "report.html").read_text()
    assert "CAP, measured" in report and 'href="gossip/report.html"' in report
    assert (run.out / "raft" / "report.html").exists()
    assert "--seed 11" in document["replay"] and "--compare raft,gossip" in document["replay"]


def test_the_observed_remove_set_loses_no_add_under_partitions_and_kills(
    runs: dict[str, Future[ChaosResult]],
) -> None:
    run = runs["set"].result()
    assert run.exit_code == 0, run.stdout + run.stderr
    document = run.results
    assert document["protocol"] == "gossip" and document["verdict"] == "valid"
    checks = {check["checker"]: check for check in document["checks"]}
    assert set(checks) == {"set", "convergence", "tracebacks"}
    assert checks["set"]["details"]["lost"] == 0 and checks["set"]["details"]["acknowledged"] > 50
    assert document["availability"]["by_side"], "the partition's sides were measured"
    assert "--protocol gossip" in document["replay"]


def test_a_short_paxos_run_under_leader_faults_is_valid(
    runs: dict[str, Future[ChaosResult]],
) -> None:
    run = runs["paxos"].result()
    assert run.exit_code == 0, run.stdout + run.stderr
    results = run.results
    assert results["protocol"] == "paxos" and results["verdict"] == "valid"
    checks = {check["checker"]: check["verdict"] for check in results["checks"]}
    assert checks["linearizability"] == "valid" and checks["state-machine-safety"] == "valid"
    assert [fault["kind"] for fault in results["faults"]] == ["partition", "kill-leader"]
    assert results["operations"]["ok"] > 50
    ballots = [sample["ballot"] for sample in results["leaders"]]
    assert ballots == sorted(ballots) and ballots[-1] > ballots[0]  # a new leader, a new ballot
    assert results["availability"]["leadership"]["leader_changes"] >= 1
    assert "--protocol paxos" in results["replay"]
    report = (run.out / "report.html").read_text()
    assert 'id="ballots"' in report and "leader, ballot" in report


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--protocol", "gossip", "--workload", "bank"], "transactions"),
        (["--protocol", "gossip", "--nemesis", "transfer"], "needs a leader"),
        (["--protocol", "zab"], "--protocol takes"),
        (["--protocol", "paxos", "--shards", "2"], "one shard"),
        (["--no-leader"], "need --protocol paxos"),
        (["--protocol", "paxos", "--backoff"], "need --no-leader"),
        (["--protocol", "paxos", "--control", "dueling"], "needs --protocol paxos --no-leader"),
        (["--compare", "raft"], "--compare takes two"),
        (["--compare", "raft,gossip", "--protocol", "gossip"], "drop --protocol"),
    ],
)
def test_protocol_mistakes_exit_2_with_one_line(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    run = run_chaos(tmp_path / "x", *arguments)
    assert run.exit_code == 2, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "cluster").exists()
