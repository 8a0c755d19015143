"""The chart's workloads on a real control plane with kube-controller-manager: its Deployment gets a
ReplicaSet and its StatefulSet (peering) gets Pods, all admitted by Pod Security admission in a
namespace that enforces the "restricted" profile. No scheduler or kubelet runs here, so the Pods stay
Pending: what this proves is that the chart's pod spec passes admission, and that a pod which does not
comply is refused in the same namespace (so the profile really is enforced)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from control_plane import ControlPlane

from tests.chart.conftest import CHART, Helm, values_file
from tests.support.operator import CRD_PATH, wait_for

pytestmark = pytest.mark.e2e

RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


@pytest.fixture
def restricted_release(control_plane: ControlPlane, helm: Helm, tmp_path: Path) -> Any:
    installed: list[tuple[str, str]] = []
    if control_plane.kubectl("get", "crd", "zoomapps.zoom-operator.io", check=False).returncode != 0:
        control_plane.kubectl("apply", "--server-side", "-f", str(CRD_PATH))

    def install(values: dict[str, Any]) -> tuple[str, str]:
        name = f"zo-{uuid.uuid4().hex[:6]}"
        namespace = f"{name}-restricted"
        control_plane.create_namespace(namespace)
        control_plane.kubectl(
            "label", "namespace", namespace, RESTRICTED, "pod-security.kubernetes.io/enforce-version=latest"
        )
        path = values_file(
            tmp_path, name, {"crds": {"install": False}, "watchNamespaces": [namespace], **values}
        )
        helm(
            "install", name, str(CHART), "--namespace", namespace,
            "--kubeconfig", str(control_plane.kubeconfig), "-f", str(path),
        )  # fmt: skip
        installed.append((name, namespace))
        return name, namespace

    yield install
    for name, namespace in installed:
        helm(
            "uninstall", name, "--namespace", namespace, "--kubeconfig", str(control_plane.kubeconfig),
            check=False,
        )  # fmt: skip


def _items(control_plane: ControlPlane, kind: str, namespace: str) -> list[dict[str, Any]]:
    out = control_plane.kubectl("get", kind, "-n", namespace, "-o", "json").stdout
    return list(json.loads(out)["items"])


def _pods_of(control_plane: ControlPlane, namespace: str, count: int) -> list[dict[str, Any]]:
    def created() -> list[dict[str, Any]] | None:
        pods = _items(control_plane, "pods", namespace)
        return pods if len(pods) >= count else None

    pods = wait_for(created, timeout=90, what=f"{count} pod(s) created in {namespace}")
    for pod in pods:
        assert pod["status"]["phase"] == "Pending"  # admitted and stored; no kubelet runs here
        container = pod["spec"]["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    return pods


def _no_failed_creates(control_plane: ControlPlane, namespace: str) -> None:
    events = _items(control_plane, "events", namespace)
    refused = [e["message"] for e in events if e.get("reason") == "FailedCreate"]
    assert not refused, refused


def test_deployment_gets_a_replicaset_and_a_pod_admitted_as_restricted(
    control_plane: ControlPlane, restricted_release: Any
) -> None:
    name, namespace = restricted_release({})

    def replicaset() -> list[dict[str, Any]] | None:
        return _items(control_plane, "replicasets", namespace) or None

    (rs,) = wait_for(replicaset, timeout=90, what=f"a ReplicaSet in {namespace}")
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    (pod,) = _pods_of(control_plane, namespace, 1)
    assert pod["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
    assert pod["spec"]["serviceAccountName"] == f"{name}-zoom-operator"
    _no_failed_creates(control_plane, namespace)

    # The namespace does enforce "restricted": a pod with the defaults (root allowed, no seccomp) is refused.
    refused = control_plane.kubectl(
        "run", "plain", "-n", namespace, "--image=zoom-operator:0.1.0", "--restart=Never", check=False
    )
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr


def test_statefulset_with_peering_gets_both_pods_admitted_as_restricted(
    control_plane: ControlPlane, restricted_release: Any
) -> None:
    name, namespace = restricted_release({"peering": {"enabled": True}, "replicas": 2})

    pods = _pods_of(control_plane, namespace, 2)

    assert sorted(pod["metadata"]["name"] for pod in pods) == [
        f"{name}-zoom-operator-0",
        f"{name}-zoom-operator-1",
    ]
    assert {pod["metadata"]["ownerReferences"][0]["kind"] for pod in pods} == {"StatefulSet"}
    _no_failed_creates(control_plane, namespace)
