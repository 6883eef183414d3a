"""The outside judge (raftctl.chaos.outside): Porcupine, with our register
model in Go, must give the brute-force reference's verdict on mutated
histories, and ours. Runs where Go is present (skipped otherwise: CI does not
install it, to keep its time budget; `make check-outside` installs it)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from raftctl.chaos.outside import build, judge_events
from tests.unit.test_judge_mutants import (
    REGISTER_MUTATIONS,
    brute_force_valid,
    valid_register_history,
)


@pytest.fixture(scope="module")
def registercheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        pytest.skip("Go is not installed (apt-get install golang-go)")
    return build(tmp_path_factory.mktemp("outside") / "registercheck")


def test_a_failed_cas_is_evidence_for_porcupine_too(registercheck: Path, tmp_path: Path) -> None:
    def history(cas_error: str | None, concurrent_write: bool) -> list[dict[str, object]]:
        events: list[dict[str, object]] = [
            {"process": 0, "type": "invoke", "f": "write", "key": "x", "value": "1", "time": 0},
            {"process": 0, "type": "ok", "f": "write", "key": "x", "value": "1", "time": 10},
            {
                "process": 1,
                "type": "invoke",
                "f": "cas",
                "key": "x",
                "value": ["1", "2"],
                "time": 20,
            },
        ]
        if concurrent_write:
            events.append(
                {"process": 2, "type": "invoke", "f": "write", "key": "x", "value": "3", "time": 21}
            )
            events.append(
                {"process": 2, "type": "ok", "f": "write", "key": "x", "value": "3", "time": 22}
            )
        done = {
            "process": 1,
            "type": "fail",
            "f": "cas",
            "key": "x",
            "value": ["1", "2"],
            "time": 30,
        }
        if cas_error:
            done["error"] = cas_error
        return [*events, done]

    wrong = judge_events(history("mismatch", False), registercheck, tmp_path)
    assert (wrong["ours"], wrong["porcupine"]) == ("invalid", "invalid")
    explained = judge_events(history("mismatch", True), registercheck, tmp_path)
    assert (explained["ours"], explained["porcupine"]) == ("valid", "valid")


def test_porcupine_agrees_with_the_reference_on_broken_histories(
    registercheck: Path, tmp_path: Path
) -> None:
    verdicts = {"valid": 0, "invalid": 0}
    for mutation in REGISTER_MUTATIONS:
        rng = random.Random(f"outside-{mutation.__name__}")
        tried = 0
        while tried < 15:
            events = valid_register_history(rng, rng.randint(2, 7))
            if not mutation(events, rng):
                continue
            tried += 1
            truth = "valid" if brute_force_valid(events) else "invalid"
            result = judge_events(events, registercheck, tmp_path)
            assert (result["ours"], result["porcupine"]) == (truth, truth), (mutation, events)
            verdicts[truth] += 1
    assert verdicts["invalid"] > 30 and verdicts["valid"] > 5
