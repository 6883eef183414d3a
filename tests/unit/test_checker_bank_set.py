"""The bank and set checkers: hand-made histories, and random histories from a
correct model and from a broken one (the checkers must be able to fail)."""

from __future__ import annotations

import random
from typing import Any

from raftctl.judges.bank import check_bank
from raftctl.judges.sets import check_set


def op(process: int, kind: str, f: str, value: Any, time: int) -> dict[str, Any]:
    return {"process": process, "type": kind, "f": f, "key": None, "value": value, "time": time}


# -- bank ----------------------------------------------------------------------------


def test_bank_reads_that_keep_the_total_are_valid() -> None:
    history = [
        op(1, "invoke", "transfer", {"from": "a", "to": "b", "amount": 5}, 1),
        op(1, "ok", "transfer", {"from": "a", "to": "b", "amount": 5}, 2),
        op(2, "invoke", "read", None, 3),
        op(2, "ok", "read", {"a": 5, "b": 15}, 4),
    ]
    result = check_bank(history, total=20)
    assert result.valid and result.reads == 1 and result.transfers_ok == 1
    assert "1 reads all sum" in result.explain()


def test_bank_a_read_with_money_made_or_lost_is_invalid() -> None:
    history = [op(2, "invoke", "read", None, 1), op(2, "ok", "read", {"a": 5, "b": 16}, 2)]
    result = check_bank(history, total=20)
    assert result.verdict == "invalid" and "a total of 21, not 20" in result.explain()


def test_bank_a_negative_balance_is_invalid_even_when_the_total_holds() -> None:
    history = [op(2, "invoke", "read", None, 1), op(2, "ok", "read", {"a": -1, "b": 21}, 2)]
    result = check_bank(history, total=20)
    assert result.verdict == "invalid" and "negative balances in a" in result.explain()


def test_bank_without_a_successful_read_is_unknown() -> None:
    history = [op(2, "invoke", "read", None, 1), op(2, "fail", "read", None, 2)]
    assert check_bank(history, total=20).verdict == "unknown"


def test_bank_a_read_missing_an_account_or_with_a_null_balance_is_invalid() -> None:
    initial = {"a1": 250, "a2": 250}
    missing = [op(2, "invoke", "read", None, 1), op(2, "ok", "read", {"a1": 500}, 2)]
    result = check_bank(missing, total=500, initial=initial)
    assert result.verdict == "invalid" and "read accounts ['a1']" in result.explain()
    null = [op(2, "invoke", "read", None, 1), op(2, "ok", "read", {"a1": None, "a2": 500}, 2)]
    result = check_bank(null, total=500, initial=initial)
    assert result.verdict == "invalid" and "no balance for a1" in result.explain()


def _transfer(
    process: int, source: str, target: str, amount: int, had: int, other: int, start: int
) -> list[dict[str, Any]]:
    asked = {"from": source, "to": target, "amount": amount}
    done = {**asked, "expected": {source: had, target: other}}
    return [
        op(process, "invoke", "transfer", asked, start),
        op(process, "ok", "transfer", done, start + 1),
    ]


def _read(process: int, balances: dict[str, int], start: int) -> list[dict[str, Any]]:
    return [
        op(process, "invoke", "read", None, start),
        op(process, "ok", "read", balances, start + 1),
    ]


def test_bank_a_transfer_applied_twice_is_caught_though_every_read_sums_right() -> None:
    """a -> b of 5 acknowledged once, but the reads show it applied twice (the
    total holds: only the transfer check can see it)."""
    initial = {"a": 10, "b": 10}
    history = [*_transfer(1, "a", "b", 5, 10, 10, 1), *_read(2, {"a": 0, "b": 20}, 10)]
    result = check_bank(history, total=20, initial=initial)
    assert result.verdict == "invalid" and result.transfers_verdict == "invalid"
    assert "no order of the transfers explains the reads" in result.explain()
    control = [*_transfer(1, "a", "b", 5, 10, 10, 1), *_read(2, {"a": 5, "b": 15}, 10)]
    result = check_bank(control, total=20, initial=initial)
    assert result.valid and result.transfers_verdict == "valid"
    assert result.transfers_checked == 1


def test_bank_a_transfer_applied_although_its_comparison_failed_is_caught() -> None:
    initial = {"a": 10, "b": 10}
    failed = [
        op(1, "invoke", "transfer", {"from": "a", "to": "b", "amount": 5}, 1),
        op(
            1,
            "fail",
            "transfer",
            {"from": "a", "to": "b", "amount": 5, "expected": {"a": 10, "b": 10}},
            2,
        )
        | {"error": "mismatch"},
        *_read(2, {"a": 5, "b": 15}, 10),
    ]
    result = check_bank(failed, total=20, initial=initial)
    assert result.verdict == "invalid"  # the balances it compared surely held: no mismatch
    assert "failed: the balances were not those" in result.explain()


def test_bank_an_unknown_transfer_may_have_happened_or_not() -> None:
    initial = {"a": 10, "b": 10}
    asked = {"from": "a", "to": "b", "amount": 5}
    unknown = [
        op(1, "invoke", "transfer", asked, 1),
        op(1, "info", "transfer", {**asked, "expected": {"a": 10, "b": 10}}, 2),
    ]
    for seen in ({"a": 10, "b": 10}, {"a": 5, "b": 15}):
        assert check_bank([*unknown, *_read(2, seen, 10)], 20, initial).valid
    assert not check_bank([*unknown, *_read(2, {"a": 0, "b": 20}, 10)], 20, initial).valid


def _bank_history(rng: random.Random, atomic: bool) -> list[dict[str, Any]]:
    """Transfers and reads on a simulated store. A non-atomic store lets a read
    land between the debit and the credit of a transfer."""
    balances = {"a": 50, "b": 50, "c": 50}
    history: list[dict[str, Any]] = []
    for time in range(0, 2000, 2):
        process = rng.randrange(5)
        if rng.random() < 0.6:
            source, target = rng.sample(sorted(balances), 2)
            amount = rng.randint(1, 20)
            value = {"from": source, "to": target, "amount": amount}
            history.append(op(process, "invoke", "transfer", value, time))
            if balances[source] < amount:
                history.append(op(process, "fail", "transfer", value, time + 1))
                continue
            balances[source] -= amount
            if not atomic and rng.random() < 0.3:
                history.append(op(99, "invoke", "read", None, time))
                history.append(op(99, "ok", "read", dict(balances), time + 1))
            balances[target] += amount
            history.append(op(process, "ok", "transfer", value, time + 1))
        else:
            history.append(op(process, "invoke", "read", None, time))
            history.append(op(process, "ok", "read", dict(balances), time + 1))
    return history


def test_bank_random_histories_of_an_atomic_store_are_valid() -> None:
    for seed in range(20):
        assert check_bank(_bank_history(random.Random(seed), atomic=True), total=150).valid


def test_bank_random_histories_of_a_torn_store_are_invalid() -> None:
    verdicts = {
        check_bank(_bank_history(random.Random(seed), atomic=False), total=150).verdict
        for seed in range(20)
    }
    assert verdicts == {"invalid"}


# -- set -----------------------------------------------------------------------------


def add(process: int, kind: str, element: Any, time: int) -> dict[str, Any]:
    return {
        "process": process,
        "type": kind,
        "f": "add",
        "key": "s",
        "value": element,
        "time": time,
    }


def final_read(elements: list[Any], time: int) -> list[dict[str, Any]]:
    return [
        {"process": 9, "type": "invoke", "f": "read", "key": "s", "value": None, "time": time},
        {"process": 9, "type": "ok", "f": "read", "key": "s", "value": elements, "time": time + 1},
    ]


def test_set_every_acknowledged_add_present_is_valid() -> None:
    history = [
        add(1, "invoke", "x", 1),
        add(1, "ok", "x", 2),
        add(2, "invoke", "y", 3),
        add(2, "info", "y", 4),  # may or may not have happened: absent is fine
        *final_read(["x"], 5),
    ]
    result = check_set(history)
    assert result.valid and result.acknowledged == 1 and result.uncertain == 1


def test_set_a_lost_acknowledged_add_is_invalid() -> None:
    history = [add(1, "invoke", "x", 1), add(1, "ok", "x", 2), *final_read([], 3)]
    result = check_set(history)
    assert result.verdict == "invalid" and result.lost == ["x"]
    assert "1 acknowledged adds lost" in result.explain()


def test_set_an_invented_or_failed_element_is_invalid() -> None:
    history = [add(1, "invoke", "x", 1), add(1, "fail", "x", 2), *final_read(["x", "z"], 3)]
    result = check_set(history)
    assert result.verdict == "invalid" and result.unexpected == ["x", "z"]


def test_set_without_a_final_read_is_unknown() -> None:
    history = [add(1, "invoke", "x", 1), add(1, "ok", "x", 2)]
    assert check_set(history).verdict == "unknown"


def test_set_random_histories_from_a_correct_and_a_lossy_store() -> None:
    for seed in range(20):
        rng = random.Random(seed)
        stored: list[int] = []
        history: list[dict[str, Any]] = []
        for element in range(200):
            process = rng.randrange(5)
            history.append(add(process, "invoke", element, element * 2))
            outcome = rng.choices(("ok", "fail", "info"), weights=(8, 1, 1))[0]
            if outcome == "ok" or (outcome == "info" and rng.random() < 0.5):
                stored.append(element)
            history.append(add(process, outcome, element, element * 2 + 1))
        assert check_set([*history, *final_read(stored, 1000)]).valid
        acknowledged = [e["value"] for e in history if e["type"] == "ok"]
        lossy = [e for e in stored if e != acknowledged[seed % len(acknowledged)]]
        assert check_set([*history, *final_read(lossy, 1000)]).verdict == "invalid"


def test_set_with_no_acknowledged_add_proves_nothing() -> None:
    history = [
        {"process": 0, "type": "invoke", "f": "add", "key": "set", "value": "1", "time": 1},
        {"process": 0, "type": "fail", "f": "add", "key": "set", "value": "1", "time": 2},
        {"process": 1, "type": "invoke", "f": "read", "key": "set", "value": None, "time": 3},
        {"process": 1, "type": "ok", "f": "read", "key": "set", "value": [], "time": 4},
    ]
    result = check_set(history)
    assert result.verdict == "unknown" and "no add was acknowledged" in result.explain()
