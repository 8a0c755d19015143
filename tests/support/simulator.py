"""Run the Zoom simulator (`zoom-operator simulator --port 0`) as a real subprocess for a test.

Typical use: `with SimulatorProcess() as sim:` (the packaged default state), then point a client at
`sim.base_url` (both the OAuth and the API URL) and change the world with
`sim.admin("PATCH", "/_sim/users/u-owner", {"status": "inactive"})`.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

STARTUP_TIMEOUT_SECONDS = 60.0  # a 10,000-app state takes a while to parse on a loaded machine
STOP_TIMEOUT_SECONDS = 5.0


class SimulatorProcess:
    """A simulator subprocess on a free loopback port; a context manager that stops it on exit.

    `state` (a dict shaped like the state file) is written to a temporary YAML file when given,
    otherwise the packaged default state is used. `extra_args` go to the command line as is,
    e.g. `["--strict-body"]`.
    """

    base_url: str

    def __init__(self, state: dict[str, Any] | None = None, extra_args: list[str] | None = None) -> None:
        self._state = state
        self._extra_args = list(extra_args or [])
        self._workdir = tempfile.TemporaryDirectory(prefix="zoom-sim-")
        self._stderr_path = Path(self._workdir.name) / "stderr.log"
        self._process: subprocess.Popen[str] | None = None
        self._admin: httpx.Client | None = None

    def start(self) -> SimulatorProcess:
        args = [sys.executable, "-m", "zoom_operator.cli", "simulator", "--port", "0"]
        if self._state is not None:
            state_path = Path(self._workdir.name) / "state.yaml"
            state_path.write_text(yaml.safe_dump(self._state, sort_keys=False))
            args += ["--state", str(state_path)]
        args += self._extra_args
        with self._stderr_path.open("w") as stderr:  # a file, not a pipe: the request log never blocks
            self._process = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.base_url = self._read_base_url()
        self._admin = httpx.Client(base_url=self.base_url, timeout=10.0)
        return self

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _read_base_url(self) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._process.stdout], [], [], 0.1)
            if ready:
                line = self._process.stdout.readline().strip()
                if line.startswith("http://"):
                    return line
                break
            if self._process.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"simulator did not start; stderr:\n{self.stderr_text()}")

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def stderr_text(self) -> str:
        """Everything the simulator logged so far (one line per request)."""
        return self._stderr_path.read_text() if self._stderr_path.exists() else ""

    def admin(self, method: str, path: str, json: object | None = None) -> Any:
        """Call the admin API (`path` starts with `/_sim`); the parsed JSON answer, None when empty.
        Raises AssertionError carrying the body on a non-2xx answer."""
        assert self._admin is not None, "the simulator is not running"
        response = self._admin.request(method, path, json=json)
        if not response.is_success:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def reset(self) -> None:
        """Back to the starting state: no tokens, faults, counters, clock offset or changed flags."""
        self.admin("POST", "/_sim/reset")

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.admin("GET", "/_sim/stats")
        return stats

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self._workdir.cleanup()
