"""report.html from a history: one bar per operation, the offender marked,
fault windows and leader reigns drawn, nothing fetched from outside."""

from __future__ import annotations

import json

from raftctl.chaos.report import render_report
from raftctl.judges.history import History
from raftctl.judges.operations import pair_operations


def _stale_read_history() -> list[dict[str, object]]:
    now = [1_000_000_000]

    def clock() -> int:
        now[0] += 100_000_000
        return now[0]

    history = History(2, clock=clock)
    history.invoke(0, "write", "r0", "before")
    history.complete(0, "ok", node="n1")
    history.fault("partition", "start", target="one")
    history.invoke(0, "write", "r0", "after")
    history.complete(0, "ok", node="n1")
    history.invoke(1, "read", "r0", None, "n3")
    history.complete(1, "ok", "before", "n3")
    history.invoke(0, "write", "r1", "lost?")
    history.fault("partition", "end", target="one")
    return history.events


def test_a_page_with_the_offender_outlined_and_nothing_external() -> None:
    events = _stale_read_history()
    read = next(e for e in events if e["type"] == "invoke" and e["f"] == "read")
    results = {
        "verdict": "invalid",
        "replay": "raftctl chaos --control stale-read --seed 1",
        "workload": "register",
        "checks": [
            {
                "checker": "linearizability",
                "verdict": "invalid",
                "explanation": "key 'r0': not linearizable",
                "offending": [{"process": 1, "call": read["time"], "f": "read"}],
            }
        ],
        "clock": {"wall": 1000.0, "monotonic_ns": 1_000_000_000},
    }
    node_events = [
        {"time": 1000.05, "node": "n1", "event": "BecameLeader", "term": 2, "text": "n1 leads"},
        {"time": 1000.9, "node": "n3", "event": "TermChanged", "term": 3, "text": "n3 & <term>"},
    ]
    page = render_report(results, events, node_events)
    assert page.count('class="op ') == 4  # three completed, one never answered
    assert (
        page.count("offending") >= 2 and "cannot be placed: read &#x27;before&#x27; from n3" in page
    )
    assert page.count('<g class="fault">') == 1 and "partition:one" in page
    assert '<g class="reign">' in page and "n1 t2" in page
    assert "n3 &amp; &lt;term&gt;" in page  # node text is escaped
    assert 'id="throughput"' in page and 'id="latency"' in page
    assert "raftctl chaos --control stale-read --seed 1" in page
    for external in ("src=", "href=", "@import", "url("):
        assert external not in page


def test_operations_pair_invocations_with_completions() -> None:
    ops = pair_operations(_stale_read_history())
    assert [(op.f, op.type) for op in ops] == [
        ("write", "ok"),
        ("write", "ok"),
        ("read", "ok"),
        ("write", "open"),
    ]
    assert ops[2].result == "before" and ops[2].node == "n3"
    assert json.dumps(render_report({}, [], [])).count("svg") >= 2  # an empty history still draws
