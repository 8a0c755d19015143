"""zoom-python-client 0.2.3 (CERN's S2S client, pinned in pyproject.toml's test extra) against the
simulator. It is the client that sends the token parameters the way Zoom's S2S OAuth page shows them:
`POST /oauth/token?grant_type=account_credentials&account_id=...` with no body. It covers users and
reading a meeting (it has no meeting create, update or delete), so it complements the whole-flow
clients (zoomus, @zoom/rivet) on the token endpoint.

The API base URL is its `api_endpoint` option. Its OAuth host is hard-coded as a class attribute,
`ZoomAuthApiClient.oauth_base_url = "https://zoom.us/oauth"`, read when a client is built; the tests
set that attribute to the simulator (monkeypatch restores it): a URL rewrite, nothing else changes.
`use_path` keeps its token cache in a temporary folder instead of the process environment.
Each test states what real Zoom answers, citing ../shared/zoom-s2s-reference.md ("ref §N").
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import requests
from zoom_python_client.zoom_api_client import ZoomApiClient
from zoom_python_client.zoom_auth_api.zoom_auth_api_client import ZoomAuthApiClient

from tests.support.simulator import SimulatorProcess

INVALID_TOKEN = {"code": 124, "message": "Invalid access token."}


@pytest.fixture(autouse=True)
def _oauth_host_is_the_simulator(simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ZoomAuthApiClient, "oauth_base_url", f"{simulator.base_url}/oauth")


def client(sim: SimulatorProcess, folder: Path, secret: str = "demo-secret") -> ZoomApiClient:
    folder.mkdir(parents=True, exist_ok=True)
    return ZoomApiClient(
        "acc-demo", "demo-client", secret, api_endpoint=f"{sim.base_url}/v2", use_path=str(folder)
    )


def test_query_string_token_then_users_and_a_meeting(simulator: SimulatorProcess, tmp_path: Path) -> None:
    # Real Zoom (ref §1; Zoom's S2S OAuth page shows the parameters in the query string): 200 with a token.
    # GET /users/{userId} answers the user (ref §5), GET /meetings/{meetingId} the meeting.
    zoom = client(simulator, tmp_path / "cache")

    me = zoom.users.get_user("me")
    by_email = zoom.users.get_user("auditor@example.com")
    token = (tmp_path / "cache" / "access_token").read_text()
    created = httpx.post(
        f"{simulator.base_url}/v2/users/me/meetings",
        headers={"Authorization": f"Bearer {token}"},
        json={"topic": "Standup", "agenda": "Daily"},
    ).json()
    meeting = zoom.meetings.get_meeting(str(created["id"]))

    assert (me["id"], me["status"], me["role_id"]) == ("u-owner", "active", "role-admin")
    assert by_email["id"] == "u-auditor"
    assert (meeting["id"], meeting["topic"], meeting["agenda"]) == (created["id"], "Standup", "Daily")


def test_strict_body_mode_refuses_query_string_parameters(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    # Real Zoom: one forum thread REPORTS 400 Bad Request for query-string parameters (ref §1, §2); the
    # simulator reproduces it only with strict_body on, which is off by default.
    simulator.admin("PATCH", "/_sim/config", {"strict_body": True})
    zoom = client(simulator, tmp_path / "cache")

    with pytest.raises(requests.HTTPError) as refused:
        zoom.users.get_user("me")

    assert refused.value.response.status_code == 400
    assert refused.value.response.json() == {"reason": "Bad Request", "error": "invalid_request"}


def test_owner_role_losing_the_s2s_permission_fails_calls_while_minting_works(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    # Real Zoom (ref §5, scenario matrix "Owner role lost S2S privilege"; REPORTED): minting answers 200,
    # every API call 401 {"code":124,"message":"Invalid access token."}. This client re-mints once on a
    # 401 and then raises.
    zoom = client(simulator, tmp_path / "cache")
    assert zoom.users.get_user("me")["id"] == "u-owner"
    state = simulator.admin("GET", "/_sim/state")
    admin_role = next(r for r in state["roles"] if r["id"] == "role-admin")
    without_s2s = [p for p in admin_role["privileges"] if p != state["config"]["s2s_privilege"]]
    simulator.admin("PATCH", "/_sim/roles/role-admin", {"privileges": without_s2s})
    minted_before = simulator.stats()["tokens_issued"]["demo-client"]

    with pytest.raises(requests.HTTPError) as failed:
        zoom.users.get_user("me")

    assert failed.value.response.status_code == 401
    assert failed.value.response.json() == INVALID_TOKEN
    assert simulator.stats()["tokens_issued"]["demo-client"] == minted_before + 1  # the re-mint worked


def test_rotation_refuses_the_old_secret_with_invalid_client(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    # Real Zoom (ref §6, §2): after a rotation that revokes the old secret, minting with it answers
    # 400 {"reason":"Invalid client_id or client_secret","error":"invalid_client"}; the new secret works.
    new_secret = simulator.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})[
        "client_secret"
    ]

    with pytest.raises(requests.HTTPError) as refused:
        client(simulator, tmp_path / "old").users.get_user("me")

    assert refused.value.response.status_code == 400
    assert refused.value.response.json() == {
        "reason": "Invalid client_id or client_secret",
        "error": "invalid_client",
    }
    assert client(simulator, tmp_path / "new", new_secret).users.get_user("me")["id"] == "u-owner"
