"""PaxosSafetyChecker: Multi-Paxos's safety properties, checked as the
simulation runs (the Raft checker's counterpart, fed by the same cluster).

Rules: each property is checked at the moment it could first break.

- Ballot uniqueness: no two nodes lead one ballot (ballots carry the node).
- Only one value is chosen per slot: every node that learns a slot chosen
  learns the same value (kind and data; the ballot may differ, since a new
  leader proposes a chosen value again under its own).
- A chosen value stays chosen: once slot s is chosen under ballot b, no
  acceptor durably accepts another value there under a ballot at or above b
  (Paxos's P2b: the first place an unsafe proposer shows itself).
- Chosen means durable on a majority: when a node learns a slot chosen, a
  majority of the voters in force there hold that value in their durable
  log or their snapshot (a learner that counts a non-majority, or an
  acceptor that answers before its fsync, breaks this).
- State Machine Safety: no two nodes apply different values at one slot.
- Promises are kept: a node never promises less than a ballot it answered
  (a promise or an acceptance) before, crashes and restarts included (an
  acceptor that does not make its promise durable breaks this).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from node.consensus import ConsensusCore
from node.events import BecameLeader, CommitAdvanced, Event
from node.messages import Entry, EntryKind, decode_membership
from node.messages.paxos import PaxosAccepted, PaxosPromise
from node.paxos.durable import HOLE
from node.quorum import majority
from node.ready import Outgoing
from raftctl.sim.errors import SafetyViolation
from raftctl.sim.invariants import DurableLog

__all__ = ["PaxosSafetyChecker"]

Value = tuple[EntryKind, bytes]


class PaxosSafetyChecker:
    def __init__(self, voters: Sequence[str]) -> None:
        self.leader_by_ballot: dict[int, str] = {}
        # slot -> the value chosen there, and the lowest ballot seen choosing it
        self.chosen: dict[int, Value] = {}
        self.chosen_ballot: dict[int, int] = {}
        # The memberships chosen, by slot: in force for the slots after theirs.
        self._configs: list[tuple[int, tuple[str, ...]]] = [(0, tuple(voters))]
        self.applied: dict[int, Entry] = {}
        self.applied_data: set[bytes] = set()
        self.checks = 0
        # node -> the highest ballot it answered as promised
        self.answered: dict[str, int] = {}

    def fail(self, property_name: str, detail: str) -> None:
        raise SafetyViolation(f"{property_name} violated: {detail}")

    def observe(
        self,
        node_id: str,
        core: ConsensusCore,
        events: Sequence[Event],
        durable_logs: Mapping[str, DurableLog],
    ) -> None:
        self.checks += 1
        answered = self.answered.get(node_id, 0)
        if core.term < answered:
            self.fail(
                "Promises are kept",
                f"{node_id} promises ballot {core.term}, but it answered ballot {answered} before",
            )
        for event in events:
            if isinstance(event, BecameLeader):
                self.checks += 1
                other = self.leader_by_ballot.setdefault(event.term, node_id)
                if other != node_id:
                    self.fail("Ballot uniqueness", f"{other} and {node_id} lead {event.term}")
            elif isinstance(event, CommitAdvanced):
                log = core.log
                first = max(event.old_index, log.snapshot_index) + 1
                for entry in log.entries_between(first, event.new_index):
                    self._on_chosen(node_id, entry, durable_logs)

    def _on_chosen(
        self, node_id: str, entry: Entry, durable_logs: Mapping[str, DurableLog]
    ) -> None:
        self.checks += 1
        slot, value = entry.index, (entry.kind, entry.data)
        if entry.term == HOLE:
            self.fail("Learning", f"{node_id} learned slot {slot} chosen, holding nothing there")
        known = self.chosen.get(slot)
        if known is not None and known != value:
            self.fail(
                "Paxos safety (one value per slot)",
                f"{node_id} learned {value!r} chosen in slot {slot}; {known!r} was chosen there",
            )
        if known is None:
            self.chosen[slot] = value
            if entry.kind is EntryKind.CONFIG:
                self._configs.append((slot, decode_membership(entry.data).voters))
        self.chosen_ballot[slot] = min(self.chosen_ballot.get(slot, entry.term), entry.term)
        voters = self._voters_at(slot)
        holders = [
            voter
            for voter in voters
            if voter in durable_logs and _holds(durable_logs[voter], slot, value)
        ]
        if len(holders) < majority(len(voters)):
            self.fail(
                "Chosen means durable",
                f"{node_id} learned slot {slot} chosen ({value!r}), but it is durable only on "
                f"{holders or 'no node'}, not on a majority of {list(voters)}",
            )

    def _voters_at(self, slot: int) -> tuple[str, ...]:
        voters = self._configs[0][1]
        for config_slot, config_voters in self._configs:
            if config_slot >= slot:
                break
            voters = config_voters
        return voters

    def on_persist(self, node_id: str, entries: Sequence[Entry], log: DurableLog) -> None:
        for entry in entries:
            chosen_ballot = self.chosen_ballot.get(entry.index)
            if chosen_ballot is None or entry.term == HOLE or entry.term < chosen_ballot:
                continue
            self.checks += 1
            value = (entry.kind, entry.data)
            if value != self.chosen[entry.index]:
                self.fail(
                    "Paxos safety (a chosen value stays chosen)",
                    f"{node_id} accepted {value!r} in slot {entry.index} under ballot "
                    f"{entry.term}, but {self.chosen[entry.index]!r} was chosen there under "
                    f"ballot {chosen_ballot}",
                )

    def on_send(self, node_id: str, messages: Sequence[Outgoing]) -> None:
        for message in messages:
            if isinstance(message, PaxosPromise | PaxosAccepted) and (
                message.promised == message.ballot
            ):
                self.answered[node_id] = max(self.answered.get(node_id, 0), message.ballot)

    def on_dropped(self, node_id: str, dropped: Sequence[Entry], how: str) -> None:
        """An acceptor's stored slots are rewritten, never lost (node.paxos.durable):
        a chosen slot it held is judged when it is written again (on_persist)."""

    def on_apply(self, node_id: str, entry: Entry) -> None:
        self.checks += 1
        known = self.applied.setdefault(entry.index, entry)
        if known is entry:
            self.applied_data.add(entry.data)
        elif (known.kind, known.data) != (entry.kind, entry.data):
            self.fail(
                "State Machine Safety",
                f"{node_id} applied {entry.data!r} at slot {entry.index}; another node "
                f"applied {known.data!r} there",
            )


def _holds(log: DurableLog, slot: int, value: Value) -> bool:
    """The slot's value is in the durable log, or inside its snapshot."""
    entry = log.entry_at(slot)
    if entry is None:
        return log.holds(slot, -1)  # inside its snapshot, if anywhere
    return entry is not None and entry.term != HOLE and (entry.kind, entry.data) == value
