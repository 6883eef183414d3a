"""The transactions' negative controls, each to its expected verdict with
the figures that show why: 3PC half-applies a transfer under a partition,
classic 2PC blocks (valid, the blocking window its finding), and a bank
without isolation or atomicity makes or destroys money. The bank checker
must name the read that exposed it and the transfer behind it."""

from __future__ import annotations

from typing import Any

import pytest

INVALID_CONTROLS = {
    # control: (the total its final read sees, the transfer it names)
    "3pc-partition": (370, "30 from a1 to a0"),
    "no-isolation": (410, "20 from a0 to a2"),
    "no-atomicity": (370, "30 from a1 to a0"),
}


@pytest.mark.parametrize("control", sorted(INVALID_CONTROLS))
def test_a_bank_without_its_guarantees_is_found_invalid(chaos: Any, control: str) -> None:
    run = chaos("--control", control, "--seed", "1", name=control)
    assert run.exit_code == 1, run.stdout + run.stderr
    results = run.results
    assert (results["verdict"], results["control"], results["expected"]) == (
        "invalid", control, "invalid",
    )  # fmt: skip
    bank = results["checks"][0]
    assert (bank["checker"], bank["verdict"]) == ("bank", "invalid")
    total, transfer = INVALID_CONTROLS[control]
    (bad_read,) = bank["offending"]
    assert bad_read["suspects"], "the read names the transfers since the last good read"
    assert f"read a total of {total}, not 400" in bank["explanation"]
    assert transfer in bank["explanation"] and bad_read["at_s"] is not None
    assert all(c["verdict"] == "valid" for c in results["checks"][1:])  # only the bank failed
    # The report outlines the bad read and its suspects (drawn in a browser by
    # the Raft controls' test; here its words are enough).
    page = (run.out / "report.html").read_text()
    assert "bad read: " in page and "suspect: " + transfer in page
    if control == "3pc-partition":  # ... and names the transaction the shards split on
        assert 'id="diverged-note"' in page and "committed on shard 1, aborted on shard 2" in page


def test_classic_two_phase_commit_blocks_while_its_coordinator_is_down(chaos: Any) -> None:
    run = chaos("--control", "2pc-blocking", "--seed", "1", name="2pc-blocking")
    assert run.exit_code == 0, run.stdout + run.stderr
    results = run.results
    assert (results["verdict"], results["expected"], results["txn_protocol"]) == (
        "valid", "valid", "2pc-classic",
    )  # fmt: skip
    checks = {check["checker"]: check for check in results["checks"]}
    assert checks["bank"]["verdict"] == "valid"  # no money lost
    blocking = checks["blocking"]["details"]
    # Both participants held the transfer in doubt, their locks held all along,
    # and a plain read and write of its accounts could not proceed.
    assert blocking["in_doubt"] == 2
    assert all(held > 0 for held in blocking["lock_hold_ms"].values())
    assert [(t["op"], t["blocked"]) for t in blocking["blocked_operations"]] == [
        ("put", True), ("get", True),
    ]  # fmt: skip
    assert "blocking: valid:" in run.stdout and "could not proceed" in run.stdout
