"""Integration fixtures: a real simulator process, talked to over HTTP.

`simulator` hands each test the default state, fresh: one process serves the whole session and is
reset (`POST /_sim/reset`) before every test, which keeps the suite fast. `simulator_factory` starts
dedicated processes for tests that need their own state file or command-line flags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.simulator import SimulatorProcess

SimulatorFactory = Callable[..., SimulatorProcess]


@pytest.fixture(scope="session")
def _shared_simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as sim:
        yield sim


@pytest.fixture
def simulator(_shared_simulator: SimulatorProcess) -> SimulatorProcess:
    """A simulator with the packaged default state, fresh for each test."""
    if not _shared_simulator.running:  # a test stopped or crashed it
        _shared_simulator.stop()
        _shared_simulator.start()
    _shared_simulator.reset()
    return _shared_simulator


@pytest.fixture
def simulator_factory() -> Iterator[SimulatorFactory]:
    """Start simulators with a given `state` dict and/or `extra_args`; all are stopped at teardown."""
    started: list[SimulatorProcess] = []

    def start(state: dict[str, Any] | None = None, extra_args: list[str] | None = None) -> SimulatorProcess:
        sim = SimulatorProcess(state=state, extra_args=extra_args)
        started.append(sim)
        return sim.__enter__()

    yield start
    for sim in started:
        sim.__exit__(None, None, None)
