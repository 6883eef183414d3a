"""The gossip protocol: a leaderless, always-writable replica whose copies
converge by anti-entropy (Dynamo, Cassandra, Riak) and whose members watch
each other by SWIM, beside Raft as `start --protocol gossip`.

- crdt.py: hybrid logical clock stamps, last-writer-wins registers, the
  add-wins observed-remove set, and their merges;
- digest.py: per-bucket hashes that let two replicas compare in 64 numbers;
- store.py: one replica's data, its digest kept up to date, and the merge;
- swim.py: SWIM's failure detector and the dissemination of membership news;
- anti_entropy.py: push-pull's three steps, shared with the simulations;
- wire.py: items between the replica's form, the wire's and the WAL's;
- core.py: the replica's core, which a driver ticks and steps and whose
  GossipReady it drains (send, persist, acknowledge), as the Raft core's.

Their messages are node/messages/gossip.py.

Pure, like the Raft core: no I/O, no clock, no module-level randomness.

Built so far (issue 22, in steps): the core and its parts, proven by the
gossip swarm (raftctl/sim/gossip_swarm.py, `raftctl sim --gossip`) and its
mutants, and the epidemic (`raftctl sim --epidemic`). Still to come: its
driver in the node server and storage, `start --protocol gossip`, the chaos
checkers, `chaos --compare` and `raftctl tour cap`.
"""
