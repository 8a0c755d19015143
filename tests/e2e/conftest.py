"""Fixtures for tests against a real kube-apiserver + etcd (tools/control-plane).

One control plane per test session (about 5 s to start). Set ZOOM_OPERATOR_KUBECONFIG to run
against an already running cluster instead (e.g. `make cluster`; its kubeconfig must be an admin's).
No kube-controller-manager runs: nothing garbage-collects, and deleted namespaces never finish
terminating, so each test gets a fresh namespace that is simply left behind; the throwaway cluster
goes away with the session.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from control_plane import ControlPlane, ensure_binaries

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


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
