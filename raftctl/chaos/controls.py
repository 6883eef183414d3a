"""The negative controls by name, and how one is run: scripted runs that
must end `invalid` (or, for 2pc-blocking, report the blocking they exist to
show), so we know the checkers can fail (DESIGN.md).

The scripts: raftctl.chaos.negative_controls (Raft's) and
raftctl.chaos.txn_controls (transactions'); the scaffolding:
raftctl.chaos.control_run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftctl.chaos.control_run import ControlRun
from raftctl.chaos.negative_controls import RAFT_CONTROLS
from raftctl.chaos.report import build_report
from raftctl.chaos.run import EXIT_UNAVAILABLE, write_results
from raftctl.chaos.txn_controls import TXN_CONTROLS
from raftctl.errors import Unavailable

__all__ = ["CONTROLS", "run_control"]

CONTROLS = {**RAFT_CONTROLS, **TXN_CONTROLS}


def run_control(
    name: str, seed: int, out: Path, progress: Callable[[str, bool], None] | None = None
) -> tuple[int, dict[str, Any]]:
    """Run the control `name`; (exit code, results). A control that could not
    play its script (no leader) exits 3 and says where it stopped."""
    script, workload, settings = CONTROLS[name]
    run = ControlRun(name, seed, out, workload(), **settings)
    try:
        if progress:
            shape = f"{run.shards} shards of {run.nodes}" if run.shards > 1 else f"{run.nodes}"
            progress(f"control {name}: running its script on {shape} nodes", True)
        try:
            extra = script(run)
        except Unavailable as error:
            _, results = run.finish(None)
            results.update(verdict="unavailable", exit_code=EXIT_UNAVAILABLE, ok=False, valid=False)
            results["reason"] = f"the script could not go on: {error}"
            write_results(out, results)
            return EXIT_UNAVAILABLE, results
        return run.finish(extra)
    finally:
        run.close()
        if (out / "results.json").exists():
            build_report(out)
