"""One PySyncObj process for `make bench-compare`, run by the interpreter of
its own venv (.venv-pysyncobj): it imports nothing of raftctl.

    python pysyncobj_member.py member SELF PARTNERS JOURNAL   a member, until killed
    python pysyncobj_member.py driver PARTNERS                a client

PySyncObj has no client protocol of its own: its clients are nodes. The
driver is a read-only node (PySyncObj's `selfNode=None`), which forwards
each command to the leader and is called back once the command is applied,
as a raftctl client is answered by the leader. Members keep PySyncObj's
defaults, with its journal file on (its durable log: written through mmap,
never fsynced per write).

The driver reads one JSON request a line on stdin and answers one JSON line:
{"in_flight": N, "duration_s": S} keeps N writes (100-byte values) in
flight for S seconds; {"in_flight": N, "keys": K} writes key/0 .. key/K-1.
The answer holds each acknowledged write's latency in seconds and the count
of failed ones.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from pysyncobj import SyncObj, SyncObjConf  # type: ignore[import-not-found]
from pysyncobj.batteries import ReplDict  # type: ignore[import-not-found]

VALUE = "v" * 100
LEADER_WAIT_S = 60.0
REQUEST_WAIT_S = 600.0


def _member(self_address: str, partners: list[str], journal: str) -> None:
    store = ReplDict()
    SyncObj(self_address, partners, conf=SyncObjConf(journalFile=journal), consumers=[store])
    while True:  # PySyncObj works in its own thread; the bench kills this process
        time.sleep(3600)


def _load(store: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Keep `in_flight` writes outstanding until the duration or the keys end."""
    in_flight = int(request["in_flight"])
    keys = request.get("keys")
    stop_at = time.monotonic() + float(request.get("duration_s", 0))
    latencies: list[float] = []
    errors = [0]
    issued = [0]
    outstanding = [0]
    lock = threading.RLock()  # a refused write is called back at once, inside `submit`
    finished = threading.Event()

    def more() -> bool:
        return issued[0] < keys if keys is not None else time.monotonic() < stop_at

    def submit() -> None:
        # Called with `lock` held.
        number = issued[0]
        issued[0] += 1
        outstanding[0] += 1
        started = time.perf_counter()

        def answered(_result: object, error: int) -> None:
            with lock:
                outstanding[0] -= 1
                if error == 0:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors[0] += 1
                if more():
                    submit()
                elif outstanding[0] == 0:
                    finished.set()

        store.set(f"key/{number}", VALUE, callback=answered)

    with lock:
        for _ in range(in_flight):
            if more():
                submit()
        if outstanding[0] == 0:
            finished.set()
    finished.wait(REQUEST_WAIT_S)
    with lock:
        return {"latencies": list(latencies), "errors": errors[0]}


def _driver(partners: list[str]) -> None:
    store = ReplDict()
    node = SyncObj(None, partners, consumers=[store])
    deadline = time.monotonic() + LEADER_WAIT_S
    while node._getLeader() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    print(json.dumps({"leader": str(node._getLeader())}), flush=True)
    for line in sys.stdin:
        print(json.dumps(_load(store, json.loads(line))), flush=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["member"] and len(argv) == 4:
        _member(argv[1], argv[2].split(","), argv[3])
    elif argv[:1] == ["driver"] and len(argv) == 2:
        _driver(argv[1].split(","))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
