"""A transaction run by a child `raftctl txn` process: a coordinator of its
own, which can die between its phases (RAFTCTL_TXN_FAILPOINT) without taking
the caller with it. Chaos's kill-coordinator fault runs transfers this way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.messages import Get, Put, Txn, TxnOperation
from raftctl.txn.coordinator import FAILPOINT_ENV, PHASES_ENV

__all__ = ["ChildOutcome", "run_in_child", "txn_document"]


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    """How the child ended: killed at its failpoint, or with an exit code
    and its JSON answer."""

    killed: bool
    exit_code: int
    answer: dict[str, Any] | None


def txn_document(transaction: Txn) -> dict[str, Any]:
    """`transaction` as `raftctl txn` reads it on stdin (DESIGN.md's shape)."""

    def op(operation: TxnOperation) -> dict[str, Any]:
        if isinstance(operation, Put):
            return {"op": "put", "key": operation.key, "value": operation.value}
        return {"op": "get" if isinstance(operation, Get) else "delete", "key": operation.key}

    return {
        "compare": [{"key": c.key, "value": c.value} for c in transaction.compare],
        "success": [op(o) for o in transaction.success],
        "failure": [op(o) for o in transaction.failure],
    }


def run_in_child(
    cluster_dir: Path,
    transaction: Txn,
    failpoint: str | None,
    timeout_s: float,
    phases: Path | None = None,
) -> ChildOutcome:
    """Run `transaction` in `python -m raftctl txn`, dying at `failpoint`,
    its phases appended to `phases`."""
    environment = {**os.environ}
    environment.pop(FAILPOINT_ENV, None)
    environment.pop(PHASES_ENV, None)
    if failpoint is not None:
        environment[FAILPOINT_ENV] = failpoint
    if phases is not None:
        environment[PHASES_ENV] = str(phases)
    command = [sys.executable, "-m", "raftctl", "--dir", str(cluster_dir), "--json"]
    command += ["txn", "--timeout", f"{timeout_s:g}"]
    result = subprocess.run(
        command,
        input=json.dumps(txn_document(transaction)),
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
        env=environment,
        check=False,
    )
    try:
        answer = json.loads(result.stdout) if result.stdout.strip() else None
    except ValueError:
        answer = None
    return ChildOutcome(result.returncode == -9, result.returncode, answer)
