"""`raftctl tour paxos`: the founding notes' Paxos, on five real nodes.

The story: a leader (the distinguished proposer) wins phase 1 once for
every future slot and chooses writes in phase 2. Then a write accepted by
two acceptors only (its leader cut off with one of them, the rest split so
that no one can lead) is not chosen, and its client hears "outcome
unknown". Its leader dies; when three nodes can talk again, the new
leader's phase 1 must hear from the one acceptor that holds the value, and
the promise it gets reports it: the new leader proposes it again, under its
own ballot, and the write the client gave up on is chosen after all. Last,
Paxos's liveness problem: without a distinguished proposer two proposers
preempt each other forever (the dueling-proposers control ends invalid),
and randomized backoff cures it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from raftctl.tours.narration import Tour, heading, run_tour

__all__ = ["main", "story"]

FAST = ["--election-timeout", "1000-2000", "--heartbeat", "100"]


def story(t: Tour) -> None:
    print("raftctl tour paxos: Multi-Paxos, its recovery rule, and its liveness problem")
    heading("1. Phase 1 once, then phase 2 per slot")
    # CheckQuorum off: a leader cut off from the majority keeps leading (and
    # taking writes it cannot get chosen) instead of stepping down.
    t.run(
        "start",
        "--protocol",
        "paxos",
        "--nodes",
        "5",
        "--base-port",
        "0",
        "--no-check-quorum",
        *FAST,
        quiet=True,
    )
    t.run("put", "color", "blue")
    t.run("status")
    t.new_events(("BecameCandidate", "BecameLeader"))
    print(
        "\n  The leader prepared a ballot (round.node) and a majority promised it: never to\n"
        "  accept a lower one. It then proposed a no-op (slot 1) and the write (slot 2)."
    )
    t.run("inspect", "log")

    heading("2. A value two acceptors took, and the promise that saves it")
    leader = t.document("status")["leader"]
    others = [n for n in ("n1", "n2", "n3", "n4", "n5") if n != leader]
    keeper, rest = others[0], others[1:]
    print(
        f"\n  Cut {leader} off with {keeper} only, and split the other three, so that no\n"
        "  side holds three of five: nothing can be chosen anywhere. (The cluster runs\n"
        f"  without CheckQuorum, so that {leader} goes on leading, and takes the write.)"
    )
    t.run("partition", f"{leader},{keeper}", f"{rest[0]},{rest[1]}", rest[2])
    written = t.run("put", "color", "red", "--timeout", "3")
    t.expect(written.returncode == 3, "a write was answered without a majority")
    slot = _slot_of(t, leader)
    t.run("inspect", "log", "--from", str(max(1, slot - 1)))
    print(
        f"\n  {leader} and {keeper} accepted red in slot {slot}: two of five, not chosen.\n"
        f"  Now {leader} dies, and {keeper}, {rest[0]} and {rest[1]} can talk again."
    )
    t.run("kill", leader)
    t.run("partition", f"{keeper},{rest[0]},{rest[1]}", rest[2])
    t.run("wait", "--leader", "--timeout", "30")
    t.new_events(("BecameLeader",))
    print(
        f"\n  Phase 1 needed three promises of {keeper}, {rest[0]} and {rest[1]}: {keeper}'s\n"
        f"  reported red in slot {slot} (the highest ballot there), so the new leader had\n"
        "  to propose red again, under its own ballot: it may have been chosen."
    )
    got = t.run("get", "color")
    t.expect(got.stdout == "red", f"the new leader did not recover red: read {got.stdout!r}")
    new_ballot = t.document("status")["nodes"]
    t.run("inspect", "log", "--from", str(max(1, slot - 1)))
    t.expect(_reproposed(new_ballot, t, slot), f"slot {slot} was not proposed again")
    t.run("heal")
    t.run("destroy", "--yes", show=False)
    t.close()

    heading("3. Dueling proposers, and the cure")
    print(
        "\n  Without a distinguished proposer every node asked to write prepares its own\n"
        "  ballot. Two clients on two nodes: each prepare preempts the other's accepts."
    )
    for backoff in (False, True):
        out = t.root / ("duel-backoff" if backoff else "duel")
        run = t.run(
            "chaos",
            "--protocol",
            "paxos",
            "--no-leader",
            *(["--backoff"] if backoff else []),
            "--control",
            "dueling",
            "--nodes",
            "3",
            "--clients",
            "3",
            "--duration",
            "3",
            "--seed",
            "3",
            "--out",
            str(out),
        )
        progress = _progress(out)
        t.run("destroy", "--yes", show=backoff)  # the next run makes its own cluster
        if backoff:
            t.expect(run.returncode == 0, "backoff did not bring progress back")
            print(f"\n  {progress}: with randomized backoff one proposer gets a quiet moment.")
        else:
            t.expect(run.returncode == 1, "the duel did not stall the writes")
            print(f"\n  {progress}")


def _slot_of(t: Tour, node: str) -> int:
    """The last slot `node` holds (the write it could not get chosen)."""
    rows = {row.get("id"): row for row in t.node_statuses()}
    last: int = (rows.get(node) or {}).get("last_log_index") or 1
    return last


def _reproposed(rows: list[dict[str, Any]], t: Tour, slot: int) -> bool:
    """The new leader holds `slot` under its own ballot."""
    leader = next((row for row in rows if row.get("role") == "leader"), None)
    if leader is None:
        return False
    logs = t.document("inspect", "log", "--from", str(slot), "--count", "1")
    mine = next((row for row in logs["nodes"] if row["id"] == leader["id"]), None)
    entries = (mine or {}).get("entries") or []
    return bool(entries) and entries[0].get("ballot") == leader.get("ballot")


def _progress(out: Any) -> str:
    try:
        results = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return "no results"
    check = next((c for c in results.get("checks", []) if c["checker"] == "progress"), None)
    return check["explanation"] if check else "no progress check"


def main() -> int:
    return run_tour(story, "tour-paxos")


if __name__ == "__main__":
    sys.exit(main())
