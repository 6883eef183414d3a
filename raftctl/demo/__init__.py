"""Narrated demonstrations.

- live.py (`make demo`): a real local cluster, started, hurt and repaired;
- simulated.py (`make sim-demo`): the same story told by the deterministic
  simulator, from the real core's events.
"""
