"""SWIM (node.gossip.swim) on a tiny in-test network: a killed member is
suspected, then declared dead by everyone; a paused one is suspected and,
once it runs again, refutes it and is alive everywhere; a newcomer that
knows one member is known to all; a restarted member that accused another
at a stale incarnation learns the live one; news outranks by incarnation,
then by gravity."""

from __future__ import annotations

import random
from collections import deque

from node.gossip.swim import Member, Swim, SwimOptions, _overrides
from node.messages.gossip import ALIVE, DEAD, SUSPECT, MemberNews

OPTIONS = SwimOptions(period_ticks=4, ack_timeout_ticks=2, suspect_timeout_ticks=12)


class Net:
    """Messages delivered one tick later; a down node neither ticks nor hears."""

    def __init__(self, ids: list[str], seed: int = 1) -> None:
        self.nodes = {
            node: Swim(node, ids, random.Random(f"{seed}-{node}"), OPTIONS) for node in ids
        }
        self.down: set[str] = set()
        self.queue: deque[object] = deque()

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            in_flight, self.queue = list(self.queue), deque()
            for message in in_flight:
                if message.dst in self.down or message.src in self.down:  # type: ignore[attr-defined]
                    continue
                self.queue.extend(self.nodes[message.dst].receive(message))  # type: ignore[attr-defined]
            for node_id, node in self.nodes.items():
                if node_id not in self.down:
                    self.queue.extend(node.tick())

    def views(self, of: str) -> set[str]:
        return {node.status_of(of) for node_id, node in self.nodes.items()
                if node_id not in self.down and node_id != of}  # fmt: skip


def test_a_killed_member_is_suspected_then_dead_everywhere() -> None:
    net = Net(["n1", "n2", "n3", "n4", "n5"])
    net.run(20)
    assert net.views("n3") == {ALIVE}
    net.down.add("n3")
    for _ in range(40):
        net.run(1)
        if net.views("n3") == {DEAD}:
            break
    assert net.views("n3") == {DEAD}
    assert all(net.views(n) == {ALIVE} for n in ("n1", "n2", "n4", "n5"))


def test_a_paused_member_is_suspected_and_then_refutes_it() -> None:
    net = Net(["n1", "n2", "n3", "n4"], seed=2)
    net.run(20)
    net.down.add("n2")
    for _ in range(30):
        net.run(1)
        if SUSPECT in net.views("n2"):
            break
    assert SUSPECT in net.views("n2")
    net.down.discard("n2")  # it runs again before anyone declares it dead
    net.run(40)
    assert net.views("n2") == {ALIVE}
    assert net.nodes["n2"].incarnation >= 1  # it refuted the suspicion


def test_a_dead_member_that_comes_back_is_alive_again() -> None:
    net = Net(["n1", "n2", "n3"], seed=3)
    net.run(10)
    net.down.add("n3")
    net.run(60)
    assert net.views("n3") == {DEAD}
    net.down.discard("n3")
    net.run(60)
    assert net.views("n3") == {ALIVE}


def test_a_restarted_member_that_accuses_a_stale_incarnation_learns_the_live_one() -> None:
    """Found live: a node restarted knowing every member at incarnation 0
    lost its first pings, suspected a member whose incarnation is far
    higher, and held it dead for good (the member ignored an accusation
    older than itself). Now the accused spreads its "alive" again."""
    ids = ["n1", "n2", "n3"]
    net = Net(ids, seed=6)
    for node_id, swim in net.nodes.items():
        swim.incarnation = 1000 + int(node_id[1:])  # as node.lives numbers lives
    net.run(40)  # everyone's news is spread, and retired
    net.down.add("n3")
    net.run(60)
    net.down.discard("n3")
    reborn = Swim("n3", ids, random.Random(9), OPTIONS, incarnation=2000)
    net.nodes["n3"] = reborn
    reborn.learn([MemberNews("n2", SUSPECT, 0)])  # its first ping to n2 went unanswered
    net.run(120)
    assert net.views("n2") == {ALIVE} and net.views("n3") == {ALIVE}
    assert reborn.view()["n2"] == (ALIVE, 1002)


def test_a_newcomer_known_to_one_member_is_known_to_all() -> None:
    net = Net(["n1", "n2", "n3", "n4"], seed=4)
    net.nodes["n5"] = Swim("n5", ["n1"], random.Random(5), OPTIONS)  # it knows n1 alone
    net.run(80)
    assert net.views("n5") == {ALIVE}
    assert set(net.nodes["n5"].view()) == {"n1", "n2", "n3", "n4"}


def test_news_outranks_by_incarnation_then_by_gravity() -> None:
    alive_1 = Member(ALIVE, 1, 0)
    assert _overrides(MemberNews("n", SUSPECT, 1), alive_1)
    assert not _overrides(MemberNews("n", ALIVE, 1), alive_1)
    assert not _overrides(MemberNews("n", SUSPECT, 0), alive_1)
    assert _overrides(MemberNews("n", ALIVE, 2), Member(DEAD, 1, 0))
    assert _overrides(MemberNews("n", DEAD, 1), Member(SUSPECT, 1, 0))


def test_the_gossip_messages_cross_the_wire() -> None:
    from node.messages import decode, encode
    from node.messages.gossip import (
        GossipDelta,
        GossipDigest,
        SwimAck,
        SwimPing,
        SwimPingReq,
        WireItem,
        WireStamp,
        WireTag,
    )

    news = (MemberNews("n2", SUSPECT, 3),)
    stamp = WireStamp(1_700_000_000_000, 2, "n1")
    for message in (
        SwimPing("n1", "n2", 7, "", news),
        SwimAck("n2", "n1", 7, "n2", "n3", news),
        SwimPingReq("n1", "n3", 8, "n2"),
        GossipDigest("n1", "n2", 4, tuple(range(64)), news),
        GossipDelta(
            "n2",
            "n1",
            4,
            (
                WireItem("r", "k", "v", stamp),
                WireItem("r", "gone", None, stamp),
                WireItem("s", "set", adds=(WireTag("x", stamp),), removed=(stamp,)),
            ),
            (1, 5),
        ),
    ):
        assert decode(encode(message)) == message
