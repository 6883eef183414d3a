"""raftctl, the controller and the lab: the command line, cluster supervision,
the client, chaos experiments, the judges, the simulator, benchmarks and demos
(ARCHITECTURE.md).

Rule: raftctl talks to running nodes through their contract (messages,
cluster.toml, faults.toml); it never reaches into a running node. The lab
instruments that work on the node's parts directly (the simulator, its demo
and bench, the storage bench) run the pure core or the storage in-process.
"""

__version__ = "0.1.0"
