"""The Multi-Paxos core's rules, one scenario each, on a hand-driven network
of real cores (node/paxos/core.py): what the swarm checks at random, here
step by step, so that a broken rule names itself."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from node.errors import NotLeader, NotNow
from node.messages import Entry, EntryKind
from node.messages.paxos import PaxosAccept, PaxosPrepare, PaxosPromise
from node.paxos.ballot import Ballot
from node.paxos.core import PaxosCore
from node.paxos.options import LEADER, PaxosOptions
from node.raft_config import RaftConfig
from node.ready import DurableState, Outgoing, Role

IDS = ("n1", "n2", "n3")


class Net:
    """Cores, their messages in flight, and what each applied."""

    def __init__(self, options: PaxosOptions = LEADER) -> None:
        # Without check_quorum: no leader stickiness, so that a scene needs no
        # clock to move leadership (node.paxos.core's lease rules).
        self.cores = {
            node: PaxosCore(
                RaftConfig(node, IDS, check_quorum=False), DurableState(), random.Random(i), options
            )
            for i, node in enumerate(IDS)
        }
        self.in_flight: list[Outgoing] = []
        self.applied: dict[str, list[Entry]] = {node: [] for node in IDS}

    def drain(self, node: str) -> None:
        core = self.cores[node]
        while core.has_ready():
            rd = core.ready()
            self.in_flight += rd.messages
            self.in_flight += rd.messages_after_persist
            self.applied[node] += rd.committed_entries
            core.advance(rd)

    def deliver(self, keep: Callable[[Outgoing], bool] = lambda m: True, rounds: int = 20) -> None:
        """Deliver what `keep` lets through (the rest is lost) until quiet."""
        for _ in range(rounds):
            for node in self.cores:
                self.drain(node)
            batch, self.in_flight = self.in_flight, []
            if not batch:
                return
            for message in batch:
                if keep(message) and message.dst in self.cores:
                    self.cores[message.dst].step(message)

    def values(self, node: str) -> list[bytes]:
        return [e.data for e in self.applied[node] if e.kind is EntryKind.COMMAND]


def elect(net: Net, node: str) -> None:
    net.cores[node].campaign()
    net.deliver()
    assert net.cores[node].role is Role.LEADER


def test_a_leader_chooses_and_every_node_learns_and_applies_in_order() -> None:
    net = Net()
    elect(net, "n1")
    placed = net.cores["n1"].propose([b"a", b"b"])
    net.deliver()
    assert placed.term == Ballot(1, 1).encode() == 1001
    for node in IDS:
        assert net.values(node) == [b"a", b"b"], node
        assert net.cores[node].log.commit_index == placed.last_index


def test_a_new_leader_proposes_again_a_value_only_one_acceptor_took() -> None:
    """The tour's scene: n1 gets "x" accepted by n2 alone, then dies; n3's
    phase 1 hears n2 report (ballot 1.1, "x") and must choose "x" there."""
    net = Net()
    elect(net, "n1")
    slot = net.cores["n1"].propose([b"x"]).first_index
    net.deliver(lambda m: not (isinstance(m, PaxosAccept) and m.dst == "n3"))
    assert net.cores["n2"].acceptor.accepted[slot].value == b"x"
    assert slot not in net.cores["n3"].acceptor.accepted
    net.deliver(lambda m: False)
    del net.cores["n1"]  # n1 is gone before anyone learned "x" chosen
    n3 = net.cores["n3"]
    n3.campaign()
    net.deliver(lambda m: m.dst != "n1" and m.src != "n1")
    assert n3.role is Role.LEADER
    assert n3.acceptor.accepted[slot].value == b"x"
    assert n3.acceptor.accepted[slot].ballot == n3.ballot  # proposed again, under its own
    assert b"x" in net.values("n3") and b"x" in net.values("n2")


def test_a_hole_is_filled_with_a_no_op_and_reads_wait_for_the_first_slot() -> None:
    net = Net()
    elect(net, "n1")
    n1 = net.cores["n1"]
    # Slot 3 reaches n2, slot 2 reaches no one: a hole before an accepted slot.
    first = n1.propose([b"lost"]).first_index
    net.deliver(lambda m: not isinstance(m, PaxosAccept) or not m.slots)
    n1.propose([b"kept"])
    net.deliver(lambda m: m.dst == "n2")
    net.deliver(lambda m: False)
    n2 = net.cores["n2"]
    n2.campaign()
    net.deliver(lambda m: "n1" not in (m.src, m.dst))
    assert n2.role is Role.LEADER
    hole = n2.acceptor.accepted[first]
    assert hole.value is None and hole.ballot == n2.ballot
    assert n2.acceptor.accepted[first + 1].value == b"kept"
    assert net.values("n2")[-1] == b"kept"


def test_its_own_promise_counts_only_once_durable() -> None:
    net = Net()
    n1 = net.cores["n1"]
    n1.campaign()
    rd = n1.ready()
    n1.accept(rd)  # sent, the promise on its way to disk
    for message in rd.messages:
        net.cores[message.dst].step(message)
    for node in ("n2",):
        net.drain(node)
    promise = next(m for m in net.in_flight if isinstance(m, PaxosPromise) and m.src == "n2")
    n1.step(promise)
    assert n1.role is Role.CANDIDATE  # n2's promise alone is not a majority of three
    n1.persisted(rd)
    assert n1.role is Role.LEADER


def test_a_prepare_below_the_promise_is_refused_and_the_proposer_steps_aside() -> None:
    net = Net(PaxosOptions(leader=True))
    elect(net, "n2")
    n1 = net.cores["n1"]
    n1._highest_seen = Ballot(0, 0)  # as if it had never heard of n2's ballot
    n1.acceptor.promised = Ballot(0, 0)
    n1.campaign()
    assert n1.ballot < net.cores["n2"].ballot or n1.role is Role.CANDIDATE
    net.deliver()
    assert net.cores["n2"].role is Role.LEADER or n1.role is Role.LEADER
    assert sum(core.role is Role.LEADER for core in net.cores.values()) == 1


def test_followers_redirect_and_without_a_leader_two_proposers_duel() -> None:
    net = Net()
    elect(net, "n1")
    with pytest.raises(NotLeader):
        net.cores["n2"].propose([b"v"])
    duel = Net(PaxosOptions(leader=False))
    for node in ("n1", "n2"):
        with pytest.raises(NotNow, match="prepares its own ballot"):
            duel.cores[node].propose([b"v"])
    assert all(duel.cores[node].role is Role.CANDIDATE for node in ("n1", "n2"))
    duel.deliver(rounds=40)
    # Each preempted proposer prepares again above the other: the ballots
    # climb, no phase 1 ever completes (Paxos's liveness problem).
    assert all(core.role is not Role.LEADER for core in duel.cores.values())
    assert any(core.has_ready() for core in duel.cores.values())
    assert max(core.ballot.round for core in duel.cores.values()) >= 10


def test_backoff_lets_one_proposer_win_the_duel() -> None:
    net = Net(PaxosOptions(leader=False, backoff=True))
    for node in ("n1", "n2"):
        with pytest.raises(NotNow):
            net.cores[node].propose([b"v"])
    for _ in range(200):  # ticks, each followed by every delivery it causes
        net.deliver(rounds=50)
        if not net.in_flight and any(c.role is Role.LEADER for c in net.cores.values()):
            break
        for core in net.cores.values():
            core.tick()
    leaders = [node for node, core in net.cores.items() if core.role is Role.LEADER]
    assert len(leaders) == 1 and not net.in_flight
    winner = net.cores[leaders[0]]
    placed = winner.propose([b"w"])
    net.deliver()
    assert winner.log.commit_index >= placed.last_index


def test_phase_one_asks_every_slot_past_the_chosen_ones() -> None:
    net = Net()
    elect(net, "n1")
    net.cores["n1"].propose([b"a"])
    net.deliver()
    n2 = net.cores["n2"]
    n2.campaign()
    rd = n2.ready()
    prepares = [m for m in rd.messages if isinstance(m, PaxosPrepare)]
    n2.advance(rd)
    assert {m.dst for m in prepares} == {"n1", "n3"}
    assert all(m.from_slot == n2.log.commit_index + 1 for m in prepares)
