"""The linearizability checker, on hand-made and on generated histories."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from raftctl.judges.linearizable import check
from raftctl.judges.verdicts import INVALID, UNKNOWN, VALID, HistoryError

Event = dict[str, Any]


def op(
    process: int,
    f: str,
    key: str,
    value: Any,
    start: float,
    end: float | None,
    outcome: str = "ok",
    read: Any = None,
    error: str | None = None,
) -> list[Event]:
    """An invoke and its completion (end None: it never completed)."""
    events = [
        {
            "process": process,
            "type": "invoke",
            "f": f,
            "key": key,
            "value": None if f == "read" else value,
            "time": start,
        }
    ]
    if end is not None:
        events.append(
            {
                "process": process,
                "type": outcome,
                "f": f,
                "key": key,
                "value": read if f == "read" else value,
                "time": end,
                **({"error": error} if error else {}),
            }
        )
    return events


def history(*operations: list[Event]) -> list[Event]:
    events = [event for operation in operations for event in operation]
    return sorted(events, key=lambda e: e["time"])


def test_sequential_history_is_valid() -> None:
    result = check(
        history(
            op(1, "write", "x", 1, 0, 1),
            op(1, "read", "x", None, 2, 3, read=1),
            op(1, "cas", "x", [1, 2], 4, 5),
            op(1, "read", "x", None, 6, 7, read=2),
        )
    )
    assert result.verdict == VALID


def test_stale_read_is_invalid_and_explained() -> None:
    result = check(
        history(
            op(1, "write", "x", 1, 0, 1),
            op(1, "write", "x", 2, 2, 3),
            op(2, "read", "x", None, 4, 5, read=1),
        )
    )
    assert result.verdict == INVALID
    explanation = result.explain()
    assert "key 'x'" in explanation and "read 1" in explanation


def test_lost_write_is_invalid() -> None:
    result = check(history(op(1, "write", "x", 1, 0, 1), op(2, "read", "x", None, 2, 3, read=None)))
    assert result.verdict == INVALID


def test_read_of_a_value_never_written_is_invalid() -> None:
    assert check(history(op(1, "read", "x", None, 0, 1, read=9))).verdict == INVALID


def test_a_failed_write_did_not_happen() -> None:
    result = check(
        history(
            op(1, "write", "x", 3, 0, 1, outcome="fail"), op(2, "read", "x", None, 2, 3, read=3)
        )
    )
    assert result.verdict == INVALID


def test_two_cas_from_the_same_value_cannot_both_succeed() -> None:
    result = check(
        history(
            op(1, "write", "x", 0, 0, 1),
            op(1, "cas", "x", [0, 1], 2, 3),
            op(2, "cas", "x", [0, 2], 4, 5),
        )
    )
    assert result.verdict == INVALID


def test_overlapping_operations_may_take_effect_in_either_order() -> None:
    # The read overlaps the write: it may see the old value or the new one.
    for seen in (None, 1):
        result = check(
            history(op(1, "write", "x", 1, 0, 10), op(2, "read", "x", None, 1, 2, read=seen))
        )
        assert result.verdict == VALID


def test_an_info_write_may_take_effect_late_or_never() -> None:
    uncertain = op(1, "write", "x", 5, 0, 1, outcome="info")
    assert check(history(uncertain, op(2, "read", "x", None, 50, 51, read=5))).verdict == VALID
    assert check(history(uncertain, op(2, "read", "x", None, 50, 51, read=None))).verdict == VALID
    never_completed = op(1, "write", "x", 5, 0, None)
    assert check(history(never_completed, op(2, "read", "x", None, 5, 6, read=5))).verdict == VALID
    # ... but not before it was invoked.
    assert (
        check(
            history(
                op(2, "read", "x", None, 0, 1, read=5), op(1, "write", "x", 5, 2, 3, outcome="info")
            )
        ).verdict
        == INVALID
    )


def test_an_info_cas_takes_effect_only_where_its_comparison_holds() -> None:
    result = check(
        history(
            op(1, "write", "x", 0, 0, 1),
            op(2, "cas", "x", [0, 7], 2, 3, outcome="info"),
            op(3, "read", "x", None, 4, 5, read=7),
        )
    )
    assert result.verdict == VALID
    result = check(
        history(
            op(1, "write", "x", 1, 0, 1),
            op(2, "cas", "x", [0, 7], 2, 3, outcome="info"),
            op(3, "read", "x", None, 4, 5, read=7),
        )
    )
    assert result.verdict == INVALID


def test_keys_are_judged_separately() -> None:
    result = check(
        history(
            op(1, "write", "a", 1, 0, 1),
            op(1, "write", "a", 2, 2, 3),
            op(2, "read", "a", None, 4, 5, read=1),
            op(3, "write", "b", 1, 0, 1),
            op(3, "read", "b", None, 2, 3, read=1),
        )
    )
    assert result.verdict == INVALID
    assert {k.key: k.verdict for k in result.keys} == {"a": INVALID, "b": VALID}


def test_running_out_of_budget_is_unknown_never_valid() -> None:
    events = history(
        *[op(p, "write", "x", p, 0, 100) for p in range(12)],
        op(99, "read", "x", None, 101, 102, read=-1),
    )
    result = check(events, steps_max_per_key=50)
    assert result.verdict == UNKNOWN


def test_malformed_histories_are_refused() -> None:
    with pytest.raises(HistoryError):
        check([{"process": 1, "type": "ok", "f": "read", "key": "x", "value": 1, "time": 1}])
    with pytest.raises(HistoryError):
        check(op(1, "append", "x", 1, 0, 1))


def generated(seed: int, operations: int, keys: int, clients: int, stale: bool) -> list[Event]:
    """Clients on a register that takes effect at a random point of each call.
    With `stale`, one read returns a value provably overwritten before it began."""
    rng = random.Random(seed)
    clock = [0.0] * clients
    planned = []
    for number in range(operations):
        client = number % clients
        start = clock[client] + rng.uniform(0.1, 1.0)
        end = start + rng.uniform(0.1, 3.0)
        clock[client] = end
        f = rng.choice(("read", "write", "cas"))
        planned.append(
            (rng.uniform(start, end), client, f, f"k{rng.randrange(keys)}", number, start, end)
        )
    state: dict[str, Any] = {}
    events: list[Event] = []
    completed_writes: dict[str, list[tuple[float, Any]]] = {}
    for _point, client, f, key, number, start, end in sorted(planned):
        if f == "write":
            state[key] = number
            completed_writes.setdefault(key, []).append((end, number))
            events += op(client, f, key, number, start, end)
        elif f == "cas":
            expected = state.get(key)
            state[key] = number
            completed_writes.setdefault(key, []).append((end, number))
            events += op(client, f, key, [expected, number], start, end)
        else:
            events += op(client, f, key, None, start, end, read=state.get(key))
    if stale:
        # A read after two writes to one key completed returns the older one.
        for key, writes in completed_writes.items():
            finished = sorted(writes)
            if len(finished) >= 2:
                moment = finished[1][0] + 10_000
                events += op(clients, "read", key, None, moment, moment + 1, read=finished[0][1])
                break
    return sorted(events, key=lambda e: e["time"])


@pytest.mark.parametrize("seed", range(20))
def test_generated_histories_of_a_correct_register_are_valid(seed: int) -> None:
    assert check(generated(seed, 300, 4, 6, stale=False)).verdict == VALID


@pytest.mark.parametrize("seed", range(20))
def test_generated_histories_with_a_stale_read_are_invalid(seed: int) -> None:
    assert check(generated(seed, 300, 4, 6, stale=True)).verdict == INVALID


def test_ten_thousand_operations_over_twenty_keys() -> None:
    events = generated(7, 10_000, 20, 10, stale=False)
    started = time.perf_counter()
    result = check(events)
    elapsed = time.perf_counter() - started
    assert result.verdict == VALID, result.explain()
    print(f"checked 10,000 operations over 20 keys from 10 clients in {elapsed:.2f}s")


# -- a cas whose comparison failed is evidence (issue 16) --------------------------------


def test_a_cas_that_failed_although_its_expected_value_held_is_caught() -> None:
    """x surely held 1 for the whole cas: a server that answered "mismatch" lied."""
    result = check(
        history(
            op(1, "write", "x", 1, 0, 10),
            op(2, "cas", "x", [1, 2], 20, 30, outcome="fail", error="mismatch"),
            op(1, "read", "x", None, 40, 50, read=1),
        )
    )
    assert result.verdict == INVALID
    assert "failed: the value was not the expected one" in result.explain()


def test_a_failed_cas_is_valid_when_a_concurrent_write_explains_it() -> None:
    result = check(
        history(
            op(1, "write", "x", 1, 0, 10),
            op(3, "write", "x", 3, 15, 25),
            op(2, "cas", "x", [1, 2], 20, 30, outcome="fail", error="mismatch"),
        )
    )
    assert result.verdict == VALID


def test_a_fail_without_an_answer_tells_nothing() -> None:
    """The same cas failing with no mismatch answer (it was never run) is dropped."""
    result = check(
        history(
            op(1, "write", "x", 1, 0, 10),
            op(2, "cas", "x", [1, 2], 20, 30, outcome="fail"),
        )
    )
    assert result.verdict == VALID and result.keys[0].operations == 1


def test_a_deleted_acknowledged_write_is_exposed_by_a_failed_cas() -> None:
    """No read sees x after the write, but a cas expecting the written value
    failed with nothing concurrent: the write was lost."""
    result = check(
        history(
            op(1, "write", "x", 5, 0, 10),
            op(2, "cas", "x", [5, 6], 20, 30, outcome="fail", error="mismatch"),
        )
    )
    assert result.verdict == INVALID


def test_a_history_without_operations_proves_nothing() -> None:
    result = check([])
    assert result.verdict == UNKNOWN and "no operations" in result.explain()
    only_failed = history(op(1, "write", "x", 1, 0, 10, outcome="fail"))
    assert check(only_failed).verdict == UNKNOWN
