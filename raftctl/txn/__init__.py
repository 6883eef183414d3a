"""Transactions across shards, from the coordinating client's side: the
split of a transaction into each shard's part (`plan.py`, pure) and the
two-phase commit that drives the parts through the shards' Raft logs
(`coordinator.py`). The shards' side is node.transactions."""
