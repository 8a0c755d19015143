"""Shared pytest fixtures for every tier that needs a real control plane, the simulator or the operator.

Loaded as a plugin by tests/conftest.py, so tests/e2e, tests/chart and tests/reliability share one
control plane per session (about 5 s to start). Set ZOOM_OPERATOR_KUBECONFIG to run against an
already running cluster instead (e.g. `make cluster`; its kubeconfig must be an admin's). Modules that
stop or restart kube-apiserver or etcd override `control_plane` with a module-scoped one of their
own, so other tests never see the outage; every fixture below follows whichever `control_plane` is
in force.

kube-controller-manager runs too (garbage collection, namespace deletion, default ServiceAccounts),
but no scheduler or kubelet. Each test gets a fresh namespace that is simply left behind; the
throwaway cluster goes away with the session.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from control_plane import ControlPlane, ensure_binaries

from tests.support.operator import CRD_PATH, Cluster, OperatorProcess
from tests.support.simulator import SimulatorProcess

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]
_CRD_READY: set[str] = set()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the binaries (first run only) before any test starts, so the build is not charged to one
    test's timeout; a no-op when they are cached, under KUBEBUILDER_ASSETS, or with an outside cluster."""
    if session.config.option.collectonly or os.environ.get("ZOOM_OPERATOR_KUBECONFIG"):
        return
    if any(item.get_closest_marker("e2e") for item in session.items):
        ensure_binaries()


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    external = os.environ.get("ZOOM_OPERATOR_KUBECONFIG")
    if external:
        cp = ControlPlane.attach(Path(external))
        try:
            yield cp
        finally:
            cp.stop()
        return
    with ControlPlane(tmp_path_factory.mktemp("control-plane")) as cp:
        yield cp


@pytest.fixture
def kubectl(control_plane: ControlPlane) -> Kubectl:
    """`kubectl("get", "ns")` as the cluster admin; raises KubectlError unless `check=False`."""
    return control_plane.kubectl


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    """A fresh namespace named after the test (left behind afterwards, see the module docstring)."""
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].rstrip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    control_plane.create_namespace(name)
    return name


@pytest.fixture
def crd_installed(control_plane: ControlPlane) -> None:
    """The ZoomApp CRD, installed once per control plane."""
    if control_plane.server in _CRD_READY:
        return
    control_plane.kubectl("apply", "--server-side", "-f", str(CRD_PATH))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "crd/zoomapps.zoom-operator.io", "--timeout=60s"
    )
    _CRD_READY.add(control_plane.server)


@pytest.fixture
def cluster(kubectl: Kubectl, namespace: str, crd_installed: None) -> Cluster:
    """kubectl-level helpers for the test's namespace, with the ZoomApp CRD installed."""
    return Cluster(kubectl, namespace)


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    """A fresh simulator process (default state) for the test."""
    with SimulatorProcess() as simulator:
        yield simulator


@pytest.fixture
def start_operator(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start `zoom-operator run` on the test's namespace; `kubeconfig=` runs it as someone else.

    The endpoint allowlist is `allow=` when given, else the test's `sim` simulator when it uses one
    (the operator allows only Zoom's hosts by default, so a test names its Zoom explicitly).

    Every operator started is stopped at teardown, and the tail of its log is printed (pytest shows
    it for failed tests).
    """
    started: list[OperatorProcess] = []

    def start(
        *extra_args: str,
        kubeconfig: Path | None = None,
        log_name: str | None = None,
        allow: Sequence[str] | None = None,
    ) -> OperatorProcess:
        if allow is None:
            allow = [request.getfixturevalue("sim").base_url] if "sim" in request.fixturenames else []
        proc = OperatorProcess(
            kubeconfig or control_plane.kubeconfig,
            tmp_path / (log_name or f"operator-{len(started)}.log"),
            namespaces=[namespace],
            extra_args=extra_args,
            allow_endpoints=allow,
        )
        started.append(proc.start())
        return proc

    yield start
    for proc in started:
        proc.stop()
    for proc in started[-2:]:
        print(f"--- {proc.log_path.name} ---\n{proc.logs()[-6000:]}")
