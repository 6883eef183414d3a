"""raftctl, the controller: command line, cluster supervision, client, experiments.

Rule: raftctl talks to nodes through their contract (messages, cluster.toml);
it never reaches into a running node. `raftctl sim` is the exception by
nature: it runs the pure core itself, in the deterministic simulator.
"""

__version__ = "0.1.0"
