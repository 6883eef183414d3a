"""The core is sans-I/O: node/raft.py and everything it imports from `node`
import nothing that touches the outside world (STYLE.md convention 1)."""

from __future__ import annotations

import ast
from pathlib import Path

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


def _runtime_imports(path: Path) -> set[str]:
    """Top-level module names imported outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child])

    visit(tree.body)
    return found


def _core_closure() -> dict[str, set[str]]:
    """Every node.* module reachable from node.raft, with its imports."""
    seen: dict[str, set[str]] = {}
    pending = ["node.raft", "node.kv"]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        imports = _runtime_imports(NODE / (module.split(".", 1)[1] + ".py"))
        seen[module] = imports
        pending.extend(name for name in imports if name.startswith("node."))
    return seen


def test_core_modules_import_no_io() -> None:
    closure = _core_closure()
    assert {
        "node.raft",
        "node.log",
        "node.progress",
        "node.quorum",
        "node.messages",
        "node.kv",
    } <= set(closure)
    for module, imports in closure.items():
        bad = {name for name in imports if name.split(".")[0] in FORBIDDEN}
        assert not bad, f"{module} imports {sorted(bad)}: the core must stay pure"


def test_core_takes_randomness_only_by_injection() -> None:
    source = (NODE / "raft.py").read_text()
    assert "self._rng" in source
    assert "random." not in source.replace("random.Random", "")
