"""`raftctl tour acid`: the bank transfer of the founding notes, without a
transaction and with one. Two failures are shown and caught by the bank
checker, then the same steps inside transactions, which the checker passes:

- atomicity: a transfer as two plain writes whose process dies between
  them destroys money; the same crash inside a transaction (its client
  killed after prepare) changes nothing, because the shards' resolvers
  abort it;
- isolation: two transfers out of one account that both read before
  either writes (the notes' four steps) lose an update and make money;
  the same two as compare-and-write transactions cannot: the second one's
  comparison fails, and it is tried again from fresh balances.
"""

from __future__ import annotations

import sys

from raftctl.tours.bank_steps import Bank
from raftctl.tours.narration import Tour, heading, run_tour, wait_until
from raftctl.txn.naive import naive_transfer_in_child

__all__ = ["main", "story"]


def story(t: Tour) -> None:
    print("raftctl tour acid: a bank across two shards, without transactions and with them")
    heading("1. Two shards, one Raft group each; bank/a1 on shard 1, bank/a0 and bank/a2 on 2")
    t.run("start", "--shards", "2", "--nodes", "1", "--base-port", "0",
          "--heartbeat", "100", "--timeout", "30")  # fmt: skip

    heading("2. Atomicity lost: a transfer as two plain writes, killed between them")
    bank = Bank(t, {"a0": 100, "a1": 100}, "atomicity-lost")
    bank.seed()
    bank.read(command=True)
    print(
        f"\n  $ python -m raftctl.txn.naive --dir {t.path} --from a1 --to a0 --amount 30 "
        "--crash-between"
    )
    bank.history.invoke(1, "transfer", None, {"from": "a1", "to": "a0", "amount": 30})
    child = naive_transfer_in_child(t.path, "a1", "a0", 30, crash_between=True)
    bank.history.complete(1, "info", None)
    print(f"    [killed after the debit, before the credit: exit {child.exit_code}]")
    t.expect(child.killed, "the naive transfer was not killed between its writes")
    bank.read()
    t.expect(bank.check() == "invalid", "the checker missed the destroyed money")

    heading("3. Atomicity kept: the same crash inside a transaction")
    bank = Bank(t, {"a0": 100, "a1": 100}, "atomicity-kept")
    bank.seed()
    bank.read()
    print(
        "\n  This raftctl coordinates the transaction itself; the failpoint kills it with\n"
        "  SIGKILL once both shards prepared (locked and voted), before any decision:"
    )
    bank.transfer("a1", "a0", 30, env={"RAFTCTL_TXN_FAILPOINT": "after-prepare"})
    print("\n  Each shard's leader finds the transaction prepared too long, writes the decision")
    print("  record 'aborted' (there was none), and releases the locks:")
    released = wait_until(lambda: not any(row.get("txn_prepared") for row in t.node_statuses()))
    t.expect(released, "the shards did not resolve the orphaned transaction")
    t.new_events(("TxnResolved",))
    balances = bank.read()
    t.expect(sum(v or 0 for v in balances.values()) == bank.total, "the transaction lost money")
    t.expect(bank.check() == "valid", "the checker faulted an atomic transfer")

    heading("4. Isolation lost: two transfers out of a0, both read before either writes")
    bank = Bank(t, {"a0": 100, "a1": 100, "a2": 100}, "isolation-lost")
    bank.seed()
    bank.read()
    plans = {1: ("a1", 10), 2: ("a2", 20)}
    seen: dict[int, tuple[int, int]] = {}
    for client, (to, amount) in plans.items():
        bank.history.invoke(client, "transfer", None, {"from": "a0", "to": to, "amount": amount})
    for client, (to, _) in plans.items():  # T1 reads, T2 reads
        print(f"\n  transfer {client} reads:")
        seen[client] = (_get(t, "bank/a0"), _get(t, f"bank/{to}"))
    for client, (to, amount) in plans.items():  # T1 writes, T2 writes
        have, other = seen[client]
        print(f"\n  transfer {client} writes what it computed:")
        t.run("put", "bank/a0", str(have - amount))
        t.run("put", f"bank/{to}", str(other + amount))
        value = {"from": "a0", "to": to, "amount": amount, "expected": {"a0": have, to: other}}
        bank.history.complete(client, "ok", value)
    balances = bank.read()
    t.expect(sum(v or 0 for v in balances.values()) != bank.total, "no update was lost")
    t.expect(bank.check() == "invalid", "the checker missed the lost update")

    heading("5. Isolation kept: each transfer compares the balances it read, in one transaction")
    bank = Bank(t, {"a0": 100, "a1": 100, "a2": 100}, "isolation-kept")
    bank.seed()
    first = bank.transfer_text("a0", "a1", 10)
    second = bank.transfer_text("a0", "a2", 20)  # read before the first one writes
    bank.submit(*first)
    code = bank.submit(*second)
    print("\n  The second one's comparison failed (succeeded: false): nothing was written.")
    print("  It is tried again from fresh balances:")
    t.expect(code == 0, "the second transfer did not run")
    bank.transfer("a0", "a2", 20)
    balances = bank.read()
    t.expect(sum(v or 0 for v in balances.values()) == bank.total, "the transactions lost money")
    t.expect(bank.check() == "valid", "the checker faulted isolated transfers")
    print(
        "\n  Atomicity: all of a transfer or none of it, whoever crashes. Isolation: a\n"
        "  transfer that read stale balances is refused, not applied. Both are the\n"
        "  transactions' work, and the bank checker tells the two worlds apart."
    )
    t.run("destroy", "--yes")


def _get(t: Tour, key: str) -> int:
    answer = t.run("get", key)
    return int(answer.stdout.strip())


def main() -> int:
    return run_tour(story, "tour-acid")


if __name__ == "__main__":
    sys.exit(main())
