"""Transactions across shards on real node processes: three shards (of one
node each: a shard's failover is the chaos run's and the example's), bank
transfers that cross shards from concurrent clients, a coordinator killed
between its phases (by its failpoint), and a participant shard killed with
a transaction prepared in its log. The total never changes and no lock
outlives its transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.messages import Compare, Get, Put, Txn
from raftctl.client import Client
from raftctl.cluster import ClusterDir, wait_for
from raftctl.txn.coordinator import FAILPOINT_ENV, execute_txn, run_transaction
from tests.proc.conftest import SETTINGS

RAFTCTL = str(Path(sys.executable).parent / "raftctl")
ACCOUNTS = [f"acct{number}" for number in range(6)]
BALANCE = 100


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterDir]:
    directory = ClusterDir.create(
        tmp_path_factory.mktemp("txn") / "cluster",
        1,
        base_port=0,
        shards=3,
        **{**SETTINGS, "txn_resolve_after_ms": 1000},
    )
    try:
        for node_id in directory.node_ids():
            directory.start(node_id)
        with Client(directory.config, "setup") as client:
            assert {directory.config.shard_of_key(a) for a in ACCOUNTS} == {1, 2, 3}
            for account in ACCOUNTS:
                client.call(Put(account, str(BALANCE)), timeout_s=60)
        yield directory
    finally:
        directory.stop_all(grace_s=3)
        for node_id in directory.node_ids():
            directory.kill(node_id)


def balances(client: Client, timeout_s: float = 30) -> dict[str, int]:
    read = Txn((), tuple(Get(account) for account in ACCOUNTS), ())
    result = execute_txn(client, read, timeout_s)
    return {a: int(r["value"]) for a, r in zip(ACCOUNTS, result["results"], strict=True)}


def transfer(client: Client, source: str, target: str, amount: int) -> bool:
    """One transfer: read both balances, then move the money if they are unchanged."""
    seen = balances(client)
    if seen[source] < amount:
        return False
    move = Txn(
        (Compare(source, str(seen[source])), Compare(target, str(seen[target]))),
        (Put(source, str(seen[source] - amount)), Put(target, str(seen[target] + amount))),
        (),
    )
    return bool(execute_txn(client, move, 30)["succeeded"])


def transfer_killed_at(
    bank: ClusterDir, failpoint: str, before: dict[str, int], amount: int
) -> tuple[str, str]:
    """`raftctl txn` moving `amount` between two accounts on different
    shards, SIGKILLed by its failpoint; the two accounts."""
    source = ACCOUNTS[0]
    shard_of = bank.config.shard_of_key
    target = next(a for a in ACCOUNTS if shard_of(a) != shard_of(source))
    body = {
        "compare": [],
        "success": [
            {"op": "put", "key": source, "value": str(before[source] - amount)},
            {"op": "put", "key": target, "value": str(before[target] + amount)},
        ],
    }
    result = subprocess.run(
        [RAFTCTL, "--dir", str(bank.path), "txn", "--timeout", "20"],
        input=json.dumps(body),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, FAILPOINT_ENV: failpoint},
    )
    assert result.returncode == -9, result.stderr  # SIGKILL at the failpoint
    return source, target


def locks_held(directory: ClusterDir) -> int:
    with Client(directory.config) as client:
        total = 0
        for node_id in directory.node_ids():
            status = client.status(node_id, 1.0)
            total += status["txn_locks"] if status else 1  # a silent node: unknown, not clear
        return total


def test_concurrent_cross_shard_transfers_keep_the_total(bank: ClusterDir) -> None:
    done = {"ok": 0, "failed": 0}
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with Client(bank.config, f"worker{index}") as client:
                for step in range(8):
                    source = ACCOUNTS[(index + step) % len(ACCOUNTS)]
                    target = ACCOUNTS[(index + 2 * step + 1) % len(ACCOUNTS)]
                    if source == target:
                        continue
                    moved = transfer(client, source, target, 1 + step % 5)
                    done["ok" if moved else "failed"] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    with Client(bank.config, "reader") as reader:
        while any(thread.is_alive() for thread in threads):
            assert sum(balances(reader).values()) == BALANCE * len(ACCOUNTS)
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert done["ok"] > 0
    with Client(bank.config, "final-reader") as reader:
        assert sum(balances(reader).values()) == BALANCE * len(ACCOUNTS)
    assert wait_for(lambda: locks_held(bank) == 0, 30)


@pytest.mark.parametrize(
    ("failpoint", "applied"), [("after-prepare", False), ("after-decide", True)]
)
def test_a_coordinator_killed_between_phases_is_finished_by_the_resolvers(
    bank: ClusterDir, failpoint: str, applied: bool
) -> None:
    with Client(bank.config, f"killed-{failpoint}") as client:
        before = balances(client)
        source, target = transfer_killed_at(bank, failpoint, before, 7)
        # Its locks block a plain read until a resolver finishes it from the record.
        started = time.monotonic()
        after = balances(client)
        assert time.monotonic() - started < 25
        moved = after[source] == before[source] - 7 and after[target] == before[target] + 7
        assert moved is applied and (applied or after == before)
        assert sum(after.values()) == BALANCE * len(ACCOUNTS)
    assert wait_for(lambda: locks_held(bank) == 0, 30)


def test_a_prepared_transaction_survives_its_participants_restart(bank: ClusterDir) -> None:
    """The coordinator dies after its decision; then a participant shard's
    node is killed and started again before any resolver finished it: the
    prepared part and its locks come back from the log, and the resolution
    still applies the decision there."""
    with Client(bank.config, f"restart-{os.getpid()}") as client:
        before = balances(client)
    source, target = transfer_killed_at(bank, "after-decide", before, 4)
    (participant,) = bank.config.shard_node_ids(bank.config.shard_of_key(target))
    bank.kill(participant)
    bank.start(participant)
    with Client(bank.config, f"after-restart-{os.getpid()}") as client:
        after = balances(client)
    assert after[source] == before[source] - 4 and after[target] == before[target] + 4
    assert sum(after.values()) == BALANCE * len(ACCOUNTS)
    assert wait_for(lambda: locks_held(bank) == 0, 30)


def test_run_transaction_reports_its_shards_and_id(bank: ClusterDir) -> None:
    with Client(bank.config, "named") as client:
        read = Txn((), tuple(Get(account) for account in ACCOUNTS), ())
        result = run_transaction(client, read, 30)
        assert result["shards"] == [1, 2, 3] and result["txn_id"].startswith("named.")
        assert [r["key"] for r in result["results"]] == ACCOUNTS
