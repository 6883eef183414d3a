"""A bank transfer with no transaction at all: read both balances, write the
debit, write the credit, each a plain single-key operation. It is what the
founding notes warn against, kept so that the laboratory can show the loss
(the no-atomicity control and `raftctl tour acid`).

    python -m raftctl.txn.naive --dir D --from a1 --to a0 --amount 30 [--crash-between]

With --crash-between the process kills itself (SIGKILL) after the debit and
before the credit, as a client that crashes at the worst moment would: the
money leaves one account and arrives nowhere.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from node.config import load
from node.messages import Get, Put
from raftctl.client import Client
from raftctl.txn.child import ChildOutcome

__all__ = ["naive_transfer", "naive_transfer_in_child"]

TIMEOUT_S = 10.0


def naive_transfer(
    client: Client, source: str, target: str, amount: int, crash_between: bool = False
) -> None:
    """Move `amount` from bank/`source` to bank/`target` by two plain writes."""
    have = int(client.call(Get(f"bank/{source}"), timeout_s=TIMEOUT_S)["value"])
    other = int(client.call(Get(f"bank/{target}"), timeout_s=TIMEOUT_S)["value"])
    client.call(Put(f"bank/{source}", str(have - amount)), timeout_s=TIMEOUT_S)
    if crash_between:
        os.kill(os.getpid(), signal.SIGKILL)
    client.call(Put(f"bank/{target}", str(other + amount)), timeout_s=TIMEOUT_S)


def naive_transfer_in_child(
    cluster_dir: Path, source: str, target: str, amount: int, crash_between: bool
) -> ChildOutcome:
    """Run `naive_transfer` in a child process (which may die on purpose)."""
    command = [sys.executable, "-m", "raftctl.txn.naive", "--dir", str(cluster_dir)]
    command += ["--from", source, "--to", target, "--amount", str(amount)]
    if crash_between:
        command.append("--crash-between")
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT_S * 4, check=False
    )
    return ChildOutcome(result.returncode == -signal.SIGKILL, result.returncode, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raftctl.txn.naive", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--from", dest="source", required=True)
    parser.add_argument("--to", dest="target", required=True)
    parser.add_argument("--amount", type=int, required=True)
    parser.add_argument("--crash-between", action="store_true")
    args = parser.parse_args(argv)
    with Client(load(args.dir / "cluster.toml"), f"naive-{os.getpid()}") as client:
        naive_transfer(client, args.source, args.target, args.amount, args.crash_between)
    return 0


if __name__ == "__main__":
    sys.exit(main())
