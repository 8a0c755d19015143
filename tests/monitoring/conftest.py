"""Fixtures for the monitoring tests: the live operator scraped by a real Prometheus that loads a
test copy of the shipped alerts (every `for:` divided by 20, nothing else changed)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import helm, helm_bin, helm_env, render  # noqa: F401 - fixtures for this tier
from tests.support.operator import Cluster, OperatorProcess, credentials_secret, wait_for, zoomapp
from tests.support.real_parts import (
    REPO_ROOT,
    PrometheusProcess,
    shortened_for,
)
from tests.support.simulator import SimulatorProcess

APP = "meetings-bot"
CREDS = "meetings-bot-zoom"
ALERTS = REPO_ROOT / "charts" / "zoom-operator" / "files" / "alerts.yaml"
KSM_ALERTS = REPO_ROOT / "charts" / "zoom-operator" / "files" / "alerts-kube-state-metrics.yaml"


def alert_key(alert: dict[str, Any]) -> str:
    """The alert name, with the variant of kube-state-metrics ones: `ZoomAppNotReady[kube-state-metrics]`."""
    source = alert["labels"].get("source")
    return alert["labels"]["alertname"] + (f"[{source}]" if source else "")


class AlertWatch:
    """Polls /api/v1/alerts and remembers every (alert, state) it saw, in order."""

    def __init__(self, prometheus: PrometheusProcess, namespace: str) -> None:
        self.prometheus = prometheus
        self.namespace = namespace
        self.seen: list[tuple[str, str]] = []

    def current(self) -> list[dict[str, Any]]:
        alerts = [
            alert
            for alert in self.prometheus.alerts()
            if alert["labels"].get("namespace") in (None, self.namespace)
        ]
        for alert in alerts:
            key = (alert_key(alert), alert["state"])
            if key not in self.seen:
                self.seen.append(key)
        return alerts

    def wait(self, name: str, state: str, *, timeout: float) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for alert in self.current():
                if alert_key(alert) == name and alert["state"] == state:
                    return alert
            return None

        return wait_for(found, timeout=timeout, interval=0.2, what=f"{name} {state} (seen: {self.seen})")

    def wait_gone(self, name: str, *, timeout: float) -> None:
        wait_for(
            lambda: all(alert_key(a) != name for a in self.current()),
            timeout=timeout,
            interval=0.2,
            what=f"{name} to resolve",
        )

    def wait_quiet(self, *, timeout: float) -> None:
        """No alert at all: ZoomOperatorAbsent is pending until Prometheus' first successful scrape."""
        wait_for(lambda: not self.current(), timeout=timeout, interval=0.2, what="no pending or firing alert")
        self.seen.clear()

    def names(self) -> set[str]:
        return {name for name, _ in self.seen}


@pytest.fixture
def alert_rules(tmp_path: Path) -> Path:
    return shortened_for(ALERTS, tmp_path / "alerts-for-divided-by-20.yaml")


@pytest.fixture
def monitored(
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    alert_rules: Path,
    tmp_path: Path,
) -> Iterator[tuple[OperatorProcess, PrometheusProcess, AlertWatch]]:
    operator = start_operator()
    with PrometheusProcess(
        tmp_path / "prometheus", {"zoom-operator": [f"127.0.0.1:{operator.metrics_port}"]}, [alert_rules]
    ) as prometheus:
        try:
            yield operator, prometheus, AlertWatch(prometheus, cluster.namespace)
        finally:
            print(f"--- prometheus log ---\n{prometheus.logs()[-3000:]}")


SHIPPED = {
    "ZoomAppOwnerRoleChangeRequired",
    "ZoomAppSecretRotationRequired",
    "ZoomAppNotReady",
    "ZoomAppTokenExpiresSoon",
    "ZoomAppMintBudgetExhausted",
    "ZoomOperatorAbsent",
}


def deploy(cluster: Cluster, sim: SimulatorProcess, **spec: Any) -> None:
    cluster.apply(
        [
            credentials_secret(
                CREDS, account_id="acc-demo", client_id="demo-client", client_secret="demo-secret"
            ),
            zoomapp(APP, credentials=CREDS, base_url=sim.base_url, **spec),
        ]
    )
    cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified", timeout=90)


def scraped_ready(prometheus: PrometheusProcess, namespace: str) -> None:
    """Prometheus holds the app's Ready=True series from the live operator, and every rule evaluates."""
    expr = f'zoomapp_condition{{job="zoom-operator",namespace="{namespace}",type="Ready",status="True"}} == 1'
    wait_for(lambda: prometheus.query(expr)["result"], timeout=30, what=f"{expr} in Prometheus")
    rules = prometheus.rules_healthy()
    assert {rule["name"] for rule in rules} >= SHIPPED


def renew_now(cluster: Cluster) -> None:
    cluster.kubectl("annotate", "--overwrite", "zoomapp", APP, f"zoom-operator.io/renew-now={time.time()}")
