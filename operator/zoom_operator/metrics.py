"""Prometheus metrics: per-app token and condition gauges, mint and Zoom request counters.

Names follow cert-manager's (`*_expiration_timestamp_seconds`, condition gauges with a `status` label),
so the shipped alerts read like the ones platform teams already run. No label ever holds a token,
a secret or a Zoom message.

The per-app series are not prometheus_client Gauge children: a labelled child is a full metric object
with its own lock and value (about 12 KB per app for these 16 series, 120 MB at 10,000 apps;
bench/RESULTS.md). A collector renders them at scrape time from each app's latest `WorkerView`, which
the worker hands over anyway; the exposition is the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from zoom_operator.kube.refs import ObjectRef
from zoom_operator.worker import WorkerView
from zoom_operator.zoom.outcomes import TokenOutcome

CONDITION_TYPES: Final = ("Ready", "SecretRotationRequired", "OwnerRoleChangeRequired")
CONDITION_STATUSES: Final = ("True", "False", "Unknown")
_APP: Final = ("namespace", "name")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._views: dict[ObjectRef, WorkerView] = {}
        self._mints: dict[ObjectRef, dict[str, int]] = {}
        self.registry.register(_AppCollector(self._views, self._mints))
        self.zoom_requests = Counter(
            "zoom_requests_total",
            "HTTP requests to Zoom by endpoint, HTTP status (empty when no answer) and Zoom code.",
            ["endpoint", "status", "code"],
            registry=self.registry,
        )
        self.apps = Gauge(
            "zoom_operator_managed_apps", "ZoomApps this process serves.", registry=self.registry
        )

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from other pods
        start_http_server(port, addr=addr, registry=self.registry)

    def zoom_request(self, endpoint: str, status: int | None, code: int | None) -> None:
        self.zoom_requests.labels(
            endpoint, "" if status is None else str(status), "" if code is None else str(code)
        ).inc()

    def minted(self, ref: ObjectRef, outcome: TokenOutcome) -> None:
        result = _RESULTS.get(type(outcome).__name__, "transient")
        counts = self._mints.setdefault(ref, {})
        counts[result] = counts.get(result, 0) + 1

    def published(self, ref: ObjectRef, view: WorkerView) -> None:
        self._views[ref] = view

    def forget(self, ref: ObjectRef) -> None:
        """The app is no longer served here: its gauges go (its mint counters stay, as counters do)."""
        self._views.pop(ref, None)


class _AppCollector(Collector):
    """Renders the per-app series at scrape time (runs on the metrics server's thread: it only reads
    snapshots of the two dicts, whose values are replaced, never mutated, by the event loop)."""

    def __init__(self, views: dict[ObjectRef, WorkerView], mints: dict[ObjectRef, dict[str, int]]) -> None:
        self._views = views
        self._mints = mints

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        expiration = GaugeMetricFamily(
            "zoomapp_token_expiration_timestamp_seconds",
            "Unix time at which the token in the app's Secret expires.",
            labels=_APP,
        )
        issued = GaugeMetricFamily(
            "zoomapp_token_issued_timestamp_seconds",
            "Unix time at which the token in the app's Secret was issued.",
            labels=_APP,
        )
        renewal = GaugeMetricFamily(
            "zoomapp_token_renewal_timestamp_seconds",
            "Unix time of the next planned token renewal.",
            labels=_APP,
        )
        last_probe = GaugeMetricFamily(
            "zoomapp_last_probe_timestamp_seconds",
            "Unix time of the last call that proved the token against the Zoom API.",
            labels=_APP,
        )
        condition = GaugeMetricFamily(
            "zoomapp_condition",
            "1 for the current status of each condition type of the app, 0 for the others.",
            labels=(*_APP, "type", "status", "reason"),
        )
        budget = GaugeMetricFamily(
            "zoomapp_mint_budget_remaining",
            "Token requests left in the app's rolling one-hour mint budget.",
            labels=_APP,
        )
        unauthorized = GaugeMetricFamily(
            "zoomapp_consecutive_unauthorized",
            "Consecutive 401 answers to freshly minted tokens.",
            labels=_APP,
        )
        for ref, view in list(self._views.items()):
            labels = [ref.namespace, ref.name]
            if view.token_expires_at is not None:
                expiration.add_metric(labels, view.token_expires_at.timestamp())
            if view.token_issued_at is not None:
                issued.add_metric(labels, view.token_issued_at.timestamp())
            if view.renew_at is not None:
                renewal.add_metric(labels, view.renew_at.timestamp())
            if view.last_probe_at is not None:
                last_probe.add_metric(labels, view.last_probe_at.timestamp())
            budget.add_metric(labels, view.mint_budget_remaining)
            unauthorized.add_metric(labels, view.consecutive_unauthorized)
            if view.diagnosis is not None:
                for cond in view.diagnosis.conditions():
                    for status in CONDITION_STATUSES:
                        value = 1.0 if status == cond.status else 0.0
                        condition.add_metric([*labels, cond.type, status, cond.reason], value)
        mints = CounterMetricFamily(
            "zoomapp_token_mints",
            "Token requests by result (issued, client_rejected, app_disabled, owner_missing, rate_limited, "
            "transient).",
            labels=(*_APP, "result"),
        )
        for ref, counts in list(self._mints.items()):
            for result, count in list(counts.items()):
                mints.add_metric([ref.namespace, ref.name, result], count)
        yield from (expiration, issued, renewal, last_probe, condition, budget, unauthorized, mints)


_RESULTS: Final = {
    "TokenIssued": "issued",
    "ClientRejected": "client_rejected",
    "AppDisabled": "app_disabled",
    "OwnerMissing": "owner_missing",
    "RateLimited": "rate_limited",
    "Transient": "transient",
}
