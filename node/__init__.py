"""The raftctl node process: the pure Raft core, its contract, storage,
transport, the key-value state machine and the server loop (ARCHITECTURE.md).

`node` never imports `raftctl`; the core (`node.raft` and its helpers) imports
nothing that does I/O; storage, configuration and transport know the core's
contract (`node.ready`) but not its rules (tests/unit/test_purity.py and
tests/unit/test_arrows.py enforce all three).
"""
