"""The endpoints third-party clients call every day, in process (aiohttp's test server, no subprocess):
`GET /v2/meetings/{meetingId}`, `PATCH /v2/meetings/{meetingId}`, `GET /v2/users/{userId}/meetings`
and `GET /v2/users`, each through the same auth pipeline as the rest: the happy path, an unknown id,
a missing scope, an owner whose role lost the S2S permission, and the rate limit of its label.
tests/integration/test_simulator.py covers the same over a real simulator process."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from zoom_operator.simulator.server import build_app
from zoom_operator.simulator.state import Config, load_state
from zoom_operator.simulator.world import World

INVALID = {"code": 124, "message": "Invalid access token."}
QPS = {
    "code": 429,
    "message": "You have reached the maximum per-second rate limit for this API. Try again later.",
}


@dataclass
class Sim:
    world: World
    client: TestClient[Any, Any]

    async def token(self) -> str:
        response = await self.client.post(
            "/oauth/token",
            headers={"Authorization": "Basic " + base64.b64encode(b"demo-client:demo-secret").decode()},
            data={"grant_type": "account_credentials", "account_id": "acc-demo"},
        )
        assert response.status == 200, await response.text()
        token: str = (await response.json())["access_token"]
        return token

    async def call(self, token: str, method: str, path: str, body: object = None) -> ClientResponse:
        return await self.client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, json=body
        )

    async def meeting(self, token: str, **fields: Any) -> dict[str, Any]:
        response = await self.call(token, "POST", "/v2/users/me/meetings", {"topic": "Standup", **fields})
        assert response.status == 201
        meeting: dict[str, Any] = await response.json()
        return meeting


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    world = World(load_state(None), Config())
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(world)))
    await client.start_server()
    try:
        yield Sim(world, client)
    finally:
        await client.close()


ENDPOINTS = {
    "get meeting": ("GET", "/v2/meetings/{meeting}", "Light", "meeting:read:meeting:admin"),
    "update meeting": ("PATCH", "/v2/meetings/{meeting}", "Light", "meeting:update:meeting:admin"),
    "list meetings": ("GET", "/v2/users/me/meetings", "Medium", "meeting:read:list_meetings:admin"),
    "list users": ("GET", "/v2/users", "Medium", "user:read:list_users:admin"),
}


async def call_endpoint(sim: Sim, token: str, name: str, meeting_id: int) -> ClientResponse:
    method, path, _, _ = ENDPOINTS[name]
    body = {"agenda": "changed"} if method == "PATCH" else None
    return await sim.call(token, method, path.format(meeting=meeting_id), body)


async def test_get_meeting_happy_path(sim: Sim) -> None:
    token = await sim.token()
    created = await sim.meeting(token, agenda="Plan", settings={"waiting_room": True})

    response = await sim.call(token, "GET", f"/v2/meetings/{created['id']}")

    assert response.status == 200
    meeting = await response.json()
    assert meeting == created
    assert meeting["agenda"] == "Plan"
    assert meeting["settings"]["waiting_room"] is True
    assert {"start_url", "join_url", "password", "created_at", "host_email", "uuid"} <= meeting.keys()


async def test_update_meeting_happy_path(sim: Sim) -> None:
    token = await sim.token()
    created = await sim.meeting(token)

    response = await sim.call(
        token, "PATCH", f"/v2/meetings/{created['id']}", {"topic": "Retro", "agenda": "A"}
    )

    assert (response.status, await response.read()) == (204, b"")
    stored = sim.world.state.meetings[created["id"]]
    assert (stored.topic, stored.agenda) == ("Retro", "A")


async def test_list_meetings_happy_path(sim: Sim) -> None:
    token = await sim.token()
    created = [await sim.meeting(token, topic=f"m{i}") for i in range(2)]

    response = await sim.call(token, "GET", "/v2/users/dev-lead@example.com/meetings")

    body = await response.json()
    assert response.status == 200
    assert [m["id"] for m in body["meetings"]] == [m["id"] for m in created]
    assert (body["total_records"], body["page_size"], body["next_page_token"]) == (2, 30, "")


async def test_list_users_happy_path(sim: Sim) -> None:
    token = await sim.token()
    sim.world.state.users["u-admin2"].status = "pending"

    active = await (await sim.call(token, "GET", "/v2/users")).json()
    pending = await (await sim.call(token, "GET", "/v2/users?status=pending&page_size=5")).json()

    assert [u["id"] for u in active["users"]] == ["u-owner", "u-auditor"]
    assert [(u["id"], u["status"]) for u in pending["users"]] == [("u-admin2", "pending")]
    assert pending["page_size"] == 5
    assert {"type", "role_id", "status", "dept", "timezone", "email"} <= active["users"][0].keys()


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        (
            "GET",
            "/v2/meetings/12345678901",
            {"code": 3001, "message": "Meeting does not exist: 12345678901."},
        ),
        (
            "PATCH",
            "/v2/meetings/12345678901",
            {"code": 3001, "message": "Meeting does not exist: 12345678901."},
        ),
        ("GET", "/v2/users/u-nobody/meetings", {"code": 1001, "message": "User does not exist: u-nobody."}),
    ],
)
async def test_unknown_ids_are_404(sim: Sim, method: str, path: str, expected: dict[str, object]) -> None:
    response = await sim.call(await sim.token(), method, path, {"topic": "x"})

    assert (response.status, await response.json()) == (404, expected)


async def test_list_users_unknown_filter_values_are_validation_errors(sim: Sim) -> None:
    token = await sim.token()

    bad_status = await sim.call(token, "GET", "/v2/users?status=deleted")
    bad_token = await sim.call(token, "GET", "/v2/users?next_page_token=unknown")

    assert (bad_status.status, (await bad_status.json())["errors"]) == (
        400,
        [{"field": "status", "message": "Invalid field."}],
    )
    assert (bad_token.status, await bad_token.json()) == (
        400,
        {"code": 300, "message": "The next page token is invalid or expired."},
    )


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_missing_scope_is_4711_naming_the_accepted_scopes(sim: Sim, name: str) -> None:
    meeting_id = (await sim.meeting(await sim.token()))["id"]
    _, _, _, granular_admin = ENDPOINTS[name]
    sim.world.state.apps["demo-client"].scopes = ["role:read:admin"]

    response = await call_endpoint(sim, await sim.token(), name, meeting_id)

    body = await response.json()
    assert (response.status, body["code"]) == (400, 4711)
    assert granular_admin in body["message"]


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_granular_admin_scope_alone_is_enough(sim: Sim, name: str) -> None:
    meeting_id = (await sim.meeting(await sim.token()))["id"]
    sim.world.state.apps["demo-client"].scopes = [ENDPOINTS[name][3]]

    response = await call_endpoint(sim, await sim.token(), name, meeting_id)

    assert response.status in (200, 204)


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_owner_without_the_s2s_permission_gets_401_124(sim: Sim, name: str) -> None:
    meeting_id = (await sim.meeting(await sim.token()))["id"]
    role = sim.world.state.roles["role-admin"]
    role.privileges = [p for p in role.privileges if p != sim.world.config.s2s_privilege]

    response = await call_endpoint(sim, await sim.token(), name, meeting_id)

    assert (response.status, await response.json()) == (401, INVALID)


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_rate_limit_of_the_endpoint_label(sim: Sim, name: str) -> None:
    from zoom_operator.simulator.ratelimit import Label, Limit

    token = await sim.token()
    meeting_id = (await sim.meeting(token))["id"]
    label = ENDPOINTS[name][2]
    sim.world.state.accounts["acc-demo"].rate_limits = {Label(label): Limit(1)}
    sim.world.config.clock_offset_seconds = 10.0  # a fresh one-second window

    first = await call_endpoint(sim, token, name, meeting_id)
    second = await call_endpoint(sim, token, name, meeting_id)

    assert first.status in (200, 204)
    assert (second.status, await second.json()) == (429, QPS)
    assert second.headers["X-RateLimit-Category"] == label
    assert second.headers["X-RateLimit-Type"] == "QPS"
    assert second.headers["x-zm-trackingid"].startswith("v=2.0;clid=us05;rid=")
