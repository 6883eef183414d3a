"""`raftctl tour 3pc`: three-phase commit across two shards, and how a
partition makes it lose money (the founding notes: 3PC removes 2PC's
blocking by letting participants decide on a timeout, and so can leave the
cluster inconsistent).

The story: a 3PC coordinator process and two shards; a transfer that works;
then a transfer whose preCommit reaches shard 1 only before the coordinator
is cut off. Shard 1 commits on its timeout, shard 2 aborts on its own, the
money is gone, and `raftctl check` says which read exposed it.
"""

from __future__ import annotations

import sys

from node.config import COORDINATOR_ID
from node.messages import ArmFailpoint, DisarmFailpoints, Status
from raftctl.tours.bank_steps import open_bank
from raftctl.tours.narration import Tour, admin, heading, run_tour, wait_until

__all__ = ["main", "story"]


def story(t: Tour) -> None:
    print("raftctl tour 3pc: three-phase commit across two shards, and a partition that breaks it")
    heading("1. Two shards (one Raft group each) and a 3PC coordinator process, id coord")
    bank = open_bank(
        t,
        "3pc",
        "\n  bank/a1 lives on shard 1, bank/a0 on shard 2. The coordinator runs canCommit (the\n"
        "  participants lock and vote), preCommit (every vote was yes), doCommit. A participant\n"
        "  told preCommit that then hears nothing commits on its own after 2 s; one that was\n"
        "  not told aborts.",
    )
    t.expect(bank.transfer("a1", "a0", 10) == 0, "the healthy 3PC transfer failed")
    bank.read()

    heading("3. preCommit reaches shard 1, then the coordinator is cut off")
    print(
        "\n  Behind the scenes the tour arms a failpoint: the coordinator stops right after\n"
        "  shard 1 acknowledged preCommit, so that the partition falls exactly there."
    )
    admin(t, COORDINATOR_ID, ArmFailpoint("hold-after-first-precommit"))
    pending = bank.start_transfer("a1", "a0", 30)
    held = wait_until(lambda: bool((admin(t, COORDINATOR_ID, Status()) or {}).get("held")))
    t.expect(held, "the coordinator never held its transaction after preCommit")
    t.run("partition", COORDINATOR_ID)
    admin(t, COORDINATOR_ID, DisarmFailpoints(None))
    print(
        "\n  The coordinator goes on: its preCommit to shard 2 is cut, so it decides abort, and\n"
        "  its abort is cut too. The participants wait 2 s, then each decides by what it saw:"
    )
    bank.finish_transfer(pending)
    decided = wait_until(lambda: not any(row.get("txn_prepared") for row in t.node_statuses()))
    t.expect(decided, "the participants did not decide on their timeouts")
    resolved = t.new_events(("TxnResolved",))
    outcomes = {e.get("outcome") for e in resolved if e["event"] == "TxnResolved"}
    t.expect({"committed", "aborted"} <= outcomes, f"no split decision: {outcomes}")
    t.run("heal")

    heading("4. The money")
    balances = bank.read()
    held_now = sum(v for v in balances.values() if v is not None)
    t.expect(held_now != bank.total, "the bank still holds its total: 3PC did not diverge")

    heading("5. What the bank checker says")
    verdict = bank.check()
    t.expect(verdict == "invalid", "the checker did not find the lost money")
    print(
        f"\n  Shard 1 committed the debit, shard 2 never the credit: {bank.total - held_now} is\n"
        "  gone. 3PC traded 2PC's blocking for this: a participant that decides alone can\n"
        "  be wrong. The default --txn-protocol 2pc keeps the decision in a Raft log instead."
    )
    t.run("destroy", "--yes")


def main() -> int:
    return run_tour(story, "tour-3pc")


if __name__ == "__main__":
    sys.exit(main())
