"""Benchmarks (`make bench`): they report figures and ratios, and are not tests.

- simulated.py: the deterministic simulator's own speed;
- storage.py: the WAL and snapshot files on this disk, with and without fsync;
- live.py: a real local cluster (also `raftctl bench`): throughput, latency,
  snapshot stall, catch-up and leadership transfer.
"""
