"""An acceptor's promises kept in node.storage unchanged (node.paxos.durable):
whatever it promised and accepted comes back after a restart, holes and
no-ops included, because a batch rewrites the tail after a re-accepted slot
instead of letting the WAL cut it (the trap is shown first)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from node.messages import Entry
from node.paxos.acceptor import Acceptor, Proposal
from node.paxos.ballot import Ballot
from node.paxos.durable import entries_to_persist, hard_state_of, recover_acceptor
from node.storage import Storage, StorageOptions

OPTIONS = StorageOptions(fsync=False)


class Kept:
    """An acceptor and the storage it persists to, as a driver would run them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.storage, _ = Storage.open(directory, OPTIONS)
        self.acceptor = Acceptor()
        self.stored_last = 0

    def persist(self, entries: tuple[Entry, ...] | None = None) -> None:
        batch = entries_to_persist(self.acceptor, self.stored_last) if entries is None else entries
        self.storage.persist(batch, hard_state_of(self.acceptor, 0))
        if batch:
            self.stored_last = batch[-1].index
        self.acceptor.clean()

    def reopened(self) -> Acceptor:
        self.storage.close()
        self.storage, recovered = Storage.open(self.directory, OPTIONS)
        return recover_acceptor(recovered.hard_state, recovered.entries)


def test_writing_only_the_re_accepted_slot_would_lose_the_later_ones(tmp_path: Path) -> None:
    kept = Kept(tmp_path)
    for slot in range(1, 6):
        kept.acceptor.accept(Ballot(1, 1), slot, b"v%d" % slot)
    kept.persist()
    kept.acceptor.accept(Ballot(2, 2), 3, b"new")
    naive = tuple(e for e in entries_to_persist(kept.acceptor, kept.stored_last) if e.index == 3)
    kept.persist(naive)
    assert set(kept.reopened().accepted) == {1, 2, 3}  # the WAL cut slots 4 and 5


def test_a_re_accepted_slot_keeps_the_tail_and_holes_stay_holes(tmp_path: Path) -> None:
    kept = Kept(tmp_path)
    for slot in range(1, 6):
        kept.acceptor.accept(Ballot(1, 1), slot, b"v%d" % slot)
    kept.persist()
    kept.acceptor.accept(Ballot(2, 2), 3, b"new")
    kept.acceptor.accept(Ballot(2, 2), 8, None)  # a no-op two slots past a hole
    kept.persist()
    back = kept.reopened()
    assert back.promised == Ballot(2, 2)
    assert back.accepted == kept.acceptor.accepted
    assert back.accepted[3] == Proposal(Ballot(2, 2), b"new") and 6 not in back.accepted
    assert back.accepted[8] == Proposal(Ballot(2, 2), None)


STEPS = st.lists(
    st.tuples(
        st.booleans(),  # a prepare (True) or an accept
        st.builds(Ballot, st.integers(1, 6), st.integers(1, 3)),
        st.integers(1, 12),  # the slot
        st.one_of(st.none(), st.binary(max_size=3)),
        st.booleans(),  # persist after this step
    ),
    max_size=30,
)


@settings(deadline=None, max_examples=60)
@given(STEPS)
def test_a_restart_brings_back_every_promise_and_every_accepted_slot(
    steps: list[tuple[bool, Ballot, int, bytes | None, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        kept = Kept(Path(directory))
        for is_prepare, ballot, slot, value, persist in steps:
            if is_prepare:
                kept.acceptor.prepare(ballot, slot)
            else:
                kept.acceptor.accept(ballot, slot, value)
            if persist:
                kept.persist()
        kept.persist()
        back = kept.reopened()
        kept.storage.close()
        assert back.promised == kept.acceptor.promised
        assert back.accepted == kept.acceptor.accepted
