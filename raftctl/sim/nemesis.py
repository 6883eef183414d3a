"""The simulated nemesis: the faults a seed's options call for, against a
SimCluster, drawn from the run's one random stream.

It partitions the network (six modes), crashes nodes and restarts them after
a delay, kills or cuts off leaders the moment they win or commit, changes the
membership like an impatient operator (adding learners, promoting them,
removing voters, the leader included, and shutting removed nodes down) and
hands leadership over. Once the liveness phase begins it is stopped.
"""

from __future__ import annotations

import functools
import random

from node.errors import ProposalRejected
from node.events import BecameLeader, CommitAdvanced
from node.ready import MembershipChange, Ready, Role
from raftctl.sim.cluster import SimCluster, SimNode
from raftctl.sim.seed import SeedResult, SwarmOptions

__all__ = ["SimNemesis"]

NEW_NODES_MAX = 8  # nodes a seed may add by membership change
VOTERS_MIN = 2  # removals stop here


class SimNemesis:
    """The faults of one seed's run."""

    def __init__(
        self, cluster: SimCluster, rng: random.Random, options: SwarmOptions, result: SeedResult
    ) -> None:
        self.cluster = cluster
        self.rng = rng
        self.options = options
        self.result = result
        self.restart_at_ms: dict[str, int] = {}
        self.retired: set[str] = set()  # removed and shut down for good
        self.nodes_added = 0
        self.killing_leaders = True
        # The voter each leader lost its link to right after winning.
        self.lost_voter: dict[str, str] = {}

    def stop(self) -> None:
        """The liveness phase: no more faults, no restarts pending."""
        self.killing_leaders = False
        self.restart_at_ms.clear()

    def on_became_leader(self, now_ms: int, node_id: str, event: BecameLeader) -> None:
        """Faults aimed at a leader the moment it wins."""
        options = self.options
        if self.killing_leaders and self.rng.random() < options.leader_isolate_probability:
            self._isolate_for_a_while(node_id)
        if self.killing_leaders and self.rng.random() < options.leader_kill_probability:
            delay = self.rng.randint(0, options.leader_kill_delay_ms_max)
            self.cluster.call_at(now_ms + delay, lambda: self._kill_leader(node_id, event.term))
        voters = [voter for voter in event.votes if voter != node_id]
        if self.killing_leaders and voters and self.rng.random() < options.lose_voter_probability:
            lost = self.rng.choice(voters)
            self._cut_for_a_while(node_id, lost)
            self.lost_voter[node_id] = lost
        if self.killing_leaders and self.rng.random() < options.membership_probability:
            # Right after an election, before the new leader's no-op commits
            # (the moment Ongaro's 2015 correction is about), or a round
            # trip later, once it knows which learners have caught up.
            delay = self.rng.choice((0, self.rng.randint(1, 30)))
            self.cluster.call_at(now_ms + delay, self._reconfigure)

    def strike(self) -> None:
        """One nemesis turn: each kind of fault by its probability."""
        options = self.options
        rng = self.rng
        cluster = self.cluster
        if rng.random() < options.partition_probability:
            self._partition(rng.choice(options.partition_modes))
        elif rng.random() < options.heal_probability:
            cluster.network.heal()
        if rng.random() < options.crash_probability:
            up = [node_id for node_id in cluster.node_ids if cluster.is_up(node_id)]
            leader = cluster.leader()
            if up:
                victim = (
                    leader
                    if leader and rng.random() < options.crash_leader_bias
                    else (rng.choice(up))
                )
                cluster.crash(victim)
                self.schedule_restart(victim)
        if rng.random() < options.membership_probability:
            self._reconfigure()
        if rng.random() < options.transfer_probability:
            self._transfer()
        if rng.random() < options.campaign_race_probability:
            self._campaign_race()
        self._retire_removed()

    def _campaign_race(self) -> None:
        """Two or three voters time out within a few milliseconds of each
        other (what a narrow election timeout does now and then, here on
        purpose): candidates of one term, and of the next, whose votes and
        answers cross on a slow network."""
        cluster, rng = self.cluster, self.rng
        leader = cluster.leader_core()
        voters = leader.voters if leader is not None else tuple(cluster.node_ids)
        up = [voter for voter in voters if voter in cluster.nodes and cluster.is_up(voter)]
        if len(up) < 2:
            return
        for node_id in rng.sample(up, min(len(up), rng.randint(2, 3))):
            when = cluster.now_ms + rng.randint(0, 15)
            cluster.call_at(when, functools.partial(cluster.campaign, node_id))

    def _reconfigure(self) -> None:
        """An impatient operator: one to three single-server changes in a row
        (all but the first must be refused while the first is pending)."""
        for _ in range(self.rng.randint(1, 3)):
            self._change_membership()

    def _change_membership(self) -> None:
        """One single-server change on the leader: add a new node as a learner,
        promote a learner, or remove a voter (perhaps the leader) or learner."""
        cluster = self.cluster
        rng = self.rng
        core = cluster.leader_core()
        if core is None or not self.killing_leaders:
            return
        leader_id = core.id
        voters, learners = core.voters, core.learners
        lost = self.lost_voter.get(leader_id)
        roll = rng.random()
        if (
            lost in voters
            and len(voters) > VOTERS_MIN
            and rng.random() < self.options.remove_lost_voter_probability
        ):
            # The operator removes the server that stopped answering: on the
            # heels of an election, the second half of Ongaro's 2015 race.
            change = MembershipChange("remove", lost)
        elif len(voters) > VOTERS_MIN and rng.random() < self.options.remove_bias:
            others = [voter for voter in voters if voter != leader_id]
            change = MembershipChange("remove", rng.choice(others))
        elif learners and roll < 0.4:
            change = MembershipChange("promote", rng.choice(learners))
        elif roll < 0.7 and self.nodes_added < NEW_NODES_MAX:
            node_id = self._idle_node() or self._new_node()
            change = MembershipChange("add-learner", node_id)
        else:
            removable = list(learners)
            if len(voters) > VOTERS_MIN:
                others = [voter for voter in voters if voter != leader_id]
                removable += others
                if leader_id in voters and rng.random() < self.options.remove_leader_bias:
                    removable = [leader_id]
            if not removable:
                return
            change = MembershipChange("remove", rng.choice(removable))
        try:
            core.propose_membership(change)
        except ProposalRejected:
            self.result.membership_refused += 1
            return
        self.result.membership_changes += 1
        cluster.drain(leader_id)
        if self.rng.random() < self.options.kill_after_change_probability:
            # Its AppendEntries are on the wire: cut off now, none arrives, and
            # it comes back later still holding the change; killed a little
            # later, some do.
            if self.rng.random() < self.options.isolate_after_change_probability:
                self._isolate_for_a_while(leader_id)
            else:
                delay = self.rng.randint(0, 10)
                term = core.term
                cluster.call_at(cluster.now_ms + delay, lambda: self._kill_leader(leader_id, term))

    def _new_node(self) -> str:
        self.nodes_added += 1
        node_id = f"n{self.options.node_count + self.nodes_added}"
        self.cluster.add_node(node_id)
        return node_id

    def _idle_node(self) -> str | None:
        """An added node that is in no configuration (its addition was refused or
        reverted), up and not retired: it can be added again."""
        cluster = self.cluster
        known = self._members_known()
        for node_id in cluster.node_ids[self.options.node_count :]:
            if node_id not in known and node_id not in self.retired and cluster.is_up(node_id):
                return node_id
        return None

    def _retire_removed(self) -> None:
        """Shut down, some of the time, a node whose removal the leader has
        committed; the others keep running, and must not disrupt (§4.2.3)."""
        cluster = self.cluster
        leader = cluster.leader_core()
        if leader is None:
            return
        if leader._pending_membership_change() is not None:
            return
        members = leader.membership.members
        for node_id in cluster.node_ids[: self.options.node_count + self.nodes_added]:
            if (
                node_id not in members
                and node_id not in self.retired
                and node_id in self._ever_members()
                and self.rng.random() < self.options.retire_probability
            ):
                self.retired.add(node_id)
                self.restart_at_ms.pop(node_id, None)
                cluster.crash(node_id)

    def _ever_members(self) -> set[str]:
        """Initial nodes, and added nodes some up node knows as members."""
        return set(self.cluster.initial_voters) | self._members_known()

    def _members_known(self) -> set[str]:
        """Every member of the configuration of some up node."""
        known: set[str] = set()
        for core in self.cluster.up_cores():
            known.update(core.membership.members)
        return known

    def _transfer(self) -> None:
        cluster = self.cluster
        core = cluster.leader_core()
        if core is None or not self.killing_leaders:
            return
        leader_id = core.id
        targets = [voter for voter in core.voters if voter != leader_id]
        if not targets:
            return
        try:
            core.transfer_leadership(self.rng.choice(targets))
        except ProposalRejected:
            return
        self.result.transfers += 1
        cluster.drain(leader_id)

    def schedule_restart(self, node_id: str) -> None:
        """A crashed node comes back after a random delay of this seed's range."""
        if node_id in self.retired:
            return
        self.restart_at_ms[node_id] = self.cluster.now_ms + self.rng.randint(
            1, self.options.restart_delay_ms_max
        )

    def crash_before_send(self, node: SimNode, rd: Ready) -> bool:
        """The failpoint: a leader dies in the turn its commit index moves,
        before anyone else hears of the commit (or of anything in that turn)."""
        core = node.core
        if not (self.killing_leaders and core is not None and core.role is Role.LEADER):
            return False
        if not any(isinstance(event, CommitAdvanced) for event in rd.events):
            return False
        return self.rng.random() < self.options.leader_crash_on_commit_probability

    def _isolate_for_a_while(self, node_id: str) -> None:
        links = [
            (a, b)
            for other in self.cluster.node_ids
            if other != node_id
            for a, b in ((node_id, other), (other, node_id))
        ]
        self._cut_links_for_a_while(links)

    def _cut_for_a_while(self, a: str, b: str) -> None:
        self._cut_links_for_a_while([(a, b), (b, a)])

    def _cut_links_for_a_while(self, links: list[tuple[str, str]]) -> None:
        network = self.cluster.network
        network.cut(links)
        duration = self.rng.randint(1, self.options.leader_isolate_ms_max)
        self.cluster.call_at(self.cluster.now_ms + duration, lambda: network.restore(links))

    def _kill_leader(self, node_id: str, term: int) -> None:
        core = self.cluster.nodes[node_id].core
        if (
            not self.killing_leaders
            or core is None
            or core.role is not Role.LEADER
            or (core.term != term)
        ):
            return
        self.cluster.crash(node_id)
        self.schedule_restart(node_id)

    def _partition(self, mode: str) -> None:
        rng = self.rng
        cluster = self.cluster
        ids = list(cluster.node_ids)
        rng.shuffle(ids)
        network = cluster.network
        if mode == "split":
            cut = rng.randint(1, len(ids) - 1)
            network.partition([ids[:cut], ids[cut:]])
        elif mode == "isolate-leader":
            leader = cluster.leader() or ids[0]
            network.partition([[leader], [n for n in ids if n != leader]])
        elif mode == "bridge":
            # Two halves that only the bridge node reaches: non-transitive.
            bridge, rest = ids[0], ids[1:]
            half = len(rest) // 2
            left, right = rest[:half], rest[half:]
            network.heal()
            network.cut([(a, b) for a in left for b in right])
            network.cut([(b, a) for a in left for b in right])
            del bridge
        elif mode == "mute-leader":
            self._mute_leader(ids)
        elif mode == "one-way":
            src = cluster.leader() or ids[0]
            network.heal()
            network.cut([(src, dst) for dst in ids if dst != src and rng.random() < 0.7])
        else:
            network.heal()
            network.cut([(a, b) for a in ids for b in ids if a != b and rng.random() < 0.3])

    def _mute_leader(self, ids: list[str]) -> None:
        """Lopsided delays (§6.4.1): a few followers' answers to the leader
        crawl, then nobody hears the leader and only those crawling links
        still reach it. Its last heartbeats' answers arrive long after the
        others elected a new leader; a lease dated from their arrival, not
        from the sending of the heartbeat, would still look valid."""
        rng, network = self.rng, self.cluster.network
        leader = self.cluster.leader() or ids[0]
        others = [node_id for node_id in ids if node_id != leader]
        # Enough of them for the old leader to count a quorum with itself.
        loyal = others[: max(1, len(ids) // 2)]
        network.heal()
        network.slow_down([(node_id, leader) for node_id in loyal], rng.choice((200, 400, 800)))
        epoch = network.epoch

        def mute() -> None:
            if network.epoch != epoch:
                return  # healed (or cut otherwise) meanwhile: the plan is void
            network.cut([(leader, node_id) for node_id in others])
            network.cut([(node_id, leader) for node_id in others if node_id not in loyal])

        # A heartbeat or two go out first, so that slow answers are on their way.
        self.cluster.call_at(self.cluster.now_ms + rng.randint(5, 30), mute)

    def restart_due(self, now_ms: int) -> None:
        for node_id, when in list(self.restart_at_ms.items()):
            if when <= now_ms:
                del self.restart_at_ms[node_id]
                self.cluster.start(node_id)
