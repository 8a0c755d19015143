"""The Zoom client against the real simulator over HTTP: every row of the reference's scenario matrix
(healthy, owner removed / deactivated / role changed, scopes shrunk, secret rotated, app deactivated or
disabled, token caps, rate limits) and every injected fault (5xx, timeout, dropped connection,
malformed body) ends as the typed outcome the diagnosis expects: over httpx's own transport (what
`diagnose` and users' code use) and over the operator's (`zoom/pool.py`, aiohttp's pool)."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.simulator import SimulatorProcess
from zoom_operator.secret import Secret
from zoom_operator.zoom import (
    ApiOk,
    AppDisabled,
    ClientRejected,
    NotFound,
    OwnerMissing,
    RateLimited,
    ScopeMissing,
    TokenIssued,
    TokenOutcome,
    Transient,
    Unauthorized,
    ZoomClient,
    ZoomRole,
    ZoomUser,
)
from zoom_operator.zoom.pool import ZoomPool

ACCOUNT = "acc-demo"
DEMO = ("demo-client", Secret("demo-secret"))
AUDITOR = ("auditor-client", Secret("auditor-secret"))
S2S_PRIVILEGE = "ServerToServerOAuthApp:Edit"
ADMIN_PRIVILEGES = [
    "ServerToServerOAuthApp:Read",
    "ServerToServerOAuthApp:Edit",
    "Account:Edit",
    "User:Read",
    "User:Edit",
    "Role:Read",
    "Meeting:Read",
    "Meeting:Edit",
]
SHORT_TIMEOUT = httpx.Timeout(0.5)

SimulatorFactory = Callable[..., SimulatorProcess]


STACKS = ["httpx", "operator"]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    """The HTTP stack under the client: httpx's own transport, or the operator's aiohttp one."""
    return str(request.param)


@asynccontextmanager
async def open_client(
    oauth_url: str, api_url: str, stack: str, *, timeout: httpx.Timeout | None = None
) -> AsyncIterator[ZoomClient]:
    if stack == "httpx":
        async with ZoomClient(oauth_url=oauth_url, api_url=api_url, timeout=timeout) as client:
            yield client
        return
    pool = ZoomPool(connections=4)
    try:
        yield ZoomClient(oauth_url=oauth_url, api_url=api_url, transport=pool, timeout=timeout)
    finally:
        await pool.aclose()


@pytest.fixture
async def zoom(simulator: SimulatorProcess, stack: str) -> AsyncIterator[ZoomClient]:
    async with open_client(simulator.base_url, simulator.base_url, stack) as client:
        yield client


async def mint(zoom: ZoomClient, app: tuple[str, Secret] = DEMO) -> TokenIssued:
    outcome = await zoom.mint(ACCOUNT, *app)
    assert isinstance(outcome, TokenIssued), outcome
    return outcome


def assert_invalid_token(outcome: object) -> None:
    assert isinstance(outcome, Unauthorized), outcome
    assert (outcome.code, outcome.message) == (124, "Invalid access token.")
    assert outcome.tracking_id


# ---------------------------------------------------------------------------------------------------
# Healthy


async def test_healthy_app_mints_a_token_that_reads_its_owner_role_and_permissions(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    token = await mint(zoom)

    assert token.scopes == {"user:read:admin", "meeting:write:admin", "role:read:admin"}
    assert token.owner_uid == "u-owner"
    assert token.api_url == simulator.base_url
    assert token.token_type == "bearer"
    assert token.expires_in_seconds == 3599
    assert token.tracking_id
    owner = await zoom.get_user(token.access_token, "dev-lead@example.com", api_url=token.api_url)
    assert owner == ZoomUser("u-owner", "dev-lead@example.com", "active", "role-admin", "Admin", ACCOUNT)
    role = await zoom.get_role(token.access_token, "role-admin")
    assert isinstance(role, ZoomRole)
    assert S2S_PRIVILEGE in role.privileges
    assert await zoom.get_permissions(token.access_token, "me") == frozenset(ADMIN_PRIVILEGES)


async def test_healthy_token_expires_and_then_is_refused_as_expired(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    token = await mint(zoom)
    simulator.admin("PATCH", "/_sim/config", {"clock_offset_seconds": 3600})

    outcome = await zoom.get(token.access_token, "/v2/users/me")

    assert isinstance(outcome, Unauthorized)
    assert outcome.code == 124
    assert outcome.token_expired


async def test_unknown_user_is_not_found(zoom: ZoomClient) -> None:
    token = await mint(zoom)

    outcome = await zoom.get_user(token.access_token, "nobody@example.com")

    assert isinstance(outcome, NotFound)
    assert (outcome.code, outcome.message) == (1001, "User does not exist: nobody@example.com.")


async def test_form_body_is_accepted_by_a_simulator_that_refuses_query_parameters(
    simulator_factory: SimulatorFactory,
) -> None:
    strict = simulator_factory(extra_args=["--strict-body"])
    async with ZoomClient(oauth_url=strict.base_url, api_url=strict.base_url) as zoom:
        await mint(zoom)


async def test_wrong_client_secret_and_wrong_account_are_rejected(zoom: ZoomClient) -> None:
    wrong_secret = await zoom.mint(ACCOUNT, "demo-client", Secret("not-the-secret"))
    unknown_client = await zoom.mint(ACCOUNT, "no-such-client", Secret("demo-secret"))
    wrong_account = await zoom.mint("acc-other", *DEMO)

    rejected = ClientRejected("invalid_client", "Invalid client_id or client_secret", 400)
    assert strip_tracking(wrong_secret) == rejected
    assert strip_tracking(unknown_client) == rejected
    assert strip_tracking(wrong_account) == ClientRejected("invalid_request", "Invalid account_id", 400)


def strip_tracking(outcome: TokenOutcome) -> TokenOutcome:
    assert outcome.tracking_id
    return dataclasses.replace(outcome, tracking_id=None)


# ---------------------------------------------------------------------------------------------------
# Owner problems


async def test_owner_removed_api_401_mode_still_mints_but_every_call_is_unauthorized(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    old = await mint(zoom)
    simulator.admin("DELETE", "/_sim/users/u-owner")

    fresh = await mint(zoom)

    assert_invalid_token(await zoom.get(fresh.access_token, "/v2/users/me"))
    assert_invalid_token(await zoom.get(old.access_token, "/v2/users/me"))
    auditor = await mint(zoom, AUDITOR)
    assert isinstance(await zoom.get_user(auditor.access_token, "u-owner"), NotFound)


async def test_owner_removed_token_4735_mode_refuses_to_mint(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    old = await mint(zoom)
    simulator.admin("PATCH", "/_sim/apps/demo-client", {"owner_failure_mode": "token_4735"})
    simulator.admin("DELETE", "/_sim/users/u-owner")

    outcome = await zoom.mint(ACCOUNT, *DEMO)

    assert isinstance(outcome, OwnerMissing)
    assert outcome.reason == "The owner of the token does not exist."
    assert outcome.tracking_id
    assert_invalid_token(await zoom.get(old.access_token, "/v2/users/me"))


async def test_owner_deactivated_fresh_tokens_are_unauthorized_and_the_auditor_sees_inactive(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    old = await mint(zoom)
    simulator.admin("PATCH", "/_sim/users/u-owner", {"status": "inactive"})

    fresh = await mint(zoom)

    assert_invalid_token(await zoom.get(fresh.access_token, "/v2/users/me"))
    assert_invalid_token(await zoom.get(old.access_token, "/v2/users/me"))
    auditor = await mint(zoom, AUDITOR)
    owner = await zoom.get_user(auditor.access_token, "dev-lead@example.com")
    assert isinstance(owner, ZoomUser)
    assert owner.status == "inactive"


async def test_owner_moved_to_a_role_without_the_s2s_privilege_is_unauthorized_and_the_auditor_sees_why(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    simulator.admin("PATCH", "/_sim/users/u-owner", {"role_id": "role-member"})

    fresh = await mint(zoom)

    assert_invalid_token(await zoom.get(fresh.access_token, "/v2/users/u-owner"))
    auditor = await mint(zoom, AUDITOR)
    owner = await zoom.get_user(auditor.access_token, "u-owner")
    assert isinstance(owner, ZoomUser)
    assert owner.role_id == "role-member"
    role = await zoom.get_role(auditor.access_token, "role-member")
    assert isinstance(role, ZoomRole)
    assert S2S_PRIVILEGE not in role.privileges
    permissions = await zoom.get_permissions(auditor.access_token, "u-owner")
    assert isinstance(permissions, frozenset)
    assert S2S_PRIVILEGE not in permissions


async def test_owner_role_losing_the_s2s_privilege_makes_fresh_tokens_unauthorized(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    without_s2s = [privilege for privilege in ADMIN_PRIVILEGES if privilege != S2S_PRIVILEGE]
    simulator.admin("PATCH", "/_sim/roles/role-admin", {"privileges": without_s2s})

    fresh = await mint(zoom)

    assert_invalid_token(await zoom.get(fresh.access_token, "/v2/users/me"))


# ---------------------------------------------------------------------------------------------------
# Scopes


async def test_owner_role_losing_admin_privileges_shrinks_scopes_and_admin_calls_miss_scopes(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    before = await mint(zoom)
    not_admin = [privilege for privilege in ADMIN_PRIVILEGES if privilege != "Account:Edit"]
    simulator.admin("PATCH", "/_sim/roles/role-admin", {"privileges": not_admin})

    after = await mint(zoom)
    outcome = await zoom.get_user(after.access_token, "u-owner")

    assert after.scopes < before.scopes
    assert isinstance(outcome, ScopeMissing)
    assert outcome.code == 4711
    assert outcome.accepted_scopes == ("user:read:admin", "user:read:user:admin", "user:read:user")
    assert outcome.tracking_id


async def test_app_scopes_edited_down_show_in_the_token_scope_and_as_scope_missing(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    simulator.admin("PATCH", "/_sim/apps/demo-client", {"scopes": ["meeting:write:admin"]})

    token = await mint(zoom)
    outcome = await zoom.get_role(token.access_token, "role-admin")

    assert token.scopes == {"meeting:write:admin"}
    assert isinstance(outcome, ScopeMissing)
    assert outcome.accepted_scopes == ("role:read:admin", "role:read:role:admin")


# ---------------------------------------------------------------------------------------------------
# Secrets and app status


async def test_secret_rotated_and_old_revoked_rejects_the_old_secret_and_accepts_the_new(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    old_token = await mint(zoom)
    rotated = simulator.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})

    with_old_secret = await zoom.mint(ACCOUNT, *DEMO)
    with_new_secret = await zoom.mint(ACCOUNT, "demo-client", Secret(rotated["client_secret"]))

    assert isinstance(with_old_secret, ClientRejected)
    assert (with_old_secret.error, with_old_secret.http_status) == ("invalid_client", 400)
    assert isinstance(with_new_secret, TokenIssued)
    assert isinstance(await zoom.get_user(with_new_secret.access_token, "me"), ZoomUser)
    assert isinstance(await zoom.get_user(old_token.access_token, "me"), ZoomUser)


async def test_secret_rotated_with_grace_accepts_both_secrets(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    rotated = simulator.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "never"})

    await mint(zoom)
    await mint(zoom, ("demo-client", Secret(rotated["client_secret"])))


async def test_ownership_transfer_completes_with_the_rotation_and_tokens_name_the_new_owner(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    simulator.admin("POST", "/_sim/apps/demo-client/transfer", {"to_user_id": "u-admin2"})
    pending = await mint(zoom)
    rotated = simulator.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})

    transferred = await mint(zoom, ("demo-client", Secret(rotated["client_secret"])))

    assert pending.owner_uid == "u-owner"
    assert transferred.owner_uid == "u-admin2"


async def test_app_deactivated_rejects_the_client_and_its_tokens(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    old = await mint(zoom)
    simulator.admin("PATCH", "/_sim/apps/demo-client", {"status": "deactivated"})

    outcome = await zoom.mint(ACCOUNT, *DEMO)

    assert isinstance(outcome, ClientRejected)
    assert outcome.error == "invalid_client"
    assert_invalid_token(await zoom.get(old.access_token, "/v2/users/me"))


async def test_app_disabled_by_zoom_is_app_disabled_and_its_tokens_stop_working(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    old = await mint(zoom)
    simulator.admin("PATCH", "/_sim/apps/demo-client", {"status": "disabled"})

    outcome = await zoom.mint(ACCOUNT, *DEMO)

    assert isinstance(outcome, AppDisabled)
    assert outcome.reason == "The app has been disabled"
    assert_invalid_token(await zoom.get(old.access_token, "/v2/users/me"))


# ---------------------------------------------------------------------------------------------------
# Token caps


async def test_single_token_mode_evicts_the_previous_token(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    simulator.admin("PATCH", "/_sim/apps/demo-client", {"token_mode": "single"})

    first = await mint(zoom)
    second = await mint(zoom)

    assert_invalid_token(await zoom.get(first.access_token, "/v2/users/me"))
    assert isinstance(await zoom.get_user(second.access_token, "me"), ZoomUser)


async def test_tolerance_mode_keeps_the_newest_n_tokens(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    simulator.admin("PATCH", "/_sim/apps/demo-client", {"token_mode": "tolerance:2"})

    first, second, third = [await mint(zoom) for _ in range(3)]

    assert_invalid_token(await zoom.get(first.access_token, "/v2/users/me"))
    assert isinstance(await zoom.get_user(second.access_token, "me"), ZoomUser)
    assert isinstance(await zoom.get_user(third.access_token, "me"), ZoomUser)


async def test_multi_token_mode_keeps_every_token(zoom: ZoomClient) -> None:
    tokens = [await mint(zoom) for _ in range(3)]

    for token in tokens:
        assert isinstance(await zoom.get_user(token.access_token, "me"), ZoomUser)


# ---------------------------------------------------------------------------------------------------
# Rate limits


async def test_per_second_limit_is_rate_limited_until_the_reset_second(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    token = await mint(zoom)
    simulator.admin("PATCH", f"/_sim/accounts/{ACCOUNT}", {"rate_limits": {"Light": {"per_second": 1}}})
    before = datetime.now(UTC)

    outcomes = [await zoom.get_user(token.access_token, "me") for _ in range(3)]

    limited = outcomes[-1]
    assert isinstance(outcomes[0], ZoomUser)
    assert isinstance(limited, RateLimited)
    assert (limited.limit_type, limited.category) == ("QPS", "Light")
    assert (
        limited.message == "You have reached the maximum per-second rate limit for this API. Try again later."
    )
    assert limited.retry_after is not None
    assert before - timedelta(seconds=1) <= limited.retry_after <= before + timedelta(seconds=3)
    assert limited.tracking_id


async def test_daily_limit_is_rate_limited_until_the_iso_retry_after(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    token = await mint(zoom)
    simulator.admin(
        "PATCH", f"/_sim/accounts/{ACCOUNT}", {"rate_limits": {"Light": {"per_second": 100, "per_day": 1}}}
    )

    first = await zoom.get_user(token.access_token, "me")
    limited = await zoom.get_role(token.access_token, "role-admin")

    assert isinstance(first, ZoomUser)
    assert isinstance(limited, RateLimited)
    assert (limited.limit_type, limited.category) == ("Daily-limit", "Light")
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert limited.retry_after in {
        datetime(day.year, day.month, day.day, tzinfo=UTC) for day in (tomorrow, tomorrow + timedelta(days=1))
    }


async def test_token_endpoint_rate_limit_is_rate_limited(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    simulator.admin("PATCH", "/_sim/config", {"token_rps": 1})

    outcomes = [await zoom.mint(ACCOUNT, *DEMO) for _ in range(3)]

    assert isinstance(outcomes[0], TokenIssued)
    limited = outcomes[-1]
    assert isinstance(limited, RateLimited)
    assert limited.message == "Too many requests"


# ---------------------------------------------------------------------------------------------------
# Injected faults


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_transient_and_pass(
    zoom: ZoomClient, simulator: SimulatorProcess, status: int
) -> None:
    simulator.admin(
        "POST", "/_sim/faults", {"target": "token", "kind": "status", "status": status, "count": 1}
    )
    simulator.admin("POST", "/_sim/faults", {"target": "api", "kind": "status", "status": status, "count": 1})

    failed_mint = await zoom.mint(ACCOUNT, *DEMO)
    token = await mint(zoom)
    failed_call = await zoom.get(token.access_token, "/v2/users/me")

    for outcome in (failed_mint, failed_call):
        assert isinstance(outcome, Transient)
        assert (outcome.kind, outcome.http_status) == ("server_error", status)
        assert outcome.tracking_id
    assert isinstance(await zoom.get_user(token.access_token, "me"), ZoomUser)


async def test_injected_429_on_the_api_is_rate_limited(zoom: ZoomClient, simulator: SimulatorProcess) -> None:
    token = await mint(zoom)
    simulator.admin("POST", "/_sim/faults", {"target": "api", "kind": "status", "status": 429, "count": 1})

    assert isinstance(await zoom.get(token.access_token, "/v2/users/me"), RateLimited)


@pytest.mark.parametrize("target", ["token", "api"])
async def test_hung_upstream_is_transient_timeout(
    simulator: SimulatorProcess, target: str, stack: str
) -> None:
    async with open_client(simulator.base_url, simulator.base_url, stack, timeout=SHORT_TIMEOUT) as zoom:
        token = await mint(zoom)
        simulator.admin("POST", "/_sim/faults", {"target": target, "kind": "timeout", "count": 1})
        try:
            if target == "token":
                outcome: object = await zoom.mint(ACCOUNT, *DEMO)
            else:
                outcome = await zoom.get(token.access_token, "/v2/users/me")
        finally:
            simulator.admin("DELETE", "/_sim/faults")

    assert isinstance(outcome, Transient)
    assert outcome.kind == "timeout"
    assert outcome.http_status is None


@pytest.mark.parametrize("target", ["token", "api"])
async def test_dropped_connection_is_transient_connection(
    zoom: ZoomClient, simulator: SimulatorProcess, target: str
) -> None:
    token = await mint(zoom)
    # aiohttp sends a GET again, once, when a kept-alive connection drops it (the server may have closed
    # an idle connection); httpx does not: two drops in a row reach the caller over both stacks
    drops = 2 if target == "api" else 1
    simulator.admin("POST", "/_sim/faults", {"target": target, "kind": "drop", "count": drops})

    if target == "token":
        outcome: object = await zoom.mint(ACCOUNT, *DEMO)
    else:
        outcome = await zoom.get(token.access_token, "/v2/users/me")

    assert isinstance(outcome, Transient)
    assert outcome.kind == "connection"
    assert DEMO[1].reveal() not in outcome.detail
    assert token.access_token.reveal() not in outcome.detail


async def test_the_operator_stack_sends_a_get_again_once_after_a_dropped_keep_alive(
    simulator: SimulatorProcess,
) -> None:
    async with open_client(simulator.base_url, simulator.base_url, "operator") as zoom:
        token = await mint(zoom)
        simulator.admin("POST", "/_sim/faults", {"target": "api", "kind": "drop", "count": 1})
        outcome = await zoom.get(token.access_token, "/v2/users/me")
        simulator.admin("POST", "/_sim/faults", {"target": "token", "kind": "drop", "count": 1})
        minted = await zoom.mint(ACCOUNT, *DEMO)

    assert isinstance(outcome, ApiOk), "the GET was sent again on a fresh connection"
    assert isinstance(minted, Transient), "a token request is never sent again"
    assert minted.kind == "connection"


async def test_malformed_bodies_are_transient_malformed(
    zoom: ZoomClient, simulator: SimulatorProcess
) -> None:
    token = await mint(zoom)
    simulator.admin("POST", "/_sim/faults", {"target": "token", "kind": "malformed", "count": 1})
    simulator.admin("POST", "/_sim/faults", {"target": "api", "kind": "malformed", "count": 2})

    outcomes = [
        await zoom.mint(ACCOUNT, *DEMO),
        await zoom.get(token.access_token, "/v2/users/me"),
        await zoom.get_user(token.access_token, "me"),
    ]

    for outcome in outcomes:
        assert isinstance(outcome, Transient)
        assert (outcome.kind, outcome.http_status) == ("malformed", 200)


async def test_nothing_listening_is_transient_connection(stack: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}"

    async with open_client(url, url, stack, timeout=SHORT_TIMEOUT) as zoom:
        outcome = await zoom.mint(ACCOUNT, *DEMO)

    assert isinstance(outcome, Transient)
    assert outcome.kind == "connection"


# ---------------------------------------------------------------------------------------------------
# Observer


async def test_observer_counts_match_what_the_simulator_served(simulator: SimulatorProcess) -> None:
    observed: list[tuple[str, int | None, int | None]] = []
    async with ZoomClient(
        oauth_url=simulator.base_url,
        api_url=simulator.base_url,
        observer=lambda *call: observed.append(call),
    ) as zoom:
        token = await mint(zoom)
        await zoom.get_user(token.access_token, "dev-lead@example.com")
        await zoom.get_user(token.access_token, "nobody@example.com")
        await zoom.get(Secret("not-a-token"), "/v2/users/me")

    assert observed == [
        ("oauth_token", 200, None),
        ("api:/v2/users/{id}", 200, None),
        ("api:/v2/users/{id}", 404, 1001),
        ("api:/v2/users/{id}", 401, 124),
    ]
    assert simulator.stats()["requests"] == len(observed)
