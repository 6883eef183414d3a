"""CURVE key pairs of a cluster: one per node, one for the controller (raftctl,
which sends admin and client requests) and one for plain clients (client
requests only).

Rules:
- The secrets live in `<cluster>/keys/<name>.key` (0600, in a 0700
  directory), each holding the public and the secret key in Z85, one a line;
  the public keys are also written into cluster.toml, where every process
  reads them (node.config).
- A role is the name a key signs in as: `node:<id>`, `controller` or
  `client` (node.zap hands it to every frame as its User-Id).
"""

from __future__ import annotations

from pathlib import Path

import zmq

from node.config import write_private
from node.errors import ConfigError

__all__ = [
    "CLIENT",
    "CONTROLLER",
    "KeyPair",
    "create_key",
    "keys_dir",
    "load_key",
    "node_role",
]

CONTROLLER = "controller"
CLIENT = "client"

KeyPair = tuple[bytes, bytes]  # (public, secret), Z85


def node_role(node_id: str) -> str:
    return f"node:{node_id}"


def keys_dir(cluster_dir: Path) -> Path:
    return cluster_dir / "keys"


def create_key(cluster_dir: Path, name: str) -> bytes:
    """A new key pair for `name` (a node id, CONTROLLER or CLIENT), its secret
    written where only this user can read it; returns the public key."""
    directory = keys_dir(cluster_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    public, secret = zmq.curve_keypair()
    write_private(directory / f"{name}.key", f"{public.decode()}\n{secret.decode()}\n")
    return public


def load_key(cluster_dir: Path, name: str) -> KeyPair:
    """The key pair of `name`; ConfigError, naming the file, when it is
    missing or damaged."""
    path = keys_dir(cluster_dir) / f"{name}.key"
    try:
        lines = path.read_bytes().split()
    except OSError as error:
        raise ConfigError(
            f"cannot read the key {path}: {error.strerror} (the cluster was started with "
            "CURVE; its keys/ directory must be readable by this user)"
        ) from error
    if len(lines) != 2 or not all(len(line) == 40 for line in lines):
        raise ConfigError(f"{path} is not a CURVE key pair (two Z85 lines of 40 characters)")
    return lines[0], lines[1]
