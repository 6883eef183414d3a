"""The names the parts of the Multi-Paxos core share: PaxosCore
(node/paxos/core.py) is made of PhaseOne (phase_one.py), PhaseTwo
(phase_two.py) and LeaderClock (leader_clock.py), as RaftCore is made with
its read rules, so that each rule stays one method a mutant may override.
This declares, for the type checker only, the state PaxosCore.__init__ sets
and the methods one part calls in another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

    from node.configurations import Configurations
    from node.events import Event
    from node.messages import Membership
    from node.messages.paxos import PaxosPrepare
    from node.outbox import Outbox
    from node.paxos.acceptor import Acceptor, Proposal
    from node.paxos.ballot import Ballot
    from node.paxos.leading import Candidacy, Leadership
    from node.paxos.options import PaxosOptions
    from node.paxos.slots import ChosenLog
    from node.raft_config import RaftConfig
    from node.read_queue import ReadQueue
    from node.ready import Outgoing, Role

__all__ = ["CoreState"]


class CoreState:
    """Mixed into PaxosCore; the names below are its."""

    if TYPE_CHECKING:
        id: str
        number: int
        config: RaftConfig
        options: PaxosOptions
        acceptor: Acceptor
        log: ChosenLog
        role: Role
        leader_id: str | None
        _rng: random.Random
        _configurations: Configurations
        _candidacy: Candidacy | None
        _leading: Leadership | None
        _reads: ReadQueue
        _out: Outbox
        _ticks: int
        _election_elapsed: int
        _timeout: int
        _heard_leader_tick: int | None
        _highest_seen: Ballot
        _preempted: int
        _wanted_until: int

        @property
        def membership(self) -> Membership: ...

        @property
        def voters(self) -> tuple[str, ...]: ...

        def _emit(self, event: Event) -> None: ...

        def _send(self, m: Outgoing) -> None: ...

        def _send_after_persist(self, m: Outgoing) -> None: ...

        def _preempted_by(self, ballot: Ballot | None, reason: str) -> None: ...

        def _step_down(self, reason: str) -> None: ...

        def _step_down_quietly(self) -> None: ...

        def _sticks_to_leader(self, m: PaxosPrepare) -> bool: ...

        def _own_ballot(self) -> Ballot: ...

        def _note_ballot(self, ballot: Ballot) -> None: ...

        def _random_timeout(self) -> int: ...

        def _commit_to(self, old: int, new: int, configs_noted: bool = False) -> None: ...

        def _note_chosen_config(self, slot: int, announce: bool = True) -> None: ...

        def _start_read(self, leading: Leadership, context: bytes, lease: bool) -> None: ...

        def _confirmed(self, heartbeat_round: int) -> bool: ...

        def _date_lease(self, leading: Leadership) -> None: ...

        def _maybe_send_timeout_now(self, leading: Leadership) -> None: ...

        def _lease_valid(self) -> bool: ...

        def _broadcast(self, leading: Leadership) -> None: ...

        def _track(self, leading: Leadership, peer: str) -> None: ...

        def _accept_own(self, leading: Leadership, slot: int, proposal: Proposal) -> None: ...

        def campaign(self, transfer: bool = False) -> None: ...
