"""kube-controller-manager runs in the test control plane (tools/control-plane, on by default), so the
cluster behaves as a user's does where no kubelet is involved: owned objects are garbage-collected,
namespaces finish terminating, and get their `default` ServiceAccount."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable

import pytest
from control_plane import ControlPlane

from tests.support.operator import Cluster, OperatorProcess, credentials_secret, wait_for, zoomapp
from tests.support.simulator import SimulatorProcess

pytestmark = pytest.mark.e2e

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


def _exists(kubectl: Kubectl, *args: str) -> bool:
    return kubectl("get", *args, check=False).returncode == 0


def test_controller_manager_runs_beside_the_api_server(control_plane: ControlPlane) -> None:
    if not control_plane.pids:
        pytest.skip("attached to an outside cluster (ZOOM_OPERATOR_KUBECONFIG): no processes of ours")
    assert set(control_plane.pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}


def test_new_namespaces_get_their_default_service_account(kubectl: Kubectl, namespace: str) -> None:
    wait_for(
        lambda: _exists(kubectl, "serviceaccount", "default", "-n", namespace),
        timeout=60,
        what=f"serviceaccount default in {namespace}",
    )
    # And the cluster's CA for in-cluster clients (the root-ca-cert publisher).
    wait_for(
        lambda: _exists(kubectl, "configmap", "kube-root-ca.crt", "-n", namespace),
        timeout=60,
        what=f"configmap kube-root-ca.crt in {namespace}",
    )


def test_deleting_a_namespace_completes(kubectl: Kubectl) -> None:
    name = f"doomed-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    kubectl("create", "configmap", "settings", "-n", name, "--from-literal=a=b")
    kubectl("create", "secret", "generic", "creds", "-n", name, "--from-literal=a=b")

    kubectl("delete", "namespace", name, "--wait=false")

    def gone() -> bool:
        result = kubectl("get", "namespace", name, "-o", "json", check=False)
        return result.returncode != 0 and "NotFound" in result.stderr

    wait_for(gone, timeout=120, what=f"namespace {name} to finish terminating")


def test_deleting_a_zoomapp_garbage_collects_its_token_secret(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    cluster.apply(
        [
            credentials_secret(
                "meetings-bot-zoom",
                account_id="acc-demo",
                client_id="demo-client",
                client_secret="demo-secret",
            ),
            zoomapp("meetings-bot", credentials="meetings-bot-zoom", base_url=sim.base_url),
        ]
    )
    cluster.wait_condition("meetings-bot", "Ready", "True", reason="TokenVerified", timeout=90)
    secret = cluster.get("secret", "meetings-bot-token")
    assert secret is not None
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("ZoomApp", "meetings-bot")

    cluster.kubectl("delete", "zoomapp", "meetings-bot", "--wait=false")

    wait_for(lambda: cluster.get("zoomapp", "meetings-bot") is None, timeout=60, what="the ZoomApp gone")
    # The garbage collector learns new resources (the ZoomApp CRD) on its discovery resync (30 s).
    wait_for(
        lambda: cluster.get("secret", "meetings-bot-token") is None,
        timeout=120,
        what="the token Secret garbage-collected",
    )
    # What the ZoomApp did not own stays: the credentials Secret is the user's.
    credentials = cluster.get("secret", "meetings-bot-zoom")
    assert credentials is not None
    assert not credentials["metadata"].get("ownerReferences")


def test_foreground_deletion_waits_for_the_token_secret(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    """`kubectl delete --cascade=foreground`: the ZoomApp goes only after what it owns is gone."""
    start_operator()
    cluster.apply(
        [
            credentials_secret(
                "meetings-bot-zoom",
                account_id="acc-demo",
                client_id="demo-client",
                client_secret="demo-secret",
            ),
            zoomapp("meetings-bot", credentials="meetings-bot-zoom", base_url=sim.base_url),
        ]
    )
    cluster.wait_condition("meetings-bot", "Ready", "True", timeout=90)

    cluster.kubectl("delete", "zoomapp", "meetings-bot", "--cascade=foreground", "--wait=false")

    wait_for(lambda: cluster.get("zoomapp", "meetings-bot") is None, timeout=150, what="the ZoomApp gone")
    assert cluster.get("secret", "meetings-bot-token") is None
    events = json.loads(cluster.kubectl("get", "events", "-o", "json").stdout)["items"]
    assert not [e for e in events if e.get("reason") == "FailedDelete"]
