"""Multi-Paxos beside Raft (issue 23): the same log, agreed by Lamport's
Paxos run once for all slots by a distinguished proposer. Pure, like the Raft
core: no I/O, no clock, no threads, randomness injected.

- ballot.py: ballots, (round, node), and their one-integer form for the log;
- acceptor.py: the acceptor's two rules (promise, accept) over the slots;
- proposer.py: what a new leader proposes after phase 1 (the highest-ballot
  value of each slot, no-ops in the holes), and phase 2's count;
- durable.py: an acceptor's promise and accepted slots in node.storage's
  hard state and WAL, unchanged (the tail after a re-accepted slot is
  written again, so that the WAL's truncation never loses an accepted slot);
- slots.py: the log as drivers read it (RaftLog's words over the slots);
- leading.py: a proposer's bookkeeping in phase 1 and as leader;
- core.py: PaxosCore, the core the node server and the simulator drive
  (node.consensus), made of phase_one.py, phase_two.py and leader_clock.py,
  which share the names state.py declares;
- wire.py: a proposal in node.messages.paxos's PaxosSlot and back.
"""
