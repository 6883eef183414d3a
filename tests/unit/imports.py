"""Reading a module's imports with `ast`, for the purity and arrow tests."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    """raftctl/sim/cluster.py -> raftctl.sim.cluster; a package's __init__.py is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: str) -> dict[str, Path]:
    """Every module of `package` (node or raftctl), by dotted name."""
    return {module_name(path): path for path in sorted((ROOT / package).rglob("*.py"))}


def imports_of(path: Path, *, type_checking: bool = False) -> set[str]:
    """The modules `path` imports, at any depth (a function's lazy import
    counts), leaving out `if TYPE_CHECKING:` blocks unless asked for. A
    `from package import name` counts as importing `package.name` too, since
    the name may be a module."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if (
                not type_checking
                and isinstance(node, ast.If)
                and getattr(node.test, "id", "") == "TYPE_CHECKING"
            ):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child])

    visit(tree.body)
    return found


def internal_imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports (names that are not modules dropped)."""
    return {name for name in imports_of(path) if name in known}
