"""`raftctl tour raft` (and `make demo`): a real five-node cluster, narrated:
an election, failover, a partitioned leader whose entry is repaired (seen in
the log view), and a follower caught up through InstallSnapshot.

Every step is a real `raftctl` command, shown before it runs, against real
node processes in a temporary directory; between steps the cluster's own
events tell what happened (elections, votes, truncated entries). The tour
checks its own story and exits non-zero if the cluster misbehaved. It stops
every node it started, by pid, whatever happens.

    raftctl tour raft
"""

from __future__ import annotations

import sys
import time

import zmq

from node.messages import ClientRequest, ClientResponse, Put, decode, encode
from raftctl.client import Client, node_socket
from raftctl.cluster import ClusterDir
from raftctl.tours.narration import Tour, heading, run_tour

__all__ = ["main", "story"]


def stuck_client(tour: Tour, node_id: str) -> zmq.Socket[bytes]:
    """A client connection to one node, made (and its handshake done) before
    the partition, so that its write reaches that node while it still leads:
    CheckQuorum steps it down within an election timeout."""
    cluster = ClusterDir(tour.path)
    node = cluster.config.node(node_id)
    return node_socket(zmq.Context.instance(), cluster.config, node.endpoint, node.public_key)


def stranded_write(dealer: zmq.Socket[bytes], wait_s: float) -> list[str]:
    """Send the stuck client's write; collect its answers for `wait_s`."""
    answers: list[str] = []
    try:
        dealer.send(encode(ClientRequest(1, "stuck-client", 1, 0, Put("lost-write", "x"))))
        deadline = time.monotonic() + wait_s
        while (remaining := deadline - time.monotonic()) > 0:
            if dealer.poll(int(remaining * 1000) + 1):
                answer = decode(dealer.recv())
                if isinstance(answer, ClientResponse):
                    answers.append(answer.status)
    finally:
        dealer.close()
    return answers


def story(t: Tour) -> None:
    print("raftctl demo: a five-node Raft cluster on this machine, driven by raftctl")
    heading("1. Start five nodes; they elect a leader")
    t.run(
        "start",
        "--nodes",
        "5",
        "--base-port",
        "0",
        "--election-timeout",
        "1000-2000",
        "--heartbeat",
        "100",
        "--timeout",
        "30",
    )
    t.new_events(("BecamePreCandidate", "BecameCandidate", "BecameLeader"))

    heading("2. Write through the leader, read back (linearizable, then a follower's local copy)")
    t.run("put", "greeting", "hello")
    t.run("get", "greeting")
    t.run("get", "greeting", "--consistency", "stale", "--node", "follower")

    heading("3. Kill the leader (SIGKILL) and watch the election that follows")
    first = t.run("leader", show=False).stdout.strip()
    t.run("kill", "leader")
    t.run("wait", "--leader", "--timeout", "30")
    t.new_events(("BecamePreCandidate", "BecameCandidate", "BecameLeader", "VoteRefused"))
    second = t.run("leader", show=False).stdout.strip()
    t.expect(second not in ("", first), "no new leader after the old one was killed")
    t.run("put", "after-failover", "still-writable")
    t.run("restart", first)
    t.run("wait", "--caught-up", "--timeout", "30", quiet=True)

    heading(f"4. Partition the leader {second} into a minority: its writes cannot commit")
    follower = next(n for n in ("n1", "n2", "n3", "n4", "n5") if n not in (second,))
    dealer = stuck_client(t, second)
    t.run("partition", f"{second},{follower}")
    print(
        f"\n  A client stuck with {second} writes lost-write=x; with 2 of 5 nodes it can "
        "never commit:"
    )
    answers = stranded_write(dealer, wait_s=2.0)
    print(f"    answers in 2 s: {answers or 'none (it waits for a quorum that never comes)'}")
    t.expect("ok" not in answers, "the minority acknowledged a write")
    t.run("wait", "--leader", "--timeout", "30", quiet=True)
    t.new_events(("BecameFollower", "BecameCandidate", "BecameLeader"))
    t.run("put", "majority-write", "yes")
    t.run("status")
    print(
        f"\n  The logs side by side (cell: the entry's term): {second}'s stranded entry "
        "sits where the majority's new leader wrote entries of a later term."
    )
    t.run("inspect", "log", "--count", "8")

    heading("5. Heal: the old leader's uncommitted entry is overwritten, every log converges")
    t.run("heal")
    t.run("wait", "--caught-up", "--timeout", "30")
    t.run("inspect", "log", "--count", "8")
    repaired = t.new_events(("EntriesTruncated", "SnapshotInstalled", "BecameFollower"))
    # The stranded entry goes one of two ways: truncated by AppendEntries, or,
    # when the others compacted past it meanwhile (a slow machine), replaced
    # with the rest of the log by the leader's snapshot.
    by_snapshot = any(
        e["event"] == "SnapshotInstalled" and e.get("node") == second for e in repaired
    )
    t.expect(
        any(e["event"] == "EntriesTruncated" for e in repaired) or by_snapshot,
        "no conflicting entry was repaired after healing",
    )
    if by_snapshot:
        print(
            f"\n  {second} was repaired by the leader's snapshot: its stranded entry went with it."
        )
    t.run("get", "lost-write")
    status = t.document("status")
    logs = {(row["last_log_index"], row["applied_index"]) for row in status["nodes"]}
    t.expect(len(logs) == 1, f"the logs did not converge: {logs}")

    heading("6. Snapshots: a follower misses writes that the log no longer holds")
    behind = next(n for n in ("n5", "n4", "n3") if n != t.run("leader", show=False).stdout.strip())
    t.run("kill", behind)
    print(
        f"\n  With {behind} down, 20 writes (through raftctl's client library, pipelined), "
        "then every running node compacts its log:"
    )
    with Client(ClusterDir(t.path).config, "demo-writer") as client:
        writes = [Put(f"key{number}", f"value{number}") for number in range(20)]
        outcomes = client.pipeline(writes, 8, timeout_s=30)
    t.expect(all(outcome.ok for outcome in outcomes), "not all 20 writes were acknowledged")
    t.run("snapshot", "--all")
    t.new_events()
    t.run("restart", behind)
    t.run("wait", "--caught-up", "--timeout", "30")
    caught_up = t.new_events(("SnapshotSent", "SnapshotInstalled"))
    t.expect(
        any(e["event"] == "SnapshotInstalled" for e in caught_up),
        f"{behind} caught up without InstallSnapshot",
    )
    t.run("get", "key19", "--consistency", "stale", "--node", behind)
    t.run("put", "after-snapshot", "yes", show=False)
    t.run("wait", "--caught-up", "--timeout", "30", show=False)
    t.run("inspect", "log", "--count", "6")

    heading("7. Stop everything")
    t.run("destroy", "--yes")
    if not t.problems:
        print(
            "\nDone. Every node was stopped. Next: `raftctl start`, then the examples/ "
            "scripts, `raftctl tour` for the other tours, or `make sim` for the "
            "deterministic simulation."
        )


def main() -> int:
    return run_tour(story, "tour-raft")


if __name__ == "__main__":
    sys.exit(main())
