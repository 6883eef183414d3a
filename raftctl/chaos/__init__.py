"""Jepsen-style experiments on a real cluster.

- run.py: one chaos run (fresh cluster, clients, nemesis, heal, judge, results);
- workloads.py: the register, bank and set workloads and how each is judged;
- schedule.py: the fault language of --nemesis and the seeded schedule (pure);
- nemesis.py: the injection of a schedule into a real cluster;
- checks.py: Raft invariants, tracebacks and availability, read from the nodes;
- negative_controls.py: scripted runs that must be found INVALID;
- report.py and export.py: report.html, EDN and Porcupine JSON.

The verdicts come from raftctl.judges, the same judges the simulator uses.
"""
