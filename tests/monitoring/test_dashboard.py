"""The Grafana dashboard the chart ships (grafanaDashboard.enabled): a ConfigMap with the
`grafana_dashboard` label, off by default, whose every panel query runs without error against a real
Prometheus scraping the live operator, and returns data where the fleet gives it some: one healthy
ZoomApp and one whose secret was rotated in Zoom (SecretRotationRequired)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.chart.conftest import Render, by_kind
from tests.monitoring.conftest import AlertWatch, deploy
from tests.support.operator import Cluster, OperatorProcess, credentials_secret, wait_for, zoomapp
from tests.support.real_parts import PrometheusProcess
from tests.support.simulator import SimulatorProcess

# Panels that are empty while no app has a fresh token rejected (no 401 in this fleet).
EMPTY_WHILE_HEALTHY = {"Consecutive rejected fresh tokens"}


def dashboard_configmaps(render: Render, values: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        cm for cm in by_kind(render(values), "ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]
    ]


def test_dashboard_is_off_by_default_and_labelled_for_the_sidecar(render: Render) -> None:
    assert dashboard_configmaps(render, {}) == []
    (configmap,) = dashboard_configmaps(
        render, {"grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Zoom"}}}
    )
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Zoom"}
    dashboard = json.loads(configmap["data"]["zoom-operator.json"])
    assert dashboard["uid"] == "zoom-operator"
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {
        "ZoomApps by Ready",
        "Flags raised",
        "Apps not Ready or flagged, with reasons",
        "Token expiry horizon",
        "Mints per hour against the budget",
        "Zoom requests by endpoint, status and code",
        "Probe age",
    } <= titles


@pytest.mark.e2e
def test_every_panel_query_runs_against_the_live_operator(
    render: Render,
    monitored: tuple[OperatorProcess, PrometheusProcess, AlertWatch],
    cluster: Cluster,
    sim: SimulatorProcess,
) -> None:
    _, prometheus, _ = monitored
    (configmap,) = dashboard_configmaps(render, {"grafanaDashboard": {"enabled": True}})
    panels = json.loads(configmap["data"]["zoom-operator.json"])["panels"]

    deploy(cluster, sim)
    cluster.apply(
        [
            credentials_secret(
                "auditor-zoom",
                account_id="acc-demo",
                client_id="auditor-client",
                client_secret="auditor-secret",
            ),
            zoomapp(
                "auditor",
                credentials="auditor-zoom",
                base_url=sim.base_url,
                owner_email="auditor@example.com",
            ),
        ]
    )
    cluster.wait_condition("auditor", "Ready", "True", timeout=90)
    sim.admin("POST", "/_sim/apps/auditor-client/rotate", {"revoke_old": "now"})
    cluster.kubectl(
        "annotate", "--overwrite", "zoomapp", "auditor", f"zoom-operator.io/renew-now={time.time()}"
    )
    cluster.wait_condition("auditor", "SecretRotationRequired", "True", timeout=60)
    flagged = 'zoomapp_condition{name="auditor",type="SecretRotationRequired",status="True"} == 1'
    wait_for(lambda: prometheus.query(flagged)["result"], timeout=30, what="the flag in Prometheus")

    def results() -> dict[str, list[Any]] | None:
        found: dict[str, list[Any]] = {}
        for panel in panels:
            for target in panel["targets"]:
                # Every query runs without error (prom_query raises on an error answer).
                found[f"{panel['title']} [{target['refId']}]"] = prometheus.query(target["expr"])["result"]
        empty = {key for key, result in found.items() if not result}
        expected_empty = {key for key in found if key.split(" [")[0] in EMPTY_WHILE_HEALTHY}
        return found if empty == expected_empty else None

    # Rates and increases need two scrapes; wait until each panel that should have data has some.
    found = wait_for(results, timeout=60, interval=1, what="data in every panel that should have it")
    table = found["Apps not Ready or flagged, with reasons [A]"]
    assert [(row["metric"]["name"], row["metric"]["type"], row["metric"]["reason"]) for row in table] == [
        ("auditor", "SecretRotationRequired", "ClientCredentialsRejected")
    ]
    flags = {row["metric"]["type"]: row["value"][1] for row in found["Flags raised [A]"]}
    assert flags == {"SecretRotationRequired": "1"}
    ready = {row["metric"]["status"]: row["value"][1] for row in found["ZoomApps by Ready [A]"]}
    assert ready.get("True") in ("1", "2")  # the rotated app keeps serving its still-valid token
