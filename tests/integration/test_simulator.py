"""The Zoom simulator over real HTTP, driven the way a third-party client (httpx) would drive Zoom.

One section per row of the reference's scenario matrix, then the endpoints, the token endpoint's
rules, faults, the admin API and the process itself. Time passes through the admin clock offset,
never through sleeping.
"""

from __future__ import annotations

import base64
import importlib.resources
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.simulator import SimulatorProcess

from .conftest import SimulatorFactory

INVALID = {"code": 124, "message": "Invalid access token."}
EXPIRED = {"code": 124, "message": "Access token is expired."}
S2S_PRIVILEGE = "ServerToServerOAuthApp:Edit"
ADMIN_PRIVILEGE = "Account:Edit"


def default_state() -> dict[str, Any]:
    text = (importlib.resources.files("zoom_operator.simulator") / "default_state.yaml").read_text()
    state: dict[str, Any] = yaml.safe_load(text)
    return state


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


class Zoom:
    """A client's view of the simulator: mint tokens and call the API with them."""

    def __init__(self, sim: SimulatorProcess) -> None:
        self.sim = sim
        self.http = httpx.Client(base_url=sim.base_url, timeout=5.0)

    def mint(
        self,
        client_id: str = "demo-client",
        secret: str = "demo-secret",
        account_id: str = "acc-demo",
        **extra: str,
    ) -> httpx.Response:
        body = {"grant_type": "account_credentials", "account_id": account_id, **extra}
        return self.http.post("/oauth/token", auth=(client_id, secret), data=body)

    def token(self, client_id: str = "demo-client", secret: str = "demo-secret", **extra: str) -> str:
        response = self.mint(client_id, secret, **extra)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def call(
        self, token: str, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, token: str, path: str) -> httpx.Response:
        return self.call(token, "GET", path)

    def advance_clock(self, seconds: float) -> None:
        offset = self.sim.admin("GET", "/_sim/state")["config"]["clock_offset_seconds"]
        self.sim.admin("PATCH", "/_sim/config", {"clock_offset_seconds": offset + seconds})

    def close(self) -> None:
        self.http.close()


ZoomFactory = Callable[..., Zoom]


@pytest.fixture
def zoom(simulator: SimulatorProcess) -> Iterator[Zoom]:
    client = Zoom(simulator)
    yield client
    client.close()


@pytest.fixture
def zoom_factory(simulator_factory: SimulatorFactory) -> Iterator[ZoomFactory]:
    clients: list[Zoom] = []

    def start(state: dict[str, Any] | None = None, extra_args: list[str] | None = None) -> Zoom:
        clients.append(Zoom(simulator_factory(state=state, extra_args=extra_args)))
        return clients[-1]

    yield start
    for client in clients:
        client.close()


def rotate(zoom: Zoom, revoke_old: str | None = None) -> str:
    """Rotate demo-client's secret (the admin default revokes the old one now); the new secret."""
    body = None if revoke_old is None else {"revoke_old": revoke_old}
    secret: str = zoom.sim.admin("POST", "/_sim/apps/demo-client/rotate", body)["client_secret"]
    return secret


def assert_invalid(response: httpx.Response) -> None:
    assert (response.status_code, response.json()) == (401, INVALID)


def assert_works(zoom: Zoom, token: str) -> None:
    assert zoom.get(token, "/v2/users/me").status_code == 200
    assert zoom.get(token, "/v2/roles/role-admin").status_code == 200


def assert_every_call_invalid(zoom: Zoom, token: str) -> None:
    assert_invalid(zoom.get(token, "/v2/users/me"))
    assert_invalid(zoom.get(token, "/v2/users/u-admin2/permissions"))
    assert_invalid(zoom.get(token, "/v2/roles/role-admin"))
    assert_invalid(zoom.call(token, "POST", "/v2/users/me/meetings", json={"topic": "t"}))
    assert_invalid(zoom.call(token, "DELETE", "/v2/meetings/12345678901"))


# --- Healthy ------------------------------------------------------------------------------------


def test_healthy_app_mints_a_bearer_token_with_space_separated_scope_and_api_url(zoom: Zoom) -> None:
    response = zoom.mint()

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3599
    assert body["scope"] == "user:read:admin meeting:write:admin role:read:admin"
    assert body["api_url"] == zoom.sim.base_url
    assert "refresh_token" not in body


def test_token_is_jwt_shaped_with_zoom_header_and_owner_claims(zoom: Zoom) -> None:
    token = zoom.token()

    header_part = token.split(".")[0]
    assert "=" not in token
    assert json.loads(base64.urlsafe_b64decode(header_part + "=" * (-len(header_part) % 4))) == {
        "alg": "HS512",
        "v": "2.0",
        "kid": "sim",
    }
    claims = claims_of(token)
    assert claims["ver"] == 8
    assert claims["iss"] == "zm:cid:demo-client"
    assert claims["aud"] == "https://oauth.zoom.us"
    assert (claims["uid"], claims["aid"]) == ("u-owner", "acc-demo")
    assert claims["exp"] - claims["iat"] == 3599
    assert claims["nbf"] == claims["iat"]
    assert {"tid", "jti"} <= claims.keys()


def test_healthy_token_reads_users_permissions_and_roles(zoom: Zoom) -> None:
    token = zoom.token()

    me = zoom.get(token, "/v2/users/me")
    by_email = zoom.get(token, "/v2/users/second-admin@example.com")
    permissions = zoom.get(token, "/v2/users/u-owner/permissions")
    role = zoom.get(token, "/v2/roles/role-admin")

    assert me.status_code == 200
    assert me.json()["id"] == "u-owner"
    assert me.json()["email"] == "dev-lead@example.com"
    assert me.json()["status"] == "active"
    assert (me.json()["role_id"], me.json()["role_name"]) == ("role-admin", "Admin")
    assert by_email.json()["id"] == "u-admin2"
    assert S2S_PRIVILEGE in permissions.json()["permissions"]
    assert role.status_code == 200
    assert role.json()["total_members"] == 3
    assert S2S_PRIVILEGE in role.json()["privileges"]


def test_token_works_until_exp_then_is_rejected_as_expired(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.advance_clock(3598)
    assert zoom.get(token, "/v2/users/me").status_code == 200

    zoom.advance_clock(1)
    response = zoom.get(token, "/v2/users/me")

    assert (response.status_code, response.json()) == (401, EXPIRED)


def test_token_ttl_comes_from_the_flag_unless_the_app_sets_its_own(zoom_factory: ZoomFactory) -> None:
    zoom = zoom_factory(extra_args=["--token-ttl-seconds", "120"])
    assert zoom.mint().json()["expires_in"] == 120

    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"token_ttl_seconds": 60})

    assert zoom.mint().json()["expires_in"] == 60
    assert zoom.mint("auditor-client", "auditor-secret").json()["expires_in"] == 120


# --- Owner removed ------------------------------------------------------------------------------


def test_owner_removed_still_mints_but_every_call_with_new_or_old_token_is_invalid(zoom: Zoom) -> None:
    old_token = zoom.token()
    zoom.sim.admin("DELETE", "/_sim/users/u-owner")

    new = zoom.mint()

    assert new.status_code == 200
    assert_every_call_invalid(zoom, new.json()["access_token"])
    assert_every_call_invalid(zoom, old_token)


def test_owner_removed_in_token_4735_mode_refuses_to_mint_and_old_tokens_are_invalid(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"owner_failure_mode": "token_4735"})
    old_token = zoom.token()
    zoom.sim.admin("DELETE", "/_sim/users/u-owner")

    response = zoom.mint()

    assert response.status_code == 400
    assert response.json() == {"reason": "The owner of the token does not exist.", "error": "invalid_request"}
    assert_every_call_invalid(zoom, old_token)


def test_token_4735_mode_still_mints_for_an_owner_who_is_only_deactivated(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"owner_failure_mode": "token_4735"})
    zoom.sim.admin("PATCH", "/_sim/users/u-owner", {"status": "inactive"})

    response = zoom.mint()

    assert response.status_code == 200
    assert_every_call_invalid(zoom, response.json()["access_token"])


# --- Owner deactivated --------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["inactive", "pending"])
def test_owner_not_active_still_mints_but_every_call_is_invalid(zoom: Zoom, status: str) -> None:
    old_token = zoom.token()
    zoom.sim.admin("PATCH", "/_sim/users/u-owner", {"status": status})

    new = zoom.mint()

    assert new.status_code == 200
    assert_every_call_invalid(zoom, new.json()["access_token"])
    assert_every_call_invalid(zoom, old_token)


def test_reactivating_the_owner_makes_the_same_tokens_work_again(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.sim.admin("PATCH", "/_sim/users/u-owner", {"status": "inactive"})
    assert_invalid(zoom.get(token, "/v2/users/me"))

    zoom.sim.admin("PATCH", "/_sim/users/u-owner", {"status": "active"})

    assert_works(zoom, token)


# --- Owner role lost the S2S privilege ----------------------------------------------------------


def test_owner_role_losing_s2s_privilege_still_mints_but_every_call_is_invalid(zoom: Zoom) -> None:
    old_token = zoom.token()
    role = zoom.sim.admin("GET", "/_sim/state")["roles"][0]
    privileges = [p for p in role["privileges"] if p != S2S_PRIVILEGE]
    zoom.sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": privileges})

    new = zoom.mint()

    assert new.status_code == 200
    assert_every_call_invalid(zoom, new.json()["access_token"])
    assert_every_call_invalid(zoom, old_token)


def test_owner_moved_to_a_role_without_s2s_privilege_gets_invalid_token_everywhere(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/users/u-owner", {"role_id": "role-member"})

    new = zoom.mint()

    assert new.status_code == 200
    assert_every_call_invalid(zoom, new.json()["access_token"])


def test_s2s_privilege_name_is_configurable(zoom_factory: ZoomFactory) -> None:
    zoom = zoom_factory(extra_args=["--s2s-privilege", "Custom:S2S"])

    assert_every_call_invalid(zoom, zoom.token())


# --- Owner role lost admin privileges (scopes shrink) -------------------------------------------


def test_owner_role_losing_admin_privilege_shrinks_scope_and_answers_4711_on_admin_endpoints(
    zoom: Zoom,
) -> None:
    zoom.sim.admin(
        "PATCH",
        "/_sim/apps/demo-client",
        {"scopes": ["user:read:user", "user:read:admin", "role:read:admin"]},
    )
    old_token = zoom.token()
    zoom.sim.admin(
        "PATCH",
        "/_sim/roles/role-admin",
        {"privileges": [S2S_PRIVILEGE, "User:Read", "Role:Read", "Meeting:Edit"]},
    )

    new = zoom.mint()

    assert new.status_code == 200
    assert new.json()["scope"] == "user:read:user"
    for token in (new.json()["access_token"], old_token):
        assert zoom.get(token, "/v2/users/me").status_code == 200
        role = zoom.get(token, "/v2/roles/role-admin")
        assert role.status_code == 400
        assert role.json() == {
            "code": 4711,
            "message": "Invalid access token, does not contain scopes:"
            "[role:read:admin, role:read:role:admin].",
        }
        permissions = zoom.get(token, "/v2/users/me/permissions")
        assert permissions.json()["message"] == (
            "Invalid access token, does not contain scopes:"
            "[user:read:admin, user:read:list_permissions:admin]."
        )


def test_scope_does_not_shrink_when_scope_shrink_on_role_loss_is_off(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/config", {"scope_shrink_on_role_loss": False})
    zoom.sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": [S2S_PRIVILEGE]})

    response = zoom.mint()

    assert response.json()["scope"] == "user:read:admin meeting:write:admin role:read:admin"
    assert zoom.get(response.json()["access_token"], "/v2/roles/role-admin").status_code == 200


def test_app_lacking_an_endpoint_scope_gets_4711_listing_the_accepted_scopes(zoom: Zoom) -> None:
    token = zoom.token("auditor-client", "auditor-secret")

    response = zoom.call(token, "POST", "/v2/users/me/meetings", json={})

    assert response.status_code == 400
    assert response.json() == {
        "code": 4711,
        "message": "Invalid access token, does not contain scopes:"
        "[meeting:write:admin, meeting:write:meeting:admin, meeting:write:meeting].",
    }


# --- Secret rotated -----------------------------------------------------------------------------


def test_rotation_revoking_old_secret_now_rejects_it_while_tokens_minted_with_it_keep_working(
    zoom: Zoom,
) -> None:
    old_token = zoom.token()

    new_secret = rotate(zoom, "now")

    with_old_secret = zoom.mint(secret="demo-secret")
    assert with_old_secret.status_code == 400
    assert with_old_secret.json() == {
        "reason": "Invalid client_id or client_secret",
        "error": "invalid_client",
    }
    assert_works(zoom, zoom.token(secret=new_secret))
    assert_works(zoom, old_token)


def test_rotation_defaults_to_revoking_the_old_secret_now(zoom: Zoom) -> None:
    new_secret = rotate(zoom)

    assert zoom.mint(secret="demo-secret").status_code == 400
    assert zoom.mint(secret=new_secret).status_code == 200


def test_rotation_revokes_tokens_minted_with_the_old_secret_when_configured(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/config", {"rotation_revokes_tokens": True})
    old_token = zoom.token()

    new_secret = rotate(zoom, "now")

    assert_every_call_invalid(zoom, old_token)
    assert_works(zoom, zoom.token(secret=new_secret))


def test_rotation_revokes_tokens_flag_sets_the_same_switch(zoom_factory: ZoomFactory) -> None:
    zoom = zoom_factory(extra_args=["--rotation-revokes-tokens"])
    old_token = zoom.token()

    zoom.sim.admin("POST", "/_sim/apps/demo-client/rotate")

    assert_invalid(zoom.get(old_token, "/v2/users/me"))


def test_rotation_with_grace_window_keeps_both_secrets_and_old_tokens_working(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/config", {"rotation_revokes_tokens": True})
    old_token = zoom.token()

    new_secret = rotate(zoom, "never")

    assert zoom.mint(secret="demo-secret").status_code == 200
    assert zoom.mint(secret=new_secret).status_code == 200
    assert_works(zoom, old_token)


def test_a_later_rotation_revokes_every_earlier_secret(zoom: Zoom) -> None:
    second = rotate(zoom, "never")

    third = rotate(zoom, "now")

    assert zoom.mint(secret="demo-secret").status_code == 400
    assert zoom.mint(secret=second).status_code == 400
    assert zoom.mint(secret=third).status_code == 200


# --- Ownership transfer -------------------------------------------------------------------------


def test_transfer_stays_pending_until_rotation_completes_it(zoom: Zoom) -> None:
    zoom.sim.admin("POST", "/_sim/apps/demo-client/transfer", {"to_user_id": "u-admin2"})

    app = zoom.sim.admin("GET", "/_sim/state")["apps"][0]
    assert app["owner_user_id"] == "u-owner"
    assert app["pending_transfer"]["to_user_id"] == "u-admin2"
    assert claims_of(zoom.token())["uid"] == "u-owner"

    new_secret = rotate(zoom, "now")

    app = zoom.sim.admin("GET", "/_sim/state")["apps"][0]
    assert (app["owner_user_id"], app["pending_transfer"]) == ("u-admin2", None)
    token = zoom.token(secret=new_secret)
    assert claims_of(token)["uid"] == "u-admin2"
    assert zoom.get(token, "/v2/users/me").json()["id"] == "u-admin2"


def test_transfer_and_rotation_recover_an_app_whose_owner_was_deactivated(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/users/u-owner", {"status": "inactive"})
    assert_every_call_invalid(zoom, zoom.token())

    zoom.sim.admin("POST", "/_sim/apps/demo-client/transfer", {"to_user_id": "u-admin2"})
    assert_every_call_invalid(zoom, zoom.token())
    new_secret = rotate(zoom, "now")

    assert_works(zoom, zoom.token(secret=new_secret))


# --- App deactivated / disabled -----------------------------------------------------------------


def test_deactivated_app_refuses_to_mint_and_its_tokens_stop_working_for_good(zoom: Zoom) -> None:
    old_token = zoom.token()

    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"status": "deactivated"})

    response = zoom.mint()
    assert response.status_code == 400
    assert response.json() == {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
    assert_every_call_invalid(zoom, old_token)

    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"status": "active"})
    assert_every_call_invalid(zoom, old_token)
    assert_works(zoom, zoom.token())


def test_disabled_app_refuses_to_mint_with_the_disabled_reason_and_its_tokens_stop_working(
    zoom: Zoom,
) -> None:
    old_token = zoom.token()

    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"status": "disabled"})

    response = zoom.mint()
    assert response.status_code == 400
    assert response.json() == {"reason": "The app has been disabled", "error": "invalid_client"}
    assert_every_call_invalid(zoom, old_token)


# --- Token caps ---------------------------------------------------------------------------------


def test_multi_token_mode_keeps_every_token_valid(zoom: Zoom) -> None:
    tokens = [zoom.token() for _ in range(4)]

    for token in tokens:
        assert zoom.get(token, "/v2/users/me").status_code == 200


def test_single_token_mode_evicts_the_older_token_on_each_mint(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"token_mode": "single"})
    first = zoom.token()

    second = zoom.mint()

    assert second.status_code == 200
    assert_every_call_invalid(zoom, first)
    assert_works(zoom, second.json()["access_token"])
    assert zoom.get(zoom.token("auditor-client", "auditor-secret"), "/v2/users/me").status_code == 200


def test_tolerance_mode_keeps_only_the_newest_n_tokens_valid(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"token_mode": "tolerance:2"})
    first, second, third = zoom.token(), zoom.token(), zoom.token()

    assert_invalid(zoom.get(first, "/v2/users/me"))
    assert zoom.get(second, "/v2/users/me").status_code == 200
    assert zoom.get(third, "/v2/users/me").status_code == 200
    assert zoom.sim.stats()["live_tokens"]["demo-client"] == 2


def test_tolerance_mode_index_parameter_replaces_the_token_in_that_slot(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"token_mode": "tolerance:3"})
    slot0, slot1 = zoom.token(index="0"), zoom.token(index="1")

    replacement = zoom.token(index="0")

    assert_invalid(zoom.get(slot0, "/v2/users/me"))
    assert zoom.get(slot1, "/v2/users/me").status_code == 200
    assert zoom.get(replacement, "/v2/users/me").status_code == 200
    assert claims_of(replacement)["tid"] == 0


# --- Rate limits --------------------------------------------------------------------------------


def test_qps_limit_is_shared_by_the_account_and_answers_429_with_rate_limit_headers(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/accounts/acc-demo", {"rate_limits": {"Light": {"per_second": 3}}})
    demo, auditor = zoom.token(), zoom.token("auditor-client", "auditor-secret")

    before = time.time()
    allowed = [zoom.get(demo, "/v2/users/me") for _ in range(3)]
    refused = zoom.get(auditor, "/v2/users/me")

    assert [r.headers["X-RateLimit-Remaining"] for r in allowed] == ["2", "1", "0"]
    assert allowed[0].headers["X-RateLimit-Category"] == "Light"
    assert allowed[0].headers["X-RateLimit-Type"] == "QPS"
    assert allowed[0].headers["X-RateLimit-Limit"] == "3"
    assert refused.status_code == 429
    assert refused.json() == {
        "code": 429,
        "message": "You have reached the maximum per-second rate limit for this API. Try again later.",
    }
    assert refused.headers["X-RateLimit-Category"] == "Light"
    assert refused.headers["X-RateLimit-Type"] == "QPS"
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert before <= int(refused.headers["X-RateLimit-Reset"]) <= time.time() + 2
    assert zoom.call(demo, "POST", "/v2/users/me/meetings", json={}).status_code == 201  # Medium is separate


def test_daily_limit_answers_429_with_iso_retry_after_at_next_utc_midnight_then_resets(zoom: Zoom) -> None:
    zoom.sim.admin(
        "PATCH", "/_sim/accounts/acc-demo", {"rate_limits": {"Light": {"per_second": 100, "per_day": 2}}}
    )
    token = zoom.token()

    allowed = [zoom.get(token, "/v2/users/me") for _ in range(2)]
    refused = zoom.get(token, "/v2/users/me")

    assert [r.status_code for r in allowed] == [200, 200]
    assert allowed[0].headers["X-RateLimit-Type"] == "Daily-limit"
    assert allowed[0].headers["X-RateLimit-Remaining"] == "1"
    assert refused.status_code == 429
    assert refused.json()["message"] == (
        "You have reached the maximum daily rate limit for this API. "
        "Refer to the response header for details on when you can make another request."
    )
    assert refused.headers["X-RateLimit-Type"] == "Daily-limit"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert refused.headers["Retry-After"] == f"{tomorrow.isoformat()}T00:00:00Z"

    zoom.advance_clock(86400)
    assert zoom.get(zoom.token(), "/v2/users/me").status_code == 200


def test_free_plan_limits_are_the_free_table(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/accounts/acc-demo", {"plan": "free"})

    response = zoom.get(zoom.token(), "/v2/users/me")

    assert response.headers["X-RateLimit-Type"] == "Daily-limit"
    assert response.headers["X-RateLimit-Limit"] == "6000"


def test_meeting_creates_are_capped_at_100_per_user_per_day(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/accounts/acc-demo", {"rate_limits": {"Medium": {"per_second": 1000}}})
    token = zoom.token()

    statuses = {zoom.call(token, "POST", "/v2/users/me/meetings", json={}).status_code for _ in range(100)}
    refused = zoom.call(token, "POST", "/v2/users/me/meetings", json={})
    other_host = zoom.call(token, "POST", "/v2/users/u-admin2/meetings", json={})

    assert statuses == {201}
    assert refused.status_code == 429
    assert refused.json()["message"] == (
        "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for "
        "this particular user. You may resume these requests at GMT 00:00:00."
    )
    assert other_host.status_code == 201


# --- Endpoints ----------------------------------------------------------------------------------


def test_meeting_create_returns_201_and_delete_returns_204_then_the_meeting_is_gone(zoom: Zoom) -> None:
    token = zoom.token()

    created = zoom.call(token, "POST", "/v2/users/me/meetings", json={"topic": "Standup", "duration": 15})
    assert created.status_code == 201
    meeting = created.json()
    assert (meeting["topic"], meeting["duration"], meeting["status"]) == ("Standup", 15, "waiting")
    assert (meeting["host_id"], meeting["host_email"]) == ("u-owner", "dev-lead@example.com")
    assert {"uuid", "id", "start_time", "created_at", "join_url", "start_url", "password"} <= meeting.keys()

    deleted = zoom.call(token, "DELETE", f"/v2/meetings/{meeting['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""

    again = zoom.call(token, "DELETE", f"/v2/meetings/{meeting['id']}")
    assert (again.status_code, again.json()) == (
        404,
        {"code": 3001, "message": f"Meeting does not exist: {meeting['id']}."},
    )


def test_deleting_an_unknown_meeting_is_404_code_3001(zoom: Zoom) -> None:
    response = zoom.call(zoom.token(), "DELETE", "/v2/meetings/98765432100")

    assert (response.status_code, response.json()) == (
        404,
        {"code": 3001, "message": "Meeting does not exist: 98765432100."},
    )


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
def test_meeting_create_rejects_a_body_that_is_not_a_json_object(zoom: Zoom, body: bytes) -> None:
    response = zoom.call(
        zoom.token(),
        "POST",
        "/v2/users/me/meetings",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert (response.status_code, response.json()) == (
        400,
        {"code": 300, "message": "Request Body should be a valid JSON object."},
    )


def test_meeting_create_reports_invalid_fields(zoom: Zoom) -> None:
    response = zoom.call(zoom.token(), "POST", "/v2/users/me/meetings", json={"type": 7, "duration": "long"})

    assert response.status_code == 400
    assert response.json()["code"] == 300
    assert response.json()["message"] == "Validation Failed."
    assert {error["field"] for error in response.json()["errors"]} == {"type", "duration"}


def test_meeting_for_an_inactive_host_is_refused_with_3161(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/users/u-admin2", {"status": "inactive"})

    response = zoom.call(zoom.token(), "POST", "/v2/users/u-admin2/meetings", json={})

    assert (response.status_code, response.json()["code"]) == (400, 3161)


def test_users_me_is_the_token_owner(zoom: Zoom) -> None:
    response = zoom.get(zoom.token("auditor-client", "auditor-secret"), "/v2/users/me")

    assert (response.json()["id"], response.json()["email"]) == ("u-auditor", "auditor@example.com")


@pytest.mark.parametrize("path", ["/v2/users/nobody@example.com", "/v2/users/u-nobody/permissions"])
def test_unknown_user_is_404_code_1001(zoom: Zoom, path: str) -> None:
    response = zoom.get(zoom.token(), path)

    user_id = path.split("/")[3]
    assert (response.status_code, response.json()) == (
        404,
        {"code": 1001, "message": f"User does not exist: {user_id}."},
    )


def test_unknown_role_is_404_and_roles_need_a_paid_plan(zoom: Zoom) -> None:
    token = zoom.token()

    unknown = zoom.get(token, "/v2/roles/role-nope")
    zoom.sim.admin("PATCH", "/_sim/accounts/acc-demo", {"plan": "free"})
    free = zoom.get(token, "/v2/roles/role-admin")

    assert (unknown.status_code, unknown.json()) == (
        404,
        {"code": 1001, "message": "Role does not exist: role-nope."},
    )
    assert (free.status_code, free.json()) == (
        400,
        {"code": 200, "message": "Only available for Paid account."},
    )


def test_users_roles_and_meetings_of_another_account_are_invisible(zoom_factory: ZoomFactory) -> None:
    state = default_state()
    state["accounts"].append({"id": "acc-other", "plan": "business"})
    state["roles"].append(
        {
            "id": "role-other",
            "name": "Other",
            "privileges": [S2S_PRIVILEGE, ADMIN_PRIVILEGE],
            "account_id": "acc-other",
        }
    )
    state["users"].append(
        {
            "id": "u-other",
            "email": "o@other.example",
            "account_id": "acc-other",
            "role_id": "role-other",
            "status": "active",
        }
    )
    state["apps"].append(
        {
            "client_id": "other-client",
            "client_secret": "other-secret",
            "account_id": "acc-other",
            "owner_user_id": "u-other",
            "scopes": ["user:read:admin", "role:read:admin", "meeting:write:admin"],
            "status": "active",
        }
    )
    zoom = zoom_factory(state=state)
    demo = zoom.token()
    other = zoom.token("other-client", "other-secret", account_id="acc-other")
    meeting_id = zoom.call(other, "POST", "/v2/users/me/meetings", json={}).json()["id"]

    assert zoom.get(demo, "/v2/users/u-other").status_code == 404
    assert zoom.get(demo, "/v2/users/o@other.example").status_code == 404
    assert zoom.get(demo, "/v2/roles/role-other").status_code == 404
    assert zoom.call(demo, "DELETE", f"/v2/meetings/{meeting_id}").status_code == 404
    assert zoom.call(other, "POST", "/v2/users/u-owner/meetings", json={}).status_code == 404
    assert zoom.call(other, "DELETE", f"/v2/meetings/{meeting_id}").status_code == 204


def test_unknown_v2_path_is_404_but_only_after_auth(zoom: Zoom) -> None:
    anonymous = zoom.http.get("/v2/accounts/me/settings")
    authorized = zoom.get(zoom.token(), "/v2/accounts/me/settings")

    assert_invalid(anonymous)
    assert (authorized.status_code, authorized.json()) == (404, {"code": 404, "message": "Not Found"})


# --- Meetings: get, update, list; users: list -----------------------------------------------------

# (method, path template, rate-limit label) of each endpoint added for third-party clients; `{meeting}`
# is a meeting the owner created first.
NEW_ENDPOINTS = [
    ("GET", "/v2/meetings/{meeting}", "Light"),
    ("PATCH", "/v2/meetings/{meeting}", "Light"),
    ("GET", "/v2/users/me/meetings", "Medium"),
    ("GET", "/v2/users", "Medium"),
]


def create_meeting(zoom: Zoom, token: str, **body: Any) -> dict[str, Any]:
    created = zoom.call(token, "POST", "/v2/users/me/meetings", json={"topic": "Standup", **body})
    assert created.status_code == 201, created.text
    meeting: dict[str, Any] = created.json()
    return meeting


def call_new_endpoint(zoom: Zoom, token: str, method: str, path: str, meeting_id: int) -> httpx.Response:
    body = {"topic": "Renamed"} if method == "PATCH" else None
    return zoom.call(token, method, path.format(meeting=meeting_id), json=body)


def test_get_meeting_answers_the_created_meeting_with_the_fields_clients_read(zoom: Zoom) -> None:
    token = zoom.token()
    created = create_meeting(
        zoom, token, agenda="Weekly sync", duration=30, settings={"waiting_room": True, "host_video": True}
    )

    response = zoom.get(token, f"/v2/meetings/{created['id']}")

    assert response.status_code == 200
    meeting = response.json()
    assert meeting == created
    assert (meeting["topic"], meeting["agenda"], meeting["duration"]) == ("Standup", "Weekly sync", 30)
    assert (meeting["host_id"], meeting["host_email"], meeting["status"]) == (
        "u-owner",
        "dev-lead@example.com",
        "waiting",
    )
    assert meeting["settings"]["waiting_room"] is True
    assert meeting["settings"]["host_video"] is True
    assert meeting["settings"]["join_before_host"] is False  # Zoom's default for what was not given
    assert meeting["join_url"].endswith(f"/j/{meeting['id']}?pwd={meeting['password']}")
    assert f"/s/{meeting['id']}" in meeting["start_url"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meeting["created_at"])
    assert response.headers["X-RateLimit-Category"] == "Light"


def test_update_meeting_answers_204_and_changes_only_the_given_fields(zoom: Zoom) -> None:
    token = zoom.token()
    created = create_meeting(zoom, token, agenda="Old", settings={"waiting_room": True})

    updated = zoom.call(
        token,
        "PATCH",
        f"/v2/meetings/{created['id']}",
        json={"topic": "Retro", "duration": 45, "settings": {"mute_upon_entry": True}},
    )

    assert (updated.status_code, updated.content) == (204, b"")
    meeting = zoom.get(token, f"/v2/meetings/{created['id']}").json()
    assert (meeting["topic"], meeting["duration"], meeting["agenda"]) == ("Retro", 45, "Old")
    assert meeting["settings"]["mute_upon_entry"] is True
    assert meeting["settings"]["waiting_room"] is True  # settings merge key by key
    assert meeting["created_at"] == created["created_at"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", {"code": 300, "message": "Request Body should be a valid JSON object."}),
        (b"[1]", {"code": 300, "message": "Request Body should be a valid JSON object."}),
        (
            b'{"duration": "long", "settings": 3}',
            {
                "code": 300,
                "message": "Validation Failed.",
                "errors": [
                    {"field": "duration", "message": "Invalid field."},
                    {"field": "settings", "message": "Invalid field."},
                ],
            },
        ),
    ],
)
def test_update_meeting_refuses_a_bad_body_and_changes_nothing(
    zoom: Zoom, body: bytes, expected: dict[str, Any]
) -> None:
    token = zoom.token()
    created = create_meeting(zoom, token)

    response = zoom.call(
        token,
        "PATCH",
        f"/v2/meetings/{created['id']}",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert (response.status_code, response.json()) == (400, expected)
    assert zoom.get(token, f"/v2/meetings/{created['id']}").json() == created


@pytest.mark.parametrize("method", ["GET", "PATCH"])
@pytest.mark.parametrize("meeting_id", ["98765432100", "not-a-number", "٣", "9" * 5000])
def test_unknown_meeting_on_get_or_update_is_404_code_3001(zoom: Zoom, method: str, meeting_id: str) -> None:
    response = zoom.call(zoom.token(), method, f"/v2/meetings/{meeting_id}", json={"topic": "x"})

    assert (response.status_code, response.json()) == (
        404,
        {"code": 3001, "message": f"Meeting does not exist: {meeting_id}."},
    )


def test_a_deleted_meeting_is_gone_for_get_update_list_and_a_second_delete(zoom: Zoom) -> None:
    token = zoom.token()
    meeting_id = create_meeting(zoom, token)["id"]
    assert zoom.call(token, "DELETE", f"/v2/meetings/{meeting_id}").status_code == 204

    gone = {"code": 3001, "message": f"Meeting does not exist: {meeting_id}."}
    for method in ("GET", "PATCH", "DELETE"):
        response = zoom.call(token, method, f"/v2/meetings/{meeting_id}", json={"topic": "x"})
        assert (response.status_code, response.json()) == (404, gone), method
    assert zoom.get(token, "/v2/users/me/meetings").json()["meetings"] == []


def test_list_meetings_pages_with_page_size_and_next_page_token(zoom: Zoom) -> None:
    token = zoom.token()
    ids = [create_meeting(zoom, token, topic=f"m{i}")["id"] for i in range(3)]
    other_host = zoom.call(token, "POST", "/v2/users/u-admin2/meetings", json={"topic": "theirs"})
    assert other_host.status_code == 201

    first = zoom.get(token, "/v2/users/me/meetings?page_size=2")
    assert first.status_code == 200
    page1 = first.json()
    assert (page1["page_size"], page1["total_records"]) == (2, 3)
    assert [m["id"] for m in page1["meetings"]] == ids[:2]
    assert {
        "uuid",
        "id",
        "host_id",
        "topic",
        "type",
        "start_time",
        "duration",
        "timezone",
        "created_at",
        "join_url",
        "agenda",
    } <= page1["meetings"][0].keys()
    assert page1["next_page_token"]
    assert first.headers["X-RateLimit-Category"] == "Medium"

    page2 = zoom.get(
        token, f"/v2/users/me/meetings?page_size=2&next_page_token={page1['next_page_token']}"
    ).json()
    assert [m["id"] for m in page2["meetings"]] == ids[2:]
    assert page2["next_page_token"] == ""
    assert {m["host_id"] for m in page1["meetings"] + page2["meetings"]} == {"u-owner"}
    assert [m["id"] for m in zoom.get(token, "/v2/users/u-admin2/meetings").json()["meetings"]] == [
        other_host.json()["id"]
    ]


def test_list_meetings_type_filter_and_bad_parameters(zoom: Zoom) -> None:
    token = zoom.token()
    create_meeting(zoom, token)

    assert len(zoom.get(token, "/v2/users/me/meetings?type=upcoming").json()["meetings"]) == 1
    assert zoom.get(token, "/v2/users/me/meetings?type=live").json()["meetings"] == []
    bad_type = zoom.get(token, "/v2/users/me/meetings?type=sometimes")
    assert (bad_type.status_code, bad_type.json()["errors"]) == (
        400,
        [{"field": "type", "message": "Invalid field."}],
    )
    bad_size = zoom.get(token, "/v2/users/me/meetings?page_size=0")
    assert (bad_size.status_code, bad_size.json()["message"]) == (400, "Validation Failed.")
    bad_token = zoom.get(token, "/v2/users/me/meetings?next_page_token=nope")
    assert (bad_token.status_code, bad_token.json()) == (
        400,
        {"code": 300, "message": "The next page token is invalid or expired."},
    )


def test_list_meetings_of_an_unknown_user_is_404_code_1001(zoom: Zoom) -> None:
    response = zoom.get(zoom.token(), "/v2/users/nobody@example.com/meetings")

    assert (response.status_code, response.json()) == (
        404,
        {"code": 1001, "message": "User does not exist: nobody@example.com."},
    )


def test_next_page_token_expires_after_15_minutes_and_only_resumes_its_own_listing(zoom: Zoom) -> None:
    token = zoom.token()
    first = zoom.get(token, "/v2/users?page_size=1").json()
    page_token = first["next_page_token"]
    assert page_token

    other_listing = zoom.get(token, f"/v2/users?status=inactive&next_page_token={page_token}")
    assert (other_listing.status_code, other_listing.json()["code"]) == (400, 300)
    zoom.advance_clock(15 * 60 + 1)
    expired = zoom.get(zoom.token(), f"/v2/users?page_size=1&next_page_token={page_token}")
    assert (expired.status_code, expired.json()) == (
        400,
        {"code": 300, "message": "The next page token is invalid or expired."},
    )


def test_list_users_defaults_to_active_users_and_filters_by_status(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.sim.admin("PATCH", "/_sim/users/u-admin2", {"status": "inactive"})

    active = zoom.get(token, "/v2/users")
    inactive = zoom.get(token, "/v2/users?status=inactive").json()
    pending = zoom.get(token, "/v2/users?status=pending").json()

    assert active.status_code == 200
    body = active.json()
    assert [u["id"] for u in body["users"]] == ["u-owner", "u-auditor"]
    assert (body["page_size"], body["total_records"], body["next_page_token"]) == (30, 2, "")
    assert [u["id"] for u in inactive["users"]] == ["u-admin2"]
    assert (pending["users"], pending["total_records"]) == ([], 0)
    user = body["users"][0]
    assert (user["email"], user["type"], user["role_id"], user["status"]) == (
        "dev-lead@example.com",
        2,
        "role-admin",
        "active",
    )
    assert {
        "first_name",
        "last_name",
        "display_name",
        "dept",
        "timezone",
        "pmi",
        "created_at",
        "last_login_time",
        "verified",
    } <= user.keys()
    assert active.headers["X-RateLimit-Category"] == "Medium"
    bad = zoom.get(token, "/v2/users?status=gone")
    assert (bad.status_code, bad.json()["errors"]) == (
        400,
        [{"field": "status", "message": "Invalid field."}],
    )


def test_list_users_walks_every_page_with_next_page_token(zoom: Zoom) -> None:
    token = zoom.token()
    seen: list[str] = []
    query = "/v2/users?page_size=1"
    for _ in range(10):
        page = zoom.get(token, query).json()
        assert page["page_size"] == 1
        assert page["total_records"] == 3
        seen += [u["id"] for u in page["users"]]
        if not page["next_page_token"]:
            break
        query = f"/v2/users?page_size=1&next_page_token={page['next_page_token']}"
    assert seen == ["u-owner", "u-admin2", "u-auditor"]


def test_list_users_role_filter_and_page_size_cap(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.sim.admin("PATCH", "/_sim/users/u-auditor", {"role_id": "role-member"})

    members = zoom.get(token, "/v2/users?role_id=role-member").json()
    capped = zoom.get(token, "/v2/users?page_size=1000").json()
    zoom.sim.admin("PATCH", "/_sim/config", {"max_page_size": 2})
    smaller = zoom.get(token, "/v2/users?page_size=1000").json()

    assert [u["id"] for u in members["users"]] == ["u-auditor"]
    assert capped["page_size"] == 300
    assert (smaller["page_size"], len(smaller["users"]), bool(smaller["next_page_token"])) == (2, 2, True)


def test_user_objects_carry_dept_and_timezone_from_the_state_file(zoom_factory: ZoomFactory) -> None:
    state = default_state()
    state["users"][0] |= {"dept": "Platform", "timezone": "Europe/Berlin", "type": 1}
    zoom = zoom_factory(state=state)
    token = zoom.token()

    me = zoom.get(token, "/v2/users/me").json()
    listed = zoom.get(token, "/v2/users").json()["users"][0]

    for user in (me, listed):
        assert (user["dept"], user["timezone"], user["type"]) == ("Platform", "Europe/Berlin", 1)
    assert (me["role_name"], me["account_id"]) == ("Admin", "acc-demo")
    assert create_meeting(zoom, token)["timezone"] == "Europe/Berlin"  # the host's zone by default


@pytest.mark.parametrize(("method", "path", "label"), NEW_ENDPOINTS)
def test_new_endpoints_answer_4711_without_one_of_their_scopes(
    zoom: Zoom, method: str, path: str, label: str
) -> None:
    meeting_id = create_meeting(zoom, zoom.token())["id"]
    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"scopes": ["role:read:admin"]})

    response = call_new_endpoint(zoom, zoom.token(), method, path, meeting_id)

    assert response.status_code == 400
    assert response.json()["code"] == 4711
    assert response.json()["message"].startswith("Invalid access token, does not contain scopes:[")


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/meetings/{meeting}", "meeting:read:meeting:admin"),
        ("GET", "/v2/meetings/{meeting}", "meeting:read:admin"),
        ("PATCH", "/v2/meetings/{meeting}", "meeting:update:meeting:admin"),
        ("PATCH", "/v2/meetings/{meeting}", "meeting:write"),
        ("GET", "/v2/users/me/meetings", "meeting:read:list_meetings:admin"),
        ("GET", "/v2/users/me/meetings", "meeting:read"),
        ("GET", "/v2/users", "user:read:list_users:admin"),
        ("GET", "/v2/users", "user:read:admin"),
    ],
)
def test_new_endpoints_accept_their_classic_and_granular_scopes(
    zoom: Zoom, method: str, path: str, scope: str
) -> None:
    meeting_id = create_meeting(zoom, zoom.token())["id"]
    zoom.sim.admin("PATCH", "/_sim/apps/demo-client", {"scopes": [scope]})

    response = call_new_endpoint(zoom, zoom.token(), method, path, meeting_id)

    assert response.status_code in (200, 204), response.text


@pytest.mark.parametrize(("method", "path", "label"), NEW_ENDPOINTS)
def test_new_endpoints_answer_401_124_once_the_owner_role_loses_the_s2s_permission(
    zoom: Zoom, method: str, path: str, label: str
) -> None:
    meeting_id = create_meeting(zoom, zoom.token())["id"]
    privileges = [
        p for p in zoom.sim.admin("GET", "/_sim/state")["roles"][0]["privileges"] if p != S2S_PRIVILEGE
    ]
    zoom.sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": privileges})
    fresh = zoom.mint()
    assert fresh.status_code == 200  # minting still works

    assert_invalid(call_new_endpoint(zoom, fresh.json()["access_token"], method, path, meeting_id))


@pytest.mark.parametrize(("method", "path", "label"), NEW_ENDPOINTS)
def test_new_endpoints_are_rate_limited_in_their_label(
    zoom: Zoom, method: str, path: str, label: str
) -> None:
    token = zoom.token()
    meeting_id = create_meeting(zoom, token)["id"]
    zoom.sim.admin("PATCH", "/_sim/accounts/acc-demo", {"rate_limits": {label: {"per_second": 1}}})

    # a one-second window: at most one of two back-to-back calls is allowed, so two more never pass
    answers = [call_new_endpoint(zoom, token, method, path, meeting_id) for _ in range(3)]

    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    assert limited[0].json() == {
        "code": 429,
        "message": "You have reached the maximum per-second rate limit for this API. Try again later.",
    }
    assert limited[0].headers["X-RateLimit-Category"] == label
    assert limited[0].headers["X-RateLimit-Type"] == "QPS"
    assert limited[0].headers["X-RateLimit-Remaining"] == "0"


def test_an_endpoint_rate_label_can_be_changed_at_run_time(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.sim.admin("PATCH", "/_sim/config", {"rate_labels": {"GET /v2/users": "Heavy"}})

    response = zoom.get(token, "/v2/users")
    unknown = zoom.http.patch("/_sim/config", json={"rate_labels": {"GET /v2/nope": "Light"}})
    bad_label = zoom.http.patch("/_sim/config", json={"rate_labels": {"GET /v2/users": "Feather"}})

    assert response.headers["X-RateLimit-Category"] == "Heavy"
    assert zoom.get(token, "/v2/users/me").headers["X-RateLimit-Category"] == "Light"
    assert unknown.status_code == 400
    assert "GET /v2/meetings/{meetingId}" in unknown.json()["error"]
    assert bad_label.status_code == 400
    assert "Light, Medium or Heavy" in bad_label.json()["error"]


def test_meeting_updates_count_toward_the_daily_100_creates_and_updates_per_user(zoom: Zoom) -> None:
    zoom.sim.admin(
        "PATCH",
        "/_sim/accounts/acc-demo",
        {"rate_limits": {"Light": {"per_second": 1000}, "Medium": {"per_second": 1000}}},
    )
    token = zoom.token()
    meeting_id = create_meeting(zoom, token)["id"]
    statuses = [
        zoom.call(token, "PATCH", f"/v2/meetings/{meeting_id}", json={"duration": i}).status_code
        for i in range(99)
    ]
    assert set(statuses) == {204}

    capped = zoom.call(token, "PATCH", f"/v2/meetings/{meeting_id}", json={"duration": 5})

    assert capped.status_code == 429
    assert capped.json()["message"].startswith(
        "You have exceeded the daily rate limit (100) of Meeting Create/Update"
    )
    assert zoom.get(token, f"/v2/meetings/{meeting_id}").json()["duration"] == 98


def test_meetings_of_another_account_are_404_for_get_and_update(zoom_factory: ZoomFactory) -> None:
    state = default_state()
    state["accounts"].append({"id": "acc-other", "plan": "business"})
    state["users"].append(
        {
            "id": "u-other",
            "email": "o@other.example",
            "account_id": "acc-other",
            "role_id": "role-admin",
            "status": "active",
        }
    )
    state["apps"].append(
        {
            "client_id": "other-client",
            "client_secret": "other-secret",
            "account_id": "acc-other",
            "owner_user_id": "u-other",
            "scopes": ["meeting:write:admin", "user:read:admin"],
            "status": "active",
        }
    )
    zoom = zoom_factory(state=state)
    mine = create_meeting(zoom, zoom.token())
    theirs = zoom.mint("other-client", "other-secret", account_id="acc-other").json()["access_token"]

    for method in ("GET", "PATCH"):
        response = zoom.call(theirs, method, f"/v2/meetings/{mine['id']}", json={"topic": "x"})
        assert (response.status_code, response.json()["code"]) == (404, 3001)
    assert [u["id"] for u in zoom.get(theirs, "/v2/users").json()["users"]] == ["u-other"]


# --- REST auth ----------------------------------------------------------------------------------


def test_token_in_query_string_is_rejected_even_when_valid(zoom: Zoom) -> None:
    token = zoom.token()

    response = zoom.http.get("/v2/users/me", params={"access_token": token})

    assert response.status_code == 401
    assert response.json() == {
        "code": 124,
        "message": "Invalid access token, this access token is not supported as query parameter string.",
    }


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer garbage", "Bearer a.b.c", "Basic ZGVtbw==", "tampered"],
)
def test_missing_garbled_or_forged_tokens_are_invalid(zoom: Zoom, authorization: str | None) -> None:
    if authorization == "tampered":
        header, payload, signature = zoom.token().split(".")
        claims = claims_of(f"{header}.{payload}.{signature}") | {"uid": "u-admin2"}
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        authorization = f"Bearer {header}.{forged}.{signature}"
    headers = {} if authorization is None else {"Authorization": authorization}

    assert_invalid(zoom.http.get("/v2/users/me", headers=headers))


def test_tokens_from_another_simulator_process_are_unknown(zoom: Zoom, zoom_factory: ZoomFactory) -> None:
    other = zoom_factory()

    assert_invalid(zoom.get(other.token(), "/v2/users/me"))


# --- Token endpoint rules -----------------------------------------------------------------------


def test_token_request_without_basic_credentials_is_invalid_request(zoom: Zoom) -> None:
    response = zoom.http.post(
        "/oauth/token", data={"grant_type": "account_credentials", "account_id": "acc-demo"}
    )

    assert (response.status_code, response.json()) == (
        400,
        {"reason": "Client ID or client secret is missing.", "error": "invalid_request"},
    )


def test_token_request_without_grant_type_is_invalid_request(zoom: Zoom) -> None:
    response = zoom.http.post(
        "/oauth/token", auth=("demo-client", "demo-secret"), data={"account_id": "acc-demo"}
    )

    assert response.json()["error"] == "invalid_request"


def test_wrong_grant_type_or_json_body_is_unsupported_grant_type(zoom: Zoom) -> None:
    unsupported = {"reason": "unsupported grant type", "error": "unsupported_grant_type"}

    wrong_grant = zoom.mint(grant_type="client_credentials")
    json_body = zoom.http.post(
        "/oauth/token",
        auth=("demo-client", "demo-secret"),
        json={"grant_type": "account_credentials", "account_id": "acc-demo"},
    )

    assert (wrong_grant.status_code, wrong_grant.json()) == (400, unsupported)
    assert (json_body.status_code, json_body.json()) == (400, unsupported)


@pytest.mark.parametrize(("client_id", "secret"), [("nobody", "demo-secret"), ("demo-client", "wrong")])
def test_unknown_client_or_wrong_secret_is_invalid_client(zoom: Zoom, client_id: str, secret: str) -> None:
    response = zoom.mint(client_id, secret)

    assert (response.status_code, response.json()) == (
        400,
        {"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
    )


def test_wrong_account_id_is_invalid_request(zoom: Zoom) -> None:
    response = zoom.mint(account_id="acc-other")

    assert (response.status_code, response.json()) == (
        400,
        {"reason": "Invalid account_id", "error": "invalid_request"},
    )


def test_query_string_parameters_are_accepted_unless_strict_body_is_on(zoom: Zoom) -> None:
    params = {"grant_type": "account_credentials", "account_id": "acc-demo"}

    lenient = zoom.http.post("/oauth/token", auth=("demo-client", "demo-secret"), params=params)
    zoom.sim.admin("PATCH", "/_sim/config", {"strict_body": True})
    strict = zoom.http.post("/oauth/token", auth=("demo-client", "demo-secret"), params=params)

    assert lenient.status_code == 200
    assert (strict.status_code, strict.json()) == (400, {"reason": "Bad Request", "error": "invalid_request"})
    assert zoom.mint().status_code == 200


def test_strict_body_flag_rejects_query_string_parameters(zoom_factory: ZoomFactory) -> None:
    zoom = zoom_factory(extra_args=["--strict-body"])
    params = {"grant_type": "account_credentials", "account_id": "acc-demo"}

    response = zoom.http.post("/oauth/token", auth=("demo-client", "demo-secret"), params=params)

    assert response.json() == {"reason": "Bad Request", "error": "invalid_request"}


def test_token_rps_limit_answers_429_when_set(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/config", {"token_rps": 1})

    first, second = zoom.mint(), zoom.mint()
    zoom.sim.admin("PATCH", "/_sim/config", {"token_rps": None})

    assert first.status_code == 200
    assert (second.status_code, second.json()) == (
        429,
        {"reason": "Too many requests", "error": "rate_limited"},
    )
    assert zoom.mint().status_code == 200


# --- Faults -------------------------------------------------------------------------------------


def test_status_fault_answers_the_next_n_token_requests_then_stops(zoom: Zoom) -> None:
    zoom.sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "status", "status": 503, "count": 2})

    statuses = [zoom.mint().status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


def test_status_fault_on_the_api_leaves_the_token_endpoint_alone(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.sim.admin("POST", "/_sim/faults", {"target": "api", "kind": "status", "status": 500, "count": 1})

    assert zoom.mint().status_code == 200
    faulted = zoom.get(token, "/v2/users/me")
    assert (faulted.status_code, faulted.json()["code"]) == (500, 500)
    assert "x-zm-trackingid" in faulted.headers
    assert zoom.get(token, "/v2/users/me").status_code == 200


def test_timeout_fault_holds_the_request_past_the_client_timeout(zoom: Zoom) -> None:
    zoom.sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "timeout", "seconds": 5})

    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        zoom.http.post(
            "/oauth/token",
            auth=("demo-client", "demo-secret"),
            data={"grant_type": "account_credentials", "account_id": "acc-demo"},
            timeout=0.3,
        )
    assert time.monotonic() - started < 2

    zoom.sim.admin("DELETE", "/_sim/faults")
    assert zoom.mint().status_code == 200


def test_timeout_fault_answers_normally_once_its_time_is_over(zoom: Zoom) -> None:
    zoom.sim.admin("POST", "/_sim/faults", {"target": "api", "kind": "timeout", "seconds": 0.3})
    token = zoom.token()

    started = time.monotonic()
    response = zoom.get(token, "/v2/users/me")

    assert response.status_code == 200
    assert 0.2 <= time.monotonic() - started < 3


def test_drop_fault_closes_the_connection_without_a_response(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.sim.admin("POST", "/_sim/faults", {"target": "api", "kind": "drop", "count": 1})

    with pytest.raises(httpx.RemoteProtocolError):
        zoom.get(token, "/v2/users/me")
    assert zoom.get(token, "/v2/users/me").status_code == 200
    assert "GET /v2/users/me dropped" in zoom.sim.stderr_text()


def test_malformed_fault_answers_200_with_a_body_that_is_not_json(zoom: Zoom) -> None:
    zoom.sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "malformed", "count": 1})

    response = zoom.mint()

    assert response.status_code == 200
    with pytest.raises(ValueError, match="Expecting value"):
        response.json()
    assert zoom.mint().json()["token_type"] == "bearer"


def test_fault_for_a_duration_ends_when_the_simulated_time_is_over(zoom: Zoom) -> None:
    zoom.sim.admin(
        "POST", "/_sim/faults", {"target": "token", "kind": "status", "status": 429, "seconds": 60}
    )
    assert [zoom.mint().status_code for _ in range(2)] == [429, 429]
    assert len(zoom.sim.admin("GET", "/_sim/faults")["faults"]) == 1

    zoom.advance_clock(61)

    assert zoom.mint().status_code == 200
    assert zoom.sim.admin("GET", "/_sim/faults") == {"faults": []}


def test_fault_without_count_or_seconds_lasts_until_cleared(zoom: Zoom) -> None:
    zoom.sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "status", "status": 500})
    assert [zoom.mint().status_code for _ in range(3)] == [500, 500, 500]

    zoom.sim.admin("DELETE", "/_sim/faults")

    assert zoom.mint().status_code == 200


# --- Every response -----------------------------------------------------------------------------


def test_every_response_carries_a_tracking_id(zoom: Zoom) -> None:
    token = zoom.token()
    responses = [
        zoom.mint(),
        zoom.mint(secret="wrong"),
        zoom.http.get("/oauth/token"),
        zoom.get(token, "/v2/users/me"),
        zoom.get("garbage", "/v2/users/me"),
        zoom.get(token, "/v2/users/nobody"),
        zoom.get(token, "/v2/nothing/here"),
        zoom.call(token, "DELETE", "/v2/meetings/1"),
        zoom.http.get("/_sim/state"),
        zoom.http.patch("/_sim/users/u-owner", json={"status": "gone"}),
        zoom.http.get("/_sim/nothing"),
        zoom.http.get("/"),
    ]

    # Zoom's form in real transcripts: v=2.0;clid=<cluster>;rid=<request id>
    tracking_ids = [r.headers.get("x-zm-trackingid", "") for r in responses]
    assert all(re.fullmatch(r"v=2\.0;clid=us05;rid=WEB_[0-9a-f]{32}", t) for t in tracking_ids), tracking_ids
    assert len(set(tracking_ids)) == len(tracking_ids)


def test_tracking_id_cluster_is_configurable_and_checked(zoom: Zoom) -> None:
    zoom.sim.admin("PATCH", "/_sim/config", {"tracking_cluster": "aw1"})
    assert zoom.mint().headers["x-zm-trackingid"].startswith("v=2.0;clid=aw1;rid=WEB_")

    refused = zoom.http.patch("/_sim/config", json={"tracking_cluster": "us05;rid=x"})
    assert refused.status_code == 400
    assert "tracking_cluster" in refused.json()["error"]


def test_json_bodies_are_compact_like_zoom(zoom: Zoom) -> None:
    token = zoom.token()

    assert zoom.get("garbage", "/v2/users/me").content == b'{"code":124,"message":"Invalid access token."}'
    assert zoom.mint(secret="wrong").content == (
        b'{"reason":"Invalid client_id or client_secret","error":"invalid_client"}'
    )
    assert b'"id":"u-owner","first_name":"Dana"' in zoom.get(token, "/v2/users/me").content


def test_log_names_method_path_status_and_tracking_id_but_never_tokens_or_secrets(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.http.get("/v2/users/me", params={"access_token": token})
    response = zoom.get(token, "/v2/users/me")

    log = zoom.sim.stderr_text()
    assert f"GET /v2/users/me 200 trackingid={response.headers['x-zm-trackingid']}" in log
    assert "POST /oauth/token 200" in log
    assert token not in log
    assert token.split(".")[2] not in log
    assert "demo-secret" not in log
    assert "access_token" not in log


# --- Admin API ----------------------------------------------------------------------------------


def test_state_shows_apps_with_secrets_config_and_faults(zoom: Zoom) -> None:
    state = zoom.sim.admin("GET", "/_sim/state")

    assert [a["id"] for a in state["accounts"]] == ["acc-demo"]
    assert [u["id"] for u in state["users"]] == ["u-owner", "u-admin2", "u-auditor"]
    assert [r["id"] for r in state["roles"]] == ["role-admin", "role-member"]
    demo = state["apps"][0]
    assert (demo["client_id"], demo["secrets"][0]["value"], demo["token_mode"]) == (
        "demo-client",
        "demo-secret",
        "multi",
    )
    assert state["config"]["s2s_privilege"] == S2S_PRIVILEGE
    assert state["config"]["admin_privilege"] == ADMIN_PRIVILEGE
    assert state["faults"] == []


def test_stats_count_requests_token_requests_issued_tokens_and_endpoints(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.mint(secret="wrong")
    zoom.token("auditor-client", "auditor-secret")
    zoom.get(token, "/v2/users/me")
    zoom.get(token, "/v2/users/u-admin2")

    stats = zoom.sim.stats()

    assert stats["tokens_issued"] == {"demo-client": 1, "auditor-client": 1}
    assert stats["token_requests"] == {"demo-client": 2, "auditor-client": 1}
    assert stats["requests"] == 5
    assert stats["endpoints"]["GET /v2/users/{userId}"] == 2
    assert stats["endpoints"]["POST /oauth/token"] == 3
    assert stats["statuses"] == {"200": 4, "400": 1}


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("PATCH", "/_sim/users/u-owner", {"status": "gone"}, "must be one of active, inactive, pending"),
        ("PATCH", "/_sim/users/u-owner", ["inactive"], "must be a mapping like"),
        ("PATCH", "/_sim/users/u-owner", {}, "set at least one of status, role_id"),
        ("PATCH", "/_sim/users/u-owner", {"stauts": "inactive"}, "unknown field(s) stauts"),
        ("PATCH", "/_sim/users/u-owner", {"role_id": "role-nope"}, "'role_id' must be a role of account"),
        ("PATCH", "/_sim/roles/role-admin", {"privileges": "User:Read"}, "'privileges' must be a list"),
        ("PATCH", "/_sim/apps/demo-client", {"token_mode": "tolerance:0"}, "tolerance:N with N >= 1"),
        ("PATCH", "/_sim/apps/demo-client", {"status": "paused"}, "must be one of active, deactivated"),
        ("PATCH", "/_sim/apps/demo-client", {"owner_user_id": "u-nobody"}, "'owner_user_id' must be a user"),
        ("PATCH", "/_sim/apps/demo-client", {"token_ttl_seconds": 0}, "must be an integer >= 1"),
        ("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "later"}, "must be one of now, never"),
        ("POST", "/_sim/apps/demo-client/transfer", {}, "missing required field 'to_user_id'"),
        ("POST", "/_sim/apps/demo-client/transfer", {"to_user_id": "u-owner"}, "already owns"),
        ("POST", "/_sim/faults", {"kind": "drop"}, "missing required field 'target'"),
        ("POST", "/_sim/faults", {"target": "api", "kind": "status"}, "needs 'status'"),
        ("POST", "/_sim/faults", {"target": "api", "kind": "drop", "count": 1, "seconds": 2}, "not both"),
        ("PATCH", "/_sim/config", {"strict_body": "yes"}, "'strict_body' must be true or false"),
        ("PATCH", "/_sim/accounts/acc-demo", {"plan": "gold"}, "'plan' must be one of free, pro, business"),
        ("PATCH", "/_sim/accounts/acc-demo", {"rate_limits": {"Light": {"per_second": 0}}}, "per_second"),
    ],
)
def test_admin_bodies_of_the_wrong_shape_are_400_with_a_message(
    zoom: Zoom, method: str, path: str, body: object, expected: str
) -> None:
    response = zoom.http.request(method, path, json=body)

    assert response.status_code == 400
    assert expected in response.json()["error"]


def test_admin_body_that_is_not_json_is_400_with_an_example(zoom: Zoom) -> None:
    response = zoom.http.patch("/_sim/users/u-owner", content=b"status=inactive")

    assert response.status_code == 400
    assert "must be a JSON object like" in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/_sim/users/u-nobody"),
        ("DELETE", "/_sim/users/u-nobody"),
        ("PATCH", "/_sim/roles/role-nope"),
        ("PATCH", "/_sim/apps/nope"),
        ("POST", "/_sim/apps/nope/rotate"),
        ("PATCH", "/_sim/accounts/acc-nope"),
    ],
)
def test_admin_unknown_ids_are_404_json(zoom: Zoom, method: str, path: str) -> None:
    response = zoom.http.request(method, path, json={"status": "inactive"})

    assert response.status_code == 404
    assert "no " in response.json()["error"]


def test_reset_restores_the_starting_state_and_forgets_tokens_faults_and_counters(zoom: Zoom) -> None:
    token = zoom.token()
    zoom.sim.admin("DELETE", "/_sim/users/u-owner")
    zoom.sim.admin("PATCH", "/_sim/config", {"strict_body": True, "clock_offset_seconds": 500})
    zoom.sim.admin("POST", "/_sim/faults", {"target": "api", "kind": "status", "status": 503})

    zoom.sim.reset()

    state = zoom.sim.admin("GET", "/_sim/state")
    assert "u-owner" in [u["id"] for u in state["users"]]
    assert (state["config"]["strict_body"], state["config"]["clock_offset_seconds"]) == (False, 0.0)
    assert state["faults"] == []
    assert zoom.sim.stats()["requests"] == 0
    assert_invalid(zoom.get(token, "/v2/users/me"))
    assert_works(zoom, zoom.token())


def test_admin_helper_raises_with_the_body_on_errors(simulator: SimulatorProcess) -> None:
    with pytest.raises(AssertionError, match="'status' must be one of"):
        simulator.admin("PATCH", "/_sim/users/u-owner", {"status": "gone"})


# --- The process --------------------------------------------------------------------------------


def _run_simulator(*args: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zoom_operator.cli", "simulator", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("accounts: [unclosed\n", "is not valid YAML"),
        ("- just\n- a list\n", "must be a mapping like"),
        ("accounts: []\nroles: []\nusers: []\n", "missing required section 'apps'"),
        (
            "accounts: [{id: a, plan: pro}]\nroles: [{id: r, name: R, privileges: []}]\n"
            "users: [{id: u, email: u@x, account_id: a, role_id: r}]\napps: []\n",
            "users[0] (u): missing required field 'status'",
        ),
        (
            "accounts: [{id: a, plan: pro}]\nroles: [{id: r, name: R, privileges: []}]\n"
            "users: [{id: u, email: u@x, account_id: a, role_id: r-missing, status: active}]\napps: []\n",
            "role_id 'r-missing' is not a role of account 'a'",
        ),
        (
            "accounts: [{id: a, plan: pro}]\nroles: []\nusers: []\n"
            "apps: [{client_id: c, client_secret: s, account_id: a, owner_user_id: ghost, scopes: [],"
            " status: active}]\n",
            "owner_user_id 'ghost' is not a user in this file",
        ),
    ],
)
def test_bad_state_file_exits_2_with_one_clear_line_and_no_traceback(
    tmp_path: Path, content: str, expected: str
) -> None:
    state_file = tmp_path / "state.yaml"
    state_file.write_text(content)

    result = _run_simulator("--state", str(state_file))

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(state_file) in lines[0]
    assert expected in lines[0]


def test_missing_state_file_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    result = _run_simulator("--state", str(tmp_path / "absent.yaml"))

    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"zoom-operator simulator: state file {tmp_path / 'absent.yaml'} does not exist"
    )


def test_port_zero_prints_the_bound_url_first_and_sigterm_stops_cleanly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "zoom_operator.cli", "simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", first_line), first_line
        assert httpx.get(f"{first_line}/_sim/state", timeout=5).status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr


def test_simulator_started_with_a_state_dict_serves_that_state(simulator_factory: SimulatorFactory) -> None:
    state = default_state()
    state["apps"][0]["token_mode"] = "single"
    state["accounts"][0]["plan"] = "business"

    sim = simulator_factory(state=state)

    served = sim.admin("GET", "/_sim/state")
    assert served["apps"][0]["token_mode"] == "single"
    assert served["accounts"][0]["plan"] == "business"
