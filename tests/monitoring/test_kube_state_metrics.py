"""kube-state-metrics (v2.15.0 from the Go module proxy, tools/get-kube-state-metrics.sh) reads the
CustomResourceState config the chart renders, against the test API server, with only the RBAC the
chart's comment asks for (list/watch on zoomapps, and on customresourcedefinitions). The series the
comment documents appear with the documented labels, and the kube-state-metrics variant of the
alerts (files/alerts-kube-state-metrics.yaml, `for:` divided by 20) fires in the same Prometheus that
fires the operator-scraped alerts."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from control_plane import ControlPlane

from tests.chart.conftest import Render, one
from tests.monitoring.conftest import APP, KSM_ALERTS, AlertWatch, deploy
from tests.support.operator import Cluster, OperatorProcess, free_port, wait_for
from tests.support.real_parts import PrometheusProcess, shortened_for, tool
from tests.support.simulator import SimulatorProcess

pytestmark = pytest.mark.e2e

S2S_PRIVILEGE = "ServerToServerOAuthApp:Edit"
DOCUMENTED = {
    "kube_customresource_zoomapp_status_condition",
    "kube_customresource_zoomapp_token_expiration_timestamp_seconds",
    "kube_customresource_zoomapp_token_renewal_timestamp_seconds",
    "kube_customresource_zoomapp_consecutive_unauthorized",
    "kube_customresource_zoomapp_mints_last_hour",
}
KSM_LABELS = {
    "customresource_group": "zoom-operator.io",
    "customresource_kind": "ZoomApp",
    "customresource_version": "v1alpha1",
}
SERIES = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE)


def parse_series(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (m["name"], dict(re.findall(r'(\w+)="([^"]*)"', m["labels"])), float(m["value"]))
        for m in SERIES.finditer(text)
    ]


class KubeStateMetrics:
    def __init__(self, config: Path, kubeconfig: Path, namespace: str, log: Path) -> None:
        self.port = free_port()
        self.argv = [
            tool("get-kube-state-metrics.sh"),
            f"--kubeconfig={kubeconfig}",
            "--custom-resource-state-only",
            f"--custom-resource-state-config-file={config}",
            f"--namespaces={namespace}",
            "--host=127.0.0.1",
            f"--port={self.port}",
            "--telemetry-host=127.0.0.1",
            f"--telemetry-port={free_port()}",
        ]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> KubeStateMetrics:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    def metrics(self) -> str:
        assert self.process is not None
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        except httpx.TransportError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def ksm(
    render: Render, control_plane: ControlPlane, cluster: Cluster, tmp_path: Path
) -> Iterator[KubeStateMetrics]:
    objects = render({"kubeStateMetrics": {"customResourceState": {"enabled": True}}})
    config = tmp_path / "custom-resource-state.yaml"
    config.write_text(one(objects, "ConfigMap")["data"]["config.yaml"])
    # The RBAC the chart's comment names, and nothing more: list/watch on zoomapps, and on
    # customresourcedefinitions at cluster scope (kube-state-metrics discovers custom resources through
    # them; without it no series ever appears).
    account = f"--serviceaccount={cluster.namespace}:kube-state-metrics"
    cluster.kubectl("create", "serviceaccount", "kube-state-metrics")
    cluster.kubectl("create", "role", "ksm", "--verb=list,watch", "--resource=zoomapps.zoom-operator.io")
    cluster.kubectl("create", "rolebinding", "ksm", "--role=ksm", account)
    discovery = f"ksm-crds-{cluster.namespace}"[:63]
    control_plane.kubectl(
        "create", "clusterrole", discovery, "--verb=list,watch",
        "--resource=customresourcedefinitions.apiextensions.k8s.io",
    )  # fmt: skip
    control_plane.kubectl("create", "clusterrolebinding", discovery, f"--clusterrole={discovery}", account)
    token = control_plane.create_token(cluster.namespace, "kube-state-metrics")
    kubeconfig = control_plane.token_kubeconfig(tmp_path / "ksm.kubeconfig", token)
    process = KubeStateMetrics(config, kubeconfig, cluster.namespace, tmp_path / "ksm.log").start()
    try:
        yield process
    finally:
        process.stop()
        control_plane.kubectl("delete", "clusterrolebinding,clusterrole", discovery, check=False)
        print(f"--- kube-state-metrics log ---\n{process.log.read_text(errors='replace')[-3000:]}")


def test_documented_series_appear_with_documented_labels(
    ksm: KubeStateMetrics,
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    start_operator()
    deploy(cluster, sim)
    status = cluster.zoomapp(APP)["status"]

    def exported() -> list[tuple[str, dict[str, str], float]] | None:
        series = [s for s in parse_series(ksm.metrics()) if s[0].startswith("kube_customresource_")]
        names = {name for name, _, _ in series}
        ready = [s for s in series if s[1].get("type") == "Ready" and s[2] == 1.0]
        return series if names >= DOCUMENTED and ready else None

    series = wait_for(exported, timeout=60, what="the documented series from kube-state-metrics")
    assert {name for name, _, _ in series} == DOCUMENTED
    for name, labels, _ in series:
        assert labels.items() >= KSM_LABELS.items(), (name, labels)
        assert labels["namespace"] == cluster.namespace
        assert labels["name"] == APP
    conditions = {
        labels["type"]: (labels["reason"], value)
        for name, labels, value in series
        if name == "kube_customresource_zoomapp_status_condition"
    }
    assert conditions == {
        "Ready": ("TokenVerified", 1.0),
        "SecretRotationRequired": ("CredentialsAccepted", 0.0),
        "OwnerRoleChangeRequired": ("OwnerVerified", 0.0),
    }
    values = {name: value for name, _, value in series}
    expires = datetime.fromisoformat(status["token"]["expiresAt"].replace("Z", "+00:00")).timestamp()
    assert values["kube_customresource_zoomapp_token_expiration_timestamp_seconds"] == expires
    renew = datetime.fromisoformat(status["token"]["renewAt"].replace("Z", "+00:00")).timestamp()
    assert values["kube_customresource_zoomapp_token_renewal_timestamp_seconds"] == renew
    assert values["kube_customresource_zoomapp_consecutive_unauthorized"] == 0.0
    assert values["kube_customresource_zoomapp_mints_last_hour"] == float(status["mints"]["lastHour"])


def test_kube_state_metrics_variant_of_the_alerts_fires_beside_the_operator_one(
    ksm: KubeStateMetrics,
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    alert_rules: Path,
    tmp_path: Path,
) -> None:
    operator = start_operator()
    ksm_rules = shortened_for(KSM_ALERTS, tmp_path / "alerts-kube-state-metrics-for-divided-by-20.yaml")
    targets = {
        "zoom-operator": [f"127.0.0.1:{operator.metrics_port}"],
        "kube-state-metrics": [f"127.0.0.1:{ksm.port}"],
    }
    with PrometheusProcess(tmp_path / "prometheus", targets, [alert_rules, ksm_rules]) as prometheus:
        deploy(cluster, sim, probe={"intervalSeconds": 5})
        expr = (
            f'kube_customresource_zoomapp_status_condition{{job="kube-state-metrics",'
            f'namespace="{cluster.namespace}",type="Ready"}} == 1'
        )
        wait_for(lambda: prometheus.query(expr)["result"], timeout=60, what=expr)
        prometheus.rules_healthy()
        watch = AlertWatch(prometheus, cluster.namespace)
        watch.wait_quiet(timeout=30)

        role = next(r for r in sim.admin("GET", "/_sim/state")["roles"] if r["id"] == "role-admin")
        sim.admin(
            "PATCH",
            "/_sim/roles/role-admin",
            {"privileges": [p for p in role["privileges"] if p != S2S_PRIVILEGE]},
        )
        from_ksm = watch.wait("ZoomAppOwnerRoleChangeRequired[kube-state-metrics]", "firing", timeout=120)
        from_operator = watch.wait("ZoomAppOwnerRoleChangeRequired", "firing", timeout=30)
        assert from_ksm["labels"]["reason"] == from_operator["labels"]["reason"]
        assert from_ksm["labels"]["name"] == APP
        assert "ZoomAppSecretRotationRequired[kube-state-metrics]" not in watch.names()
