"""The raftctl node: the pure Raft core, and (later) storage, transport and server.

`node` never imports `raftctl`; `node.raft` and its helpers import nothing that
does I/O (tests/unit/test_purity.py enforces it).
"""
