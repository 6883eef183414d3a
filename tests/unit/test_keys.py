"""CURVE keys and the settings that go with them: file modes, damaged key
files, cluster.toml's rules, and the door that names each key's role."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq
from zmq.utils import z85

from node.config import ClusterConfig, ConfigError, NodeAddress, load, save
from node.keys import CLIENT, CONTROLLER, create_key, keys_dir, load_key, node_role
from node.zap import ZapHandler, roles_of


def _curve_config(root: Path) -> ClusterConfig:
    nodes = tuple(
        NodeAddress(f"n{i}", "127.0.0.1", 7100 + i, public_key=create_key(root, f"n{i}").decode())
        for i in (1, 2, 3)
    )
    return ClusterConfig(
        nodes=nodes,
        curve=True,
        controller_public_key=create_key(root, CONTROLLER).decode(),
        client_public_key=create_key(root, CLIENT).decode(),
    )


def test_secrets_are_private_and_load_back(tmp_path: Path) -> None:
    public = create_key(tmp_path, "n1")
    assert keys_dir(tmp_path).stat().st_mode & 0o777 == 0o700
    path = keys_dir(tmp_path) / "n1.key"
    assert path.stat().st_mode & 0o777 == 0o600
    loaded_public, secret = load_key(tmp_path, "n1")
    assert loaded_public == public and len(secret) == 40


def test_a_missing_or_damaged_key_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the key"):
        load_key(tmp_path, "n9")
    create_key(tmp_path, "n1")
    (keys_dir(tmp_path) / "n1.key").write_text("not a key\n")
    with pytest.raises(ConfigError, match="not a CURVE key pair"):
        load_key(tmp_path, "n1")


def test_cluster_toml_keeps_the_keys_and_knows_where_it_was_read(tmp_path: Path) -> None:
    config = _curve_config(tmp_path)
    save(tmp_path / "cluster.toml", config)
    assert (tmp_path / "cluster.toml").stat().st_mode & 0o777 == 0o600
    loaded = load(tmp_path / "cluster.toml")
    assert loaded == config and loaded.directory == tmp_path


def test_curve_needs_every_key_and_no_curve_needs_loopback() -> None:
    node = NodeAddress("n1", "127.0.0.1", 7101)
    with pytest.raises(ConfigError, match="public key"):
        ClusterConfig(nodes=(node,), curve=True)
    with pytest.raises(ConfigError, match="beyond loopback"):
        ClusterConfig(nodes=(NodeAddress("n1", "10.1.2.3", 7101),))
    assert ClusterConfig(nodes=(node,)).curve is False  # an old cluster.toml: insecure


def test_the_door_names_each_key_by_its_role_and_refuses_strangers(tmp_path: Path) -> None:
    config = _curve_config(tmp_path)
    roles = roles_of(config)
    assert sorted(roles.values()) == sorted(
        [node_role("n1"), node_role("n2"), node_role("n3"), CONTROLLER, CLIENT]
    )
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        door = ZapHandler(context, config)
        known = next(key for key, role in roles.items() if role == CONTROLLER)
        stranger = z85.decode(zmq.curve_keypair()[0])
        request = [b"1.0", b"7", b"", b"127.0.0.1", b"", b"CURVE"]
        assert door.answer([*request, known])[2:5] == [b"200", b"OK", CONTROLLER.encode()]
        assert door.answer([*request, stranger])[2] == b"400"
        assert door.answer([b"1.0", b"8", b"", b"", b"", b"NULL"])[2] == b"400"
        assert door.answer([b"1.0"])[2] == b"500"
        assert door.refused == 3
        door.socket.close(linger=0)
    finally:
        context.term()
