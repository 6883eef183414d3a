"""etcd beside raftctl, for `make bench-compare`: a three-member etcd cluster on
loopback, and a load generator that keeps N requests in flight against it.

Rules: etcd runs with its default settings (fsync on), each member on free
loopback ports in a temporary directory, stopped by pid whatever happens.
The load goes through etcd's JSON gateway (/v3/kv/put, /v3/kv/range; reads
are linearizable, etcd's default), one keep-alive HTTP/1.1 connection per
request in flight, all driven by one thread with `selectors`, the way
raftctl's client drives ZeroMQ: no thread per request, so that the client
costs both systems alike. Nothing here asserts a speed; it measures.
"""

from __future__ import annotations

import base64
import json
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftctl.cluster import free_ports, wait_for

__all__ = ["EtcdCluster", "HttpResponse", "parse_response", "run_etcd_load"]

ETCD = "etcd"


@dataclass(slots=True)
class EtcdCluster:
    """Three etcd members in `root`; `start()` them, `stop()` them by pid."""

    root: Path
    size: int = 3
    client_ports: list[int] = field(default_factory=list)
    peer_ports: list[int] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def create(cls, size: int = 3) -> EtcdCluster:
        if shutil.which(ETCD) is None:
            raise FileNotFoundError("etcd is not installed (make bench-compare installs it)")
        ports = free_ports(2 * size)
        return cls(Path(tempfile.mkdtemp(prefix="raftctl-etcd-")), size, ports[:size], ports[size:])

    @property
    def names(self) -> list[str]:
        return [f"m{i + 1}" for i in range(self.size)]

    def endpoint(self, name: str) -> str:
        return f"http://127.0.0.1:{self.client_ports[self.names.index(name)]}"

    def start(self, name: str | None = None, timeout_s: float = 30) -> None:
        """Start every member (or one, again: its data directory is kept)."""
        initial = ",".join(
            f"{n}=http://127.0.0.1:{port}"
            for n, port in zip(self.names, self.peer_ports, strict=True)
        )
        for index, member in enumerate(self.names):
            if name is not None and member != name:
                continue
            log = (self.root / f"{member}.log").open("ab")
            self.processes[member] = subprocess.Popen(
                [
                    ETCD,
                    "--name", member,
                    "--data-dir", str(self.root / member),
                    "--listen-client-urls", self.endpoint(member),
                    "--advertise-client-urls", self.endpoint(member),
                    "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[index]}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[index]}",
                    "--initial-cluster", initial,
                    "--initial-cluster-token", "raftctl-bench",
                    "--initial-cluster-state", "new",
                    "--log-level", "error",
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )  # fmt: skip
            log.close()
        if not wait_for(lambda: self.leader() is not None, timeout_s, 0.05):
            raise TimeoutError(f"etcd elected no leader within {timeout_s}s ({self.root})")

    def status(self, name: str) -> dict[str, Any] | None:
        try:
            return _post(self.endpoint(name), "/v3/maintenance/status", {}, timeout_s=0.5)
        except (OSError, ValueError):
            return None

    def leader(self) -> str | None:
        """The member a majority agrees leads (etcd's member ids, to names)."""
        ids: dict[str, str] = {}
        leaders: list[str] = []
        for name in self.names:
            if name not in self.processes or self.processes[name].poll() is not None:
                continue
            answer = self.status(name)
            if answer and answer.get("leader") and answer["leader"] != "0":
                ids[answer["header"]["member_id"]] = name
                leaders.append(answer["leader"])
        for leader_id in set(leaders):
            if leaders.count(leader_id) > self.size // 2 and leader_id in ids:
                return ids[leader_id]
        return None

    def kill(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items() if p.poll() is None}

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill(name)
        self.processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _post(endpoint: str, path: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    request = urllib.request.Request(
        endpoint + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- the load: N keep-alive connections, one request in flight on each --------------------


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes


def parse_response(buffer: bytes) -> tuple[HttpResponse, int] | None:
    """The first whole HTTP/1.1 response in `buffer` and its length; None
    while it is incomplete. Bodies come with Content-Length or chunked."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buffer[:head_end].decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    start = head_end + 4
    if "content-length" in headers:
        end = start + int(headers["content-length"])
        if len(buffer) < end:
            return None
        return HttpResponse(status, buffer[start:end]), end
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        position = start
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(buffer[position:line_end].split(b";")[0], 16)
            chunk_start = line_end + 2
            if len(buffer) < chunk_start + size + 2:
                return None
            body += buffer[chunk_start : chunk_start + size]
            position = chunk_start + size + 2
            if size == 0:
                return HttpResponse(status, body), position
    raise ValueError("a response with neither Content-Length nor chunked encoding")


def _request(path: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


@dataclass(slots=True)
class _Connection:
    endpoint: tuple[str, int]
    sock: socket.socket
    buffer: bytes = b""
    sent_at: float = 0.0


def run_etcd_load(
    endpoints: list[str],
    in_flight: int,
    duration_s: float,
    read_ratio: float = 0.0,
    value_size: int = 100,
    key_space: int = 10_000,
    seed: int = 1,
    distinct: int | None = None,
) -> tuple[list[float], int]:
    """Keep `in_flight` requests going for `duration_s`; the latencies (s)
    of the answered ones and the count of errors. Connections are spread over
    the members: a follower forwards a write to the leader, as etcd clients see.
    With `distinct`, write key/0 .. key/distinct-1 once each instead, however long."""
    rng = random.Random(seed)
    value = b64("v" * value_size)
    selector = selectors.DefaultSelector()
    connections = []
    for number in range(in_flight):
        host, port = endpoints[number % len(endpoints)].removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        connection = _Connection((host, int(port)), sock)
        selector.register(sock, selectors.EVENT_READ, connection)
        connections.append(connection)

    numbers = iter(range(distinct)) if distinct is not None else None

    def send(connection: _Connection) -> bool:
        if numbers is not None:
            number = next(numbers, None)
            if number is None:
                return False
            key = b64(f"key/{number}")
        else:
            key = b64(f"bench/{rng.randrange(key_space)}")
        if rng.random() < read_ratio:
            message = _request("/v3/kv/range", {"key": key})
        else:
            message = _request("/v3/kv/put", {"key": key, "value": value})
        connection.sent_at = time.monotonic()
        connection.sock.sendall(message)  # a small request: the socket buffer takes it
        return True

    latencies: list[float] = []
    errors = 0
    started = time.monotonic()
    stop_at = started + (duration_s if distinct is None else 3600.0)
    try:
        pending = sum(send(connection) for connection in connections)
        while pending and time.monotonic() < stop_at + 10:
            for key, _ in selector.select(timeout=1.0):
                connection = key.data
                data = connection.sock.recv(65536)
                if not data:
                    raise ConnectionError(f"etcd at {connection.endpoint} closed the connection")
                connection.buffer += data
                parsed = parse_response(connection.buffer)
                if parsed is None:
                    continue
                response, length = parsed
                connection.buffer = connection.buffer[length:]
                now = time.monotonic()
                if response.status == 200:
                    latencies.append(now - connection.sent_at)
                else:
                    errors += 1
                if not (now < stop_at and send(connection)):
                    pending -= 1
    finally:
        for connection in connections:
            selector.unregister(connection.sock)
            connection.sock.close()
        selector.close()
    return latencies, errors


def etcdctl_put_ms(endpoints: list[str], rounds: int) -> list[float]:
    """A fresh `etcdctl put` process, timed from spawn to exit."""
    times = []
    environment = {**os.environ, "ETCDCTL_API": "3"}
    for number in range(rounds):
        started = time.perf_counter()
        subprocess.run(
            ["etcdctl", "--endpoints", ",".join(endpoints), "put", "cli", str(number)],
            check=True,
            capture_output=True,
            env=environment,
            timeout=30,
        )
        times.append((time.perf_counter() - started) * 1000)
    return times


def failover_s(cluster: EtcdCluster, writes_per_s: float = 200) -> float:
    """SIGKILL the leader under an open-loop writer; seconds until the next
    acknowledged write. The killed member is started again afterwards."""
    leader = cluster.leader()
    if leader is None:
        raise TimeoutError("no etcd leader to kill")
    survivors = [cluster.endpoint(n) for n in cluster.names if n != leader]
    killed_at = time.monotonic()
    cluster.kill(leader)
    acknowledged: float | None = None
    interval = 1 / writes_per_s
    while acknowledged is None and time.monotonic() - killed_at < 30:
        for endpoint in survivors:
            try:
                # A short deadline per attempt, so that the figure is etcd's
                # election, not this client waiting on a request parked during it.
                put = {"key": b64("failover"), "value": b64("x")}
                _post(endpoint, "/v3/kv/put", put, interval * 40)
                acknowledged = time.monotonic()
                break
            except (OSError, ValueError, urllib.error.URLError):
                continue
        if acknowledged is None:
            time.sleep(interval)
    if acknowledged is None:
        raise TimeoutError("etcd took no write within 30 s of losing its leader")
    cluster.start(leader)
    return acknowledged - killed_at
