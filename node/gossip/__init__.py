"""The gossip protocol: a leaderless, always-writable replica whose copies
converge by anti-entropy (Dynamo, Cassandra, Riak) and whose members watch
each other by SWIM, beside Raft as `start --protocol gossip`.

- crdt.py: hybrid logical clock stamps, last-writer-wins registers, the
  add-wins observed-remove set, and their merges;
- digest.py: per-bucket hashes that let two replicas compare in 64 numbers;
- store.py: one replica's data, its digest kept up to date, and the merge;
- swim.py: SWIM's failure detector and the dissemination of membership news.

Their messages are node/messages/gossip.py.

Pure, like the Raft core: no I/O, no clock, no module-level randomness.
"""
