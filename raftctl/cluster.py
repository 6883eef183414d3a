"""The cluster directory and the supervision of its node processes.

Rules (DESIGN.md, "Detached node processes"):
- Nodes are spawned detached (their own session) and outlive the controller.
- <dir>/<id>/node.pid holds the pid and the process creation time; a pid is
  signalled only after psutil confirms that creation time, so a reused pid is
  never touched. A zombie counts as stopped.
- Processes are found by pid only, never by name.
- A node's stdout and stderr go to its node.log, so a traceback lands there.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from node.config import (
    COORDINATOR_ID,
    ClusterConfig,
    ConfigError,
    NodeAddress,
    load,
    node_id_for,
    save,
    write_private,
)
from node.keys import CLIENT, CONTROLLER, create_key
from node.lives import LIVES_FILE, REJOINING_FILE
from raftctl.errors import NoCluster, Unavailable, UnknownNode, UsageError

# psutil is imported inside the functions that use it: a put or a get never
# does, and the import costs a fresh `raftctl` process 20 ms.
if TYPE_CHECKING:
    import psutil

__all__ = ["ClusterDir", "free_ports", "wait_for"]

_CREATE_TIME_TOLERANCE_S = 0.05
# The coordinator process of 2pc-classic and 3pc (its id is COORDINATOR_ID).
COORDINATOR_MODULE = "raftctl.txn.coordinator_process"


EPHEMERAL_LOW_DEFAULT = 32768
_PORT_DRAWS_MAX = 500


def free_ports(count: int) -> list[int]:
    """Ports free now on 127.0.0.1, drawn at random below the kernel's
    ephemeral range. A port the kernel hands out for "port 0" lies inside that
    range, and between this probe and the node's bind the kernel may give it
    to another process's outgoing connection (a busy machine makes many: a
    demo collided so). Below the range only another listener can take it."""
    low = _ephemeral_low()
    draw = random.SystemRandom()
    probes: list[socket.socket] = []
    try:
        for _ in range(_PORT_DRAWS_MAX):
            if len(probes) == count or low - 1024 < 2048:
                break
            probe = socket.socket()
            try:
                probe.bind(("127.0.0.1", draw.randrange(max(1024, low - 12_000), low)))
            except OSError:
                probe.close()
                continue
            probes.append(probe)
        while len(probes) < count:  # no room below the range: let the kernel choose
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return EPHEMERAL_LOW_DEFAULT


def refuse_a_file(path: Path) -> None:
    """--dir must name a directory (or nothing yet): a file is a user's slip."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} is a file, not a cluster directory: name a directory with --dir")


class ClusterDir:
    """A cluster directory: cluster.toml, faults.toml and one folder per node."""

    def __init__(self, path: Path, shard: int | None = None) -> None:
        self.path = path
        # With `shard`, node_ids() are that shard's alone: a chaos fault
        # scoped to one shard sees only its nodes (raftctl.chaos.nemesis).
        self.shard = shard
        refuse_a_file(path)
        try:
            self.config: ClusterConfig = load(path / "cluster.toml")
        except ConfigError as error:
            if not (path / "cluster.toml").exists():
                raise NoCluster(
                    f"no cluster at {path} (no cluster.toml): run `raftctl start` first"
                ) from error
            raise UsageError(str(error)) from error

    @classmethod
    def create(
        cls,
        path: Path,
        node_count: int = 3,
        base_port: int = 7100,
        shards: int = 1,
        **settings: object,
    ) -> ClusterDir:
        """Write a new cluster.toml (refused if one exists): `shards` Raft
        groups of `node_count` nodes each, numbered shard by shard."""
        refuse_a_file(path)
        if (path / "cluster.toml").exists():
            raise UsageError(f"{path} already holds a cluster")
        if node_count < 1:
            raise UsageError("a cluster needs at least one node")
        if shards < 1:
            raise UsageError("a cluster needs at least one shard")
        total = node_count * shards
        ports = (
            free_ports(total)
            if base_port == 0
            else [base_port + number for number in range(1, total + 1)]
        )
        placed = [
            (node_id_for(shard, number, shards), shard)
            for shard in range(1, shards + 1)
            for number in range(1, node_count + 1)
        ]
        node_ids = [node_id for node_id, _ in placed]
        curve = bool(settings.pop("curve", True))
        # 2pc-classic and 3pc: a coordinator process, with a port and key of its own.
        coordinated = settings.get("txn_protocol", "2pc") != "2pc"
        coordinator_port = 0
        if coordinated:
            coordinator_port = free_ports(1)[0] if base_port == 0 else base_port + total + 1
            while coordinator_port in ports:
                coordinator_port = free_ports(1)[0]
        keys: dict[str, str] = {}
        if curve:
            # The keys first, in a directory only this user may enter (node.keys).
            path.mkdir(parents=True, exist_ok=True)
            coordinator = [COORDINATOR_ID] if coordinated else []
            keys = {
                name: create_key(path, name).decode()
                for name in [*node_ids, *coordinator, CONTROLLER, CLIENT]
            }
        nodes = tuple(
            NodeAddress(node_id, "127.0.0.1", port, public_key=keys.get(node_id, ""), shard=shard)
            for (node_id, shard), port in zip(placed, ports, strict=True)
        )
        try:
            config = ClusterConfig(
                nodes=nodes,
                next_node_number=node_count + 1,
                shards=shards,
                curve=curve,
                controller_public_key=keys.get(CONTROLLER, ""),
                client_public_key=keys.get(CLIENT, ""),
                coordinator_port=coordinator_port,
                coordinator_public_key=keys.get(COORDINATOR_ID, ""),
                **settings,  # type: ignore[arg-type]
            )
        except ConfigError as error:
            raise UsageError(str(error)) from error
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        save(path / "cluster.toml", config)
        return cls(path)

    def add_node(self, shard: int = 1) -> str:
        """Add a node to shard `shard`'s address book under a fresh id (never
        reused: the number counts across shards), on a free port, with a key of
        its own under CURVE; it joins with no configuration (`bootstrap = false`)."""
        config = self.config
        if not 1 <= shard <= config.shards:
            raise UsageError(f"no shard {shard}: this cluster has shards 1..{config.shards}")
        number = max(config.next_node_number, len(config.shard_node_ids(shard)) + 1)
        node_id = node_id_for(shard, number, config.shards)
        key = create_key(self.path, node_id).decode() if config.curve else ""
        address = NodeAddress(
            node_id, "127.0.0.1", free_ports(1)[0], bootstrap=False, public_key=key, shard=shard
        )
        self.config = self.config.with_changes(
            nodes=(*self.config.nodes, address), next_node_number=number + 1
        )
        save(self.path / "cluster.toml", self.config)
        return node_id

    def wipe_state(self, node_id: str) -> list[str]:
        """Delete a stopped node's Raft state (wal/, snapshots/, exit.json) and
        mark it as rejoining, so that it starts with no configuration and
        waits for the leader; its log files and its record of lives stay.
        Returns what was deleted, relative to the cluster directory."""
        node_dir = self.path / node_id
        wiped = []
        for name in ("wal", "snapshots", "exit.json"):
            target = node_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            else:
                continue
            wiped.append(f"{node_id}/{name}")
        node_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(node_dir / REJOINING_FILE, "written by raftctl rejoin\n")
        return wiped

    def end_rejoin(self, node_id: str) -> None:
        """The node is a member again and holds the leader's configuration."""
        (self.path / node_id / REJOINING_FILE).unlink(missing_ok=True)

    def forget_node(self, node_id: str) -> None:
        """Drop a removed node from the address book (its directory stays)."""
        self.config = self.config.with_changes(
            nodes=tuple(node for node in self.config.nodes if node.id != node_id)
        )
        save(self.path / "cluster.toml", self.config)

    # -- nodes and their processes ------------------------------------------------

    def node_ids(self) -> tuple[str, ...]:
        if self.shard is not None:
            return self.config.shard_node_ids(self.shard)
        return self.config.node_ids

    def process_ids(self) -> tuple[str, ...]:
        """Every process of the cluster: its nodes, and the coordinator
        process of 2pc-classic and 3pc (never scoped to a shard)."""
        coordinator = () if self.config.coordinator is None else (COORDINATOR_ID,)
        return (*self.node_ids(), *coordinator)

    def check_node(self, node_id: str) -> str:
        if node_id == COORDINATOR_ID and self.config.coordinator is not None:
            return node_id
        if node_id not in self.config.node_ids:
            coordinator = () if self.config.coordinator is None else (COORDINATOR_ID,)
            known = ", ".join((*self.config.node_ids, *coordinator))
            raise UnknownNode(f"no node {node_id!r} in this cluster (nodes: {known})")
        return node_id

    def process(self, node_id: str) -> psutil.Process | None:
        """The live process of `node_id`, confirmed by its creation time."""
        import psutil

        try:
            record = json.loads((self.path / node_id / "node.pid").read_text())
            process = psutil.Process(int(record["pid"]))
            if abs(process.create_time() - float(record["create_time"])) > (
                _CREATE_TIME_TOLERANCE_S
            ):
                return None  # the pid was reused by someone else
            if process.status() == psutil.STATUS_ZOMBIE:
                self._reap(process.pid)
                return None
            return process
        except (OSError, ValueError, KeyError, psutil.NoSuchProcess, psutil.AccessDenied):
            return None  # no pid file it can read: no process of ours

    def state(self, node_id: str) -> str:
        """running, paused or stopped."""
        import psutil

        process = self.process(node_id)
        if process is None:
            return "stopped"
        try:
            return "paused" if process.status() == psutil.STATUS_STOPPED else "running"
        except psutil.NoSuchProcess:
            return "stopped"

    def start(self, node_id: str, after_power_loss: bool = False) -> int:
        """Spawn `node_id` detached unless it runs; return its pid."""
        import psutil

        self.check_node(node_id)
        existing = self.process(node_id)
        if existing is not None:
            return int(existing.pid)
        node_dir = self.path / node_id
        if node_id != COORDINATOR_ID:
            self._refuse_a_vanished_voter(node_id)
        try:
            node_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            (node_dir / "exit.json").unlink(missing_ok=True)
        except OSError as error:
            raise UsageError(
                f"{node_dir} cannot hold node {node_id}: {error.strerror} "
                "(move it aside, or `raftctl destroy --yes` and start again)"
            ) from None
        command = [sys.executable, "-m", "node", "--dir", str(self.path), "--id", node_id]
        if node_id == COORDINATOR_ID:
            command = [sys.executable, "-m", COORDINATOR_MODULE, "--dir", str(self.path)]
        if after_power_loss:
            command.append("--after-power-loss")
        pid = _spawn_detached(command, node_dir / "node.log")
        created = psutil.Process(pid).create_time()
        record = node_dir / "node.pid.tmp"
        write_private(record, json.dumps({"pid": pid, "create_time": created}))
        record.replace(node_dir / "node.pid")
        return pid

    def _refuse_a_vanished_voter(self, node_id: str) -> None:
        """A node of the initial configuration whose whole directory is gone,
        while its peers have run (their record of lives exists), lost its votes
        and its log together with the record that would say so: started, it
        would be a fresh voter of term 0. Refused, naming the safe way back."""
        shard = self.config.shard_of_node(node_id)
        if (self.path / node_id).exists() or node_id not in self.config.initial_voters(shard):
            return
        others_ran = any(
            (self.path / other / LIVES_FILE).exists()
            for other in self.config.shard_node_ids(shard)
            if other != node_id
        )
        if others_ran:
            raise Unavailable(
                f"{node_id} could not start: {self.path / node_id} is gone, but {node_id} was "
                "a voter of this cluster, which has run: a node that forgot its votes and "
                f"what it acknowledged must not vote again; bring it back safely with: "
                f"raftctl rejoin {node_id}"
            )

    def signal(self, node_id: str, signum: int) -> bool:
        """Send `signum` to the confirmed process; False when it is not running."""
        import psutil

        process = self.process(node_id)
        if process is None:
            return False
        try:
            process.send_signal(signum)
        except psutil.NoSuchProcess:
            return False
        return True

    def stop(self, node_id: str, grace_s: float = 5.0) -> None:
        """Graceful stop: resume if paused, SIGTERM, SIGKILL after `grace_s`."""
        self.stop_many([node_id], grace_s)

    def stop_many(self, node_ids: Iterable[str], grace_s: float = 5.0) -> None:
        """Stop several nodes gracefully at once (one grace period for all)."""
        import psutil

        processes = [p for p in (self.process(node_id) for node_id in node_ids) if p is not None]
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
        stubborn = _wait_stopped(processes, grace_s)
        for process in stubborn:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        _wait_stopped(stubborn, grace_s)
        for process in processes:
            self._reap(process.pid)

    def kill(self, node_id: str) -> None:
        """SIGKILL, and wait until the process has stopped."""
        import psutil

        process = self.process(node_id)
        if process is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
        _wait_stopped([process], 5.0)
        self._reap(process.pid)

    def pause(self, node_id: str) -> bool:
        return self.signal(node_id, signal.SIGSTOP)

    def resume(self, node_id: str) -> bool:
        return self.signal(node_id, signal.SIGCONT)

    def power_cut(self, node_ids: Iterable[str]) -> None:
        """Kill `node_ids` at once, then restart them as after a power cut: their
        files are first cut back to what was synced (power-loss mode)."""
        import psutil

        victims = list(node_ids)
        processes = [p for p in (self.process(node_id) for node_id in victims) if p is not None]
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        _wait_stopped(processes, 5.0)
        for process in processes:
            self._reap(process.pid)
        for node_id in victims:
            self.start(node_id, after_power_loss=True)

    def stop_all(self, grace_s: float = 5.0) -> None:
        self.stop_many(self.process_ids(), grace_s)

    def start_failure(self, node_ids: list[str]) -> str | None:
        """Why one of `node_ids`, just started, stopped at once (its exit.json),
        or None while none has."""
        for node_id in node_ids:
            if self.state(node_id) == "stopped":
                record = self.exit_record(node_id) or {}
                return f"{node_id} could not start: {record.get('reason', 'it exited at once')}"
        return None

    def exit_record(self, node_id: str) -> dict[str, object] | None:
        try:
            record: dict[str, object] = json.loads((self.path / node_id / "exit.json").read_text())
            return record
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _reap(pid: int) -> None:
        """Collect the exit status of our own child so it does not stay a zombie."""
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _wait_stopped(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until every process has exited, or `timeout_s` passed; returns
    those still running. A zombie has exited: its parent (often init, for a
    detached node) may take a second or two to reap it, and nothing of it is
    left to wait for (DESIGN.md: a zombie counts as stopped)."""
    deadline = time.monotonic() + timeout_s
    pause_s = 0.005
    running = list(processes)
    while running:
        running = [process for process in running if _still_running(process)]
        if not running or time.monotonic() >= deadline:
            break
        time.sleep(pause_s)
        pause_s = min(pause_s * 2, 0.05)
    return running


def _still_running(process: psutil.Process) -> bool:
    import psutil

    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _spawn_detached(command: list[str], log_path: Path) -> int:
    """Start `command` in its own session with stdout and stderr appended to
    `log_path`. posix_spawn leaves no Popen object behind to complain that a
    process it never waits for is still running: nodes outlive us on purpose."""
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        return os.posix_spawn(
            command[0],
            command,
            _node_environment(),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(log)
        os.close(devnull)


def _node_environment() -> dict[str, str]:
    """The node must import this very checkout, wherever the controller runs."""
    environment = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    environment["PYTHONPATH"] = os.pathsep.join(
        [root, *filter(None, [environment.get("PYTHONPATH")])]
    )
    return environment


def wait_for(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll `condition()` until true or the deadline; the one waiting helper."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
