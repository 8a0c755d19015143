"""The shipped alerts, fired by a real Prometheus from the live operator's /metrics.

Prometheus (Debian's server, tools/get-prometheus.sh) scrapes `zoom-operator run` every second with
job="zoom-operator" and honor_labels, as the chart's ServiceMonitor does, and loads a test copy of
charts/zoom-operator/files/alerts.yaml derived mechanically: every `for:` divided by 20 (1m -> 3s,
5m -> 15s, 10m -> 30s), nothing else changed. The simulator plays Zoom; its /_sim admin API makes
the incidents. Each shipped alert is shown firing here:

| alert                          | test |
| ZoomAppOwnerRoleChangeRequired | test_owner_role_losing_s2s_permission_fires_then_resolves |
| ZoomAppNotReady                | test_owner_role_losing_s2s_permission_fires_then_resolves |
| ZoomAppSecretRotationRequired  | test_rotation_in_zoom_fires_only_secret_rotation_required |
| ZoomOperatorAbsent             | test_stopping_the_operator_fires_operator_absent |
| ZoomAppTokenExpiresSoon        | test_token_endpoint_outage_fires_token_expires_soon_and_budget_exhausted |
| ZoomAppMintBudgetExhausted     | test_token_endpoint_outage_fires_token_expires_soon_and_budget_exhausted |
"""

from __future__ import annotations

import json

import pytest

from tests.monitoring.conftest import APP, CREDS, AlertWatch, deploy, renew_now, scraped_ready
from tests.support.operator import Cluster, OperatorProcess, wait_for
from tests.support.real_parts import PrometheusProcess
from tests.support.simulator import SimulatorProcess

pytestmark = pytest.mark.e2e

S2S_PRIVILEGE = "ServerToServerOAuthApp:Edit"


def test_owner_role_losing_s2s_permission_fires_then_resolves(
    monitored: tuple[OperatorProcess, PrometheusProcess, AlertWatch], cluster: Cluster, sim: SimulatorProcess
) -> None:
    _, prometheus, watch = monitored
    deploy(cluster, sim, probe={"intervalSeconds": 5})
    scraped_ready(prometheus, cluster.namespace)
    watch.wait_quiet(timeout=30)

    # The seed incident: an account admin removes the S2S permission from the owner's role.
    role = next(r for r in sim.admin("GET", "/_sim/state")["roles"] if r["id"] == "role-admin")
    sim.admin(
        "PATCH",
        "/_sim/roles/role-admin",
        {"privileges": [p for p in role["privileges"] if p != S2S_PRIVILEGE]},
    )
    pending = watch.wait("ZoomAppOwnerRoleChangeRequired", "pending", timeout=90)
    firing = watch.wait("ZoomAppOwnerRoleChangeRequired", "firing", timeout=30)
    flag = cluster.condition(APP, "OwnerRoleChangeRequired")
    assert flag is not None
    assert flag["status"] == "True"
    assert firing["labels"]["reason"] == flag["reason"] == pending["labels"]["reason"]
    assert firing["labels"]["name"] == APP
    assert firing["labels"]["severity"] == "critical"
    assert f"kubectl describe zoomapp -n {cluster.namespace} {APP}" in firing["annotations"]["description"]
    # Ready is False meanwhile; held long enough, ZoomAppNotReady fires as well.
    watch.wait("ZoomAppNotReady", "firing", timeout=60)

    sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": role["privileges"]})
    renew_now(cluster)
    cluster.wait_condition(APP, "OwnerRoleChangeRequired", "False", timeout=60)
    watch.wait_gone("ZoomAppOwnerRoleChangeRequired", timeout=30)
    watch.wait_gone("ZoomAppNotReady", timeout=30)
    assert watch.seen.index(("ZoomAppOwnerRoleChangeRequired", "pending")) < watch.seen.index(
        ("ZoomAppOwnerRoleChangeRequired", "firing")
    )
    assert "ZoomAppSecretRotationRequired" not in watch.names()  # the owner's problem, not the secret's


def test_rotation_in_zoom_fires_only_secret_rotation_required(
    monitored: tuple[OperatorProcess, PrometheusProcess, AlertWatch], cluster: Cluster, sim: SimulatorProcess
) -> None:
    _, prometheus, watch = monitored
    deploy(cluster, sim)
    scraped_ready(prometheus, cluster.namespace)
    watch.wait_quiet(timeout=30)

    # Someone rotates the client secret in the Marketplace, not in the cluster; the next token request
    # (asked for at once) shows it.
    new_secret = sim.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})["client_secret"]
    renew_now(cluster)
    firing = watch.wait("ZoomAppSecretRotationRequired", "firing", timeout=90)
    assert firing["labels"]["reason"] == "ClientCredentialsRejected"
    assert watch.names() == {"ZoomAppSecretRotationRequired"}, watch.seen

    cluster.kubectl("patch", "secret", CREDS, "-p", json.dumps({"stringData": {"client_secret": new_secret}}))
    cluster.wait_condition(APP, "SecretRotationRequired", "False", reason="CredentialsAccepted", timeout=60)
    watch.wait_gone("ZoomAppSecretRotationRequired", timeout=30)
    assert watch.names() == {"ZoomAppSecretRotationRequired"}, watch.seen


def test_stopping_the_operator_fires_operator_absent(
    monitored: tuple[OperatorProcess, PrometheusProcess, AlertWatch], cluster: Cluster, sim: SimulatorProcess
) -> None:
    operator, prometheus, watch = monitored
    deploy(cluster, sim)
    scraped_ready(prometheus, cluster.namespace)
    wait_for(lambda: prometheus.query('up{job="zoom-operator"} == 1')["result"], timeout=30, what="up == 1")
    watch.wait_quiet(timeout=30)  # ZoomOperatorAbsent, pending before the first scrape, has resolved

    operator.stop()
    watch.wait("ZoomOperatorAbsent", "pending", timeout=30)
    firing = watch.wait("ZoomOperatorAbsent", "firing", timeout=60)
    assert firing["labels"]["severity"] == "critical"
    assert prometheus.query('up{job="zoom-operator"}')["result"][0]["value"][1] == "0"


@pytest.mark.timeout(480)
def test_token_endpoint_outage_fires_token_expires_soon_and_budget_exhausted(
    monitored: tuple[OperatorProcess, PrometheusProcess, AlertWatch], cluster: Cluster, sim: SimulatorProcess
) -> None:
    _, prometheus, watch = monitored
    # 70 s tokens renewed 10 s before expiry; two token requests an hour.
    sim.admin("PATCH", "/_sim/config", {"token_ttl_seconds": 70})
    deploy(cluster, sim, renewBeforeSeconds=10, mintBudgetPerHour=2, probe={"intervalSeconds": 30})
    scraped_ready(prometheus, cluster.namespace)
    watch.wait_quiet(timeout=30)
    expires_at = cluster.zoomapp(APP)["status"]["token"]["expiresAt"]

    # Zoom's token endpoint goes down: every renewal answers 503.
    sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "status", "status": 503})
    budget = watch.wait("ZoomAppMintBudgetExhausted", "firing", timeout=120)
    assert budget["labels"]["severity"] == "warning"
    # The renewal is a minute overdue and the token expires within 5 minutes (the expression's own
    # thresholds, unchanged): about two minutes after the token was issued.
    expiring = watch.wait("ZoomAppTokenExpiresSoon", "firing", timeout=180)
    assert expiring["labels"]["name"] == APP
    assert cluster.zoomapp(APP)["status"]["token"]["expiresAt"] == expires_at  # never renewed
    # Transient failures never raise the two human-action flags.
    assert not {"ZoomAppOwnerRoleChangeRequired", "ZoomAppSecretRotationRequired"} & watch.names()
    sim.admin("DELETE", "/_sim/faults")
