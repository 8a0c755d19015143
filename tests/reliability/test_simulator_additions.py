"""The simulator additions the reliability suite needs: fault answers with custom bodies and headers,
concurrent token requests per client (`token_in_flight_max`), and the list of issued tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.simulator import SimulatorProcess
from zoom_operator.simulator.faults import parse_fault
from zoom_operator.simulator.fields import Invalid

FORM = {"grant_type": "account_credentials", "account_id": "acc-demo"}
AUTH = ("demo-client", "demo-secret")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh(sim: SimulatorProcess) -> None:
    sim.reset()


def test_status_fault_answers_with_the_given_body_and_headers(sim: SimulatorProcess) -> None:
    sim.admin(
        "POST",
        "/_sim/faults",
        {"target": "token", "kind": "status", "status": 200, "body": {"access_token": "x"}, "count": 1},
    )
    sim.admin(
        "POST",
        "/_sim/faults",
        {
            "target": "token",
            "kind": "status",
            "status": 429,
            "headers": {"Retry-After": "2031-01-01T00:00:00Z", "X-RateLimit-Type": "Daily-limit"},
            "count": 1,
        },
    )
    first = httpx.post(f"{sim.base_url}/oauth/token", data=FORM, auth=AUTH, timeout=5)
    second = httpx.post(f"{sim.base_url}/oauth/token", data=FORM, auth=AUTH, timeout=5)
    third = httpx.post(f"{sim.base_url}/oauth/token", data=FORM, auth=AUTH, timeout=5)

    assert (first.status_code, first.json()) == (200, {"access_token": "x"})
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "2031-01-01T00:00:00Z"
    assert second.headers["X-RateLimit-Type"] == "Daily-limit"
    assert second.json()["error"] == "rate_limited"  # the OAuth error shape is kept without a body
    assert third.status_code == 200
    assert "expires_in" in third.json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"target": "api", "kind": "drop", "headers": {"A": "b"}}, "only apply to kind 'status'"),
        ({"target": "api", "kind": "timeout", "body": {}}, "only apply to kind 'status'"),
        ({"target": "api", "kind": "status", "status": 429, "headers": {"A": 1}}, "'headers' must map"),
        ({"target": "api", "kind": "status", "status": 429, "headers": ["A"]}, "'headers' must map"),
        ({"target": "api", "kind": "status", "status": 200, "body": None}, "'body' must be a JSON value"),
    ],
)
def test_bad_fault_headers_or_bodies_are_refused_with_a_message(body: object, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        parse_fault(body, now=0)


def test_concurrent_token_requests_are_counted_per_client(sim: SimulatorProcess) -> None:
    sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "timeout", "seconds": 1.0})

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            answers = await asyncio.gather(
                *(client.post(f"{sim.base_url}/oauth/token", data=FORM, auth=AUTH) for _ in range(3))
            )
        return [a.status_code for a in answers]

    assert asyncio.run(burst()) == [200, 200, 200]
    httpx.post(f"{sim.base_url}/oauth/token", data=FORM, auth=("auditor-client", "auditor-secret"), timeout=5)

    stats = sim.stats()
    assert stats["token_in_flight_max"] == {"demo-client": 3, "auditor-client": 1}


def test_issued_tokens_are_listed_with_their_values(sim: SimulatorProcess) -> None:
    minted = [
        httpx.post(f"{sim.base_url}/oauth/token", data=FORM, auth=AUTH, timeout=5).json()["access_token"]
        for _ in range(2)
    ]

    tokens = sim.admin("GET", "/_sim/tokens")["tokens"]

    assert [t["access_token"] for t in tokens] == minted
    assert {t["client_id"] for t in tokens} == {"demo-client"}
    assert all(t["expires_at"] > t["issued_at"] for t in tokens)


def test_a_token_request_abandoned_while_held_is_still_served(sim: SimulatorProcess) -> None:
    """Like Zoom, the simulator mints for a request it received even if the caller stopped waiting."""
    sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "timeout", "seconds": 1.0})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{sim.base_url}/oauth/token", data=FORM, auth=AUTH, timeout=0.3)
    assert sim.stats()["token_in_flight"] == {"demo-client": 1}

    time.sleep(1.5)  # the fault's hold ends after 1 s of simulated time
    stats = sim.stats()
    assert stats["tokens_issued"] == {"demo-client": 1}
    assert stats["token_in_flight"] == {}
