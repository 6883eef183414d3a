"""The cluster on real processes: crashes, power cuts, partitions, lossy links,
exactly-once retries and atomic transfers. Every wait has a deadline."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from node.faults import Faults, LinkFault
from node.messages import (
    ArmFailpoint,
    ClientRequest,
    ClientResponse,
    Compare,
    Digest,
    Events,
    Get,
    Put,
    SkewClock,
    SlowDisk,
    TransferLeader,
    Txn,
    decode,
    encode,
)
from raftctl.client import Client, node_socket
from raftctl.cluster import wait_for
from raftctl.errors import Unavailable
from tests.proc.conftest import LiveCluster


def write_keys(
    live: LiveCluster, prefix: str, count: int, window: int = 16, client: Client | None = None
) -> dict[str, str]:
    """Pipelined writes of unique values; returns what was acknowledged. A
    thread of its own must pass its own client: sockets are not thread-safe."""
    operations = [Put(f"{prefix}{i}", f"v-{prefix}{i}") for i in range(count)]
    outcomes = (client or live.client).pipeline(operations, window, timeout_s=20)
    return {
        o.operation.key: o.operation.value
        for o in outcomes  # type: ignore[union-attr]
        if o.ok
    }


def assert_all_present(live: LiveCluster, acknowledged: dict[str, str]) -> None:
    reads = live.client.pipeline([Get(key) for key in acknowledged], 32, timeout_s=30)
    missing = [o.operation for o in reads if not o.ok or not o.result["found"]]  # type: ignore[index]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:3]}"
    wrong = [o.result for o in reads if o.result["value"] != acknowledged[o.result["key"]]]  # type: ignore[index]
    assert not wrong, wrong[:3]


def test_acknowledged_writes_survive_kill_9_of_random_nodes(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    live = cluster_factory(3)
    live.leader()
    rng = random.Random(4)
    acknowledged: dict[str, str] = {}
    writer_client = Client(live.dir.config)
    try:
        for round_number in range(4):
            prefix = f"r{round_number}-"
            writer = threading.Thread(
                target=lambda p=prefix: acknowledged.update(
                    write_keys(live, p, 150, client=writer_client)
                )
            )
            writer.start()
            victim = live.leader() if round_number % 2 == 0 else rng.choice(live.dir.node_ids())
            live.dir.kill(victim)
            writer.join(timeout=60)
            assert not writer.is_alive()
            live.dir.start(victim)
            live.leader()
    finally:
        writer_client.close()
    assert len(acknowledged) > 300
    statuses = live.converged()
    assert len({s["applied_index"] for s in statuses.values()}) == 1
    assert_all_present(live, acknowledged)
    for node_id in live.dir.node_ids():  # every replica holds them, read locally
        key, value = next(iter(acknowledged.items()))
        assert live.client.call(Get(key), "stale", node_id)["value"] == value


def test_power_cut_of_a_majority_loses_nothing_with_fsync(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    live = cluster_factory(3, power_loss_mode=True)
    leader = live.leader()
    acknowledged = write_keys(live, "p", 200)
    assert len(acknowledged) == 200
    majority = [leader, next(n for n in live.dir.node_ids() if n != leader)]
    live.dir.power_cut(majority)
    live.leader()
    assert_all_present(live, acknowledged)


def test_power_cut_without_fsync_loses_acknowledged_writes(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    """The negative control: the power-loss mode has teeth on real processes."""
    live = cluster_factory(3, power_loss_mode=True, fsync=False)
    live.leader()
    acknowledged = write_keys(live, "q", 50)
    assert len(acknowledged) == 50
    live.dir.power_cut(live.dir.node_ids())
    live.leader()
    reads = live.client.pipeline([Get(key) for key in acknowledged], 16, timeout_s=30)
    assert all(o.ok for o in reads)
    assert not any(o.result["found"] for o in reads)  # type: ignore[index]


def test_a_minority_cannot_commit_and_healing_converges(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    live = cluster_factory(3)
    old_leader = live.leader()
    rest = [n for n in live.dir.node_ids() if n != old_leader]
    commit_before = live.client.status(old_leader)["commit_index"]  # type: ignore[index]
    live.set_faults(Faults(partition=((old_leader,), tuple(rest))))
    # Ask the cut-off leader alone, over a raw socket: it must never say ok.
    answers = raw_requests(live, old_leader, [Put("stranded", "x")], wait_s=3.0)
    assert all(answer.status != "ok" for answer in answers), answers
    # Silence would prove nothing if the node had died: it is alive and answers.
    assert live.client.status(old_leader, 2.0) is not None
    assert live.client.status(old_leader)["commit_index"] == commit_before  # type: ignore[index]
    new_leader = live.leader(among=rest)
    assert new_leader != old_leader
    assert live.client.call(Put("majority", "yes"))["ok"]
    live.set_faults(Faults())
    live.converged()
    assert live.client.call(Get("majority"), "stale", old_leader)["value"] == "yes"
    # Unknown outcome: the stranded write never committed, or a later leader
    # took it from the old leader's log; either way every node agrees.
    assert live.client.call(Get("stranded"))["value"] in (None, "x")


def raw_requests(
    live: LiveCluster, node_id: str, operations: list[Put], wait_s: float
) -> list[ClientResponse]:
    """Send each operation once to `node_id` and collect whatever comes back."""
    import time

    import zmq

    node = live.dir.config.node(node_id)
    dealer = node_socket(zmq.Context.instance(), live.dir.config, node.endpoint, node.public_key)
    answers = []
    try:
        for request_id, operation in enumerate(operations, start=1):
            dealer.send(encode(ClientRequest(request_id, "raw", request_id, 0, operation)))
        deadline = time.monotonic() + wait_s
        while (remaining := deadline - time.monotonic()) > 0:
            if dealer.poll(int(remaining * 1000) + 1):
                answers.append(decode(dealer.recv()))
    finally:
        dealer.close()
    return answers


def test_lossy_links_slow_writes_down_but_lose_nothing(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    live = cluster_factory(3)
    live.leader()
    ids = live.dir.node_ids()
    live.set_faults(
        Faults(links=(LinkFault(ids, ids, drop=0.2, delay_ms=20, jitter_ms=10, duplicate=0.1),))
    )
    acknowledged = write_keys(live, "l", 100, window=8)
    # Not on nothing: most writes went through (the client resends what a
    # lossy link ate), and the links really lost, duplicated and delayed.
    assert len(acknowledged) >= 80, len(acknowledged)
    seen = {"lost": 0, "duplicated": 0, "delayed": 0}
    for status in live.statuses().values():
        assert status is not None
        for counts in status["links"].values():
            for name in seen:
                seen[name] += counts[name]
    assert all(seen.values()), seen
    live.set_faults(Faults())
    live.converged()
    assert_all_present(live, acknowledged)


def test_a_retried_write_is_applied_once(cluster_factory: Callable[..., LiveCluster]) -> None:
    import zmq

    live = cluster_factory(3)
    leader = live.leader()
    live.client.call(Put("n", "0"))
    node = live.dir.config.node(leader)
    dealer = node_socket(zmq.Context.instance(), live.dir.config, node.endpoint, node.public_key)
    try:
        answers = []
        for request_id in (1, 2):  # the same session and sequence, sent twice
            request = ClientRequest(
                request_id,
                "retrying-client",
                1,
                0,
                Txn((Compare("n", "0"),), (Put("n", "1"),), (Get("n"),)),
            )
            dealer.send(encode(request))
            assert dealer.poll(10_000)
            answers.append(decode(dealer.recv()))
    finally:
        dealer.close()
    assert all(isinstance(a, ClientResponse) and a.status == "ok" for a in answers)
    assert answers[0].result == answers[1].result and answers[1].result["succeeded"]
    assert live.client.call(Get("n"))["value"] == "1"


def test_concurrent_transfers_keep_the_total(cluster_factory: Callable[..., LiveCluster]) -> None:
    live = cluster_factory(3)
    live.leader()
    accounts = [f"acct{i}" for i in range(5)]
    for account in accounts:
        live.client.call(Put(account, "100"))
    totals: list[int] = []
    moved: list[int] = []  # the transfers whose transaction took its success branch
    unavailable: list[str] = []  # the leader was killed: some calls time out
    unexpected: list[str] = []

    def transfer(seed: int) -> None:
        rng = random.Random(seed)
        with Client(live.dir.config) as client:
            for _ in range(40):
                source, target = rng.sample(accounts, 2)
                try:
                    balances = client.call(Txn((), (Get(source), Get(target)), ()), timeout_s=10)
                    have = [int(r["value"]) for r in balances["results"]]
                    amount = rng.randint(1, 10)
                    if have[0] < amount:
                        continue
                    result = client.call(
                        Txn(
                            (Compare(source, str(have[0])), Compare(target, str(have[1]))),
                            (
                                Put(source, str(have[0] - amount)),
                                Put(target, str(have[1] + amount)),
                            ),
                            (),
                        ),
                        timeout_s=10,
                    )
                    if result["succeeded"]:
                        moved.append(amount)
                    snapshot = client.call(Txn((), tuple(Get(a) for a in accounts), ()))
                    totals.append(sum(int(r["value"]) for r in snapshot["results"]))
                except Unavailable as error:
                    unavailable.append(repr(error))
                except Exception as error:  # recorded: the test thread must not die silently
                    unexpected.append(repr(error))

    workers = [threading.Thread(target=transfer, args=(seed,)) for seed in range(4)]
    for worker in workers:
        worker.start()
    live.dir.kill(live.leader())
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    assert not unexpected, unexpected[:3]
    # Not on nothing: most of the 160 rounds moved money and read every balance.
    assert len(moved) >= 40 and len(totals) >= 80, (len(moved), len(totals), unavailable[:3])
    assert set(totals) == {500}, set(totals)


def test_status_and_events_over_the_admin_channel(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    live = cluster_factory(3)
    leader = live.leader()
    status = live.client.status(leader)
    assert status is not None
    for field in (
        "id",
        "pid",
        "role",
        "term",
        "leader",
        "commit_index",
        "applied_index",
        "last_log_index",
        "snapshot_index",
        "group",
        "voters",
        "learners",
        "fsync",
    ):
        assert field in status
    assert status["role"] == "leader" and status["group"] == ["n1", "n2", "n3"]
    assert status["pid"] == live.dir.process(leader).pid  # type: ignore[union-attr]
    follower = next(n for n in live.dir.node_ids() if n != leader)
    (redirect,) = raw_requests(live, follower, [Put("k", "v")], wait_s=1.0)
    assert redirect.status == "not_leader" and redirect.leader_id == leader
    assert redirect.result["leader_address"] == live.dir.config.node(leader).endpoint
    events = live.client.admin(leader, Events(limit=50))
    assert events is not None
    assert any(e["event"] == "BecameLeader" for e in events["events"])
    lines = (live.dir.path / leader / "events.jsonl").read_text().splitlines()
    assert any('"BecameLeader"' in line for line in lines)


def test_reads_write_nothing_and_a_cut_off_leader_serves_none(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    """ReadIndex and lease reads are answered without a log entry (dissertation
    §6.4); a leader cut off from the majority cannot confirm a ReadIndex."""
    live = cluster_factory(3)
    leader = live.leader()
    assert live.client.call(Put("k", "v"))["ok"]
    unchanged = False
    for _ in range(3):  # an election in between (a busy CI) writes a no-op: try again
        before = live.client.status(leader)
        for consistency in ("linearizable", "lease") * 10:
            assert live.client.call(Get("k"), consistency)["value"] == "v"
        after = live.client.status(leader)
        assert before is not None and after is not None
        if before["term"] == after["term"]:
            unchanged = before["last_log_index"] == after["last_log_index"]
            break
        leader = live.leader()
    assert unchanged, "reads wrote to the log"
    rest = [n for n in live.dir.node_ids() if n != leader]
    live.set_faults(Faults(partition=((leader,), tuple(rest))))
    answers = raw_requests(live, leader, [Get("k")], wait_s=3.0)  # type: ignore[list-item]
    assert all(answer.status != "ok" for answer in answers), answers
    assert live.client.status(leader, 2.0) is not None  # alive: its silence is a choice


def test_a_follower_down_during_compaction_catches_up_by_snapshot(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    """Raft §7 on real processes: the log a follower lacks is compacted away, so
    the leader streams its snapshot (several chunks: it outgrows one) and the
    follower installs it, then takes the rest as entries."""
    live = cluster_factory(3, snapshot_threshold_entries=100)
    leader = live.leader()
    follower = next(n for n in live.dir.node_ids() if n != leader)
    live.dir.kill(follower)
    big = "x" * 2000  # 400 keys of 2 kB: a snapshot of about 800 kB, four chunks
    operations = [Put(f"k{i}", f"{i}-{big}") for i in range(400)]
    outcomes = live.client.pipeline(operations, 16, timeout_s=30)
    assert all(o.ok for o in outcomes)
    assert live.client.status(leader)["snapshot_index"] >= 300  # type: ignore[index]
    live.dir.start(follower)
    live.converged()
    status = live.client.status(follower)
    assert status is not None and status["snapshot_index"] >= 300
    assert live.client.call(Get("k7"), "stale", follower)["value"] == f"7-{big}"
    events = live.client.admin(follower, Events(limit=200))
    assert events is not None
    assert any("installed the snapshot" in e["text"] for e in events["events"])
    # The follower restarts from its installed snapshot and its log.
    live.dir.stop(follower)
    live.dir.start(follower)
    live.converged()
    assert live.client.call(Get("k399"), "stale", follower)["value"] == f"399-{big}"


def test_a_failpoint_crashes_the_node_and_a_restart_recovers_it(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    live = cluster_factory(3)
    leader = live.leader()
    acknowledged = write_keys(live, "before-", 20)
    follower = next(n for n in live.dir.node_ids() if n != leader)
    answer = live.client.admin(follower, ArmFailpoint("after-persist", after=2))
    assert answer and answer["ok"] and answer["failpoints"] == {"after-persist": 2}
    refused = live.client.admin(follower, ArmFailpoint("after-lunch"))
    assert refused and not refused["ok"] and "unknown failpoint" in refused["error"]
    assert live.dir.state(follower) == "running"
    acknowledged |= write_keys(live, "during-", 20, window=1)
    assert wait_for(lambda: live.dir.state(follower) == "stopped", 20)
    record = live.dir.exit_record(follower)
    assert record and record["reason"] == "crashed at failpoint after-persist"
    live.dir.start(follower)
    live.converged()
    assert_all_present(live, acknowledged)


def test_chaos_switches_slow_fsync_and_skew_the_clock(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    live = cluster_factory(3)
    leader = live.leader()
    slow = live.client.admin(leader, SlowDisk(fsync_delay_ms=40))
    skewed = live.client.admin(leader, SkewClock(rate=0.5))
    assert slow and slow["fsync_delay_ms"] == 40 and skewed and skewed["clock_rate"] == 0.5
    status = live.client.status(leader)
    assert status and status["fsync_delay_ms"] == 40 and status["clock_rate"] == 0.5
    assert write_keys(live, "slow-", 10, window=1)
    bad = live.client.admin(leader, SkewClock(rate=0))
    assert bad and not bad["ok"]
    live.converged()
    digests = {n: live.client.admin(n, Digest()) for n in live.dir.node_ids()}
    assert len({(d["applied_index"], d["digest"]) for d in digests.values() if d}) == 1


def test_writes_during_a_leadership_transfer_are_retried_not_fatal(
    cluster_factory: Callable[..., LiveCluster],
) -> None:
    """Found by raftctl chaos: a write reaching the leader while it hands
    leadership over made propose() refuse, and the leader crashed. The target is
    paused so that the transfer stays pending while the write arrives."""
    live = cluster_factory(3)
    leader = live.leader()
    target = next(n for n in live.dir.node_ids() if n != leader)
    live.dir.pause(target)
    answer = live.client.admin(leader, TransferLeader(target))
    assert answer and answer["ok"], answer
    status = live.client.status(leader)
    assert status and status["transfer_target"] == target
    live.client.leader_hint = leader
    acknowledged = write_keys(live, "during-transfer-", 5, window=5)
    live.dir.resume(target)
    assert len(acknowledged) == 5
    assert live.dir.state(leader) == "running"
    assert "Traceback" not in (live.dir.path / leader / "node.log").read_text()
    live.converged()
    assert_all_present(live, acknowledged)
