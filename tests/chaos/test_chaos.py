"""Short chaos runs of every workload, the negative controls, Ctrl-C, and usage.

Between them the three runs meet every kind of fault; each must end valid.
The controls must end invalid: a checker that cannot fail proves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from raftctl.chaos.export import from_porcupine, read_edn, read_porcupine
from raftctl.chaos.outside import build, judge
from raftctl.chaos.schedule import NEMESIS_KINDS, SHARD_KINDS, parse_nemesis, schedule
from raftctl.cluster import wait_for
from raftctl.judges.history import NEMESIS
from tests.chaos.browser import open_report
from tests.chaos.conftest import run_chaos
from tests.cli.harness import stop_cluster

# Every kind of fault, shared out among the three workloads' short runs; with
# this seed each run's schedule meets every item of its list (asserted below).
# Each run holds one compound fault, a pair that matters (its parts count as
# kinds met): a partition while a node is down, a power cut while a node is
# cut off and the others compact, a pause during a membership change.
RUNS = {
    # byzantine needs an --insecure cluster, which this run therefore is.
    "register": ("pause,failpoint,transfer,byzantine,partition:majority+kill:one", 20),
    "bank": ("loss,duplicate,kill-leader,snapshot-storm,power-cut+isolate-compact", 20),
    "set": ("power-cut,slow-fsync,partition:ring,delay,pause:one+membership", 20),
}
SEED = 375


def test_the_runs_share_out_every_kind_of_fault() -> None:
    specs = [spec for nemesis, _ in RUNS.values() for spec in parse_nemesis(nemesis)]
    # The kinds that need shards have a run of their own (test_chaos_shards.py).
    assert {kind for spec in specs for kind in spec.kinds} == set(NEMESIS_KINDS) - set(SHARD_KINDS)
    pairs = {frozenset(spec.kinds) for spec in specs if spec.also}
    assert pairs == {
        frozenset({"partition", "kill"}),
        frozenset({"pause", "membership"}),
        frozenset({"power-cut", "isolate-compact"}),
    }


def _fault_pairs(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (event["f"], event["value"]["phase"])
        for event in history
        if event["process"] == NEMESIS and event["f"] != "heal"
    ]


def _short_run_arguments(workload: str) -> list[str]:
    nemesis, duration = RUNS[workload]
    arguments = ["--workload", workload, "--nemesis", nemesis, "--duration", str(duration)]
    if "byzantine" in nemesis:
        arguments.append("--insecure")
    return [*arguments, "--rate", "60", "--seed", str(SEED), "--json"]


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Any]]]:
    """The three short runs, started side by side: each mostly waits on the
    clock (its duration, then healing and settling), so together they take
    little longer than one. Their clusters are stopped by pid at the end."""
    base = tmp_path_factory.mktemp("short-runs")
    with ThreadPoolExecutor(max_workers=len(RUNS)) as pool:
        futures = {
            workload: pool.submit(run_chaos, base / workload, *_short_run_arguments(workload))
            for workload in RUNS
        }
        try:
            yield futures
        finally:
            for future in futures.values():
                future.exception()  # wait for every run, failed or not
            for workload in RUNS:
                stop_cluster(base / workload / "cluster")


@pytest.mark.parametrize("workload", list(RUNS))
def test_a_short_run_under_faults_is_valid(
    short_runs: dict[str, Future[Any]], workload: str, registercheck: Path | None
) -> None:
    nemesis, duration = RUNS[workload]
    run = short_runs[workload].result()
    document = json.loads(run.stdout)  # exactly one JSON document on stdout
    assert run.exit_code == 0, run.stdout + run.stderr
    assert document["verdict"] == "valid"
    assert document == run.results
    assert f"--seed {SEED}" in document["replay"]
    assert f"--workload {workload}" in document["replay"]
    expected = schedule(parse_nemesis(nemesis), duration, SEED)
    assert document["schedule"] == [fault.to_dict() for fault in expected]
    parts = [part for fault in expected for part in fault.parts()]
    assert len(document["faults"]) == len(parts)
    assert {f["kind"] for f in document["faults"]} == {
        kind for spec in parse_nemesis(nemesis) for kind in spec.kinds
    }
    compound = [fault for fault in expected if fault.also]
    assert compound, "each run holds a compound fault"
    for fault in compound:  # its parts' windows overlap: they start and end together
        windows = [f for f in document["faults"] if f["start_s"] == round(fault.start_s, 3)]
        assert {f["kind"] for f in windows} == {part.kind for part in fault.parts()}
    assert {c["checker"] for c in document["checks"]} >= {
        "election-safety",
        "state-machine-safety",
        "tracebacks",
    }
    assert all(c["verdict"] == "valid" for c in document["checks"])
    assert document["availability"]["operations"]["ok"] > 100
    # Every fault whose effect does not depend on the workload's luck took
    # effect (failpoint and isolate-compact need traffic at the right place;
    # they report it when they did not).
    chance = ("failpoint", "isolate-compact")
    assert [f for f in document["faults_without_effect"] if f["kind"] not in chance] == []
    for fault in document["faults"]:
        if fault["kind"] in ("partition", "delay", "loss", "duplicate"):
            # Proven, not assumed: the nodes' filters cut, lost, duplicated
            # or delayed messages while it held (node.faults counters).
            assert "observed" in fault["detail"] and not fault["detail"].get("no_effect"), fault
        if fault["kind"] == "byzantine":
            # The impostor spoke (a member's name, terms far ahead) and the
            # history above stayed valid: Raft survives what is not a lie.
            assert fault["detail"]["sent"]["inflated"] > 0, fault
            assert not fault["detail"].get("skipped"), fault
        if fault["kind"] in ("kill", "pause"):
            assert fault["detail"]["down"] == fault["detail"]["back"] == fault["detail"]["nodes"]
        if fault["kind"] == "isolate-compact" and fault["detail"].get("compacted_at"):
            # Compacted past the cut-off node: it can only have caught up by snapshot.
            assert fault["detail"]["caught_up_by_snapshot"] is True, fault
    history = run.history()
    pairs = _fault_pairs(history)
    assert pairs == [
        (part.kind, phase)
        for fault in expected
        for phase in ("start", "end")
        for part in fault.parts()
    ]
    assert any(e["process"] == NEMESIS and e["f"] == "heal" for e in history)
    for node_id in ("n1", "n2", "n3", "n4", "n5"):
        assert (run.out / "nodes" / node_id / "node.log").exists()
        assert (run.out / "nodes" / node_id / "events.jsonl").exists()
    _assert_report(run.out, history, valid=True)
    if workload == "register" and registercheck is not None:
        outside = judge(run.out, registercheck)
        assert (outside["ours"], outside["porcupine"]) == ("valid", "valid"), outside


def _assert_report(out: Path, history: list[dict[str, Any]], valid: bool) -> None:
    """Opened in headless Chromium: no console errors, the page's script ran,
    one bar per operation, the fault windows and both charts drawn."""
    report = out / "report.html"
    assert report.exists()
    page = report.read_text()
    for external in ("src=", "href=", "@import", "url("):
        assert external not in page, f"report.html must be self-contained ({external})"
    opened = open_report(report, out / "report.png")
    assert not opened.console_errors, opened.console_errors
    assert '<body data-ready="1">' in opened.dom, "the page's script did not finish"
    invoked = sum(1 for e in history if e["type"] == "invoke")
    assert opened.dom.count('class="op ') == invoked
    faults = sum(1 for e in history if e["process"] == NEMESIS and e["value"]["phase"] == "start")
    assert opened.dom.count('<g class="fault">') == faults
    assert 'id="throughput"' in opened.dom and 'id="latency"' in opened.dom
    assert ("offending" in opened.dom) == (not valid)
    assert opened.screenshot.stat().st_size > 10_000


@pytest.mark.parametrize("control", ["stale-read", "lease-drift", "power-loss", "liar"])
def test_every_negative_control_is_found_invalid(
    chaos: Any, control: str, registercheck: Path | None
) -> None:
    run = chaos("--control", control, "--seed", "1", name=control)
    assert run.exit_code == 1, run.stdout + run.stderr
    results = run.results
    assert results["verdict"] == "invalid" and results["control"] == control
    workload_check = results["checks"][0]
    assert workload_check["verdict"] == "invalid"
    assert workload_check["offending"], "an invalid verdict names what to look at"
    # ... and it names the right operation: the stale read itself.
    stale = {"stale-read": "before", "lease-drift": "c"}
    if control in stale:
        (offending,) = workload_check["offending"]
        assert (offending["f"], offending["value"]) == ("read", stale[control]), offending
    assert run.stdout.startswith("INVALID")
    assert f"replay: raftctl chaos --control {control} --seed 1" in run.stdout
    _assert_report(run.out, run.history(), valid=False)
    if control in stale and registercheck is not None:  # the outside judge agrees
        outside = judge(run.out, registercheck)
        assert (outside["ours"], outside["porcupine"]) == ("invalid", "invalid"), outside


def test_ctrl_c_heals_checks_and_writes_what_was_recorded(tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    command = [sys.executable, "-m", "raftctl", "chaos", "--out", str(out), "--duration", "120"]
    command += ["--nodes", "3", "--nemesis", "pause", "--seed", "5", "--workload", "set"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:

        def recording() -> bool:
            history = out / "history.jsonl"
            return history.exists() and len(history.read_text().splitlines()) > 50

        assert wait_for(recording, 60), "the run never started recording"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        stop_cluster(out / "cluster")
    assert process.returncode == 0, stdout + stderr
    results = json.loads((out / "results.json").read_text())
    assert results["interrupted"] is True and results["verdict"] == "valid"
    assert results["checks"][0]["details"]["acknowledged"] > 0
    assert "interrupted" in stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--nemesis", "explode"], "unknown nemesis"),
        (["--nemesis", "kill:everyone"], "nemesis kill takes"),
        (["--nemesis", "kill,byzantine"], "needs --insecure"),
        (["--faults-at-once", "9"], "--faults-at-once is 1 to 4"),
        (["--workload", "queue"], "--workload"),
        (["--control", "nothing"], "--control"),
        (["--read-consistency", "eventual"], "--read-consistency"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "raftctl", "chaos", "--out", str(tmp_path / "x"), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RAFTCTL_DIR": str(tmp_path / "unused")},
    )
    assert completed.returncode == 2
    assert message in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "cluster").exists()


def test_check_rechecks_redraws_and_exports_a_saved_run(chaos: Any) -> None:
    """`raftctl check` on the stale-read control: invalid again, a fresh
    report, and EDN and Porcupine files that read back to the history."""
    run = chaos("--control", "stale-read", "--seed", "2", name="recheck")
    (run.out / "report.html").unlink()
    command = [sys.executable, "-m", "raftctl", "check", str(run.out), "--report", "--json"]
    command += ["--export", "edn", "--export", "porcupine"]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    document = json.loads(completed.stdout)
    assert document["verdict"] == "invalid" and document["workload"] == "register"
    assert (run.out / "report.html").exists()
    history = run.history()
    assert read_edn((run.out / "history.edn").read_text()) == history
    operations = from_porcupine(read_porcupine((run.out / "history.porcupine.json").read_text()))
    assert {
        (e["process"], e["f"], e["key"], e["value"]) for e in operations if e["type"] == "ok"
    } == {(e["process"], e["f"], e["key"], e["value"]) for e in history if e["type"] == "ok"}
    # Asking for another workload's checker is a usage error, not an INVALID verdict.
    mismatch = [sys.executable, "-m", "raftctl", "check", str(run.out), "--workload", "bank"]
    completed = subprocess.run(mismatch, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "holds a register history" in completed.stderr


@pytest.fixture(scope="module")
def registercheck(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The outside judge (Porcupine, outside/), where Go is present: CI does
    not install it (its time budget); `make check-outside` does."""
    if shutil.which("go") is None:
        return None
    return build(tmp_path_factory.mktemp("outside") / "registercheck")
