"""Narrated demonstrations.

- the live demonstration is raftctl.tours.raft (`make demo`, `raftctl tour raft`);
- simulated.py (`make sim-demo`): the same story told by the deterministic
  simulator, from the real core's events.
"""
