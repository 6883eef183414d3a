"""Exports for outside checkers read back to the history they came from."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.messages import data_text
from raftctl.chaos.export import (
    NEVER,
    EdnError,
    from_porcupine,
    read_edn,
    read_porcupine,
    to_edn,
    to_porcupine,
)
from raftctl.judges.history import History
from raftctl.judges.linearizable import check, operations_from


def _register_history() -> list[dict[str, object]]:
    now = [0]

    def clock() -> int:
        now[0] += 10
        return now[0]

    history = History(3, clock=clock)
    history.fault("partition", "start", target="ring", links=[{"from": ["n1"], "to": ["n2"]}])
    history.invoke(0, "write", "r0", "0.1", "n1")
    history.invoke(1, "read", "r0")
    history.complete(0, "ok", node="n1")
    history.complete(1, "ok", "0.1", "n2")
    history.invoke(2, "cas", "r0", ["0.1", "2.1"])
    history.complete(2, "info")  # unknown outcome: a fresh process follows
    history.invoke(2, "cas", "r1", [None, "2.2"])
    history.complete(2, "fail")  # no answer: it did not happen, and tells nothing
    history.invoke(2, "cas", "r0", ["9.9", "2.3"])
    history.complete(2, "fail", error="mismatch")  # evidence: r0 was not 9.9
    history.invoke(0, "read", "r1")
    history.complete(0, "ok", None)
    history.invoke(1, "write", "r1", 'quote " and, comma')
    history.complete(1, "info")
    history.fault("partition", "end", target="ring")
    return history.events


def test_edn_reads_back_to_the_same_history() -> None:
    events = _register_history()
    text = to_edn(events)
    assert ":f :write" in text and ':value ["r0" "0.1"]' in text and ":process :nemesis" in text
    assert read_edn(text) == events


def test_edn_of_bank_and_set_histories() -> None:
    history = History(1, clock=iter(range(100)).__next__)
    history.invoke(0, "transfer", None, {"from": "a0", "to": "a1", "amount": 3})
    history.complete(0, "ok")
    history.invoke(0, "read", None)
    history.complete(0, "ok", {"a0": 97, "a1": 103})
    history.invoke(0, "add", "set", "0.1")
    history.complete(0, "ok")
    history.invoke(0, "read", "set")
    history.complete(0, "ok", ["0.1"])
    assert read_edn(to_edn(history.events)) == history.events
    saved = json.loads(json.dumps(history.events))  # how a run saves its history
    assert saved == history.events


@pytest.mark.parametrize("text", ["{:a 1", "{:a}", "[1 2]", "{:f :read :value 7 :process 0}"])
def test_edn_that_is_not_a_history_is_refused(text: str) -> None:
    with pytest.raises(EdnError):
        read_edn(text)


def test_porcupine_holds_what_the_checker_judges() -> None:
    events = _register_history()
    operations = to_porcupine(events)
    assert [op["Input"]["Op"] for op in operations] == [1, 0, 3, 3, 0, 1]
    assert operations[2]["Return"] == NEVER and operations[2]["Output"]["Unknown"] is True
    assert operations[3]["Output"] == {"Value": "", "Ok": False}  # the failed cas, kept
    assert operations[4]["Output"] == {"Value": "", "Absent": True}  # not "": absent
    back = from_porcupine(read_porcupine(json.dumps(operations)))

    def shape(history: list[dict[str, object]]) -> list[tuple[object, ...]]:
        ops = operations_from(history)
        return sorted(
            (o.process, o.f, o.key, o.value, o.call, o.ret, o.certain, o.mismatch) for o in ops
        )

    assert shape(back) == shape([e for e in events if e["process"] != "nemesis"])
    assert check(back).verdict == check(events).verdict == "valid"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["read", "write", "cas"]),
            st.sampled_from(["r0", "r1", data_text(b"k\xff")]),
            # Values are bytes: text, and bytes that are not UTF-8.
            st.one_of(st.text(max_size=6), st.binary(max_size=6).map(data_text)),
            st.sampled_from(["ok", "fail", "info"]),
        ),
        max_size=12,
    )
)
def test_any_register_history_round_trips_through_edn(
    steps: list[tuple[str, str, str, str]],
) -> None:
    history = History(1, clock=iter(range(1000)).__next__)
    for f, key, text, outcome in steps:
        value = None if f == "read" else [None, text] if f == "cas" else text
        history.invoke(0, f, key, value)
        error = "mismatch" if f == "cas" and outcome == "fail" else None
        history.complete(0, outcome, text if f == "read" and outcome == "ok" else None, error=error)
    assert read_edn(to_edn(history.events)) == history.events
    saved = json.loads(json.dumps(history.events))  # how a run saves its history
    assert saved == history.events
