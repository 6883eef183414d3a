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


def test_the_filter_does_what_it_is_asked_and_counts_it(tmp_path: Path) -> None:
    """Over 20,000 messages: the loss, duplication and delay asked for happen
    at their rates, and the counters (what status and chaos report) say so. A
    filter that ignored any of them fails here."""
    import random

    trouble = LinkFault(IDS, IDS, drop=0.3, delay_ms=50, jitter_ms=10, duplicate=0.2)
    save_faults(tmp_path / "faults.toml", Faults(1, (), (trouble,)))
    lossy = FaultFilter("n1", IDS, tmp_path / "faults.toml", random.Random(16))
    fates = [lossy.delays_ms("n1", "n2") for _ in range(20_000)]
    counts = lossy.counts["n2"]
    assert counts.sent == 20_000
    assert counts.lost == sum(1 for delays in fates if not delays)
    assert 0.28 < counts.lost / counts.sent < 0.32
    delivered = [delays for delays in fates if delays]
    assert counts.duplicated == sum(1 for delays in delivered if len(delays) == 2)
    assert 0.18 < counts.duplicated / len(delivered) < 0.22
    assert counts.delayed == len(delivered)
    assert all(40 <= delay <= 60 for delays in delivered for delay in delays)


def test_cuts_are_counted_on_both_sides(tmp_path: Path) -> None:
    split = _filter(tmp_path, Faults(1, (("n1",),), ()))
    assert split.delays_ms("n1", "n2") == [] and not split.admits("n3")
    assert split.admits("n1")  # itself
    assert split.counts["n2"].cut == 1 and split.counts["n3"].received_cut == 1
