"""The transactions' negative controls: the founding notes' failures of the
textbook protocols and of a bank without ACID, each played on real processes
and judged by the bank checker.

- 3pc-partition: 3PC (shards 1 and 2, a coordinator process). The
  coordinator sends preCommit to shard 1, which acknowledges; there the
  coordinator is held (a failpoint) while a partition cuts it off from every
  node, then goes on. Shard 1, told preCommit and then nothing, commits on
  its timeout; shard 2, never told, aborts on its own. The transfer is half
  applied: the bank's total changed. Invalid.
- 2pc-blocking: classic 2PC. The coordinator dies right after it logged a
  commit decision, before telling anyone (a failpoint): every participant
  voted yes, so none may decide, and asking each other (mutual inquiry)
  cannot help. Their locks stay held for the whole downtime: a put and a
  get of a locked account wait in vain. The coordinator restarts, finds the
  decision in its log, and finishes the transfer. Valid (no money lost); the
  finding is the blocking window, reported as its own check.
- no-isolation: two transfers out of one account, each a read and then a
  write with no lock and no comparison, interleaved as the notes' four steps
  (both read, both write): one debit overwrites the other, and money
  appears. Invalid.
- no-atomicity: a transfer across two shards applied as two independent
  writes by a child process that dies between them (a failpoint): the debit
  is applied, the credit never. Money destroyed. Invalid.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from node.config import COORDINATOR_ID
from node.messages import ArmFailpoint, DisarmFailpoints, Get, Put, Txn
from raftctl.chaos.control_run import STEP_TIMEOUT_S, ControlRun, ControlScript
from raftctl.chaos.workloads import BankWorkload, Planned, Verdict, Workload
from raftctl.client import Client
from raftctl.cluster import wait_for
from raftctl.controller import Controller
from raftctl.errors import Unavailable
from raftctl.judges.verdicts import VALID
from raftctl.txn.naive import naive_transfer_in_child

__all__ = ["TXN_CONTROLS"]

BANK_ACCOUNTS = 4
TRANSFER = 30
BLOCKING_DOWNTIME_S = 3.0  # how long 2pc-blocking keeps its coordinator down
BLOCKED_TRY_S = 1.5  # how long a plain put or get of a locked account is given
# The participants' timeout (3PC) and inquiry delay (classic 2PC) in the controls.
RESOLVE_AFTER_MS = 800


def _bank() -> Workload:
    return BankWorkload(accounts=BANK_ACCOUNTS)


def _accounts_across(run: ControlRun) -> tuple[str, str]:
    """An account on shard 1 and one on shard 2 (money moves from the first)."""
    workload = run.workload
    assert isinstance(workload, BankWorkload)
    config = run.cluster.config
    by_shard: dict[int, str] = {}
    for account in workload.accounts:
        by_shard.setdefault(config.shard_of_key(f"bank/{account}"), account)
    return by_shard[1], by_shard[2]


def _coordinator_answers(run: ControlRun, check: Callable[[dict[str, Any]], bool]) -> bool:
    control = run.control()
    try:
        return wait_for(
            lambda: check(control.client.status(COORDINATOR_ID, 0.5) or {}), STEP_TIMEOUT_S
        )
    finally:
        control.close()


def _node_fields(run: ControlRun, control: Controller | None = None) -> dict[str, dict[str, Any]]:
    """Each node's status (through `control`, else a controller of its own)."""
    own = control is None
    control = control or run.control()
    try:
        return {node_id: control.client.status(node_id, 1.0) or {}
                for node_id in run.cluster.node_ids()}  # fmt: skip
    finally:
        if own:
            control.close()


def _wait_nodes(run: ControlRun, check: Callable[[dict[str, dict[str, Any]]], bool]) -> bool:
    control = run.control()  # one for the whole wait, not one per look
    try:
        return wait_for(lambda: check(_node_fields(run, control)), STEP_TIMEOUT_S, interval_s=0.1)
    finally:
        control.close()


def _setup(run: ControlRun) -> None:
    run.workload.setup(run.client, STEP_TIMEOUT_S)
    run.do(Planned("read", None, None))


def _final_read(run: ControlRun) -> tuple[dict[str, int | None], int]:
    """Every balance, read through the history, and what the bank holds."""
    balances: dict[str, int | None] = run.do(Planned("read", None, None)).value or {}
    return balances, sum(value for value in balances.values() if value is not None)


def _three_pc_partition(run: ControlRun) -> None:
    _setup(run)
    source, target = _accounts_across(run)
    control = run.control()
    try:
        control.client.admin(COORDINATOR_ID, ArmFailpoint("hold-after-first-precommit"), 2.0)
        transfer = Planned("transfer", None, {"from": source, "to": target, "amount": TRANSFER})
        done: list[Any] = []
        mover = threading.Thread(target=lambda: done.append(run.do(transfer)), daemon=True)
        mover.start()
        if not _coordinator_answers(run, lambda status: bool(status.get("held"))):
            raise Unavailable("the coordinator never reached its preCommit failpoint")
        run.fault("partition", "start", target="coordinator", groups=[[COORDINATOR_ID]])
        run.set_network(((COORDINATOR_ID,),))
        control.client.admin(COORDINATOR_ID, DisarmFailpoints(None), 2.0)
        mover.join(timeout=STEP_TIMEOUT_S * 2)
        # Each shard decides alone once its timeout passes.
        if not _wait_nodes(run, lambda rows: all(not r.get("txn_prepared") for r in rows.values())):
            raise Unavailable("the participants did not time out and decide")
        run.set_network()
        run.fault("partition", "end", target="coordinator", groups=[[COORDINATOR_ID]])
    finally:
        control.close()
    answer = done[0] if done else None
    balances, held = _final_read(run)
    run.notes.append(
        f"3PC moved {TRANSFER} from {source} (shard 1) to {target} (shard 2); preCommit "
        f"reached shard 1 only, then the coordinator was cut off. The client's transfer "
        f"ended {getattr(answer, 'type', 'without an answer')}"
        f"{' (its outcome unknown)' if getattr(answer, 'type', None) == 'info' else ''}. "
        f"Afterwards {source} = {balances.get(source)} and {target} = {balances.get(target)}: "
        f"the bank holds {held}"
        f" (it began with {run.workload.total})"  # type: ignore[attr-defined]
    )


def _two_pc_blocking(run: ControlRun) -> list[Verdict]:
    _setup(run)
    source, target = _accounts_across(run)
    control = run.control()
    try:
        control.client.admin(COORDINATOR_ID, ArmFailpoint("crash-after-decide"), 2.0)
    finally:
        control.close()
    run.fault("kill", "start", target="coordinator", nodes=[COORDINATOR_ID])
    crashed_at = time.monotonic()
    transfer = Planned("transfer", None, {"from": source, "to": target, "amount": TRANSFER})
    outcome = run.do(transfer, timeout_s=3.0)
    if not wait_for(lambda: run.cluster.state(COORDINATOR_ID) == "stopped", STEP_TIMEOUT_S):
        raise Unavailable("the coordinator did not stop at its failpoint")
    if not _wait_nodes(run, lambda rows: all(r.get("txn_blocked") for r in rows.values())):
        raise Unavailable("the participants did not report the transaction blocked")
    in_doubt = sum(r.get("txn_prepared") or 0 for r in _node_fields(run).values())
    tried = [
        _try_blocked(run, Put(f"bank/{source}", "0")),
        _try_blocked(run, Get(f"bank/{target}")),
    ]
    wait_for(lambda: False, max(0.0, BLOCKING_DOWNTIME_S - (time.monotonic() - crashed_at)))
    run.cluster.start(COORDINATOR_ID)
    run.fault("kill", "end", target="coordinator", nodes=[COORDINATOR_ID])
    # Finished everywhere, and each shard's watch has seen the locks go (the hold measured).
    finished = _wait_nodes(
        run,
        lambda rows: all(
            not r.get("txn_prepared") and r.get("txn_longest_hold_ms") for r in rows.values()
        ),
    )
    if not finished:
        raise Unavailable("the restarted coordinator did not finish the transaction")
    unblocked_s = time.monotonic() - crashed_at
    rows = _node_fields(run)
    held_ms = {node: int(row.get("txn_longest_hold_ms") or 0) for node, row in rows.items()}
    run.do(Planned("read", None, None))
    run.notes.append(
        f"classic 2PC: the coordinator logged the commit of {source} -> {target} and died "
        f"before telling anyone (the client was told {outcome.type}); {in_doubt} participants "
        f"held the transaction in doubt, blocked, for {unblocked_s:.1f} s until the restarted "
        f"coordinator finished it from its log"
    )
    details = {
        "in_doubt": in_doubt,
        "downtime_s": round(unblocked_s, 2),
        "lock_hold_ms": held_ms,
        "blocked_operations": tried,
    }
    explanation = (
        f"{in_doubt} participants held their locks for up to {max(held_ms.values() or [0])} ms "
        f"while the coordinator was down; {sum(1 for t in tried if t['blocked'])} of "
        f"{len(tried)} plain operations on those keys could not proceed; no money was lost"
    )
    return [Verdict("blocking", VALID, explanation, [], details)]


def _try_blocked(run: ControlRun, operation: Put | Get) -> dict[str, Any]:
    """A plain operation on a locked key: it waits for the lock, in vain."""
    started = time.monotonic()
    with Client(run.cluster.config, f"blocked-{run.seed}-{operation.key}") as client:
        try:
            client.call(operation, timeout_s=BLOCKED_TRY_S)
            blocked = False
        except Unavailable:
            blocked = True
    kind = "put" if isinstance(operation, Put) else "get"
    return {"op": kind, "key": operation.key, "blocked": blocked,
            "waited_s": round(time.monotonic() - started, 2)}  # fmt: skip


def _no_isolation(run: ControlRun) -> None:
    _setup(run)
    accounts = run.workload.accounts  # type: ignore[attr-defined]
    shared, first, second = accounts[0], accounts[1], accounts[2]
    key = f"bank/{shared}"

    def balance(name: str) -> int:
        return int(run.client.call(Get(f"bank/{name}"), timeout_s=STEP_TIMEOUT_S)["value"])

    # The notes' four steps: T1 reads, T2 reads, T1 writes, T2 writes.
    plans = [(first, 10), (second, 20)]
    for process, (to, amount) in enumerate(plans, start=1):
        run.history.invoke(process, "transfer", None, {"from": shared, "to": to, "amount": amount})
    seen = [(balance(shared), balance(to)) for to, _ in plans]
    for process, ((to, amount), (have, other)) in enumerate(zip(plans, seen, strict=True), 1):
        writes = (Put(key, str(have - amount)), Put(f"bank/{to}", str(other + amount)))
        run.client.call(Txn((), writes, ()), timeout_s=STEP_TIMEOUT_S)  # atomic, not isolated
        value = {"from": shared, "to": to, "amount": amount, "expected": {shared: have, to: other}}
        run.history.complete(process, "ok", value, run.client.leader_hint, None)
    _, held = _final_read(run)
    run.notes.append(
        f"two transfers out of {shared} ({plans[0][1]} to {first}, {plans[1][1]} to {second}) "
        f"each read {shared} = {seen[0][0]} before either wrote: the second write overwrote "
        f"the first debit (a lost update); the bank now holds {held}"
    )


def _no_atomicity(run: ControlRun) -> None:
    _setup(run)
    source, target = _accounts_across(run)
    value = {"from": source, "to": target, "amount": TRANSFER}
    run.history.invoke(1, "transfer", None, value)
    run.fault("kill", "start", target="client", nodes=["transfer"])
    child = naive_transfer_in_child(run.path, source, target, TRANSFER, crash_between=True)
    run.fault("kill", "end", target="client", nodes=["transfer"])
    run.history.complete(1, "info", value, None, "killed between its two writes")
    balances, held = _final_read(run)
    run.notes.append(
        f"a transfer of {TRANSFER} from {source} (shard 1) to {target} (shard 2) as two "
        f"independent writes; its process {'was killed' if child.killed else 'exited'} "
        f"between them. Afterwards {source} = {balances.get(source)}, {target} = "
        f"{balances.get(target)}: the bank holds {held}"
    )


_ACROSS = {"nodes": 1, "shards": 2, "txn_resolve_after_ms": RESOLVE_AFTER_MS}

TXN_CONTROLS: dict[str, tuple[ControlScript, Callable[[], Workload], dict[str, Any]]] = {
    "3pc-partition": (_three_pc_partition, _bank, {**_ACROSS, "txn_protocol": "3pc"}),
    "2pc-blocking": (
        _two_pc_blocking,
        _bank,
        {**_ACROSS, "txn_protocol": "2pc-classic", "expected": VALID},
    ),
    "no-isolation": (_no_isolation, _bank, {"nodes": 3}),
    "no-atomicity": (_no_atomicity, _bank, _ACROSS),
}
