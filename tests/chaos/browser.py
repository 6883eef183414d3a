"""Headless Chromium, to open a report as a person would: the DOM after the
page's scripts ran, the console's complaints, and a screenshot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

BROWSER_TIMEOUT_S = 120
_CONSOLE_TROUBLE = re.compile(r"CONSOLE.*(Uncaught|Error|error)")


@dataclass
class Opened:
    dom: str
    console_errors: list[str]
    screenshot: Path


def chromium() -> str:
    """The browser; CI installs it (.ci/run), elsewhere its absence skips."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's package")
        pytest.skip("chromium is not installed (apt-get install chromium; CI installs it)")
    return found


def open_report(report: Path, screenshot: Path) -> Opened:
    """One headless launch dumps the DOM (after the page's scripts ran), logs
    the console to stderr and takes the screenshot."""
    browser = chromium()
    opened = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1300,1400",
            f"--screenshot={screenshot}",
            "--dump-dom",
            report.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert opened.returncode == 0, opened.stderr[-2000:]
    troubles = [line for line in opened.stderr.splitlines() if _CONSOLE_TROUBLE.search(line)]
    assert screenshot.exists(), f"no screenshot: {opened.stderr[-2000:]}"
    return Opened(opened.stdout, troubles, screenshot)
