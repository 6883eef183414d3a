"""The judges: history recording and loading, pairing, and the checkers.

Rules:
- Pure of the lab: nothing here imports `node` or any other part of
  `raftctl`, so the chaos runner, `raftctl check`, the report, the exporters
  and the simulator all judge with the same code (tests/unit/test_arrows.py
  enforces it).
- A history is a list of Jepsen-shaped events (DESIGN.md, history.py); one
  function (operations.pair_operations) pairs invocations with completions.
- Every checker answers with the verdict words of verdicts.py, and running out
  of budget is "unknown", never "valid".
"""
