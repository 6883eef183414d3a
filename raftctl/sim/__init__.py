"""Deterministic simulation of whole clusters of the real Raft core.

Rule: everything here is driven by one seeded `random.Random`, so a seed
replays bit for bit. No sockets, files, threads or wall clock: simulated time
is an integer number of milliseconds. The same machinery serves the test
suite (tests/sim), `make sim`, `make demo` and `make bench`.
"""
