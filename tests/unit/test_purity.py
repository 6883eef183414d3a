"""The core is sans-I/O: node/raft.py and everything it imports from `node`
import nothing that touches the outside world (STYLE.md convention 1)."""

from __future__ import annotations

from pathlib import Path

import node.messages as messages_package
from tests.unit.imports import imports_of, modules

NODE = Path(__file__).resolve().parents[2] / "node"
FORBIDDEN = {
    "time",
    "os",
    "socket",
    "zmq",
    "threading",
    "logging",
    "random",
    "asyncio",
    "subprocess",
    "io",
    "pathlib",
    "select",
    "signal",
    "datetime",
    "secrets",
    "uuid",
}


def _core_closure() -> dict[str, set[str]]:
    """Every node.* module reachable from node.raft, node.kv and the gossip
    and Paxos cores' modules, with its imports."""
    known = modules("node")
    seen: dict[str, set[str]] = {}
    pending = [
        "node.raft",
        "node.kv",
        *(name for name in known if name.startswith(("node.gossip.", "node.paxos."))),
    ]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        imports = imports_of(known[module])
        if module == "node.messages":
            # Its names are imported on first use (PEP 562), not by a statement.
            imports |= set(messages_package._WHERE.values())
        seen[module] = imports
        pending.extend(name for name in imports if name in known)
    return seen


def test_core_modules_import_no_io() -> None:
    closure = _core_closure()
    assert {
        "node.raft",
        "node.log",
        "node.progress",
        "node.tracker",
        "node.replication",
        "node.quorum",
        "node.messages",
        "node.messages.codec",
        "node.ready",
        "node.kv",
        "node.gossip.crdt",
        "node.gossip.store",
    } <= set(closure)
    for module, imports in closure.items():
        bad = {name for name in imports if name.split(".")[0] in FORBIDDEN}
        assert not bad, f"{module} imports {sorted(bad)}: the core must stay pure"


def test_core_takes_randomness_only_by_injection() -> None:
    source = (NODE / "raft.py").read_text()
    assert "self._rng" in source
    assert "random." not in source.replace("random.Random", "")
