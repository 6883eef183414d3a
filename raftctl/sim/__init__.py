"""Deterministic simulation of whole clusters of the real Raft core.

Rule: everything here is driven by one seeded `random.Random`, so a seed
replays bit for bit. No sockets, files, threads or wall clock: simulated time
is an integer number of milliseconds. The same machinery serves the test
suite (tests/sim), `make sim` and `raftctl sim`, `make sim-demo`
(raftctl/demo/simulated.py) and `make bench` (raftctl/bench/simulated.py).

Arrow: this is the one part of raftctl that drives the node's core directly
(tests/unit/test_arrows.py); it judges histories with raftctl.judges.
"""
