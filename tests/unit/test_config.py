"""cluster.toml: one schema, strict about what it accepts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from node.config import ClusterConfig, ConfigError, NodeAddress, load, save


def three_nodes(**settings: object) -> ClusterConfig:
    nodes = tuple(NodeAddress(f"n{i}", "127.0.0.1", 7100 + i) for i in (1, 2, 3))
    return ClusterConfig(nodes=nodes, **settings)  # type: ignore[arg-type]


def test_round_trip(tmp_path: Path) -> None:
    config = three_nodes(fsync=False, election_timeout_ms_min=300, election_timeout_ms_max=600)
    save(tmp_path / "cluster.toml", config)
    assert load(tmp_path / "cluster.toml") == config


def test_milliseconds_become_ticks() -> None:
    raft = three_nodes(
        tick_ms=50,
        heartbeat_interval_ms=100,
        election_timeout_ms_min=1000,
        election_timeout_ms_max=2000,
    ).raft_config("n2")
    assert (
        raft.heartbeat_interval_ticks,
        raft.election_timeout_ticks_min,
        raft.election_timeout_ticks_max,
    ) == (2, 20, 40)
    assert raft.voters == ("n1", "n2", "n3") and raft.node_id == "n2"


def test_unknown_settings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    save(path, three_nodes())
    path.write_text(path.read_text().replace("fsync = true", "fsnyc = true"))
    with pytest.raises(ConfigError, match="fsnyc"):
        load(path)


@pytest.mark.parametrize(
    "settings",
    [
        {"heartbeat_interval_ms": 2000},
        {"election_timeout_ms_min": 3000, "election_timeout_ms_max": 2000},
        {"watch_history_changes": 0},
        {"watch_history_bytes": 0},
        {"tick_ms": 0},
    ],
)
def test_inconsistent_timings_are_refused(settings: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        three_nodes(**settings)


def test_duplicate_ids_and_ports_are_refused() -> None:
    node = NodeAddress("n1", "127.0.0.1", 7101)
    with pytest.raises(ConfigError, match="duplicate"):
        ClusterConfig(nodes=(node, node))
    with pytest.raises(ConfigError, match="share"):
        ClusterConfig(nodes=(node, NodeAddress("n2", "127.0.0.1", 7101)))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no cluster\.toml"):
        load(tmp_path / "cluster.toml")


def two_shards() -> ClusterConfig:
    nodes = tuple(
        NodeAddress(f"s{shard}n{i}", "127.0.0.1", 7100 + 10 * shard + i, shard=shard)
        for shard in (1, 2)
        for i in (1, 2, 3)
    )
    return ClusterConfig(nodes=nodes, shards=2)


def test_shards_place_keys_by_sha256_and_round_trip(tmp_path: Path) -> None:
    config = two_shards()
    save(tmp_path / "cluster.toml", config)
    assert load(tmp_path / "cluster.toml") == config
    # The documented rule, byte for byte: 1 + SHA-256's first 8 bytes mod shards.
    for key in ("alice", "bob", "k\udcff"):  # the last carries a byte that is not UTF-8
        data = key.encode("utf-8", "surrogateescape")
        expected = 1 + int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % 2
        assert config.shard_of_key(key) == expected
        assert config.shard_of_key(data) == config.shard_of_key(key)
    assert {config.shard_of_key(f"k{n}") for n in range(20)} == {1, 2}
    assert three_nodes().shard_of_key("anything") == 1


def test_a_node_sees_only_its_own_shard() -> None:
    config = two_shards()
    view = config.shard_view("s2n3")
    assert view.node_ids == ("s2n1", "s2n2", "s2n3")
    assert config.raft_config("s2n1").voters == ("s2n1", "s2n2", "s2n3")
    assert config.initial_voters(1) == ("s1n1", "s1n2", "s1n3")
    assert config.shard_node_ids(2) == ("s2n1", "s2n2", "s2n3")


def test_a_node_outside_the_shards_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"outside 1\.\.2"):
        ClusterConfig(nodes=(NodeAddress("s3n1", "127.0.0.1", 7101, shard=3),), shards=2)
    with pytest.raises(ConfigError, match="shards must be"):
        ClusterConfig(nodes=(NodeAddress("n1", "127.0.0.1", 7101),), shards=0)
