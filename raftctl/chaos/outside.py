"""An outside judge: Porcupine, on a run's register history.

`make check-outside RUN=DIR` (or `python -m raftctl.chaos.outside DIR`)
exports DIR's register history in Porcupine's shape (raftctl.chaos.export),
runs `outside/registercheck` (Go: our register model over Porcupine, vendored
under outside/porcupine with its MIT licence, so the build needs no module
registry), and compares its verdict with ours. A judge we did not write
catches what a bug shared by our checker and our exporter would hide.

Exit codes: 0 the two agree, 1 they disagree, 2 a usage error (no Go, not a
register history).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from raftctl.chaos.export import to_porcupine
from raftctl.errors import UsageError
from raftctl.judges.history import load_history
from raftctl.judges.linearizable import REGISTER_FS
from raftctl.judges.linearizable import check as check_linearizable

__all__ = ["OUTSIDE_DIR", "build", "judge", "judge_events"]

OUTSIDE_DIR = Path(__file__).resolve().parents[2] / "outside"
BUILD_TIMEOUT_S = 300
CHECK_TIMEOUT_S = 120


def build(binary: Path) -> Path:
    """Build outside/registercheck into `binary` (unless it is newer than its
    sources); UsageError when Go is missing."""
    go = shutil.which("go")
    if go is None:
        raise UsageError("the outside checker needs Go (Debian: apt-get install golang-go)")
    sources = [*OUTSIDE_DIR.rglob("*.go"), OUTSIDE_DIR / "go.mod"]
    if binary.exists() and binary.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return binary
    environment = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local"}
    subprocess.run(
        [go, "build", "-o", str(binary), "./registercheck"],
        cwd=OUTSIDE_DIR,
        env=environment,
        check=True,
        timeout=BUILD_TIMEOUT_S,
    )
    return binary


def judge_events(events: list[dict[str, Any]], binary: Path, work: Path) -> dict[str, Any]:
    """Both verdicts on a register history's events."""
    register = [e for e in events if e.get("process") != "nemesis" and e.get("f") in REGISTER_FS]
    if len(register) != len([e for e in events if e.get("process") != "nemesis"]):
        raise UsageError("only register histories (read, write, cas) have an outside judge")
    exported = work / "history.porcupine.json"
    exported.write_text(json.dumps(to_porcupine(register)) + "\n")
    completed = subprocess.run(
        [str(binary), str(exported)], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S
    )
    if completed.returncode == 2:
        raise UsageError(f"registercheck: {completed.stderr.strip()}")
    outside = json.loads(completed.stdout)
    ours = check_linearizable(register).verdict
    return {
        "ours": ours,
        "porcupine": outside["verdict"],
        "operations": outside["operations"],
        "agree": ours == outside["verdict"],
    }


def judge(run: Path, binary: Path) -> dict[str, Any]:
    """Both verdicts on the history of a chaos run (its directory or file)."""
    history = run / "history.jsonl" if run.is_dir() else run
    if not history.exists():
        raise UsageError(f"no history at {history}")
    work = history.parent
    return judge_events(load_history(history), binary, work)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m raftctl.chaos.outside RUN", file=sys.stderr)
        return 2
    try:
        binary = build(Path(sys.prefix) / "bin" / "registercheck")
        result = judge(Path(argv[1]), binary)
    except (UsageError, ValueError) as error:
        print(f"check-outside: {error}", file=sys.stderr)
        return 2
    print(
        f"ours: {result['ours']}; Porcupine: {result['porcupine']} "
        f"({result['operations']} operations): {'agree' if result['agree'] else 'DISAGREE'}"
    )
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
