"""The key-value state machine: operations, transactions, exactly-once sessions."""

from __future__ import annotations

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from node import kv as kv_module
from node.changes import CHANGES_MAX
from node.kv import KVStateMachine
from node.messages import (
    Cas,
    Changes,
    Command,
    Compare,
    Delete,
    DeletePrefix,
    Entry,
    EntryKind,
    Get,
    GetPrefix,
    Keys,
    Put,
    Txn,
    encode_command,
)


class Log:
    """Feeds commands to a state machine as committed entries."""

    def __init__(self, kv: KVStateMachine | None = None) -> None:
        self.kv = kv or KVStateMachine()

    def run(self, command: Command) -> dict:  # type: ignore[type-arg]
        entry = Entry(self.kv.applied_index + 1, 1, EntryKind.COMMAND, encode_command(command))
        result = self.kv.apply(entry)
        assert result is not None
        return result


def test_operations() -> None:
    log = Log()
    assert log.run(Command("c", 1, 0, Get("a"))) == {"key": "a", "value": None, "found": False}
    assert log.run(Command("c", 2, 1, Put("a", "1")))["ok"]
    assert log.run(Command("c", 3, 2, Get("a")))["value"] == "1"
    assert log.run(Command("c", 4, 3, Cas("a", "2", "3"))) == {
        "ok": False,
        "key": "a",
        "value": "1",
        "found": True,
        "revision": 1,  # it changed nothing: the current revision
    }
    assert log.run(Command("c", 5, 4, Cas("a", "1", "3")))["ok"]
    assert log.run(Command("c", 6, 5, Cas("b", None, "new")))["ok"]  # None: absent
    log.run(Command("c", 7, 6, Put("user/2", "x")))
    log.run(Command("c", 8, 7, Put("user/1", "y")))
    assert log.run(Command("c", 9, 8, Keys("user/")))["keys"] == ["user/1", "user/2"]
    assert log.run(Command("c", 10, 9, Delete("a")))["ok"]
    assert not log.run(Command("c", 11, 10, Delete("a")))["ok"]


def test_revisions_prefixes_and_changes_like_etcds_mvcc() -> None:
    log = Log()
    assert log.run(Command("c", 1, 0, Put("user/1", "a")))["revision"] == 1
    assert log.run(Command("c", 2, 1, Put("user/2", "b")))["revision"] == 2
    log.run(Command("c", 3, 2, Put("other", "x")))
    # A transaction's writes share one revision.
    both = Txn((), (Put("user/1", "c"), Delete("other")), ())
    assert log.run(Command("c", 4, 3, both))["revision"] == 4
    pairs = log.run(Command("c", 5, 4, GetPrefix("user/")))
    assert pairs["pairs"] == [["user/1", "c"], ["user/2", "b"]] and pairs["revision"] == 4
    changes = log.run(Command("c", 6, 5, Changes("user/", True, 1)))["changes"]
    assert changes == [[2, "user/2", "b"], [4, "user/1", "c"]]
    assert log.run(Command("c", 7, 6, Changes("other", False, 0)))["changes"] == [
        [3, "other", "x"],
        [4, "other", None],  # None: deleted
    ]
    deleted = log.run(Command("c", 8, 7, DeletePrefix("user/")))
    assert deleted["deleted"] == ["user/1", "user/2"] and deleted["revision"] == 5
    assert log.run(Command("c", 9, 8, Keys("")))["keys"] == []
    # The revision and the changes travel in the snapshot.
    copy = KVStateMachine()
    copy.restore(log.kv.snapshot())
    assert copy.execute(Changes("", True, 4)) == log.kv.execute(Changes("", True, 4))
    assert copy.changes.revision == 5 and copy.digest() == log.kv.digest()


def test_old_changes_are_compacted_and_a_watch_is_told() -> None:
    kv = KVStateMachine()
    for number in range(CHANGES_MAX + 5):
        kv.execute(Put("k", str(number)))
    assert kv.changes.compacted == 5
    answer = kv.execute(Changes("k", False, 2))
    assert not answer["ok"] and "compacted" in answer["error"]
    assert kv.execute(Changes("k", False, 5))["changes"][0][0] == 6


def test_the_history_bounds_come_from_cluster_toml_and_hold_after_a_restore() -> None:
    kv = KVStateMachine(changes_max=3, changes_bytes_max=1 << 20)
    for number in range(6):
        kv.execute(Put("k", str(number)))
    assert kv.changes.compacted == 3
    small = KVStateMachine(changes_max=2, changes_bytes_max=1 << 20)
    small.restore(kv.snapshot())  # a snapshot from a node with a larger bound
    small.execute(Put("k", "next"))
    assert small.changes.compacted == 5 and small.changes.revision == 7
    by_bytes = KVStateMachine(changes_max=100, changes_bytes_max=10)
    for number in range(4):
        by_bytes.execute(Put("key", f"{number:05}"))  # 8 bytes a change
    assert by_bytes.changes.compacted == 3  # only the latest fits in 10 bytes


def test_noop_entries_have_no_answer() -> None:
    kv = KVStateMachine()
    assert kv.apply(Entry(1, 1, EntryKind.NOOP)) is None and kv.applied_index == 1


def test_transaction_takes_one_branch_atomically() -> None:
    log = Log()
    log.run(Command("c", 1, 0, Put("alice", "100")))
    log.run(Command("c", 2, 1, Put("bob", "0")))
    transfer = Txn(
        (Compare("alice", "100"), Compare("bob", "0")),
        (Put("alice", "70"), Put("bob", "30"), Get("alice")),
        (Get("alice"), Get("bob")),
    )
    first = log.run(Command("c", 3, 2, transfer))
    assert first["succeeded"] and first["results"][2]["value"] == "70"
    second = log.run(Command("c", 4, 3, transfer))  # the comparisons fail now
    assert not second["succeeded"]
    assert [r["value"] for r in second["results"]] == ["70", "30"]
    reads = log.run(Command("c", 5, 4, Txn((), (Get("alice"), Get("nobody")), ())))
    assert reads["succeeded"] and reads["results"][1]["found"] is False


def test_a_retried_command_is_applied_once() -> None:
    log = Log()
    log.run(Command("c", 1, 0, Put("n", "0")))
    increment = Command("c", 2, 1, Cas("n", "0", "1"))
    assert log.run(increment)["ok"]
    assert log.run(increment)["ok"]  # the saved answer, not a failed second cas
    assert log.kv.data["n"] == "1"


def test_pipelined_answers_are_kept_above_the_acknowledged_mark() -> None:
    log = Log()
    answers = [log.run(Command("c", seq, 0, Put(f"k{seq}", "v"))) for seq in range(1, 6)]
    # A retry of any in-flight command, not only the last, gets its own answer.
    for seq in range(1, 6):
        assert log.run(Command("c", seq, 0, Put(f"k{seq}", "other"))) == answers[seq - 1]
    log.run(Command("c", 6, 4, Get("k1")))
    assert sorted(log.kv.sessions["c"].answers) == [5, 6]
    refused = log.run(Command("c", 2, 4, Put("k2", "again")))
    assert not refused["ok"] and log.kv.data["k2"] == "v"


def test_sessions_expire_deterministically_by_idleness() -> None:
    log = Log(KVStateMachine(sessions_max=2))
    log.run(Command("a", 1, 0, Put("x", "1")))
    log.run(Command("b", 1, 0, Put("x", "2")))
    log.run(Command("a", 2, 1, Put("x", "3")))
    log.run(Command("c", 1, 0, Put("x", "4")))  # b is the most idle: it goes
    assert sorted(log.kv.sessions) == ["a", "c"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from("xyz"), st.text(max_size=3)), max_size=30
    )
)
def test_snapshot_restore_round_trip(writes: list[tuple[str, str, str]]) -> None:
    log = Log()
    for sequence, (client, key, value) in enumerate(writes, start=1):
        log.run(Command(client, sequence, 0, Put(key, value)))
    copy = KVStateMachine()
    copy.restore(log.kv.snapshot())
    assert copy.data == log.kv.data and copy.applied_index == log.kv.applied_index
    assert {c: s.answers for c, s in copy.sessions.items()} == {
        c: s.answers for c, s in log.kv.sessions.items()
    }


def test_a_leader_applies_the_command_it_encoded_as_if_decoded() -> None:
    """The leader passes the command it proposed instead of decoding its own
    entry again: the state and the answers are the same as a follower's."""
    leader, follower = KVStateMachine(), KVStateMachine()
    commands = [
        Command("c", 1, 0, Put("k", "\udcff bytes")),
        Command("c", 2, 1, Cas("k", "\udcff bytes", "v")),
        Command("d", 1, 0, Txn((Compare("k", "v"),), (Delete("k"),), ())),
    ]
    for index, command in enumerate(commands, start=1):
        entry = Entry(index, 3, EntryKind.COMMAND, encode_command(command))
        assert leader.apply(entry, command) == follower.apply(entry)
    assert leader.digest() == follower.digest() and leader.snapshot() == follower.snapshot()


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.text(max_size=4), st.text(max_size=6)), max_size=60),
    st.integers(1, 40),
)
def test_snapshot_pieces_join_to_one_whole_snapshot(
    writes: list[tuple[str, str]], items_per_piece: int
) -> None:
    """However the data map is cut into pieces, the pieces joined are the
    snapshot packed in one go (non-UTF-8 bytes included)."""
    log = Log()
    for sequence, (key, value) in enumerate(writes, start=1):
        log.run(Command("cd"[sequence % 2], sequence, 0, Put(key + "\udcfe", value)))
    whole = msgpack.packb(
        [
            log.kv.applied_index,
            log.kv.data,
            _session_rows(log.kv),
            log.kv.changes.to_rows(),
            log.kv.txns.rows(),
        ],
        unicode_errors="surrogateescape",
    )
    assert b"".join(log.kv.snapshot_pieces(items_per_piece)) == whole


def test_snapshot_pieces_hold_the_state_when_they_were_asked_for() -> None:
    """A snapshot packed while the node goes on applying (and overwriting,
    deleting, answering) restores the state at the index it was started."""
    log = Log()
    for sequence in range(1, 101):
        log.run(Command("c", sequence, 0, Put(f"k{sequence % 40}", f"v{sequence}")))
    at_start = (log.kv.applied_index, dict(log.kv.data), log.kv.digest())
    pieces = log.kv.snapshot_pieces(items_per_piece=7)
    packed = [next(pieces)]
    for sequence in range(101, 161):
        log.run(Command("c", sequence, sequence - 5, Put(f"k{sequence % 50}", "later")))
        log.run(Command("d", sequence, 0, Delete(f"k{sequence % 30}")))
        packed.append(next(pieces, b""))
    packed.extend(pieces)
    copy = KVStateMachine()
    copy.restore(b"".join(packed))
    assert (copy.applied_index, copy.data, copy.digest()) == at_start


def _session_rows(kv: KVStateMachine) -> dict[str, list[object]]:
    return {
        client: [s.acknowledged, s.last_index, list(s.answers.items())]
        for client, s in kv.sessions.items()
    }


def test_a_checked_snapshot_is_restored_without_decoding_it_again() -> None:
    """The install restores what the admission check decoded, and only for
    the very bytes it checked; a refused snapshot's state is let go."""
    first, second = Log(), Log()
    first.run(Command("c", 1, 0, Put("k", "first")))
    second.run(Command("c", 1, 0, Put("k", "second")))
    first_blob, second_blob = first.kv.snapshot(), second.kv.snapshot()

    KVStateMachine.check_snapshot(first_blob, 1)
    restored = KVStateMachine()
    restored.restore(second_blob)  # other bytes: decoded afresh
    assert restored.data == {"k": "second"}
    restored.restore(first_blob)
    assert restored.data == {"k": "first"}
    restored.data["k"] = "changed"  # the cached state was handed over, not shared
    again = KVStateMachine()
    again.restore(first_blob)
    assert again.data == {"k": "first"}

    KVStateMachine.check_snapshot(first_blob, 1)
    KVStateMachine.forget_checked_snapshot()
    assert not kv_module._last_checked
