"""Zoom faults through the simulator's fault API, against the operator as a process.

What must hold for every kind of fault: no human-action flag, the current token kept in the Secret,
`Ready` True while that token lasts and `ZoomUnreachable` only once it has run out; retries back off
(the count of token requests over a window is compared with what exponential backoff allows) and
never come back before a `Retry-After` / `X-RateLimit-Reset`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.reliability.helpers import (
    APP,
    TOKEN_SECRET,
    deploy,
    parse_time,
    renew_now,
    token_requests,
    token_works,
)
from tests.support.operator import Cluster, OperatorProcess, wait_for
from tests.support.simulator import SimulatorProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

HUMAN_FLAGS = ("SecretRotationRequired", "OwnerRoleChangeRequired")


def _no_human_flag(cluster: Cluster) -> None:
    for flag in HUMAN_FLAGS:
        condition = cluster.condition(APP, flag)
        assert condition is not None
        assert condition["status"] != "True", f"{flag} raised by a transient fault: {condition}"
    warnings = [e for e in cluster.events(APP) if e["type"] == "Warning" and e["reason"] != "ZoomUnreachable"]
    assert not warnings, f"Warning events for a transient fault: {[e['reason'] for e in warnings]}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Token-endpoint answers that are no usable token and no verdict on the credentials.
FAKE = "eyJhbGciOiJIUzUxMiJ9.eyJ1aWQiOiJ1LW93bmVyIn0.c2ln"  # JWT-shaped, never issued by the simulator


def _status(code: int, **extra: Any) -> dict[str, Any]:
    return {"kind": "status", "status": code, **extra}


def _answer(body: object) -> dict[str, Any]:
    return _status(200, body=body)


TOKEN_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("500", _status(500)),
    ("502", _status(502)),
    ("503", _status(503)),
    ("504", _status(504)),
    ("dropped-connection", {"kind": "drop"}),
    ("malformed-html", {"kind": "malformed"}),
    ("malformed-json", _answer("{not json")),
    ("missing-access-token", _answer({"token_type": "bearer", "expires_in": 3599})),
    ("missing-expires-in", _answer({"access_token": FAKE, "token_type": "bearer"})),
    ("expires-in-zero", _answer({"access_token": FAKE, "expires_in": 0})),
    ("expires-in-negative", _answer({"access_token": FAKE, "expires_in": -60})),
    ("expires-in-string", _answer({"access_token": FAKE, "expires_in": "3599"})),
    # Retry-After is set a few seconds ahead when injected: the operator honours it, even for renew-now
    ("429-daily", _status(429, headers={"X-RateLimit-Type": "Daily-limit", "Retry-After": "SOON"})),
    ("429-per-second", _status(429, headers={"X-RateLimit-Type": "QPS", "X-RateLimit-Reset": "1"})),
    ("very-slow", {"kind": "timeout", "seconds": 13}),  # longer than the client's 10 s read timeout
]

API_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("500", {"kind": "status", "status": 500}),
    ("503", {"kind": "status", "status": 503}),
    ("dropped-connection", {"kind": "drop"}),
    ("malformed", {"kind": "malformed"}),
    ("429-per-second", _status(429, headers={"X-RateLimit-Type": "QPS"})),
    ("slow", {"kind": "timeout", "seconds": 11}),  # the probe's 10 s read timeout fires first
]


def test_every_kind_of_token_and_api_fault_keeps_the_token_and_raises_no_flag(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    operator = start_operator()
    deploy(cluster, sim, probe={"intervalSeconds": 5}, mintBudgetPerHour=40)
    cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified")
    token = cluster.secret_data(TOKEN_SECRET)
    assert token is not None

    for label, fault in TOKEN_FAULTS:
        started = time.monotonic()
        before = token_requests(sim)
        once = {} if "seconds" in fault else {"count": 1}
        if fault.get("headers", {}).get("Retry-After") == "SOON":
            soon = datetime.now(UTC) + timedelta(seconds=4)
            fault = {
                **fault,
                "headers": {**fault["headers"], "Retry-After": soon.strftime("%Y-%m-%dT%H:%M:%SZ")},
            }
        sim.admin("POST", "/_sim/faults", {"target": "token", **once, **fault})
        renew_now(cluster, f"fault-{label}")
        wait_for(
            lambda b=before: token_requests(sim) > b, timeout=30, what=f"the token request meeting {label}"
        )
        # Give the operator a moment to judge the answer (the request is counted when it arrives).
        time.sleep(0.5 if fault["kind"] != "timeout" else 1.0)
        assert cluster.secret_data(TOKEN_SECRET) == token, f"{label}: the Secret changed"
        ready = cluster.condition(APP, "Ready")
        assert ready is not None
        assert ready["status"] == "True", f"{label}: Ready left True while the token is valid: {ready}"
        _no_human_flag(cluster)
        print(f"token fault {label}: {time.monotonic() - started:.1f}s")

    for label, fault in API_FAULTS:
        started = time.monotonic()
        once = {} if "seconds" in fault else {"count": 1}
        sim.admin("POST", "/_sim/faults", {"target": "api", **once, **fault})

        def probes_met_fault() -> bool:
            return not sim.admin("GET", "/_sim/faults")["faults"]

        wait_for(probes_met_fault, timeout=60, what=f"a probe meeting API fault {label}")
        print(f"API fault {label}: {time.monotonic() - started:.1f}s")
        assert cluster.secret_data(TOKEN_SECRET) == token
        assert cluster.condition(APP, "Ready")["status"] == "True"
        _no_human_flag(cluster)

    assert token_works(sim, token["access_token"])
    assert token["access_token"] not in operator.logs()


def test_outage_backs_off_respects_retry_after_and_says_unreachable_only_once_the_token_ran_out(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    ttl = 24
    sim.admin("PATCH", "/_sim/apps/demo-client", {"token_ttl_seconds": ttl})
    start_operator()
    deploy(cluster, sim, renewBeforeSeconds=12, probe={"intervalSeconds": 5}, mintBudgetPerHour=60)
    cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified")
    token = cluster.secret_data(TOKEN_SECRET)
    assert token is not None
    expires_at = parse_time(token["expires_at"])

    # The token endpoint fails (a 5xx burst without end) from before the renewal until after expiry.
    sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "status", "status": 503})
    requests_at_start = token_requests(sim)
    observations: list[tuple[datetime, str, str]] = []
    while datetime.now(UTC) < expires_at + timedelta(seconds=6):
        ready = cluster.condition(APP, "Ready") or {}
        observations.append((datetime.now(UTC), str(ready.get("status")), str(ready.get("reason"))))
        _no_human_flag(cluster)
        time.sleep(0.5)
    attempts = token_requests(sim) - requests_at_start
    window = ttl  # about the whole lifetime of the token, renewal window included

    for at, status, reason in observations:
        if at < expires_at - timedelta(seconds=1):
            assert status == "True", (
                f"Ready {status}/{reason} at {at} while the token lasts until {expires_at}"
            )
        if status == "False":
            assert reason == "ZoomUnreachable"
            assert at >= expires_at, f"ZoomUnreachable at {at}, before the token ran out at {expires_at}"
    assert observations[-1][1:] == ("False", "ZoomUnreachable")
    ready = cluster.condition(APP, "Ready")
    assert ready is not None
    assert parse_time(ready["lastTransitionTime"]) >= expires_at.replace(microsecond=0)
    assert cluster.secret_data(TOKEN_SECRET) == token, "the Secret keeps the last token, nothing worse"
    # Exponential backoff (5 s base, full jitter): a handful of attempts in the window, not one a second.
    print(f"{attempts} token requests during {window + 6} s of outage")
    assert 1 <= attempts <= 9

    # 429 with a daily limit's Retry-After: no token request before that instant.
    sim.admin("DELETE", "/_sim/faults")
    for headers in (
        lambda: {
            "X-RateLimit-Type": "Daily-limit",
            "Retry-After": _iso(datetime.now(UTC) + timedelta(seconds=8)),
        },
        lambda: {"X-RateLimit-Type": "QPS", "X-RateLimit-Reset": str(int(time.time()) + 8)},
    ):
        answer = headers()
        not_before = (
            parse_time(answer["Retry-After"])
            if "Retry-After" in answer
            else datetime.fromtimestamp(int(answer["X-RateLimit-Reset"]), UTC)
        )
        sim.admin(
            "POST",
            "/_sim/faults",
            {"target": "token", "kind": "status", "status": 429, "headers": answer, "count": 1},
        )
        before = token_requests(sim)
        renew_now(cluster, f"rate-limited-{answer['X-RateLimit-Type']}")
        wait_for(lambda b=before: token_requests(sim) > b, timeout=30, what="the rate-limited token request")
        limited = token_requests(sim)
        while datetime.now(UTC) < not_before - timedelta(seconds=1):
            assert token_requests(sim) == limited, f"token requested before {not_before} ({answer})"
            time.sleep(0.25)
        _no_human_flag(cluster)

    # Zoom is back: the next renewal (asked for at once here) restores a verified token.
    renew_now(cluster, "recovered")
    cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified", timeout=30)
    renewed = cluster.secret_data(TOKEN_SECRET)
    assert renewed is not None
    assert renewed["access_token"] != token["access_token"]
    assert token_works(sim, renewed["access_token"])
    _no_human_flag(cluster)
