"""Prometheus metrics: per-app token and condition gauges, mint and Zoom request counters.

Names follow cert-manager's (`*_expiration_timestamp_seconds`, condition gauges with a `status` label),
so the shipped alerts read like the ones platform teams already run. No label ever holds a token,
a secret or a Zoom message.
"""

from __future__ import annotations

import contextlib
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from zoom_operator.kube.api import ObjectRef
from zoom_operator.worker import WorkerView
from zoom_operator.zoom.outcomes import TokenOutcome

CONDITION_TYPES: Final = ("Ready", "SecretRotationRequired", "OwnerRoleChangeRequired")
CONDITION_STATUSES: Final = ("True", "False", "Unknown")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        app = ["namespace", "name"]
        self.token_expiration = Gauge(
            "zoomapp_token_expiration_timestamp_seconds",
            "Unix time at which the token in the app's Secret expires.",
            app,
            registry=self.registry,
        )
        self.token_issued = Gauge(
            "zoomapp_token_issued_timestamp_seconds",
            "Unix time at which the token in the app's Secret was issued.",
            app,
            registry=self.registry,
        )
        self.token_renewal = Gauge(
            "zoomapp_token_renewal_timestamp_seconds",
            "Unix time of the next planned token renewal.",
            app,
            registry=self.registry,
        )
        self.last_probe = Gauge(
            "zoomapp_last_probe_timestamp_seconds",
            "Unix time of the last call that proved the token against the Zoom API.",
            app,
            registry=self.registry,
        )
        self.condition = Gauge(
            "zoomapp_condition",
            "1 for the current status of each condition type of the app, 0 for the others.",
            [*app, "type", "status", "reason"],
            registry=self.registry,
        )
        self.mint_budget_remaining = Gauge(
            "zoomapp_mint_budget_remaining",
            "Token requests left in the app's rolling one-hour mint budget.",
            app,
            registry=self.registry,
        )
        self.consecutive_unauthorized = Gauge(
            "zoomapp_consecutive_unauthorized",
            "Consecutive 401 answers to freshly minted tokens.",
            app,
            registry=self.registry,
        )
        self.mints = Counter(
            "zoomapp_token_mints_total",
            "Token requests by result (issued, client_rejected, app_disabled, owner_missing, rate_limited, "
            "transient).",
            [*app, "result"],
            registry=self.registry,
        )
        self.zoom_requests = Counter(
            "zoom_requests_total",
            "HTTP requests to Zoom by endpoint, HTTP status (empty when no answer) and Zoom code.",
            ["endpoint", "status", "code"],
            registry=self.registry,
        )
        self.apps = Gauge(
            "zoom_operator_managed_apps", "ZoomApps this process serves.", registry=self.registry
        )
        self._reasons: dict[tuple[ObjectRef, str], str] = {}

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from other pods
        start_http_server(port, addr=addr, registry=self.registry)

    def zoom_request(self, endpoint: str, status: int | None, code: int | None) -> None:
        self.zoom_requests.labels(
            endpoint, "" if status is None else str(status), "" if code is None else str(code)
        ).inc()

    def minted(self, ref: ObjectRef, outcome: TokenOutcome) -> None:
        result = _RESULTS.get(type(outcome).__name__, "transient")
        self.mints.labels(ref.namespace, ref.name, result).inc()

    def published(self, ref: ObjectRef, view: WorkerView) -> None:
        labels = (ref.namespace, ref.name)
        if view.token_expires_at is not None:
            self.token_expiration.labels(*labels).set(view.token_expires_at.timestamp())
        if view.token_issued_at is not None:
            self.token_issued.labels(*labels).set(view.token_issued_at.timestamp())
        if view.renew_at is not None:
            self.token_renewal.labels(*labels).set(view.renew_at.timestamp())
        if view.last_probe_at is not None:
            self.last_probe.labels(*labels).set(view.last_probe_at.timestamp())
        self.mint_budget_remaining.labels(*labels).set(view.mint_budget_remaining)
        self.consecutive_unauthorized.labels(*labels).set(view.consecutive_unauthorized)
        if view.diagnosis is not None:
            for condition in view.diagnosis.conditions():
                old_reason = self._reasons.get((ref, condition.type))
                if old_reason is not None and old_reason != condition.reason:
                    for status in CONDITION_STATUSES:
                        self._remove(self.condition, *labels, condition.type, status, old_reason)
                self._reasons[(ref, condition.type)] = condition.reason
                for status in CONDITION_STATUSES:
                    value = 1.0 if status == condition.status else 0.0
                    self.condition.labels(*labels, condition.type, status, condition.reason).set(value)

    def forget(self, ref: ObjectRef) -> None:
        labels = (ref.namespace, ref.name)
        for gauge in (
            self.token_expiration,
            self.token_issued,
            self.token_renewal,
            self.last_probe,
            self.mint_budget_remaining,
            self.consecutive_unauthorized,
        ):
            self._remove(gauge, *labels)
        for condition_type in CONDITION_TYPES:
            reason = self._reasons.pop((ref, condition_type), None)
            if reason is not None:
                for status in CONDITION_STATUSES:
                    self._remove(self.condition, *labels, condition_type, status, reason)

    @staticmethod
    def _remove(metric: Gauge, *labels: str) -> None:
        with contextlib.suppress(KeyError):
            metric.remove(*labels)


_RESULTS: Final = {
    "TokenIssued": "issued",
    "ClientRejected": "client_rejected",
    "AppDisabled": "app_disabled",
    "OwnerMissing": "owner_missing",
    "RateLimited": "rate_limited",
    "Transient": "transient",
}
