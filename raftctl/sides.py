"""A client that lives beside one node: in a partition it reaches only the
nodes on that node's side, as faults.toml says at each send (its partition
groups and cut links). The controller itself is never cut off (DESIGN.md);
this is how a command or a chaos client plays a client that is: `--from
NODE` on the data commands, and chaos's homed clients.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["reachable_from"]


def reachable_from(home: str, node_ids: tuple[str, ...], path: Path) -> Callable[[str], bool]:
    """Whether a client beside `home` can reach a node now (`path`: the
    cluster directory, whose faults.toml is re-read when it changes)."""
    from node.faults import FaultFilter  # with tomli_w: only a command that needs it pays

    faults = FaultFilter(home, node_ids, path / "faults.toml")

    def reachable(node: str) -> bool:
        faults.reload()
        return faults.connected(home, node)

    return reachable
