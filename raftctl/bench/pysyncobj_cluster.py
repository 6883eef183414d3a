"""PySyncObj beside raftctl and etcd, for `make bench-compare`'s third column.

PySyncObj runs from its own venv (`make bench-compare` makes .venv-pysyncobj
and installs it there), three members on free loopback ports in a temporary
directory, each a process of raftctl/bench/pysyncobj_member.py, plus one
driver process that carries the load (see that file: PySyncObj's clients are
read-only nodes). Every process is stopped by pid whatever happens.

Where its API allows: writes at N in flight and a member's memory after K
keys. It has no command line to time, and its leader's death is not
measured here.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from raftctl.cluster import free_ports

__all__ = ["PySyncObjCluster"]

MEMBER_SCRIPT = Path(__file__).with_name("pysyncobj_member.py")


@dataclass(slots=True)
class PySyncObjCluster:
    """Three PySyncObj members and a driver, run by `python` (its venv's)."""

    python: str
    root: Path
    ports: list[int]
    members: list[subprocess.Popen[bytes]] = field(default_factory=list)
    driver: subprocess.Popen[str] | None = None

    @classmethod
    def create(cls, python: str, size: int = 3) -> PySyncObjCluster:
        return cls(python, Path(tempfile.mkdtemp(prefix="raftctl-pysyncobj-")), free_ports(size))

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    def start(self) -> None:
        for index, address in enumerate(self.addresses):
            partners = ",".join(a for a in self.addresses if a != address)
            log = (self.root / f"member{index + 1}.log").open("ab")
            self.members.append(
                subprocess.Popen(
                    [
                        self.python,
                        "-I",  # not this folder on sys.path: only the venv's pysyncobj
                        str(MEMBER_SCRIPT),
                        "member",
                        address,
                        partners,
                        str(self.root / f"member{index + 1}.journal"),
                    ],
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            )
            log.close()
        log = (self.root / "driver.log").open("ab")
        self.driver = subprocess.Popen(
            [self.python, "-I", str(MEMBER_SCRIPT), "driver", ",".join(self.addresses)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        log.close()
        answer = self._answer()
        if answer.get("leader") in (None, "None"):
            raise TimeoutError(f"PySyncObj elected no leader ({self.root})")

    def load(
        self, in_flight: int, duration_s: float = 0, keys: int | None = None
    ) -> tuple[list[float], int]:
        """Latencies (s) of the acknowledged writes, and the failed ones."""
        assert self.driver is not None and self.driver.stdin is not None
        request: dict[str, Any] = {"in_flight": in_flight, "duration_s": duration_s}
        if keys is not None:
            request["keys"] = keys
        self.driver.stdin.write(json.dumps(request) + "\n")
        self.driver.stdin.flush()
        answer = self._answer()
        return answer["latencies"], answer["errors"]

    def member_pids(self) -> list[int]:
        return [member.pid for member in self.members if member.poll() is None]

    def stop(self) -> None:
        processes: list[subprocess.Popen[Any]] = [*self.members]
        if self.driver is not None:
            processes.append(self.driver)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        self.members.clear()
        self.driver = None
        shutil.rmtree(self.root, ignore_errors=True)

    def _answer(self) -> dict[str, Any]:
        assert self.driver is not None
        stdout: IO[str] | None = self.driver.stdout
        line = stdout.readline() if stdout is not None else ""
        if not line:
            raise RuntimeError(f"the PySyncObj driver ended (see {self.root / 'driver.log'})")
        answer: dict[str, Any] = json.loads(line)
        return answer
