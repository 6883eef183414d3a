"""The shards' side of the textbook protocols and the coordinator's log:
3PC's preCommit and the participant's timeout rule, what a shard answers a
classic 2PC participant's inquiry, and the classic coordinator's recovery
from its own WAL (node.decisions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import ClusterConfig, ConfigError, NodeAddress
from node.decisions import DecisionLog
from node.kv import KVStateMachine
from node.messages import Put, TxnFinish, TxnPreCommit, TxnQuery
from node.transactions import Prepared, TxnTables, timeout_outcome
from tests.unit.test_transactions import SHARD, Shard, prepare


def _prepared(precommit: bool | None) -> Prepared:
    return Prepared(1, 0, (1, 2), ("k",), ("k",), True, (Put("k", "v"),), (), 7, precommit)


def test_a_participant_told_precommit_commits_on_timeout_and_one_not_told_aborts() -> None:
    assert timeout_outcome(_prepared(None)) == ("aborted", False)
    assert timeout_outcome(_prepared(True)) == ("committed", True)
    # The branch is the one preCommit announced (every shard's comparisons).
    assert timeout_outcome(_prepared(False)) == ("committed", False)


def test_precommit_is_acknowledged_while_prepared_and_refused_once_finished() -> None:
    shard = Shard()
    shard.run(prepare("t1", 10, Put("a", "2")))
    ack = shard.run(TxnPreCommit(SHARD, "t1", True))
    assert ack["ack"] is True and shard.kv.txns.prepared["t1"].precommit is True
    # Its timeout passed first and it aborted alone: the coordinator must abort.
    shard.run(prepare("t2", 11, Put("b", "2")))
    shard.run(TxnFinish(SHARD, "t2", "aborted", False))
    late = shard.run(TxnPreCommit(SHARD, "t2", True))
    assert late["ack"] is False and late["outcome"] == "aborted"
    assert shard.run(TxnPreCommit(SHARD, "never", True))["outcome"] is None


def test_an_inquiry_learns_an_outcome_only_from_a_shard_that_finished() -> None:
    shard = Shard()
    assert shard.run(TxnQuery(SHARD, "t1"))["state"] == "unknown"
    shard.run(prepare("t1", 10, Put("a", "2")))
    asked = shard.run(TxnQuery(SHARD, "t1"))
    assert (asked["state"], asked["outcome"]) == ("prepared", None)
    shard.run(TxnFinish(SHARD, "t1", "committed", True))
    told = shard.run(TxnQuery(SHARD, "t1"))
    assert (told["state"], told["outcome"], told["succeeded"]) == ("finished", "committed", True)


def test_precommit_and_the_branch_survive_a_snapshot_and_old_rows_still_load() -> None:
    shard = Shard()
    shard.run(prepare("t1", 10, Put("a", "2")))
    shard.run(TxnPreCommit(SHARD, "t1", True))
    shard.run(prepare("t2", 11, Put("b", "2")))
    shard.run(TxnFinish(SHARD, "t2", "committed", True))
    restored = KVStateMachine(shard=SHARD)
    restored.restore(shard.kv.snapshot())
    assert restored.txns == shard.kv.txns
    assert restored.txns.finished["t2"].succeeded is True
    # Rows written before 3PC: no precommit column, no succeeded column.
    prepared, records, finished = shard.kv.txns.rows()
    old = [[row[:10] for row in prepared], records, [row[:4] for row in finished]]
    loaded = TxnTables.from_rows(old)
    assert loaded.prepared["t1"].precommit is None and loaded.finished["t2"].succeeded is False


def test_the_coordinator_recovers_its_decisions_from_its_log(tmp_path: Path) -> None:
    log, unfinished = DecisionLog.open_at(tmp_path)
    assert unfinished == []
    log.begin("undecided", (1, 2))
    log.begin("committed", (1, 3))
    log.decide("committed", "committed", True)
    log.begin("done", (2, 3))
    log.decide("done", "aborted", False)
    log.end("done")
    # The first decision stands, as a shard's record does.
    assert log.decide("committed", "aborted", False).outcome == "committed"
    log.close()
    recovered, unfinished = DecisionLog.open_at(tmp_path)
    by_id = {d.txn_id: d for d in unfinished}
    # Begun and undecided: presumed abort, and handed back to tell the shards.
    assert by_id["undecided"].outcome == "aborted" and by_id["undecided"].participants == (1, 2)
    assert (by_id["committed"].outcome, by_id["committed"].succeeded) == ("committed", True)
    assert "done" not in by_id and recovered.query("done") is None
    recovered.end("undecided")
    recovered.end("committed")
    recovered.close()
    again, unfinished = DecisionLog.open_at(tmp_path)
    assert unfinished == [] and again.open == {}
    again.close()


def test_the_config_keeps_the_coordinator_and_the_protocol_together() -> None:
    nodes = (
        NodeAddress("s1n1", "127.0.0.1", 7101),
        NodeAddress("s2n1", "127.0.0.1", 7102, shard=2),
    )
    config = ClusterConfig(nodes, shards=2, txn_protocol="3pc", coordinator_port=7103)
    assert config.coordinator is not None and config.coordinator.id == "coord"
    assert ClusterConfig(nodes, shards=2).coordinator is None
    with pytest.raises(ConfigError, match="txn_protocol"):
        ClusterConfig(nodes, shards=2, txn_protocol="4pc")
    with pytest.raises(ConfigError, match="coordinator_port"):
        ClusterConfig(nodes, shards=2, txn_protocol="2pc-classic")
    with pytest.raises(ConfigError, match="coordinator_port"):
        ClusterConfig(nodes, shards=2, coordinator_port=7103)
    with pytest.raises(ConfigError, match="shares a port"):
        ClusterConfig(nodes, shards=2, txn_protocol="3pc", coordinator_port=7102)


def test_the_log_remembers_which_client_request_each_attempt_served(tmp_path: Path) -> None:
    log, _ = DecisionLog.open_at(tmp_path)
    log.begin("c.1.1", (1, 2), ("client", 7))
    log.decide("c.1.1", "aborted", False)
    log.begin("c.1.2", (1, 2), ("client", 7))  # its retry, which commits
    log.decide("c.1.2", "committed", True)
    log.end("c.1.2")
    log.begin("c.2.1", (1, 2), ("client", 8))  # the coordinator dies before deciding
    log.close()
    again, _ = DecisionLog.open_at(tmp_path)
    latest = again.for_request("client", 7)
    assert latest is not None and (latest.txn_id, latest.outcome) == ("c.1.2", "committed")
    undecided = again.for_request("client", 8)
    assert undecided is not None and undecided.outcome == "aborted"  # presumed abort
    assert again.for_request("client", 9) is None
    again.close()
