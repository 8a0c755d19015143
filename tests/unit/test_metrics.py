"""Per-app metrics are rendered at scrape time from each app's latest view: same names and labels as
Gauge children would give, gone when the app is forgotten, one reason per condition type."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from zoom_operator import diagnosis as dx
from zoom_operator.kube.api import ObjectRef
from zoom_operator.metrics import Metrics
from zoom_operator.worker import WorkerView
from zoom_operator.zoom.outcomes import Transient

APP = ObjectRef("demo", "meetings-bot")
AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _view(ready_status: str = "True", ready_reason: str = "TokenVerified") -> WorkerView:
    diagnosis = dx.Diagnosis(
        ready=dx.Condition("Ready", ready_status, ready_reason, "m"),
        secret_rotation_required=dx.Condition("SecretRotationRequired", "False", "CredentialsAccepted", "m"),
        owner_role_change_required=dx.Condition("OwnerRoleChangeRequired", "False", "OwnerVerified", "m"),
    )
    return WorkerView(
        diagnosis=diagnosis,
        token_expires_at=AT,
        token_issued_at=AT,
        renew_at=AT,
        last_probe_at=AT,
        mint_budget_remaining=5,
        consecutive_unauthorized=0,
    )


def _scrape(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_a_published_app_has_its_gauges_and_condition_series() -> None:
    metrics = Metrics()
    metrics.published(APP, _view())
    text = _scrape(metrics)
    assert (
        'zoomapp_condition{name="meetings-bot",namespace="demo",reason="TokenVerified",status="True",'
        'type="Ready"} 1.0' in text
    )
    assert (
        'zoomapp_condition{name="meetings-bot",namespace="demo",reason="TokenVerified",status="False",'
        'type="Ready"} 0.0' in text
    )
    assert 'zoomapp_token_expiration_timestamp_seconds{name="meetings-bot",namespace="demo"} 1.7' in text
    assert 'zoomapp_mint_budget_remaining{name="meetings-bot",namespace="demo"} 5.0' in text


def test_a_new_reason_replaces_the_old_one_and_forget_removes_the_gauges() -> None:
    metrics = Metrics()
    metrics.published(APP, _view())
    metrics.published(APP, _view("False", "ZoomUnreachable"))
    text = _scrape(metrics)
    assert 'reason="ZoomUnreachable",status="False",type="Ready"} 1.0' in text
    assert 'reason="TokenVerified"' not in text
    metrics.minted(APP, Transient(kind="timeout", detail="read timeout"))
    metrics.forget(APP)
    text = _scrape(metrics)
    assert "zoomapp_condition{" not in text
    assert "zoomapp_token_expiration_timestamp_seconds{" not in text
    assert 'zoomapp_token_mints_total{name="meetings-bot",namespace="demo",result="transient"} 1.0' in text
