"""What the simulator raises.

SimulationFailure         a seed found a bug (also an AssertionError, so pytest
│                         shows it as a failed check); the seed replays it
├── SafetyViolation       a Raft safety property does not hold (invariants.py)
├── LivenessFailure       the healed cluster did not recover in time (swarm.py)
├── HistoryViolation      the clients' history is not linearizable (swarm.py)
└── BudgetExceeded        a seed delivered too many messages or ran too long in
                          wall time (a message storm): a failure with its seed,
                          never a hang (cluster.py)
ScriptError               a scenario script is malformed: the script's author
                          must mend it (scripted.py)

An InvariantViolation raised inside the core (node.errors) is a failure too:
run_seed reports it with the seed like the ones above.
"""

from __future__ import annotations

__all__ = [
    "BudgetExceeded",
    "HistoryViolation",
    "LivenessFailure",
    "SafetyViolation",
    "ScriptError",
    "SimulationFailure",
]


class SimulationFailure(AssertionError):
    """A seeded run broke a rule; its message names the rule."""


class SafetyViolation(SimulationFailure):
    """A Raft safety property does not hold: the core (or the harness) is wrong."""


class LivenessFailure(SimulationFailure):
    """The cluster did not recover within the liveness phase."""


class HistoryViolation(SimulationFailure):
    """The clients' history is not linearizable."""


class ScriptError(ValueError):
    """A script command is malformed."""


class BudgetExceeded(SimulationFailure):
    """A seed passed its budget of delivered messages or of wall time."""
