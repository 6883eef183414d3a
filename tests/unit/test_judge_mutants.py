"""The judges' mutation suite: histories broken in known ways must be found
invalid, and the unbroken ones must stay valid.

Register histories are generated valid by construction (each operation takes
effect at a random moment inside its interval), then broken by one mutation.
A mutation does not always make a small history invalid (a stale read may be
explained by a concurrent write), so the truth comes from a brute-force
reference that tries every order on histories small enough to enumerate: the
checker must agree with it on every history, broken or not. The table of
what was caught is printed (pytest -s) for the closing note.

Bank and set histories are broken in ways that are always wrong (a transfer
applied twice, money created, an acknowledged element lost).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from raftctl.judges.bank import check_bank
from raftctl.judges.linearizable import check, operations_from
from raftctl.judges.search import Operation
from raftctl.judges.sets import check_set

Event = dict[str, Any]
HISTORIES_PER_MUTATION = 150


# -- valid register histories ---------------------------------------------------------


def valid_register_history(
    rng: random.Random, count: int, overlap: bool = True, unknowns: bool = True
) -> list[Event]:
    """`count` operations on one register by three clients, each taking effect
    at a random moment inside its interval; some end `info` (a write or cas
    whose answer was lost: it took effect anyway) or fail with "mismatch".
    Without `overlap`, each operation begins after the previous one returned;
    without `unknowns`, no operation ends `info`."""
    state: Any = None
    written = 0
    clock = 0
    ends = {client: 0 for client in range(3)}
    planned = []
    for _ in range(count):
        client = rng.randrange(3)
        call = max(ends[client], clock) + rng.randint(1, 3)
        point = call + rng.randint(1, 4)
        ret = point + rng.randint(1, 4)
        ends[client] = ret
        clock = call if overlap else ret
        planned.append((point, client, call, ret))
    events: list[Event] = []
    for _point, client, call, ret in sorted(planned):
        roll = rng.random()
        if roll < 0.4:
            f, value, done_value, outcome, error = "read", None, state, "ok", None
        elif roll < 0.75:
            written += 1
            f, value = "write", f"v{written}"
            state, done_value, outcome, error = value, value, "ok", None
        else:
            written += 1
            expected = state if rng.random() < 0.6 else f"v{rng.randint(0, written)}"
            f, value = "cas", [expected, f"v{written}"]
            if expected == state:
                state, outcome, error = f"v{written}", "ok", None
            else:
                outcome, error = "fail", "mismatch"
            done_value = value
        if unknowns and f != "read" and outcome == "ok" and rng.random() < 0.1:
            outcome = "info"  # it happened, the client never heard
        events.append(
            {"process": client, "type": "invoke", "f": f, "key": "x", "value": value, "time": call}
        )
        done = {
            "process": client,
            "type": outcome,
            "f": f,
            "key": "x",
            "value": done_value,
            "time": ret,
        }
        if error:
            done["error"] = error
        events.append(done)
    return sorted(events, key=lambda event: (event["time"], event["type"] != "invoke"))


# -- the brute-force reference ------------------------------------------------------------


def brute_force_valid(events: list[Event]) -> bool:
    """Try every subset of the uncertain operations and every order of what
    is kept that respects real time; the register must accept one."""
    operations = operations_from(events)
    certain = [op for op in operations if op.certain]
    uncertain = [op for op in operations if not op.certain]
    for size in range(len(uncertain) + 1):
        for kept in itertools.combinations(uncertain, size):
            chosen = certain + list(kept)
            for order in itertools.permutations(chosen):
                if _respects_real_time(order) and _register_accepts(order):
                    return True
    return False


def _respects_real_time(order: tuple[Operation, ...]) -> bool:
    for position, later in enumerate(order):
        for earlier in order[position + 1 :]:
            if earlier.ret < later.call:  # `earlier` returned before `later` began
                return False
    return True


def _register_accepts(order: tuple[Operation, ...]) -> bool:
    state: Any = None
    for op in order:
        if op.f == "read":
            if op.value != state:
                return False
        elif op.f == "write":
            state = op.value
        else:
            expected, new = op.value
            if op.mismatch:
                if state == expected:
                    return False
            elif state == expected:
                state = new
            elif op.certain:
                return False
    return True


# -- mutations ----------------------------------------------------------------------------


def _completions(events: list[Event], f: str, outcome: str = "ok") -> list[int]:
    return [i for i, e in enumerate(events) if e["f"] == f and e["type"] == outcome]


def read_of_a_value_never_written(events: list[Event], rng: random.Random) -> bool:
    reads = _completions(events, "read")
    if not reads:
        return False
    events[rng.choice(reads)]["value"] = "never-written"
    return True


def read_of_another_written_value(events: list[Event], rng: random.Random) -> bool:
    """A stale (or future) value: often invalid, not always."""
    reads = _completions(events, "read")
    values = {e["value"] for e in events if e["f"] == "write" and e["type"] == "invoke"}
    if not reads or not values:
        return False
    read = events[rng.choice(reads)]
    others = sorted(values - {read["value"]})
    if not others:
        return False
    read["value"] = rng.choice(others)
    return True


def acknowledged_write_removed(events: list[Event], rng: random.Random) -> bool:
    """The write vanishes, but what it wrote is still read."""
    writes = _completions(events, "write")
    read_values = {e["value"] for e in events if e["f"] == "read" and e["type"] == "ok"}
    seen = [i for i in writes if events[i]["value"] in read_values]
    if not seen:
        return False
    done = events[rng.choice(seen)]
    events[:] = [e for e in events if not (e["process"] == done["process"] and _same_op(e, done))]
    return True


def _same_op(event: Event, done: Event) -> bool:
    return event["f"] == "write" and event["value"] == done["value"]


def cas_failed_although_its_value_held(events: list[Event], rng: random.Random) -> bool:
    """An acknowledged cas answered "mismatch" instead."""
    cases = _completions(events, "cas")
    if not cases:
        return False
    done = events[rng.choice(cases)]
    done["type"], done["error"] = "fail", "mismatch"
    return True


def cas_succeeded_on_a_value_never_held(events: list[Event], rng: random.Random) -> bool:
    cases = _completions(events, "cas")
    if not cases:
        return False
    chosen = rng.choice(cases)
    done = events[chosen]
    for event in events:
        if (
            event["f"] == "cas"
            and event["process"] == done["process"]
            and (event["value"] == done["value"])
        ):
            event["value"] = ["never-held", done["value"][1]]
    return True


def read_interval_shrunk(events: list[Event], rng: random.Random) -> bool:
    """A read that returns before it was really served: its interval ends at
    its call."""
    reads = _completions(events, "read")
    if not reads:
        return False
    done = events[rng.choice(reads)]
    invoke = next(
        e
        for e in reversed(events[: events.index(done)])
        if e["process"] == done["process"] and e["type"] == "invoke"
    )
    done["time"] = invoke["time"]
    events.sort(key=lambda event: (event["time"], event["type"] != "invoke"))
    return True


REGISTER_MUTATIONS: list[Callable[[list[Event], random.Random], bool]] = [
    read_of_a_value_never_written,
    read_of_another_written_value,
    acknowledged_write_removed,
    cas_failed_although_its_value_held,
    cas_succeeded_on_a_value_never_held,
    read_interval_shrunk,
]


def test_unbroken_histories_are_valid_for_the_checker_and_the_reference() -> None:
    rng = random.Random(16)
    for _ in range(200):
        events = valid_register_history(rng, rng.randint(1, 7))
        assert brute_force_valid(events), events
        assert check(events).verdict == "valid", events


def test_every_broken_register_history_the_reference_rejects_is_caught() -> None:
    """The checker agrees with the brute-force reference on every mutated
    history; the table says how many each mutation made invalid."""
    table: dict[str, Counter[str]] = {}
    for mutation in REGISTER_MUTATIONS:
        rng = random.Random(mutation.__name__)
        counts: Counter[str] = Counter()
        while counts["tried"] < HISTORIES_PER_MUTATION:
            events = valid_register_history(rng, rng.randint(2, 7))
            if not mutation(events, rng):
                continue
            counts["tried"] += 1
            truth = brute_force_valid(events)
            verdict = check(events).verdict
            assert verdict == ("valid" if truth else "invalid"), (mutation.__name__, events)
            counts["invalid" if not truth else "still valid"] += 1
            counts["caught" if verdict == "invalid" else "passed"] += 1
        assert counts["invalid"] > 0, f"{mutation.__name__} never broke a history"
        table[mutation.__name__] = counts
    print("\nmutation: caught / made invalid (of tried)")
    for name, counts in table.items():
        print(f"  {name}: {counts['caught']} / {counts['invalid']} ({counts['tried']})")


def test_always_invalid_register_mutations_are_always_caught_on_long_histories() -> None:
    """Past what the reference can enumerate: a read of a value never written,
    and an acknowledged cas turned into a mismatch in a history without
    overlap or unknown outcomes, are wrong whatever the order."""
    rng = random.Random(1616)
    for _ in range(40):
        events = valid_register_history(rng, 60)
        if read_of_a_value_never_written(events, rng):
            assert check(events).verdict == "invalid"
    for _ in range(40):
        events = valid_register_history(rng, 40, overlap=False, unknowns=False)
        if cas_failed_although_its_value_held(events, rng):
            assert check(events).verdict == "invalid"


# -- bank and set ---------------------------------------------------------------------------


def _bank_history(rng: random.Random, transfers: int) -> tuple[list[Event], dict[str, int]]:
    """Sequential transfers and reads of a correct bank."""
    balances = {"a0": 50, "a1": 50, "a2": 50}
    initial = dict(balances)
    events: list[Event] = []
    clock = 0
    for _ in range(transfers):
        source, target = rng.sample(sorted(balances), 2)
        amount = rng.randint(1, 10)
        asked = {"from": source, "to": target, "amount": amount}
        done = {**asked, "expected": {source: balances[source], target: balances[target]}}
        events.append(
            {
                "process": 0,
                "type": "invoke",
                "f": "transfer",
                "key": None,
                "value": asked,
                "time": clock + 1,
            }
        )
        if balances[source] >= amount:
            balances[source] -= amount
            balances[target] += amount
            events.append(
                {
                    "process": 0,
                    "type": "ok",
                    "f": "transfer",
                    "key": None,
                    "value": done,
                    "time": clock + 2,
                }
            )
        else:
            events.append(
                {
                    "process": 0,
                    "type": "fail",
                    "f": "transfer",
                    "key": None,
                    "value": asked,
                    "time": clock + 2,
                }
            )
        events.append(
            {
                "process": 1,
                "type": "invoke",
                "f": "read",
                "key": None,
                "value": None,
                "time": clock + 3,
            }
        )
        events.append(
            {
                "process": 1,
                "type": "ok",
                "f": "read",
                "key": None,
                "value": dict(balances),
                "time": clock + 4,
            }
        )
        clock += 4
    return events, initial


def test_bank_mutations_are_caught() -> None:
    rng = random.Random(7)
    caught: Counter[str] = Counter()
    for _ in range(30):
        events, initial = _bank_history(rng, 12)
        assert check_bank(events, 150, initial).verdict == "valid"
        oks = [i for i, e in enumerate(events) if e["f"] == "transfer" and e["type"] == "ok"]
        reads = [i for i, e in enumerate(events) if e["f"] == "read" and e["type"] == "ok"]
        if not oks:
            continue
        # A transfer applied twice: every later read shows it twice (totals hold).
        twice = [dict(e) for e in events]
        position = rng.choice(oks)
        done = twice[position]["value"]
        for i in reads:
            if i > position:
                balances = dict(twice[i]["value"])
                balances[done["from"]] -= done["amount"]
                balances[done["to"]] += done["amount"]
                twice[i] = {**twice[i], "value": balances}
        caught["transfer applied twice"] += check_bank(twice, 150, initial).verdict == "invalid"
        # Money created: one read holds one more.
        created = [dict(e) for e in events]
        i = rng.choice(reads)
        balances = dict(created[i]["value"])
        balances["a0"] += 1
        created[i] = {**created[i], "value": balances}
        caught["money created"] += check_bank(created, 150, initial).verdict == "invalid"
        caught["histories"] += 1
    assert caught["transfer applied twice"] == caught["money created"] == caught["histories"]


def test_a_lost_set_element_is_caught() -> None:
    rng = random.Random(3)
    for _ in range(30):
        elements = [f"e{n}" for n in range(rng.randint(1, 20))]
        events: list[Event] = []
        for n, element in enumerate(elements):
            events.append(
                {
                    "process": 0,
                    "type": "invoke",
                    "f": "add",
                    "key": "set",
                    "value": element,
                    "time": 2 * n,
                }
            )
            events.append(
                {
                    "process": 0,
                    "type": "ok",
                    "f": "add",
                    "key": "set",
                    "value": element,
                    "time": 2 * n + 1,
                }
            )
        final = {
            "process": 1,
            "type": "ok",
            "f": "read",
            "key": "set",
            "value": list(elements),
            "time": math.inf,
        }
        invoke = {**final, "type": "invoke", "value": None, "time": 10_000}
        assert check_set([*events, invoke, final]).verdict == "valid"
        lost = {**final, "value": elements[:-1]}
        assert check_set([*events, invoke, lost]).verdict == "invalid"


# -- any small history: the checker agrees with the reference ----------------------------

_small_operation = st.tuples(
    st.sampled_from(["read", "write", "cas"]),
    st.sampled_from([None, "a", "b"]),  # a read's result, a write's value, a cas's expected
    st.sampled_from(["a", "b", "c"]),  # a cas's new value
    st.sampled_from(["ok", "ok", "info", "mismatch"]),
    st.integers(0, 6),  # call
    st.integers(1, 4),  # duration
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_small_operation, min_size=1, max_size=5))
def test_any_small_register_history_is_judged_as_the_brute_force_reference_judges(
    planned: list[tuple[Any, ...]],
) -> None:
    events: list[Event] = []
    for process, (f, value, new, outcome, call, duration) in enumerate(planned):
        if f == "write" and value is None:
            value = "a"
        if outcome == "mismatch" and f != "cas":
            outcome = "ok"
        if f == "read" and outcome == "info":
            outcome = "ok"
        invoked = [value, new] if f == "cas" else None if f == "read" else value
        events.append(
            {
                "process": process,
                "type": "invoke",
                "f": f,
                "key": "x",
                "value": invoked,
                "time": call,
            }
        )
        done: Event = {
            "process": process,
            "type": "fail" if outcome == "mismatch" else outcome,
            "f": f,
            "key": "x",
            "value": value if f == "read" else invoked,
            "time": call + duration,
        }
        if outcome == "mismatch":
            done["error"] = "mismatch"
        events.append(done)
    events.sort(key=lambda event: (event["time"], event["type"] != "invoke"))
    truth = brute_force_valid(events)
    assert check(events).verdict == ("valid" if truth else "invalid"), events
