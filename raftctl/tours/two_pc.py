"""`raftctl tour 2pc`: classic two-phase commit, and the blocking that is
its price (the founding notes: the coordinator is a single point of
failure, and a participant that voted yes must wait for it).

The story: a classic 2PC coordinator process and two shards; a transfer
that works; then the coordinator dies right after it logged a commit
decision and before telling anyone. Both participants voted yes, so neither
may decide, and asking each other cannot help: they hold their locks, and a
plain read or write of those accounts waits in vain. The coordinator comes
back, finds its decision in its log, and finishes the transfer: no money
lost (`raftctl check` says valid), but the accounts were frozen meanwhile.
"""

from __future__ import annotations

import sys

from node.config import COORDINATOR_ID
from node.messages import ArmFailpoint
from raftctl.tours.bank_steps import open_bank
from raftctl.tours.narration import Tour, admin, heading, run_tour, wait_until

__all__ = ["main", "story"]


def story(t: Tour) -> None:
    print("raftctl tour 2pc: classic two-phase commit, and what a dead coordinator costs")
    heading("1. Two shards and a classic 2PC coordinator process, id coord")
    bank = open_bank(
        t,
        "2pc-classic",
        "\n  The coordinator asks every shard to prepare (lock, check, vote), logs its decision\n"
        "  in its own WAL, then tells the shards. That log is the only place the decision lives.",
    )
    t.expect(bank.transfer("a1", "a0", 10) == 0, "the healthy 2PC transfer failed")

    heading("3. The coordinator dies after logging commit, before telling anyone")
    print(
        "\n  Behind the scenes the tour arms a failpoint: the coordinator exits at once after its\n"
        "  commit decision is synced to its log."
    )
    admin(t, COORDINATOR_ID, ArmFailpoint("crash-after-decide"))
    code = bank.transfer("a1", "a0", 30, "--timeout", "3")
    t.expect(code == 3, f"the transfer's outcome should be unknown (exit 3), not exit {code}")
    t.run("status")
    blocked = wait_until(lambda: all(row.get("txn_blocked") for row in t.node_statuses()))
    t.expect(blocked, "the participants did not report themselves blocked")
    t.new_events(("TxnBlocked",))

    heading("4. Blocked: the locks stay while the coordinator is away")
    t.expect(
        t.run("get", "bank/a0", "--timeout", "2").returncode == 3, "a locked read went through"
    )
    t.expect(
        t.run("put", "bank/a1", "0", "--timeout", "2").returncode == 3,
        "a locked write went through",
    )

    heading("5. The coordinator comes back and finishes the transfer from its log")
    t.run("restart", COORDINATOR_ID)
    finished = wait_until(lambda: not any(row.get("txn_prepared") for row in t.node_statuses()))
    t.expect(finished, "the restarted coordinator did not finish the transaction")
    balances = bank.read()
    t.expect(balances == {"a0": 140, "a1": 60}, f"the transfer was not applied: {balances}")
    holds = {row["id"]: row.get("txn_longest_hold_ms") for row in t.node_statuses()}
    print(f"\n  The longest each shard held the transfer's locks (ms): {holds}")

    heading("6. What the bank checker says")
    verdict = bank.check()
    t.expect(verdict == "valid", "the checker found a problem in a 2PC run")
    print(
        "\n  No money was lost: 2PC is safe. Its price is the blocking above, as long as the\n"
        "  coordinator is down. `raftctl tour 3pc` shows what removing it costs; the default\n"
        "  --txn-protocol 2pc replicates the decision by Raft, so no single process can block."
    )
    t.run("destroy", "--yes")


def main() -> int:
    return run_tour(story, "tour-2pc")


if __name__ == "__main__":
    sys.exit(main())
