"""How the command-line tests run raftctl, and the clusters they run it on.

`run` invokes the app in this process, through the very click command the
console script builds (raftctl.app's group, which prints usage errors the
contract's way): about a millisecond of parsing where a fresh `raftctl`
process pays 0.4 s of start-up, which over the suite's hundreds of calls is
a minute of CI. `run_process` runs the installed executable, for what only a
process shows: the console script itself, signals, Ctrl-C, streams.
Every cluster a test starts is stopped by pid, however the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click
import typer.main
from click.testing import CliRunner, Result

from raftctl.cli import every_command
from raftctl.cluster import ClusterDir

__all__ = [
    "FAST",
    "RAFTCTL",
    "invoke",
    "run",
    "run_bytes",
    "run_json",
    "run_process",
    "started_cluster",
    "stop_cluster",
]

RAFTCTL = str(Path(sys.executable).parent / "raftctl")
# Timers for a busy 2-core CI box: elections of 1-2 s, heartbeats of 100 ms
# (an idle node then costs half the CPU it does at the default 50 ms).
FAST = ["--election-timeout", "1000-2000", "--heartbeat", "100"]

COMMAND: click.Command = typer.main.get_command(every_command())
_RUNNER = CliRunner()


def invoke(
    args: list[str], stdin: bytes | str | None = None, env: Mapping[str, str] | None = None
) -> Result:
    """The app, in this process; `Result` has exit_code, stdout, stderr."""
    return _RUNNER.invoke(COMMAND, args, input=stdin, env=env, catch_exceptions=True)


def run(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`raftctl ARGS` in this process, answered like subprocess.run(text=True)."""
    del timeout_s  # every command has its own --timeout; tests have their deadline
    result = invoke(list(args), stdin, env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback where the contract promises a line: a bug
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def run_bytes(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    result = invoke(list(args), stdin)
    return subprocess.CompletedProcess(
        list(args), result.exit_code, result.stdout_bytes, result.stderr_bytes
    )


def run_process(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """The installed executable, in its own process."""
    return subprocess.run(
        [RAFTCTL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
    )


def run_json(*args: str, stdin: str | None = None) -> tuple[int, Any]:
    result = run(*args, "--json", stdin=stdin)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON document, got {result.stdout!r} {result.stderr!r}"
    return result.returncode, json.loads(lines[0])


def stop_cluster(path: Path) -> None:
    """By pid, whatever state the test left it in."""
    if (path / "cluster.toml").exists():
        cluster = ClusterDir(path)
        cluster.stop_all(grace_s=3)
        # Removed nodes are gone from cluster.toml but keep their pid files.
        pid_files = {entry.name for entry in path.iterdir() if (entry / "node.pid").exists()}
        for node_id in sorted(set(cluster.node_ids()) | pid_files):
            cluster.kill(node_id)


@contextlib.contextmanager
def started_cluster(path: Path, *options: str) -> Iterator[Path]:
    """A cluster started through the CLI, stopped by pid however the test ends."""
    try:
        result = run(
            "--dir", str(path), "start", "--base-port", "0", *FAST, "--timeout", "40", *options
        )
        assert result.returncode == 0, result.stderr
        yield path
    finally:
        stop_cluster(path)
