"""Chaos workloads: what the clients do, how it lands in the history, how it is judged.

Rules:
- Every written value is unique (client and counter), so a read names the
  write it saw.
- What an operation does (its f, key and new value) follows from the client's
  seeded random generator; a cas expects the value this client last saw of the
  key, so that some of them succeed.
- An operation ends `ok`, `fail` (it certainly did not happen: a cas or a
  transfer whose comparison failed, a read that timed out) or `info` (a write
  that timed out: it may still happen).
- Each workload ends with final reads after the cluster has healed; they go
  into the history like any other operation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from node.messages import Cas, Compare, Get, Keys, Operation, Put, SetAdd, SetMembers, Txn
from raftctl.client import Client
from raftctl.errors import Unavailable
from raftctl.judges.bank import check_bank
from raftctl.judges.linearizable import CHECK_STEPS_PER_KEY, MISMATCH
from raftctl.judges.linearizable import check as check_linearizable
from raftctl.judges.sets import check_set

if TYPE_CHECKING:
    from raftctl.chaos.shard_faults import CoordinatorKills
from raftctl.txn.child import run_in_child
from raftctl.txn.coordinator import PhaseLog, execute_txn

__all__ = [
    "WORKLOADS",
    "BankWorkload",
    "Completion",
    "Planned",
    "Verdict",
    "Workload",
    "make_workload",
    "workload_of",
]

REGISTER_KEYS = 8
BANK_ACCOUNTS = 5
BANK_INITIAL_BALANCE = 100
BANK_MAX_TRANSFER = 5


@dataclass(frozen=True, slots=True)
class Planned:
    """One operation as the history records its invocation."""

    f: str
    key: Any
    value: Any


@dataclass(frozen=True, slots=True)
class Completion:
    """How it ended: ok, fail or info, with the value the history records."""

    type: str
    value: Any = None
    node: str | None = None
    error: str | None = None  # why a definite fail failed ("mismatch")


@dataclass(slots=True)
class Verdict:
    """A checker's answer: valid, invalid or unknown, one line of why, and
    the operations a person should look at first."""

    checker: str
    verdict: str
    explanation: str
    offending: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checker": self.checker,
            "verdict": self.verdict,
            "explanation": self.explanation,
            "offending": self.offending,
            "details": self.details,
        }


def _served_by(client: Client, consistency: str, node: str | None) -> str | None:
    """The node that answered: a stale read's own node, else the leader found."""
    return node if consistency == "stale" else client.leader_hint


def _read_outcome(call: Callable[[], Completion]) -> Completion:
    """Run a read; a read that timed out changed nothing, so it failed."""
    try:
        return call()
    except Unavailable:
        return Completion("fail")


class Workload:
    """The interface; one instance per run, shared by the clients' threads
    (plans carry no shared state beyond what each client passes in)."""

    name: ClassVar[str]
    # Set by the run: under protocol gossip there is no cas and no leader (a
    # write goes to the client's own node, a set is the observed-remove set);
    # with `homed` clients every operation goes to the client's node first.
    gossip: bool = False
    homed: bool = False

    def setup(self, client: Client, timeout_s: float) -> None:
        """Make the initial state (before the history starts)."""

    def plan(self, rng: random.Random, client: int, counter: int, seen: dict[Any, Any]) -> Planned:
        raise NotImplementedError

    def execute(
        self, client: Client, op: Planned, consistency: str, node: str | None, timeout_s: float
    ) -> Completion:
        raise NotImplementedError

    def observe(self, seen: dict[Any, Any], op: Planned, done: Completion) -> None:
        """Remember what a client saw, for its next plans (nothing by default)."""

    def _writer(self, node: str | None) -> str | None:
        """Where a write goes first: the client's own node when it has one
        (gossip, or homed clients), else the leader the client finds."""
        return node if self.gossip or self.homed else None

    def final_reads(self) -> list[Planned]:
        raise NotImplementedError

    def check(self, events: list[dict[str, Any]]) -> Verdict:
        raise NotImplementedError


class RegisterWorkload(Workload):
    """read / write / cas over a few registers, checked for linearizability."""

    name = "register"

    def __init__(self, keys: int = REGISTER_KEYS, steps_max_per_key: int = CHECK_STEPS_PER_KEY):
        self.keys = [f"r{number}" for number in range(keys)]
        self.steps_max_per_key = steps_max_per_key

    def plan(self, rng: random.Random, client: int, counter: int, seen: dict[Any, Any]) -> Planned:
        key = rng.choice(self.keys)
        roll = rng.random()
        if roll < 0.5:
            return Planned("read", key, None)
        value = f"{client}.{counter}"
        if roll < 0.8 or self.gossip:  # gossip has no cas: reads and writes only
            return Planned("write", key, value)
        return Planned("cas", key, [seen.get(key), value])

    def execute(
        self, client: Client, op: Planned, consistency: str, node: str | None, timeout_s: float
    ) -> Completion:
        stored = f"chaos/{op.key}"
        if op.f == "read":

            def read() -> Completion:
                result = client.call(Get(stored), consistency, node, timeout_s)
                return Completion("ok", result["value"], _served_by(client, consistency, node))

            return _read_outcome(read)
        operation: Operation = (
            Put(stored, op.value) if op.f == "write" else Cas(stored, op.value[0], op.value[1])
        )
        try:
            result = client.call(operation, "linearizable", self._writer(node), timeout_s)
        except Unavailable:
            return Completion("info")
        if op.f == "cas" and not result.get("ok"):  # its comparison failed: evidence
            return Completion("fail", node=client.leader_hint, error=MISMATCH)
        return Completion("ok", op.value, client.leader_hint)

    def observe(self, seen: dict[Any, Any], op: Planned, done: Completion) -> None:
        """A cas expects the value this client last saw of its key."""
        if done.type == "ok":
            seen[op.key] = done.value[1] if op.f == "cas" else done.value

    def final_reads(self) -> list[Planned]:
        return [Planned("read", key, None) for key in self.keys]

    def check(self, events: list[dict[str, Any]]) -> Verdict:
        result = check_linearizable(events, self.steps_max_per_key)
        offending = []
        for key_result in result.keys:
            if key_result.blocked is not None:
                op = key_result.blocked
                offending.append(
                    {
                        "key": op.key,
                        "process": op.process,
                        "f": op.f,
                        "value": op.value,
                        "call": op.call,
                        "ret": None if op.ret == float("inf") else op.ret,
                        "certain": op.certain,
                    }
                )
        return Verdict(
            "linearizability",
            result.verdict,
            result.explain(),
            offending,
            {
                "keys": len(result.keys),
                "operations": sum(k.operations for k in result.keys),
                "steps": sum(k.steps for k in result.keys),
            },
        )


class BankWorkload(Workload):
    """Transfers between accounts as transactions, and reads of every balance.
    On a sharded cluster the accounts spread over the shards: a transfer
    between two shards and every read of all balances are transactions
    across shards (two-phase commit), and while `coordinator_kills` is armed
    (chaos's kill-coordinator) a transfer across shards runs in a child
    coordinator process that dies between its phases: its outcome is unknown
    (`info`) until a read shows it."""

    name = "bank"

    def __init__(self, accounts: int = BANK_ACCOUNTS, balance: int = BANK_INITIAL_BALANCE):
        self.accounts = [f"a{number}" for number in range(accounts)]
        self.balance = balance
        self.total = accounts * balance
        self.coordinator_kills: CoordinatorKills | None = None
        self.phases: PhaseLog | None = None  # where transactions across shards log their steps

    def setup(self, client: Client, timeout_s: float) -> None:
        for account in self.accounts:
            client.call(Put(f"bank/{account}", str(self.balance)), timeout_s=timeout_s)

    def plan(self, rng: random.Random, client: int, counter: int, seen: dict[Any, Any]) -> Planned:
        if rng.random() < 0.4:
            return Planned("read", None, None)
        source, target = rng.sample(self.accounts, 2)
        amount = rng.randint(1, BANK_MAX_TRANSFER)
        return Planned("transfer", None, {"from": source, "to": target, "amount": amount})

    def _balances(
        self,
        client: Client,
        consistency: str,
        node: str | None,
        timeout_s: float,
        accounts: list[str] | None = None,
    ) -> dict[str, int | None]:
        """The balances of `accounts` (default: all), read atomically."""
        chosen = accounts or self.accounts
        gets = tuple(Get(f"bank/{account}") for account in chosen)
        result = execute_txn(
            client, Txn((), gets, ()), timeout_s, consistency, node, on_phase=self.phases
        )
        return {
            account: None if answer["value"] is None else int(answer["value"])
            for account, answer in zip(chosen, result["results"], strict=True)
        }

    def execute(
        self, client: Client, op: Planned, consistency: str, node: str | None, timeout_s: float
    ) -> Completion:
        if op.f == "read":
            return _read_outcome(
                lambda: Completion(
                    "ok",
                    self._balances(client, consistency, node, timeout_s),
                    _served_by(client, consistency, node),
                )
            )
        source, target, amount = op.value["from"], op.value["to"], op.value["amount"]
        try:
            # Only the two accounts it moves money between: a transfer locks
            # no more than it needs.
            balances = self._balances(client, "linearizable", None, timeout_s, [source, target])
        except Unavailable:
            return Completion("fail")  # nothing was written
        have, other = balances[source], balances[target]
        if have is None or other is None or have < amount:  # insufficient funds
            return Completion("fail", node=client.leader_hint)
        transfer = Txn(
            (Compare(f"bank/{source}", str(have)), Compare(f"bank/{target}", str(other))),
            (Put(f"bank/{source}", str(have - amount)), Put(f"bank/{target}", str(other + amount))),
            (),
        )
        # The balances it compared go into the history, so that the checker can
        # step the transfer exactly (raftctl.judges.bank).
        recorded = {**op.value, "expected": {source: have, target: other}}
        shards = sorted({client.config.shard_of_key(f"bank/{a}") for a in (source, target)})
        if client.config.shards > 1:
            recorded["shards"] = shards
        kills = self.coordinator_kills
        failpoint = kills.failpoint if kills is not None and len(shards) > 1 else None
        if kills is not None and failpoint is not None and client.config.directory is not None:
            kills.began(f"{failpoint} {source}->{target}")
            child = run_in_child(
                client.config.directory,
                transfer,
                failpoint,
                timeout_s,
                self.phases.path if self.phases is not None else None,
            )
            if child.killed:
                kills.died(f"{failpoint} {source}->{target}")
                return Completion("info", {**recorded, "coordinator_killed": failpoint})
            answer = child.answer or {}
            if child.exit_code != 0 or not answer.get("ok"):
                return Completion("info", recorded)
            return Completion(
                "ok" if answer.get("succeeded") else "fail",
                recorded,
                None,
                None if answer.get("succeeded") else MISMATCH,
            )
        try:
            result = execute_txn(client, transfer, timeout_s, on_phase=self.phases)
        except Unavailable:
            return Completion("info", recorded)
        if not result.get("succeeded"):  # the balances changed meanwhile: evidence
            return Completion("fail", recorded, client.leader_hint, MISMATCH)
        return Completion("ok", recorded, client.leader_hint)

    def final_reads(self) -> list[Planned]:
        return [Planned("read", None, None)]

    def check(self, events: list[dict[str, Any]]) -> Verdict:
        initial = dict.fromkeys(self.accounts, self.balance)
        result = check_bank(events, self.total, initial)
        return Verdict(
            "bank",
            result.verdict,
            result.explain(),
            result.bad_reads[:20],
            {
                "reads": result.reads,
                "transfers_ok": result.transfers_ok,
                "total": self.total,
                "transfers_checked": result.transfers_checked,
                "transfers_verdict": result.transfers_verdict,
                "accounts": list(self.accounts),
                "balance": self.balance,
                "steps": result.steps,
                "blocked": result.blocked,
            },
        )


class SetWorkload(Workload):
    """Adds of unique elements; a final read of the whole set. Under raft a
    set is the keys under set/; under gossip the observed-remove set (a CRDT
    whose merge is a union), read as the replica asked holds it."""

    name = "set"

    def plan(self, rng: random.Random, client: int, counter: int, seen: dict[Any, Any]) -> Planned:
        return Planned("add", "set", f"{client}.{counter}")

    def execute(
        self, client: Client, op: Planned, consistency: str, node: str | None, timeout_s: float
    ) -> Completion:
        if op.f == "read":

            def read() -> Completion:
                if self.gossip:  # the observed-remove set, as this replica holds it
                    found = client.call(SetMembers("set"), consistency, node, timeout_s)
                    return Completion("ok", found["members"], node)
                result = client.call(Keys("set/"), consistency, node, timeout_s)
                elements = [key.removeprefix("set/") for key in result["keys"]]
                return Completion("ok", elements, _served_by(client, consistency, node))

            return _read_outcome(read)
        write: Operation = SetAdd("set", op.value) if self.gossip else Put(f"set/{op.value}", "1")
        try:
            client.call(write, "linearizable", self._writer(node), timeout_s)
        except Unavailable:
            return Completion("info")
        return Completion("ok", op.value, client.leader_hint)

    def final_reads(self) -> list[Planned]:
        return [Planned("read", "set", None)]

    def check(self, events: list[dict[str, Any]]) -> Verdict:
        result = check_set(events)
        offending = [{"lost": element} for element in result.lost[:20]] + [
            {"unexpected": element} for element in result.unexpected[:20]
        ]
        return Verdict(
            "set",
            result.verdict,
            result.explain(),
            offending,
            {
                "acknowledged": result.acknowledged,
                "uncertain": result.uncertain,
                "final_size": result.final_size,
                "lost": len(result.lost),
                "unexpected": len(result.unexpected),
            },
        )


WORKLOADS: dict[str, type[Workload]] = {
    "register": RegisterWorkload,
    "bank": BankWorkload,
    "set": SetWorkload,
}


def make_workload(name: str, shards: int = 1) -> Workload:
    """A workload for a cluster of `shards`: the bank then holds two accounts
    a shard at least, so that transfers cross shards."""
    if name == "bank" and shards > 1:
        return BankWorkload(max(BANK_ACCOUNTS, 2 * shards))
    return WORKLOADS[name]()


def workload_of(events: list[dict[str, Any]]) -> str | None:
    """Which workload wrote a history, from the operations in it."""
    fs = {event.get("f") for event in events if event.get("type") == "invoke"}
    if fs & {"transfer"}:
        return "bank"
    if fs & {"add"}:
        return "set"
    if fs and fs <= {"read", "write", "cas"}:
        return "register"
    return None
