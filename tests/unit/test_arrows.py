"""The house's one-way arrows (ARCHITECTURE.md): who may import whom.

- `node` never imports `raftctl`, not even its simulator.
- Storage, configuration and transport know the core's contract (node.ready,
  node.raft_config) but none of its rules (node.raft and its helpers).
- The judges (raftctl/judges) import neither `node` nor the rest of `raftctl`.
- Only the lab instruments that work on the node's parts directly (the
  simulator, its demo and bench, the storage bench) import the core or the
  node's runtime; the rest of the controller talks to nodes through messages
  and files.
- No import cycle, counting lazy imports inside functions.
"""

from __future__ import annotations

from tests.unit.imports import internal_imports, modules

NODE = modules("node")
RAFTCTL = modules("raftctl")
KNOWN = set(NODE) | set(RAFTCTL)

CORE_RULES = {"node.raft", "node.log", "node.progress", "node.quorum"}
NODE_RUNTIME = CORE_RULES | {
    "node.ready",
    "node.raft_config",
    "node.log_storage",
    "node.server",
    "node.storage",
    "node.wal",
    "node.disk",
    "node.transport",
    "node.kv",
}
STORAGE_AND_CONFIG = {
    "node.wal",
    "node.storage",
    "node.disk",
    "node.log_storage",
    "node.config",
    "node.transport",
    "node.faults",
    "node.decisions",
}


def _offenders(
    sources: dict[str, object], forbidden: set[str], allowed_prefixes: tuple[str, ...] = ()
) -> dict[str, set[str]]:
    found = {}
    for name, path in sources.items():
        bad = {
            imported
            for imported in internal_imports(path, KNOWN)  # type: ignore[arg-type]
            if imported in forbidden or imported.split(".")[0] in forbidden
        }
        if bad and not name.startswith(allowed_prefixes):
            found[name] = bad
    return found


def test_the_node_never_imports_the_controller() -> None:
    assert not _offenders(NODE, {"raftctl"})


def test_storage_and_configuration_do_not_import_the_core_rules() -> None:
    sources = {name: NODE[name] for name in STORAGE_AND_CONFIG}
    assert not _offenders(sources, CORE_RULES)


def test_the_judges_import_neither_the_node_nor_the_rest_of_the_controller() -> None:
    judges = {name: path for name, path in RAFTCTL.items() if name.startswith("raftctl.judges")}
    assert len(judges) >= 5
    others = {name for name in RAFTCTL if not name.startswith("raftctl.judges")} - {"raftctl"}
    assert not _offenders(judges, {"node"} | others)


INSTRUMENTS = (
    "raftctl.sim",
    "raftctl.demo.simulated",
    "raftctl.bench.simulated",
    "raftctl.bench.storage",
)


def test_only_the_lab_instruments_import_the_core_or_the_node_runtime() -> None:
    assert not _offenders(RAFTCTL, NODE_RUNTIME, allowed_prefixes=INSTRUMENTS)


def test_no_import_cycle() -> None:
    graph = {
        name: internal_imports(path, KNOWN) - {name} for name, path in {**NODE, **RAFTCTL}.items()
    }
    # A package's __init__ re-exporting its modules is not an arrow back.
    graph = {
        name: {target for target in targets if not name.startswith(target + ".")}
        for name, targets in graph.items()
    }
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph.get(name, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)) is not None:
            return found
    return None


def test_the_simulator_does_reach_the_core() -> None:
    """The rule above is not vacuous: the simulator drives the real core."""
    assert _offenders(RAFTCTL, CORE_RULES).keys() <= {
        name for name in RAFTCTL if name.startswith(INSTRUMENTS)
    }
    assert "node.raft" in internal_imports(RAFTCTL["raftctl.sim.cluster"], KNOWN)
