"""`raftctl tour 2pc|3pc|acid|paxos` play to their end and exit 0: each checks its
own story (the blocking seen, the money gone, the checker's verdicts) and
exits 1 otherwise. The Raft tour is `make demo`'s, run with the examples.

Each tour makes its cluster in a temporary directory; it is pointed inside
this test's own (TMPDIR), so that whatever a tour killed mid-way leaves
behind is stopped by pid in the finalizer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli.harness import stop_cluster

TOUR_TIMEOUT_S = 120
# What each must have said, besides exiting 0.
TOLD = {
    "2pc": ("is blocked", "waited 2.0s for a lock", "VALID: bank history"),
    "3pc": ("as 3PC's timeout says (it had received preCommit)", "INVALID: bank history"),
    "acid": ("INVALID: bank history", "VALID: bank history", 'succeeded": false'),
    "paxos": ("    red\n", "progress: invalid: liveness lost", "progress: valid: "),
}


def _play(topic: str, root: Path) -> subprocess.CompletedProcess[str]:
    root.mkdir()
    return subprocess.run(
        [sys.executable, "-m", "raftctl", "tour", topic],
        capture_output=True,
        text=True,
        timeout=TOUR_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(root)},
    )


@pytest.fixture(scope="module")
def tours(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    base = tmp_path_factory.mktemp("tours")
    try:
        # Two at a time: they mostly wait on timeouts, and CI has two cores.
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield {topic: pool.submit(_play, topic, base / topic) for topic in TOLD}
    finally:
        for cluster in base.glob("*/*/cluster"):
            stop_cluster(cluster)


@pytest.mark.parametrize("topic", sorted(TOLD))
def test_the_tour_tells_its_story(
    topic: str, tours: dict[str, Future[subprocess.CompletedProcess[str]]]
) -> None:
    result = tours[topic].result(timeout=TOUR_TIMEOUT_S * len(TOLD))
    assert result.returncode == 0, result.stdout + result.stderr
    for words in TOLD[topic]:
        assert words in result.stdout, f"{topic}: {words!r} not said\n{result.stdout}"
    assert "$ raftctl destroy --yes" in result.stdout  # it cleaned up after itself
