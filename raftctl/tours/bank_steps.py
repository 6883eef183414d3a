"""The bank of the transaction tours: accounts bank/<name> holding integer
balances, moved by `raftctl txn` (comparisons on both balances, then both
writes, as raftctl.chaos's bank workload does) and read whole by a `txn` of
gets. Every transfer and read is recorded in a history in Jepsen's shape,
so that the tour ends by handing it to `raftctl check`, the same bank
checker a chaos run uses.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from node.messages import Get, Put, Txn
from raftctl.errors import Unavailable
from raftctl.judges.history import History
from raftctl.tours.narration import RAFTCTL, Tour, heading
from raftctl.txn.coordinator import execute_txn

__all__ = ["Bank", "Pending", "open_bank"]

READ_TIMEOUT_S = 20.0


class Pending:
    """A transfer running in the background (its `raftctl txn` process)."""

    def __init__(self, process: subprocess.Popen[str], value: dict[str, Any]) -> None:
        self.process = process
        self.value = value


class Bank:
    def __init__(self, tour: Tour, accounts: dict[str, int], name: str = "history") -> None:
        self.tour = tour
        self.accounts = sorted(accounts)
        self.initial = dict(accounts)
        self.total = sum(accounts.values())
        self.path: Path = tour.root / name / "history.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Client 0 is this class's; a story may play clients 1 and 2 by hand.
        self.history = History(3, self.path)

    def seed(self) -> None:
        """Every account's first balance, written by one transaction (the
        tour's own client: said, not shown as a command)."""
        puts = tuple(Put(f"bank/{name}", str(balance)) for name, balance in self.initial.items())
        execute_txn(self.tour.client(), Txn((), puts, ()), READ_TIMEOUT_S)
        opening = ", ".join(f"{name} = {balance}" for name, balance in self.initial.items())
        print(f"\n  The bank opens: {opening}.")

    def peek(self) -> dict[str, int | None]:
        """Every balance, read atomically by the tour's own client: not shown,
        not recorded (what a transfer compares is recorded with it)."""
        gets = tuple(Get(f"bank/{name}") for name in self.accounts)
        result = execute_txn(self.tour.client(), Txn((), gets, ()), READ_TIMEOUT_S)
        return self._balances(result["results"])

    def _balances(self, answers: list[dict[str, Any]]) -> dict[str, int | None]:
        """Each account's balance from the gets' answers, in account order."""
        return {
            name: None if answer["value"] is None else int(answer["value"])
            for name, answer in zip(self.accounts, answers, strict=True)
        }

    def read(self, command: bool = False) -> dict[str, int | None]:
        """Every balance, read atomically (one transaction of gets) and
        recorded in the history; with `command`, as the `raftctl txn` a
        person would type, else by the tour's own client (cheaper)."""
        gets = [{"op": "get", "key": f"bank/{name}"} for name in self.accounts]
        text = json.dumps({"compare": [], "success": gets, "failure": []}, separators=(",", ":"))
        self.history.invoke(0, "read", None)
        if command:
            result = self.tour.run("txn", "--json", stdin=text, quiet=True)
            if result.returncode != 0:
                self.history.complete(0, "fail")
                print(f"    (no answer: {result.stderr.strip()})")
                return {}
            balances = self._balances(json.loads(result.stdout)["results"])
        else:
            try:
                balances = self.peek()
            except Unavailable as error:
                self.history.complete(0, "fail")
                print(f"\n  Every balance, read in one transaction: no answer ({error})")
                return {}
        self.history.complete(0, "ok", balances)
        shown = ", ".join(f"{name} = {value}" for name, value in balances.items())
        held = sum(v for v in balances.values() if v is not None)
        lead = "    " if command else "\n  Every balance, read in one transaction: "
        print(f"{lead}{shown}   (the bank holds {held})")
        return balances

    def transfer_text(self, source: str, target: str, amount: int) -> tuple[str, dict[str, Any]]:
        """The transfer's `raftctl txn` input, made from the balances read now."""
        balances = self.peek()
        have, other = balances[source] or 0, balances[target] or 0
        document = {
            "compare": [
                {"key": f"bank/{source}", "value": str(have)},
                {"key": f"bank/{target}", "value": str(other)},
            ],
            "success": [
                {"op": "put", "key": f"bank/{source}", "value": str(have - amount)},
                {"op": "put", "key": f"bank/{target}", "value": str(other + amount)},
            ],
            "failure": [],
        }
        value = {"from": source, "to": target, "amount": amount,
                 "expected": {source: have, target: other}}  # fmt: skip
        return json.dumps(document, separators=(",", ":")), value

    def transfer(
        self,
        source: str,
        target: str,
        amount: int,
        *options: str,
        env: dict[str, str] | None = None,
    ) -> int:
        """Move `amount` by one `raftctl txn`, shown; its exit code."""
        text, value = self.transfer_text(source, target, amount)
        return self.submit(text, value, *options, env=env)

    def submit(
        self,
        text: str,
        value: dict[str, Any],
        *options: str,
        env: dict[str, str] | None = None,
        client: int = 0,
    ) -> int:
        """Run a transfer's `raftctl txn` (made by transfer_text), shown and
        recorded as history client `client`; its exit code."""
        invoked = {name: value[name] for name in ("from", "to", "amount")}
        self.history.invoke(client, "transfer", None, invoked)
        result = self.tour.run("txn", "--json", *options, stdin=text, env=env)
        self._complete(result.returncode, result.stdout, value, client)
        return result.returncode

    def start_transfer(self, source: str, target: str, amount: int, *options: str) -> Pending:
        """The same, left running in the background."""
        text, value = self.transfer_text(source, target, amount)
        self.history.invoke(0, "transfer", None, {"from": source, "to": target, "amount": amount})
        print(f"\n  $ echo '{text}' \\\n      | raftctl txn --json {' '.join(options)} &")
        process = subprocess.Popen(
            [RAFTCTL, "--dir", str(self.tour.path), "txn", "--json", *options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None
        process.stdin.write(text)
        process.stdin.close()
        return Pending(process, value)

    def finish_transfer(self, pending: Pending, timeout_s: float = 60.0) -> int:
        """Wait for a background transfer; show how it ended."""
        try:
            code = pending.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pending.process.kill()
            code = pending.process.wait()
        out = pending.process.stdout.read() if pending.process.stdout else ""
        err = pending.process.stderr.read() if pending.process.stderr else ""
        print(f"    [the background txn exited {code}] {(out + err).strip()}")
        self._complete(code, out, pending.value)
        return code

    def _complete(self, code: int, stdout: str, value: dict[str, Any], client: int = 0) -> None:
        if code == 0:
            succeeded = bool(json.loads(stdout).get("succeeded")) if stdout.strip() else False
            if succeeded:
                self.history.complete(client, "ok", value)
            else:
                self.history.complete(client, "fail", value, None, "mismatch")
        else:  # no answer, or the coordinator gave up: it may or may not have happened
            self.history.complete(client, "info", value)

    def check(self) -> str:
        """`raftctl check` on the tour's history, shown; its verdict."""
        self.history.close()
        arguments = ("check", str(self.path), "--workload", "bank", "--bank-total", str(self.total))
        answer = self.tour.run(*arguments)
        return answer.stdout.split(":", 1)[0].strip().lower()


def open_bank(tour: Tour, protocol: str, explanation: str) -> Bank:
    """The transaction tours' opening: two shards of one node each with
    `protocol`, what the tour is about, and a bank of two accounts (a1 on
    shard 1, a0 on shard 2) read once by the command a person would type."""
    tour.run("start", "--shards", "2", "--nodes", "1", "--txn-protocol", protocol,
             "--base-port", "0", "--heartbeat", "100", "--timeout", "30")  # fmt: skip
    print(explanation)
    heading("2. A bank of two accounts, and a transfer across the shards that works")
    bank = Bank(tour, {"a0": 100, "a1": 100})
    bank.seed()
    bank.read(command=True)
    return bank
