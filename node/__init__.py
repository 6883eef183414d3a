"""The raftctl node process: the pure Raft core, storage, transport, state machine and server.

`node` never imports `raftctl`; `node.raft` and its helpers import nothing that
does I/O (tests/unit/test_purity.py enforces it).
"""
