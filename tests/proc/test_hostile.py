"""A live cluster against someone on the same machine who speaks its wire
(raw ZeroMQ and the project's own codec, no raftctl): forged Raft messages
from a made-up node, frames that are not messages, and a seeded fuzzer. Every
node must stay up with its term, log and state unchanged, and count what it
refused."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import msgpack
import pytest
import zmq

from node.keys import CLIENT, load_key
from node.kv import KVStateMachine
from node.messages import (
    WIRE_VERSION,
    AdminRequest,
    AppendEntries,
    ClientRequest,
    ClientResponse,
    Command,
    Digest,
    Entry,
    EntryKind,
    Get,
    Heartbeat,
    InstallSnapshot,
    Keys,
    Put,
    RequestVote,
    SnapshotMeta,
    Status,
    TimeoutNow,
    decode,
    encode,
    encode_command,
)
from node.messages.client import Consistency
from node.transport import FRAME_BYTES_MAX
from raftctl.cluster import ClusterDir, wait_for
from tests.proc.conftest import SETTINGS, LiveCluster
from tests.proc.test_cluster import assert_all_present, write_keys

FUZZ_FRAMES = 3_000
FUZZ_SEED = 15


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    """One --insecure cluster, shared by the tests that must leave it as they
    found it: the frames reach the nodes, which must refuse them themselves
    (with CURVE they are turned away at the door). Stopped by pid."""
    path = tmp_path_factory.mktemp("hostile") / "cluster"
    directory = ClusterDir.create(path, 3, base_port=0, curve=False, **SETTINGS)
    live = LiveCluster(directory)
    try:
        for node_id in directory.node_ids():
            directory.start(node_id)
        live.leader()
        yield live
    finally:
        live.client.close()
        directory.stop_all(grace_s=3)
        for node_id in directory.node_ids():
            directory.kill(node_id)


def _sender(
    context: zmq.Context[zmq.Socket[bytes]],
    live: LiveCluster,
    identity: str,
    node: str,
    key: tuple[bytes, bytes] | None = None,
) -> zmq.Socket[bytes]:
    """A socket to `node` under `identity`, signed in with `key` (a fresh key
    the cluster does not know when none is given) if the cluster uses CURVE."""
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.IDENTITY, identity.encode())
    socket.setsockopt(zmq.LINGER, 0)
    address = live.dir.config.node(node)
    if live.dir.config.curve:
        public, secret = key or zmq.curve_keypair()
        socket.setsockopt(zmq.CURVE_SERVERKEY, address.public_key.encode())
        socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
        socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
    socket.connect(address.endpoint)
    return socket


def _fingerprint(live: LiveCluster) -> dict[str, tuple[Any, ...]]:
    """What must not change: each node's term, vote-bearing role, log and state."""
    found = {}
    for node_id in live.dir.node_ids():
        status = live.client.status(node_id, 2.0)
        digest = live.client.admin(node_id, Digest())
        assert status is not None and digest is not None, node_id
        found[node_id] = (
            status["term"],
            status["commit_index"],
            status["last_log_index"],
            digest["digest"],
        )
    return found


def _refused(live: LiveCluster) -> dict[str, dict[str, int]]:
    statuses = live.statuses()
    return {node_id: (status or {}).get("refused", {}) for node_id, status in statuses.items()}


def _forgeries(live: LiveCluster, term: int, commit: int) -> list[tuple[str, str, bytes]]:
    """(sender identity, target, frame): the attacks of issue 15, from a node
    that is not in the cluster."""
    kv = KVStateMachine()
    kv.applied_index = commit + 1000
    blob = kv.snapshot()  # an empty store: installing it would wipe every key
    members = live.dir.node_ids()
    meta = SnapshotMeta(commit + 1000, term + 50, members, ())
    forged_put = Command("evil-client", 1, 0, Put("k0", "forged"))
    planted = Entry(commit + 1, term, EntryKind.COMMAND, encode_command(forged_put))
    forged: list[tuple[str, str, bytes]] = []
    for node in members:
        forged += [
            ("ghost", node, encode(Heartbeat(2**62, "ghost", node, 0, 1))),
            ("ghost", node, encode(Heartbeat(term, "ghost", node, commit, 1))),
            ("ghost", node, encode(Heartbeat(term + 1, "ghost", node, commit, 1))),
            ("evil", node, encode(InstallSnapshot(term + 50, "evil", node, meta, 0, blob, True))),
            ("evil", node, encode(InstallSnapshot(term + 1, "evil", node, meta, 0, b"junk", True))),
            (
                "evil",
                node,
                encode(AppendEntries(term + 1, "evil", node, commit, term, (planted,), commit + 1)),
            ),
            (
                "evil",
                node,
                encode(RequestVote(term + 5, "evil", node, commit + 1000, term + 5, False)),
            ),
            ("evil", node, encode(TimeoutNow(term, "evil", node))),
            # A member's name under another identity, and a message for someone else.
            ("evil", node, encode(Heartbeat(term + 1, members[0], node, commit, 1))),
            ("n9", node, encode(Heartbeat(term + 1, "n9", "n7", commit, 1))),
            # Frames that are not messages.
            ("evil", node, b"\x01\x91\x80"),
            ("evil", node, b"\x01\x91\x90"),
            (
                "evil",
                node,
                bytes((WIRE_VERSION,)) + msgpack.packb([5, 2**64 - 1, "ghost", node, 0, 1]),
            ),
        ]
    return forged


def test_forged_messages_from_outside_the_cluster_change_nothing(attacked: LiveCluster) -> None:
    live = attacked
    acknowledged = write_keys(live, "k", 50)
    assert len(acknowledged) == 50
    before = live.converged()
    leader = live.leader()
    term, commit = before[leader]["term"], before[leader]["commit_index"]
    fingerprint = _fingerprint(live)
    context = zmq.Context()
    try:
        sockets: dict[tuple[str, str], zmq.Socket[bytes]] = {}
        for identity, node, frame in _forgeries(live, term, commit):
            key = (identity, node)
            if key not in sockets:
                sockets[key] = _sender(context, live, identity, node)
            sockets[key].send(frame)
        # A frame over the node's limit: libzmq drops the connection unread.
        huge = _sender(context, live, "huge", leader)
        huge.send(bytes(FRAME_BYTES_MAX + 1))
        expected = len(_forgeries(live, term, commit))

        def all_refused() -> bool:
            counts = _refused(live)
            return sum(sum(kinds.values()) for kinds in counts.values()) >= expected

        assert wait_for(all_refused, 20), _refused(live)
    finally:
        context.destroy(linger=0)
    assert all(live.dir.state(node) == "running" for node in live.dir.node_ids())
    assert _fingerprint(live) == fingerprint
    refused = _refused(live)
    for node, kinds in refused.items():
        assert {"unknown-sender", "misaddressed", "undecodable"} <= set(kinds), (node, kinds)
    assert_all_present(live, acknowledged)
    assert live.leader() == leader  # nobody was deposed


def test_a_seeded_fuzzer_leaves_a_live_node_alive_and_unchanged(attacked: LiveCluster) -> None:
    """Random bytes, truncated and bit-flipped real frames, well-formed
    msgpack of the wrong shapes, and unknown wire versions, from a made-up node."""
    live = attacked
    acknowledged = write_keys(live, "f", 20)
    live.converged()
    target = next(node for node in live.dir.node_ids() if node != live.leader())
    fingerprint = _fingerprint(live)[target]
    rng = random.Random(FUZZ_SEED)
    real = [
        encode(Heartbeat(fingerprint[0], "n9", target, 0, 3)),
        encode(AppendEntries(fingerprint[0], "n9", target, 1, 1, (), 1)),
        encode(ClientRequest(1, "fuzz", 1, 0, Put("fuzz", "x"))),
    ]
    context = zmq.Context()
    try:
        socket = _sender(context, live, "fuzzer", target)
        for number in range(FUZZ_FRAMES):
            socket.send(_fuzz_frame(rng, real))
            if number % 500 == 499:  # let the node keep up; its queue is bounded
                time.sleep(0.05)

        def answered() -> bool:
            return live.client.status(target, 2.0) is not None

        assert wait_for(answered, 20)
    finally:
        context.destroy(linger=0)
    assert live.dir.state(target) == "running"
    assert _fingerprint(live)[target][:2] == fingerprint[:2]  # the same term and commit
    assert sum(_refused(live)[target].values()) > FUZZ_FRAMES // 2
    assert_all_present(live, acknowledged)


def test_a_client_that_never_reads_cannot_grow_a_node(attacked: LiveCluster) -> None:
    """Each `keys` answer here weighs ~0.8 MB; 400 unread ones would cost a
    follower ~320 MB if answers queued without a bound in bytes
    (node.reply_queues keeps ~8 MiB plus a 16-answer pipe)."""
    live = attacked
    long_keys = [Put(f"long-{number:03d}-" + "k" * 4000, "v") for number in range(200)]
    assert all(o.error is None for o in live.client.pipeline(long_keys, 32, timeout_s=30))
    live.converged()
    target = next(node for node in live.dir.node_ids() if node != live.leader())
    process = live.dir.process(target)
    assert process is not None
    before = process.memory_info().rss
    context = zmq.Context()
    try:
        socket = _sender(context, live, "never-reads", target)
        socket.setsockopt(zmq.RCVHWM, 1)
        for number in range(400):
            request = ClientRequest(number + 1, "never-reads", 0, 0, Keys("long-"))
            socket.send(encode(replace(request, consistency=Consistency.STALE)))
        dropped: list[int] = []

        def all_answered_or_dropped() -> bool:
            status = live.client.status(target, 2.0)
            dropped[:] = [status["replies_dropped"]] if status else []
            return bool(dropped) and dropped[0] >= 350

        assert wait_for(all_answered_or_dropped, 60), dropped
        grown = process.memory_info().rss - before
    finally:
        context.destroy(linger=0)
    assert grown < 96 << 20, f"the node grew by {grown >> 20} MiB"
    assert live.dir.state(target) == "running"


def _fuzz_frame(rng: random.Random, real: list[bytes]) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 64))
    frame = rng.choice(real)
    if kind == 1:
        return frame[: rng.randrange(1, len(frame))]
    if kind == 2:
        flipped = bytearray(frame)
        for _ in range(rng.randrange(1, 4)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    if kind == 3:
        shapes: list[Any] = [None, -1, 2**64 - 1, 1.5, "x", b"x", [], {}, [[]], {"a": 1}]
        fields = [rng.randrange(40)] + [rng.choice(shapes) for _ in range(rng.randrange(8))]
        return bytes((WIRE_VERSION,)) + msgpack.packb(fields)
    return bytes((rng.randrange(256),)) + frame[1:]


def test_with_curve_a_stranger_gets_nothing_and_a_client_key_only_client_requests(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    """CURVE, the default: a key the cluster does not know is turned away at
    the door (no answer, no change); the client key may read and write but
    neither send Raft messages nor admin requests."""
    live = cluster_factory(3)
    assert live.dir.config.curve
    leader = live.leader()
    acknowledged = write_keys(live, "c", 10)
    before = live.converged()
    term, commit = before[leader]["term"], before[leader]["commit_index"]
    fingerprint = _fingerprint(live)
    put = encode(ClientRequest(1, "stranger", 1, 0, Put("c0", "stolen")))
    status = encode(AdminRequest(1, Status()))
    context = zmq.Context()
    try:
        # A stranger's key: every forgery, a write and an admin request, unanswered.
        strangers = {node: _sender(context, live, "evil", node) for node in live.dir.node_ids()}
        for _, node, frame in _forgeries(live, term, commit):
            strangers[node].send(frame)
        strangers[leader].send(put)
        strangers[leader].send(status)
        assert not strangers[leader].poll(2_000), "a stranger got an answer"

        def turned_away() -> bool:
            refused = _refused(live)
            return all(kinds.get("unauthenticated", 0) > 0 for kinds in refused.values())

        assert wait_for(turned_away, 20), _refused(live)
        # The client key: a client request is answered, the rest refused.
        client_key = load_key(live.dir.path, CLIENT)
        client = _sender(context, live, "app", leader, key=client_key)
        client.send(encode(ClientRequest(1, "app", 1, 0, Get("c0"))))
        assert client.poll(10_000), "the client key got no answer"
        answer = decode(client.recv())
        assert isinstance(answer, ClientResponse) and answer.status == "ok"
        client.send(status)
        client.send(encode(Heartbeat(term + 1, leader, leader, commit, 1)))
        assert not client.poll(2_000), "the client key got an admin answer"

        def unauthorized() -> bool:
            return _refused(live)[leader].get("unauthorized", 0) >= 2

        assert wait_for(unauthorized, 20), _refused(live)
    finally:
        context.destroy(linger=0)
    assert _fingerprint(live) == fingerprint
    assert_all_present(live, acknowledged)
    assert live.leader() == leader
    assert all(live.dir.state(node) == "running" for node in live.dir.node_ids())
