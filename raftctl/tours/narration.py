"""How a tour talks: each step a real `raftctl` command, printed before it
runs against the tour's own cluster, its output shown indented; the
cluster's events told between steps; the tour's own checks of its story.

`run_tour` gives a tour a temporary directory and stops every process of its
cluster (nodes and coordinator), by pid, whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.messages import AdminCommand
from raftctl.client import Client
from raftctl.cluster import ClusterDir, wait_for

__all__ = ["RAFTCTL", "Tour", "admin", "heading", "run_tour", "wait_until"]

RAFTCTL = str(Path(sys.executable).parent / "raftctl")


class Tour:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "cluster"
        self.events_seen = 0
        self.problems: list[str] = []
        self._client: Client | None = None

    def client(self) -> Client:
        """A client of the tour's own, for what it looks up without showing
        (cheaper than a `raftctl` process per look while it waits)."""
        if self._client is None:
            self._client = Client(ClusterDir(self.path).config, "tour")
        return self._client

    def node_statuses(self) -> list[dict[str, Any]]:
        """Each node's status (an empty one for a node that does not answer)."""
        client = self.client()
        return [client.status(node_id, 1.0) or {} for node_id in client.config.node_ids]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def run(
        self,
        *args: str,
        show: bool = True,
        quiet: bool = False,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = [*(f"{name}={value}" for name, value in (env or {}).items()), "raftctl", *args]
        if show:
            shown = " ".join(command)
            print(
                f"\n  $ {shown}" if stdin is None else f"\n  $ echo '{stdin}' \\\n      | {shown}"
            )
        result = subprocess.run(
            [RAFTCTL, "--dir", str(self.path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            input=stdin,
            env={**os.environ, "COLUMNS": "110", **(env or {})},
        )
        if show and not quiet:
            for line in (result.stdout + result.stderr).rstrip().splitlines():
                print(f"    {line}")
            if result.returncode < 0:
                print(f"    [killed by signal {-result.returncode}]")
        return result

    def document(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json", show=False).stdout)

    def new_events(self, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Events since the last call, told in the cluster's own words."""
        events = self.document("events")["events"]
        fresh: list[dict[str, Any]] = events[self.events_seen :]
        self.events_seen = len(events)
        shown = [
            e
            for e in fresh
            if e["event"] != "TermChanged"
            and not e["text"].endswith("(started)")
            and (not kinds or e["event"] in kinds)
        ]
        for event in shown:
            print(f"    | {event['text']}")
        return fresh

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)
            print(f"    !! {problem}")


def heading(text: str) -> None:
    print(f"\n== {text} ==")


def run_tour(story: Callable[[Tour], None], prefix: str) -> int:
    """Play `story` on a fresh cluster in a temporary directory: 0 when it
    told what it meant to, 1 (its problems on stderr) otherwise."""
    root = Path(tempfile.mkdtemp(prefix=f"raftctl-{prefix}-"))
    tour = Tour(root)
    try:
        story(tour)
    finally:
        tour.close()
        cluster_path = root / "cluster"
        if (cluster_path / "cluster.toml").exists():
            cluster = ClusterDir(cluster_path)
            cluster.stop_all(grace_s=3)
            for process_id in cluster.process_ids():
                cluster.kill(process_id)
        shutil.rmtree(root, ignore_errors=True)
    if tour.problems:
        print(f"\ntour FAILED: {'; '.join(tour.problems)}", file=sys.stderr)
        return 1
    return 0


def admin(tour: Tour, node_id: str, command: AdminCommand) -> dict[str, Any] | None:
    """An admin request a tour makes behind the scenes (a failpoint), as
    the chaos controls do: there is no command for it, by design."""
    return tour.client().admin(node_id, command, timeout_s=2.0)


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    return wait_for(condition, timeout_s, interval_s=0.1)
