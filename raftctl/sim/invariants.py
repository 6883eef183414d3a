"""SafetyChecker: Raft's safety properties, checked as the simulation runs.

Rules: each property is checked at the moment it could first break, in time
proportional to what changed, never by rescanning every log after every step.

- Election Safety: at most one leader per term (on every BecameLeader).
- Log Matching: an (index, term) pair names one entry, with one predecessor
  term. By induction this makes two logs that share an (index, term) equal up
  to it (checked on every entry a node persists).
- Leader Completeness: a new leader of term T holds every entry committed in
  a term before T (a leader of an older term may still win late, by slow
  votes, after a later term committed entries it does not have).
- State Machine Safety: no two nodes apply different entries at one index.
- A node's configuration is the one its log holds (dissertation §4.1: the
  latest configuration entry in the log, committed or not): checked at each
  commit against every configuration entry any node persisted, so a node that
  kept a configuration its log no longer holds is caught at once.
- Committed entries are never lost: once committed, an entry is durable on a
  majority of the voters of the configuration the committing node's log
  holds (in its log or its snapshot), no
  node ever drops a committed entry from its durable log (by truncation or by
  installing a snapshot), and at the end every acknowledged write is applied.
- Acknowledged means durable: simulated disks keep what was persisted, so a
  leader that finds a restarted follower missing entries it acknowledged
  (FollowerLostEntries) has caught an acknowledgement sent before persisting.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping, Sequence
from typing import Protocol

from node.consensus import ConsensusCore
from node.errors import known
from node.events import BecameLeader, CommitAdvanced, Event, FollowerLostEntries, MembershipChanged
from node.messages import Entry, EntryKind, decode_membership
from node.quorum import majority
from node.ready import Outgoing
from raftctl.sim.errors import SafetyViolation

__all__ = ["Checker", "DurableLog", "SafetyChecker"]


class DurableLog(Protocol):
    """The part of a node's storage the checker reads."""

    def term_at(self, index: int) -> int | None: ...

    def holds(self, index: int, term: int) -> bool: ...

    def entry_at(self, index: int) -> Entry | None: ...


class Checker(Protocol):
    """What the simulated cluster feeds a protocol's safety checker
    (SafetyChecker for Raft; raftctl.sim.paxos_invariants for Paxos)."""

    checks: int
    applied: dict[int, Entry]
    applied_data: set[bytes]

    def fail(self, property_name: str, detail: str) -> None: ...

    def observe(
        self,
        node_id: str,
        core: ConsensusCore,
        events: Sequence[Event],
        durable_logs: Mapping[str, DurableLog],
    ) -> None:
        """A Ready's events, before anything of the Ready is done."""
        ...

    def on_persist(self, node_id: str, entries: Sequence[Entry], log: DurableLog) -> None: ...

    def on_send(self, node_id: str, messages: Sequence[Outgoing]) -> None:
        """Messages that left the node (answers only once their persist is done)."""
        ...

    def on_dropped(self, node_id: str, dropped: Sequence[Entry], how: str) -> None: ...

    def on_apply(self, node_id: str, entry: Entry) -> None: ...


class SafetyChecker:
    """Fed by the simulated cluster; raises SafetyViolation at the first breach."""

    def __init__(self, voters: Sequence[str]) -> None:
        self.voters = tuple(voters)
        self.leader_by_term: dict[int, str] = {}
        # (index, term) -> (kind, data, term of the entry before it)
        self._entry_identity: dict[tuple[int, int], tuple[EntryKind, bytes, int]] = {}
        # committed_terms[i - 1] is the term of the entry committed at index i.
        self.committed_terms: list[int] = []
        # commit_terms[i - 1]: the term in which index i was first seen committed
        # (by the committing leader; never decreasing along the log).
        self.commit_terms: list[int] = []
        self.applied: dict[int, Entry] = {}
        self.applied_data: set[bytes] = set()
        self.checks = 0
        # Every configuration entry any log held, by index: (index, term, voters).
        self._configs: list[tuple[int, int, tuple[str, ...]]] = []
        self._config_ids: set[tuple[int, int]] = set()
        # The committed ones, in index order, from the initial configuration on.
        self._committed_config_indexes = [0]
        self._committed_configs = [self.voters]

    def fail(self, property_name: str, detail: str) -> None:
        raise SafetyViolation(f"{property_name} violated: {detail}")

    def observe(
        self,
        node_id: str,
        core: ConsensusCore,
        events: Sequence[Event],
        durable_logs: Mapping[str, DurableLog],
    ) -> None:
        log = core.log
        for event in events:
            # First every configuration the log took on, so that a commit
            # listed before it in this Ready is judged with the log as it is.
            if isinstance(event, MembershipChanged) and event.how == "appended":
                term = known(log.term_at(event.index), "the appended entry", index=event.index)
                self.on_config_appended(event.index, term, event.voters)
        for event in events:
            if isinstance(event, BecameLeader):
                self.on_became_leader(node_id, event.term, log.term_at, log.snapshot_index)
            elif isinstance(event, CommitAdvanced):
                self.on_commit(
                    node_id,
                    event.old_index,
                    event.new_index,
                    log.term_at,
                    log.snapshot_index,
                    core.voters,
                    durable_logs,
                    core.term,
                )
            elif isinstance(event, FollowerLostEntries):
                self.on_follower_lost_entries(
                    node_id, event.follower, event.acknowledged, event.holds
                )

    def on_send(self, node_id: str, messages: Sequence[Outgoing]) -> None:
        """Raft's answers are judged where they land (FollowerLostEntries)."""

    def on_follower_lost_entries(
        self, leader_id: str, follower: str, acknowledged: int, holds: int
    ) -> None:
        self.fail(
            "Acknowledged means durable",
            f"{leader_id} found {follower} holding up to {holds} after a restart, "
            f"though it had acknowledged {acknowledged}",
        )

    def on_became_leader(
        self, node_id: str, term: int, term_at: TermLookup, snapshot_index: int
    ) -> None:
        """`node_id` won `term`; its log starts after `snapshot_index`, whose term
        (the snapshot's last included term) must be the committed one too."""
        self.checks += 1
        other = self.leader_by_term.setdefault(term, node_id)
        if other != node_id:
            self.fail("Election Safety", f"{other} and {node_id} both lead term {term}")
        committed_before = bisect_left(self.commit_terms, term)
        for index in range(max(snapshot_index, 1), committed_before + 1):
            committed_term = self.committed_terms[index - 1]
            if term_at(index) != committed_term:
                self.fail(
                    "Leader Completeness",
                    f"{node_id} leads term {term} without the entry committed at index "
                    f"{index} (term {committed_term}); it has term {term_at(index)} there",
                )

    def on_persist(self, node_id: str, entries: Sequence[Entry], log: DurableLog) -> None:
        """`entries` were just written to `node_id`'s durable log."""
        for entry in entries:
            self.checks += 1
            prev_term = log.term_at(entry.index - 1)
            identity = (entry.kind, entry.data, prev_term if prev_term is not None else -1)
            known = self._entry_identity.setdefault((entry.index, entry.term), identity)
            if entry.kind is EntryKind.CONFIG:
                voters = decode_membership(entry.data).voters
                self.on_config_appended(entry.index, entry.term, voters)
            if known != identity:
                self.fail(
                    "Log Matching",
                    f"{node_id} holds entry {entry.index}/{entry.term} as {identity!r}; "
                    f"another log holds it as {known!r}",
                )

    def on_config_appended(self, index: int, term: int, voters: Sequence[str]) -> None:
        """A configuration entry is in some log (in force there from now on,
        before any disk holds it)."""
        if (index, term) not in self._config_ids:
            self._config_ids.add((index, term))
            insort(self._configs, (index, term, tuple(voters)))

    def on_commit(
        self,
        node_id: str,
        old_index: int,
        new_index: int,
        term_at: TermLookup,
        snapshot_index: int,
        voters: Sequence[str],
        durable_logs: Mapping[str, DurableLog],
        current_term: int,
    ) -> None:
        """`node_id` (whose log starts after `snapshot_index`, whose
        configuration has `voters` and whose term is `current_term`) advanced
        its commit index."""
        known = len(self.committed_terms)
        real_voters = self._voters_in_log(term_at, new_index)
        for index in range(old_index + 1, new_index + 1):
            term = term_at(index)
            if term is None and index < snapshot_index and index <= known:
                continue  # inside a snapshot from the leader: committed before
            if term is None:
                self.fail("Log Matching", f"{node_id} committed index {index} it does not hold")
            if index <= known:
                if self.committed_terms[index - 1] != term:
                    self.fail(
                        "State Machine Safety",
                        f"{node_id} committed term {term} at index {index}; term "
                        f"{self.committed_terms[index - 1]} was committed there before",
                    )
                continue
            if term is None:  # the "does not hold" check above has failed the run
                raise AssertionError(f"{node_id} committed index {index} it does not hold")
            self.committed_terms.append(term)
            self.commit_terms.append(max([current_term, *self.commit_terms[-1:]]))
            identity = self._entry_identity.get((index, term))
            if identity is not None and identity[0] is EntryKind.CONFIG:
                self._committed_config_indexes.append(index)
                self._committed_configs.append(decode_membership(identity[1]).voters)
            holders = [
                voter
                for voter in real_voters
                if voter in durable_logs and durable_logs[voter].holds(index, term)
            ]
            if len(holders) < majority(len(real_voters)):
                self.fail(
                    "Committed entry durability",
                    f"index {index} (term {term}) committed by {node_id} is durable only on "
                    f"{holders or 'no node'}, not on a majority of {list(real_voters)}",
                )
        if voters and tuple(voters) != real_voters:
            # (A node that knows no configuration yet, one being added, is let be.)
            self.fail(
                "Configuration",
                f"{node_id} counts voters {list(voters)} at commit {new_index}, but the "
                f"latest configuration its log holds has {list(real_voters)}",
            )
        self.checks += 1

    def _voters_in_log(self, term_at: TermLookup, commit_index: int) -> tuple[str, ...]:
        """The voters of the latest configuration entry a log holds: the last
        committed one up to its commit index, or a later entry it holds."""
        at = bisect_right(self._committed_config_indexes, commit_index) - 1
        index, voters = self._committed_config_indexes[at], self._committed_configs[at]
        configs = self._configs
        for later_index, term, later_voters in configs[bisect_right(configs, (index, 1 << 62)) :]:
            if later_index > index and term_at(later_index) == term:
                index, voters = later_index, later_voters
        return voters

    def on_dropped(self, node_id: str, dropped: Sequence[Entry], how: str) -> None:
        """`node_id` removed `dropped` from its durable log: none may be committed."""
        committed = self.committed_terms
        for entry in dropped:
            self.checks += 1
            if entry.index <= len(committed) and committed[entry.index - 1] == entry.term:
                self.fail(
                    "Committed entry durability",
                    f"{node_id} dropped the committed entry {entry.index}/{entry.term} "
                    f"from its durable log ({how})",
                )

    def on_apply(self, node_id: str, entry: Entry) -> None:
        self.checks += 1
        known = self.applied.setdefault(entry.index, entry)
        if known is entry:
            self.applied_data.add(entry.data)
        elif known != entry:
            self.fail(
                "State Machine Safety",
                f"{node_id} applied {entry.index}/{entry.term} {entry.data!r}; another node "
                f"applied {known.index}/{known.term} {known.data!r} there",
            )


class TermLookup(Protocol):
    def __call__(self, index: int) -> int | None: ...
