"""Clusters for the command-line tests: one per test file, or a fresh one per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.harness import started_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with started_cluster(tmp_path_factory.mktemp("cli") / "cluster") as path:
        yield path


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[Path]:
    with started_cluster(tmp_path / "cluster") as path:
        yield path
