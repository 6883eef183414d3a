"""The key-value state machine: operations, transactions, exactly-once sessions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from node.kv import KVStateMachine
from node.messages import (
    Cas,
    Command,
    Compare,
    Delete,
    Entry,
    EntryKind,
    Get,
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
    }
    assert log.run(Command("c", 5, 4, Cas("a", "1", "3")))["ok"]
    assert log.run(Command("c", 6, 5, Cas("b", None, "new")))["ok"]  # None: absent
    log.run(Command("c", 7, 6, Put("user/2", "x")))
    log.run(Command("c", 8, 7, Put("user/1", "y")))
    assert log.run(Command("c", 9, 8, Keys("user/")))["keys"] == ["user/1", "user/2"]
    assert log.run(Command("c", 10, 9, Delete("a")))["ok"]
    assert not log.run(Command("c", 11, 10, Delete("a")))["ok"]


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
