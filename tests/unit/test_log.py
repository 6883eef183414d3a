"""RaftLog against a plain list model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.errors import InvariantViolation
from node.log import RaftLog
from node.messages import Entry


def log_of(terms: list[int]) -> RaftLog:
    return RaftLog([Entry(i, t, data=b"x") for i, t in enumerate(terms, start=1)])


sorted_terms = st.lists(st.integers(1, 6), max_size=30).map(sorted)


def test_empty_log() -> None:
    log = RaftLog()
    assert (log.last_index, log.last_term, log.term_at(0), log.term_at(1)) == (0, 0, 0, None)
    assert log.is_up_to_date(0, 0)


def test_up_to_date_compares_last_term_then_length() -> None:
    log = log_of([1, 1, 2])
    assert log.is_up_to_date(3, 1)  # later last term wins even when shorter
    assert not log.is_up_to_date(1, 9)  # earlier last term loses even when longer
    assert log.is_up_to_date(2, 3) and not log.is_up_to_date(2, 2)


@given(sorted_terms, st.integers(1, 31))
def test_first_index_of_term_at_matches_a_scan(terms: list[int], index: int) -> None:
    log = log_of(terms)
    if index > len(terms):
        return
    expected = index
    while expected > 1 and terms[expected - 2] == terms[index - 1]:
        expected -= 1
    assert log.first_index_of_term_at(index) == expected


@given(sorted_terms, st.integers(1, 7), st.integers(0, 31))
def test_last_index_of_term_matches_a_scan(terms: list[int], term: int, at_most: int) -> None:
    log = log_of(terms)
    candidates = [i for i, t in enumerate(terms, start=1) if t == term and i <= at_most]
    assert log.last_index_of_term(term, at_most) == (max(candidates) if candidates else None)


def test_conflicting_suffix_is_truncated_and_unstable_moves_back() -> None:
    log = log_of([1, 1, 2, 2])
    new = [Entry(3, 3), Entry(4, 3), Entry(5, 3)]
    assert log.find_conflict(new) == 3
    assert log.truncate_from(3) == 2
    assert log.unstable_from == 3
    log.append(new)
    assert [log.term_at(i) for i in range(1, 6)] == [1, 1, 3, 3, 3]
    assert log.find_conflict(new) == 0


def test_committed_entries_are_never_truncated() -> None:
    log = log_of([1, 1, 2])
    log.commit_to(2)
    with pytest.raises(InvariantViolation):
        log.truncate_from(2)


def test_commit_never_moves_back_nor_past_the_log() -> None:
    log = log_of([1, 1])
    assert log.commit_to(2) and not log.commit_to(1)
    with pytest.raises(InvariantViolation):
        log.commit_to(3)


def test_entries_for_message_respects_count_and_bytes() -> None:
    log = RaftLog([Entry(i, 1, data=b"x" * 10) for i in range(1, 11)])
    assert len(log.entries_for_message(1, 4, 1 << 20)[0]) == 4
    assert len(log.entries_for_message(1, 100, 25)[0]) == 2
    assert len(log.entries_for_message(1, 100, 1)[0]) == 1  # always at least one


def test_the_conflict_hint_skips_a_whole_term_per_round_trip() -> None:
    """Figure 7's shape: the follower holds term 2 where the leader has term 3."""
    leader, follower = log_of([1, 1, 3, 3, 3, 3]), log_of([1, 1, 2, 2, 2])
    # Beyond the follower's log: it names its next index.
    assert follower.conflict_hint(6) == (0, 6)
    assert leader.resume_after_conflict(0, 6, rejected=6) == 6
    # Inside its log: the term it holds there and where that term starts; the
    # leader has no entry of term 2, so it jumps to the start of the run.
    assert follower.conflict_hint(5) == (2, 3)
    assert leader.resume_after_conflict(2, 3, rejected=5) == 3
    assert leader.matches(2, follower.term_at(2) or 0)


def test_the_leader_resumes_after_its_own_last_entry_of_the_conflicting_term() -> None:
    leader, follower = log_of([1, 2, 2, 4]), log_of([1, 2, 2, 2, 2])
    assert follower.conflict_hint(4) == (2, 2)
    assert leader.resume_after_conflict(2, 2, rejected=4) == 4


def test_compacted_entries_are_freed_a_batch_at_a_time() -> None:
    """Compaction forgets at once and frees later, a bounded batch per call,
    so no single loop turn pays for freeing a whole log."""
    import gc
    import weakref

    class Payload:  # stands in for an entry's bytes, which cannot be watched
        pass

    entries = [Entry(i, 1, data=Payload()) for i in range(1, 101)]  # type: ignore[arg-type]
    alive = [weakref.ref(entry.data) for entry in entries]
    log = RaftLog(entries, commit_index=100)
    del entries
    log.applied_index = 100
    log.compact_to(90, 1)
    assert log.term_at(90) == 1 and log.term_at(89) is None and log.last_index == 100
    gc.collect()
    assert sum(ref() is not None for ref in alive) == 100, "nothing freed at compaction"
    log.release_compacted(limit=30)
    assert sum(ref() is not None for ref in alive) == 70
    log.release_compacted(limit=1000)
    assert sum(ref() is not None for ref in alive) == 10  # only what follows the snapshot
    assert [log.term_at(i) for i in range(91, 101)] == [1] * 10
