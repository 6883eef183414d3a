"""Failpoints count down, then crash the process where they stand."""

from __future__ import annotations

import pytest

from node import failpoints
from node.failpoints import EXIT_FAILPOINT, Failpoints


class Crashed(Exception):
    pass


def test_a_failpoint_crashes_after_its_countdown(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_exit(code: int) -> None:
        raise Crashed(code)

    monkeypatch.setattr(failpoints.os, "_exit", fake_exit)
    recorded: list[str] = []
    points = Failpoints(recorded.append)
    points.hit("before-persist")  # unarmed: nothing happens
    points.arm("before-persist", after=2)
    points.hit("before-persist")
    points.hit("before-apply")
    points.hit("before-persist")
    assert points.armed() == {"before-persist": 0}
    with pytest.raises(Crashed) as crash:
        points.hit("before-persist")
    assert crash.value.args == (EXIT_FAILPOINT,)
    assert recorded == ["before-persist"]


def test_unknown_failpoints_and_disarming() -> None:
    points = Failpoints(lambda name: None)
    with pytest.raises(ValueError, match="unknown failpoint"):
        points.arm("after-lunch")
    points.arm("before-apply", 5)
    points.arm("snapshot-install", 1)
    points.disarm("before-apply")
    assert points.armed() == {"snapshot-install": 1}
    points.disarm()
    assert points.armed() == {}
