"""The fault filter: partitions, and links cut one way or all ways."""

from __future__ import annotations

from pathlib import Path

from node.faults import FaultFilter, Faults, LinkFault, save_faults

IDS = ("n1", "n2", "n3")


def _filter(tmp_path: Path, faults: Faults, node_id: str = "n1") -> FaultFilter:
    save_faults(tmp_path / "faults.toml", faults)
    return FaultFilter(node_id, IDS, tmp_path / "faults.toml")


def test_a_link_that_drops_everything_is_a_one_way_cut(tmp_path: Path) -> None:
    cut = _filter(tmp_path, Faults(1, (), (LinkFault(("n1",), ("n2",), drop=1.0),)))
    assert not cut.connected("n1", "n2")
    assert cut.delays_ms("n1", "n2") == []
    assert cut.connected("n2", "n1")  # the other way still works
    assert cut.connected("n1", "n3")


def test_a_lossy_link_is_not_a_cut(tmp_path: Path) -> None:
    lossy = _filter(tmp_path, Faults(1, (), (LinkFault(IDS, IDS, drop=0.5),)))
    assert lossy.connected("n1", "n2")


def test_partition_groups_and_the_unnamed_group(tmp_path: Path) -> None:
    split = _filter(tmp_path, Faults(1, (("n1",),), ()))
    assert not split.connected("n1", "n2")
    assert split.connected("n2", "n3")
    assert split.faults.group_of("n3", IDS) == ["n2", "n3"]
