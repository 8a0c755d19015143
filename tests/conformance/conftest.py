"""Conformance fixtures: one real simulator process (reset before each test) and the pinned Node
clients, installed by `npm ci` from tests/conformance/node/package-lock.json into
~/.cache/zoom-operator/conformance-node/<lock hash>/ on first use (a few seconds; later runs reuse it).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.simulator import SimulatorProcess

NODE_SOURCES = Path(__file__).parent / "node"
NPM_CI_TIMEOUT_SECONDS = 240
DRIVER_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="session")
def _shared_simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as sim:
        yield sim


@pytest.fixture
def simulator(_shared_simulator: SimulatorProcess) -> SimulatorProcess:
    """The packaged default state (demo-client / demo-secret / acc-demo, owner u-owner), fresh."""
    if not _shared_simulator.running:
        _shared_simulator.stop()
        _shared_simulator.start()
    _shared_simulator.reset()
    return _shared_simulator


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zoom-operator" / "conformance-node"


@dataclass(frozen=True)
class NodeDriver:
    """tests/conformance/node/driver.mjs, run with node from its installed folder."""

    node: str
    folder: Path

    def run(self, sim: SimulatorProcess, steps: list[dict[str, Any]], secret: str = "demo-secret") -> Any:
        request = {
            "sim": sim.base_url,
            "clientId": "demo-client",
            "clientSecret": secret,
            "accountId": "acc-demo",
            "steps": steps,
        }
        done = subprocess.run(
            [self.node, str(self.folder / "driver.mjs")],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT_SECONDS,
            cwd=self.folder,
            check=False,
        )
        assert done.returncode == 0, f"driver failed ({done.returncode}):\n{done.stderr}"
        return json.loads(done.stdout)


@pytest.fixture(scope="session")
def rivet() -> NodeDriver:
    """@zoom/rivet as pinned by the committed lock file. Skipped only where node or npm is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Node client conformance tests")
    lock = (NODE_SOURCES / "package-lock.json").read_bytes()
    folder = (
        _cache_root() / hashlib.sha256(lock + (NODE_SOURCES / "package.json").read_bytes()).hexdigest()[:16]
    )
    folder.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f"{folder.name}.lock").open("w") as lock_file:  # one installer at a time
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not (folder / "node_modules" / ".package-lock.json").exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(NODE_SOURCES / name, folder / name)
            installed = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT_SECONDS,
                check=False,
            )
            assert installed.returncode == 0, f"npm ci failed in {folder}:\n{installed.stderr}"
        shutil.copyfile(NODE_SOURCES / "driver.mjs", folder / "driver.mjs")
    return NodeDriver(node, folder)
