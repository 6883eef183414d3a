"""A shard's side of two-phase commit (node.transactions through node.kv):
prepare locks and votes under wait-die, the decision record is written once,
finish applies the decided branch and unlocks, every step repeats harmlessly,
plain operations wait on a lock, and the tables survive a snapshot."""

from __future__ import annotations

from node.kv import KVStateMachine
from node.messages import (
    Cas,
    Command,
    Compare,
    Delete,
    Entry,
    EntryKind,
    Get,
    GetPrefix,
    Keys,
    Operation,
    Put,
    Txn,
    TxnDecide,
    TxnFinish,
    TxnForget,
    TxnPrepare,
    encode_command,
)
from node.transactions import FINISHED_MAX, Finished, Resolution, TxnTables

SHARD = 2


class Shard:
    """One shard's state machine fed committed entries, as a leader applies them."""

    def __init__(self) -> None:
        self.kv = KVStateMachine(shard=SHARD)
        self.sequence = 0

    def run(self, operation: Operation, session: bool = True) -> dict:  # type: ignore[type-arg]
        self.sequence += 1
        command = Command("client", self.sequence if session else 0, 0, operation)
        entry = Entry(self.kv.applied_index + 1, 1, EntryKind.COMMAND, encode_command(command))
        result = self.kv.apply(entry)
        assert result is not None
        return result


def prepare(
    txn_id: str, timestamp: int, *ops: Put | Get | Delete, compare: tuple = ()
) -> TxnPrepare:  # type: ignore[type-arg]
    return TxnPrepare(SHARD, txn_id, timestamp, 1, (1, SHARD), compare, ops, ())


def test_prepare_locks_evaluates_and_finish_applies_the_branch() -> None:
    shard = Shard()
    shard.run(Put("a", "1"))
    vote = shard.run(prepare("t1", 10, Put("a", "2"), Get("b"), compare=(Compare("a", "1"),)))
    assert vote == {"ok": True, "vote": "yes", "succeeded": True, "revision": 1}
    # A key it writes is locked exclusively, a key it only reads shared.
    assert shard.kv.txns.locks == {"a": "t1"} and shard.kv.txns.shared == {"b": {"t1"}}
    # Nothing is written before the decision.
    assert shard.kv.data == {"a": "1"}
    done = shard.run(TxnFinish(SHARD, "t1", "committed", True))
    assert done["outcome"] == "committed"
    assert [r.get("previous", r.get("value")) for r in done["results"]] == ["1", None]
    assert shard.kv.data == {"a": "2"} and not shard.kv.txns.locks and not shard.kv.txns.shared
    # A repeat is answered from memory and changes nothing.
    assert shard.run(TxnFinish(SHARD, "t1", "committed", True))["results"] == done["results"]
    assert shard.kv.data == {"a": "2"}


def test_an_aborted_transaction_writes_nothing_and_unlocks() -> None:
    shard = Shard()
    shard.run(prepare("t1", 10, Put("a", "2")))
    assert shard.run(TxnFinish(SHARD, "t1", "aborted", False))["results"] == []
    assert shard.kv.data == {} and not shard.kv.txns.locks and not shard.kv.txns.prepared
    # A prepare that arrives after its abort votes no and locks nothing.
    late = shard.run(prepare("t1", 10, Put("a", "2")))
    assert late["vote"] == "no" and not shard.kv.txns.locks


def test_wait_die_the_older_waits_the_younger_dies() -> None:
    shard = Shard()
    assert shard.run(prepare("middle", 20, Put("a", "1")))["vote"] == "yes"
    older = shard.run(prepare("old", 10, Put("a", "2")))
    younger = shard.run(prepare("young", 30, Put("a", "3")))
    assert (older["vote"], older["holder"]) == ("wait", "middle")
    assert (younger["vote"], younger["holder"]) == ("no", "middle")
    # Neither locked anything, not even its keys that were free.
    assert shard.kv.txns.locks == {"a": "middle"}
    # The same timestamp: the id breaks the tie, the same way everywhere.
    assert shard.run(prepare("a-twin", 20, Put("a", "4")))["vote"] == "wait"
    assert shard.run(prepare("z-twin", 20, Put("a", "4")))["vote"] == "no"
    # A repeat of the prepare that holds the lock is a yes again.
    assert shard.run(prepare("middle", 20, Put("a", "1")))["vote"] == "yes"


def test_readers_share_a_key_and_a_writer_meets_them_all() -> None:
    shard = Shard()
    assert shard.run(prepare("r1", 20, Get("a")))["vote"] == "yes"
    assert shard.run(prepare("r2", 30, Get("a"), compare=(Compare("b", None),)))["vote"] == "yes"
    assert shard.kv.txns.shared == {"a": {"r1", "r2"}, "b": {"r2"}}
    # A writer older than both readers waits; one younger than either dies.
    assert shard.run(prepare("w-old", 10, Put("a", "1")))["vote"] == "wait"
    assert shard.run(prepare("w-mid", 25, Put("a", "1")))["vote"] == "no"
    # Plain reads pass shared locks; plain writes wait for them.
    assert shard.kv.execute(Get("a"))["found"] is False
    assert shard.kv.execute(Put("a", "1"))["locked"] in ("r1", "r2")
    shard.run(TxnFinish(SHARD, "r1", "committed", True))
    shard.run(TxnFinish(SHARD, "r2", "committed", True))
    assert not shard.kv.txns.shared
    assert shard.run(prepare("w-mid", 25, Put("a", "1")))["vote"] == "yes"
    # A reader now meets the writer's exclusive lock.
    assert shard.run(prepare("r3", 5, Get("a")))["vote"] == "wait"


def test_the_decision_record_is_written_once() -> None:
    shard = Shard()
    first = shard.run(TxnDecide(SHARD, "t1", "aborted", False, (1, SHARD)))
    late = shard.run(TxnDecide(SHARD, "t1", "committed", True, (1, SHARD)))
    assert first["outcome"] == late["outcome"] == "aborted" and late["succeeded"] is False
    assert shard.run(TxnForget(SHARD, "t1"))["forgotten"] is True
    assert shard.run(TxnForget(SHARD, "t1"))["forgotten"] is False


def test_a_step_for_another_shard_is_refused() -> None:
    shard = Shard()
    result = shard.run(TxnDecide(3, "t1", "committed", True, (3,)))
    assert result["ok"] is False and not shard.kv.txns.records


def test_plain_operations_wait_on_a_lock_and_are_not_saved() -> None:
    shard = Shard()
    shard.run(Put("user/a", "1"))
    shard.run(prepare("t1", 10, Put("user/a", "2")))
    for operation in (
        Get("user/a"),
        Put("user/a", "9"),
        Delete("user/a"),
        Cas("user/a", "1", "3"),
        Keys("user/"),
        GetPrefix("user"),
        Txn((), (Get("user/a"),), ()),
    ):
        assert shard.kv.execute(operation) == {"ok": False, "locked": "t1"}, operation
    blocked = shard.run(Put("user/a", "9"))
    assert blocked["locked"] == "t1" and shard.kv.data["user/a"] == "1"
    # Not saved: the same sequence runs once the lock is gone.
    assert shard.sequence not in shard.kv.sessions["client"].answers
    # Other keys are free, and a stale read sees the last committed value.
    assert shard.kv.execute(Get("other"))["found"] is False
    assert shard.kv.execute(Get("user/a"), honour_locks=False)["value"] == "1"
    shard.run(TxnFinish(SHARD, "t1", "committed", True))
    assert shard.kv.execute(Get("user/a"))["value"] == "2"


def test_the_tables_survive_a_snapshot() -> None:
    shard = Shard()
    shard.run(Put("a", "1"))
    shard.run(prepare("t1", 10, Put("a", "2"), Delete("b"), compare=(Compare("a", "1"),)))
    shard.run(TxnDecide(SHARD, "t0", "committed", True, (1, SHARD)))
    shard.run(prepare("t9", 5, Put("z", "1")))
    shard.run(TxnFinish(SHARD, "t9", "committed", True))
    restored = KVStateMachine(shard=SHARD)
    restored.restore(shard.kv.snapshot())
    assert restored.txns == shard.kv.txns
    restored.apply(
        Entry(
            restored.applied_index + 1,
            1,
            EntryKind.COMMAND,
            encode_command(Command("x", 0, 0, TxnFinish(SHARD, "t1", "committed", True))),
        )
    )
    assert restored.data == {"z": "1", "a": "2"}


def test_finished_transactions_are_remembered_up_to_a_bound() -> None:
    tables = TxnTables()
    for number in range(FINISHED_MAX + 5):
        tables.remember(f"t{number}", Finished("aborted", ()))
    assert len(tables.finished) == FINISHED_MAX and "t0" not in tables.finished
    assert f"t{FINISHED_MAX + 4}" in tables.finished


def test_a_resolver_forgets_only_a_committed_record() -> None:
    """An aborted record a resolver wrote must stay: a late coordinator's
    commit decision would otherwise find no record and write "committed"
    over transactions its participants already aborted (found by the
    transactions swarm)."""
    job = Resolution("t1", 1, (1, 2))
    assert job.ask().outcome == "aborted"
    assert job.forget({"outcome": "aborted", "succeeded": False}) is None
    assert job.forget({"outcome": "committed", "succeeded": True}) == TxnForget(1, "t1")
    assert [step.shard for step in job.tell({"outcome": "committed", "succeeded": True})] == [1, 2]
