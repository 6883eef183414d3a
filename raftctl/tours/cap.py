"""`raftctl tour cap`: the founding notes' CAP theorem, shown rather than
told. In a partition a store must choose: refuse the side that cannot
reach a majority (consistent, CP: Raft), or answer on both sides and let
them disagree until the partition heals (available, AP: gossip).

The story: a three-node Raft cluster with n1 cut off; a client beside n1
can neither write nor read, one beside n3 can. Then the same cut on a
three-node gossip cluster: both sides take writes, each side reads its own
truth, SWIM on each side declares the other dead; after the heal the
replicas gossip their way to one state, and of the two writes the later
stamp wins (n1's is lost: last-writer-wins). Last, the same experiment as a
measurement: `raftctl chaos --compare raft,gossip`, with each protocol's
availability on each side and its consistency verdict.
"""

from __future__ import annotations

import sys

from raftctl.tours.narration import Tour, heading, run_tour, wait_until

__all__ = ["main", "story"]

FAST = ["--election-timeout", "1000-2000", "--heartbeat", "100"]


def story(t: Tour) -> None:
    print("raftctl tour cap: in a partition, consistency or availability: pick one")
    heading("1. Raft (CP): three nodes, then n1 cut off from n2 and n3")
    t.run("start", "--nodes", "3", "--base-port", "0", *FAST, "--timeout", "30", quiet=True)
    t.run("put", "color", "blue")
    t.run("partition", "n1", "n2,n3")
    print(
        "\n  `--from NODE` plays a client that lives beside NODE: it reaches only that side.\n"
        "  n1's side holds one node of three: no majority, so no leader and no commit."
    )
    refused = t.run("put", "color", "red", "--from", "n1", "--timeout", "3")
    t.expect(refused.returncode == 3, "Raft's minority side took a write")
    t.expect(
        t.run("get", "color", "--from", "n1", "--timeout", "3").returncode == 3,
        "Raft's minority side answered a linearizable read",
    )
    t.expect(t.run("put", "color", "green", "--from", "n3").returncode == 0, "the majority refused")
    t.run("heal")
    t.expect(t.run("get", "color").stdout == "green", "Raft lost the majority's write")
    print("\n  Consistent: every read names the latest write. The price: n1's clients waited.")
    t.run("destroy", "--yes", show=False)
    t.close()  # its client knew the Raft cluster's address book

    heading("2. Gossip (AP): three replicas, the same cut")
    t.run(
        "start",
        "--protocol",
        "gossip",
        "--nodes",
        "3",
        "--base-port",
        "0",
        *FAST,
        "--timeout",
        "30",
    )
    t.run("put", "color", "blue", "--node", "n2")
    t.run("wait", "--converged", "--timeout", "30")
    t.run("partition", "n1", "n2,n3")
    t.expect(t.run("put", "color", "red", "--from", "n1").returncode == 0, "gossip refused n1")
    t.expect(t.run("put", "color", "green", "--from", "n3").returncode == 0, "gossip refused n3")
    left = t.run("get", "color", "--from", "n1").stdout
    right = t.run("get", "color", "--from", "n2").stdout
    t.expect((left, right) == ("red", "green"), f"the sides read {left!r} and {right!r}")
    print(
        "\n  Available: both sides wrote, and each reads its own truth. SWIM, the failure\n"
        "  detector, soon holds the other side dead (status: members), and the digests differ."
    )
    t.expect(_sides_apart(t), "the sides never saw each other as suspect or dead")
    t.run("status")
    t.new_events(("MemberChanged",))

    heading("3. The heal: anti-entropy makes the replicas agree, and one write is lost")
    t.run("heal")
    t.run("wait", "--converged", "--timeout", "30")
    finals = {node: t.run("get", "color", "--node", node).stdout for node in ("n1", "n2", "n3")}
    t.expect(set(finals.values()) == {"green"}, f"the replicas did not agree on green: {finals}")
    print(
        "\n  Every replica now holds green: its hybrid-clock stamp is later, and the later\n"
        "  stamp wins (last-writer-wins). n1's red was acknowledged and is gone. A set whose\n"
        "  merge is a union (gossip's observed-remove set) would have kept both: see\n"
        "  raftctl chaos --protocol gossip --workload set."
    )
    t.run("destroy", "--yes", show=False)

    heading("4. The same, measured: one schedule against a fresh cluster of each")
    out = t.root / "compare"
    compared = t.run(
        "chaos",
        "--compare",
        "raft,gossip",
        "--nemesis",
        "partition:one",
        "--nodes",
        "3",
        "--duration",
        "8",
        "--rate",
        "60",
        "--seed",
        "7",
        "--out",
        str(out),
    )
    t.expect(compared.returncode == 0, "a protocol broke its own promise in the comparison")
    print(
        "\n  Raft: linearizable, and 0 ok/s on the cut-off side. Gossip: served on both sides,\n"
        "  and its history is not linearizable (a stale read, shown). CAP, in numbers."
    )


def _sides_apart(t: Tour) -> bool:
    def apart() -> bool:
        rows = {row.get("id"): row for row in t.node_statuses()}
        view = (rows.get("n1") or {}).get("members") or {}
        return view.get("n2") in ("suspect", "dead")

    return wait_until(apart, 15.0)


def main() -> int:
    return run_tour(story, "tour-cap")


if __name__ == "__main__":
    sys.exit(main())
