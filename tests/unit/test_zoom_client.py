"""The Zoom client's wire format and failure handling, against `httpx.MockTransport`: request shape
(form body, Basic and Bearer headers, quoting, no token in URLs), network failures as `Transient`,
the request observer, logging, and that no token or secret shows up in reprs, logs or details."""

from __future__ import annotations

import base64
import dataclasses
import logging
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest

from zoom_operator.secret import Secret
from zoom_operator.zoom import (
    DEFAULT_TIMEOUT,
    ApiOk,
    ClientRejected,
    NotFound,
    RateLimited,
    ScopeMissing,
    TokenIssued,
    Transient,
    ZoomClient,
    ZoomRole,
    ZoomUser,
)
from zoom_operator.zoom.client import endpoint_label, path_segment

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
OAUTH_URL = "https://zoom.example"
API_URL = "https://api.zoom.example"
CLIENT_SECRET = Secret("demo-secret-4242")
TOKEN = Secret("eyJhbGciOiJIUzUxMiJ9.eyJ1aWQiOiJ1LW93bmVyIn0.c2lnbmF0dXJl")

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that remembers requests and answers from a queue (last answer repeats)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def make_client(
    recorder: Recorder, observed: list[tuple[str, int | None, int | None]] | None = None, **kwargs: object
) -> ZoomClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return ZoomClient(
        oauth_url=OAUTH_URL,
        api_url=API_URL,
        http=http,
        clock=lambda: NOW,
        observer=(lambda *call: observed.append(call)) if observed is not None else None,
        **kwargs,  # type: ignore[arg-type]
    )


def token_response(**fields: object) -> httpx.Response:
    document = {
        "access_token": TOKEN.reveal(),
        "token_type": "bearer",
        "expires_in": 3599,
        "scope": "user:read:admin role:read:admin",
    }
    return httpx.Response(200, json={**document, **fields}, headers={"x-zm-trackingid": "rid-token"})


USER = {
    "id": "u-owner",
    "email": "dev-lead@example.com",
    "status": "active",
    "role_id": "role-admin",
    "role_name": "Admin",
    "account_id": "acc-demo",
}


# ---------------------------------------------------------------------------------------------------
# Construction


@pytest.mark.parametrize(
    ("oauth_url", "api_url"),
    [
        ("https://zoom.us", "https://api.zoom.us"),
        ("https://zoomgov.com", "https://api.zoomgov.com/"),
        ("http://127.0.0.1:9900", "http://127.0.0.1:9900"),
        ("https://proxy.internal/zoom/", "https://proxy.internal/zoom-api"),
    ],
)
async def test_accepts_http_and_https_base_urls_and_drops_trailing_slashes(
    oauth_url: str, api_url: str
) -> None:
    async with ZoomClient(oauth_url=oauth_url, api_url=api_url) as client:
        assert client.oauth_url == oauth_url.rstrip("/")
        assert client.api_url == api_url.rstrip("/")


@pytest.mark.parametrize(
    ("bad_url", "says"),
    [
        ("zoom.us", "is not an http(s) URL with a host"),
        ("ftp://zoom.us", "is not an http(s) URL with a host"),
        ("https://", "is not an http(s) URL with a host"),
        ("", "is not an http(s) URL with a host"),
        ("https://zoom.us:port", "port that is not a number from 1 to 65535"),
        ("https://zoom.us:70000", "port that is not a number from 1 to 65535"),
        ("http://[::1", "port that is not a number"),
        ("https://zoom.us?region=eu", "must not have a query string or fragment"),
        ("https://zoom.us#x", "must not have a query string or fragment"),
        ("https://admin:hunter2@zoom.us", "must not carry a user name or password"),
    ],
)
@pytest.mark.parametrize("which", ["oauth_url", "api_url"])
def test_rejects_base_urls_that_are_not_plain_http_urls(which: str, bad_url: str, says: str) -> None:
    urls = {"oauth_url": "https://zoom.us", "api_url": "https://api.zoom.us", which: bad_url}

    with pytest.raises(ValueError, match=which) as raised:
        ZoomClient(oauth_url=urls["oauth_url"], api_url=urls["api_url"])

    assert says in str(raised.value)
    assert "hunter2" not in str(raised.value)


async def test_own_http_client_verifies_tls_and_uses_the_default_timeout() -> None:
    client = ZoomClient(oauth_url="https://zoom.us", api_url="https://api.zoom.us")
    http = client._transport._http  # type: ignore[attr-defined]
    pool = http._transport._pool

    assert client._timeouts == DEFAULT_TIMEOUT
    assert pool._ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert pool._ssl_context.check_hostname
    assert not http.follow_redirects
    await client.aclose()
    assert http.is_closed


async def test_supplied_http_client_is_used_as_is_and_left_open() -> None:
    recorder = Recorder(httpx.Response(200, json=USER))
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder), timeout=httpx.Timeout(2.5))

    async with ZoomClient(oauth_url=OAUTH_URL, api_url=API_URL, http=http) as client:
        await client.get(TOKEN, "/v2/users/me")

    assert not http.is_closed
    assert recorder.last.extensions["timeout"] == httpx.Timeout(2.5).as_dict()
    await http.aclose()


async def test_explicit_timeout_applies_to_every_request() -> None:
    recorder = Recorder(token_response())
    client = make_client(recorder, timeout=httpx.Timeout(1.0, connect=0.5))

    await client.mint("acc-demo", "demo-client", CLIENT_SECRET)
    await client.get(TOKEN, "/v2/users/me")

    for request in recorder.requests:
        assert request.extensions["timeout"] == {"connect": 0.5, "read": 1.0, "write": 1.0, "pool": 1.0}


def test_default_timeout_is_explicit() -> None:
    assert dataclasses.asdict(DEFAULT_TIMEOUT) == {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 5.0}


# ---------------------------------------------------------------------------------------------------
# Minting


async def test_mint_posts_a_form_body_with_basic_auth_and_no_query() -> None:
    recorder = Recorder(token_response())
    client = make_client(recorder)

    await client.mint("acc-demo", "demo-client", CLIENT_SECRET)

    request = recorder.last
    assert request.method == "POST"
    assert str(request.url) == "https://zoom.example/oauth/token"
    assert request.url.query == b""
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["account_credentials"],
        "account_id": ["acc-demo"],
    }
    expected_basic = base64.b64encode(b"demo-client:demo-secret-4242").decode()
    assert request.headers["authorization"] == f"Basic {expected_basic}"
    assert request.headers["user-agent"].startswith("zoom-operator/")
    assert request.headers["accept"] == "application/json"


async def test_mint_form_encodes_awkward_account_ids() -> None:
    recorder = Recorder(token_response())

    await make_client(recorder).mint("acc&grant_type=x y", "demo-client", CLIENT_SECRET)

    assert parse_qs(recorder.last.content.decode())["account_id"] == ["acc&grant_type=x y"]


async def test_mint_success_counts_expiry_from_when_the_request_was_sent() -> None:
    client = make_client(Recorder(token_response(api_url="https://api-eu.zoom.example")))

    outcome = await client.mint("acc-demo", "demo-client", CLIENT_SECRET)

    assert isinstance(outcome, TokenIssued)
    assert outcome.access_token == TOKEN
    assert (outcome.issued_at, outcome.expires_at) == (NOW, NOW + timedelta(seconds=3599))
    assert outcome.scopes == {"user:read:admin", "role:read:admin"}
    assert outcome.api_url == "https://api-eu.zoom.example"
    assert outcome.owner_uid == "u-owner"
    assert outcome.tracking_id == "rid-token"


async def test_mint_rejection_is_mapped() -> None:
    answer = httpx.Response(
        400, json={"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
    )

    outcome = await make_client(Recorder(answer)).mint("acc-demo", "demo-client", CLIENT_SECRET)

    assert outcome == ClientRejected("invalid_client", "Invalid client_id or client_secret", 400)


async def test_mint_user_agent_is_configurable() -> None:
    recorder = Recorder(token_response())

    await make_client(recorder, user_agent="tests/1").mint("acc-demo", "demo-client", CLIENT_SECRET)

    assert recorder.last.headers["user-agent"] == "tests/1"


async def test_mint_does_not_follow_redirects() -> None:
    recorder = Recorder(httpx.Response(302, headers={"Location": "https://elsewhere.example/oauth/token"}))

    outcome = await make_client(recorder).mint("acc-demo", "demo-client", CLIENT_SECRET)

    assert isinstance(outcome, Transient)
    assert (outcome.kind, outcome.http_status) == ("unexpected_status", 302)
    assert len(recorder.requests) == 1


# ---------------------------------------------------------------------------------------------------
# REST calls


async def test_get_sends_the_token_as_a_bearer_header_and_never_in_the_url() -> None:
    recorder = Recorder(httpx.Response(200, json=USER))

    outcome = await make_client(recorder).get(TOKEN, "/v2/users/me")

    request = recorder.last
    assert isinstance(outcome, ApiOk)
    assert request.method == "GET"
    assert str(request.url) == "https://api.zoom.example/v2/users/me"
    assert request.headers["authorization"] == f"Bearer {TOKEN.reveal()}"
    assert TOKEN.reveal() not in str(request.url)


async def test_get_uses_an_api_url_override_such_as_the_tokens_own() -> None:
    recorder = Recorder(httpx.Response(200, json={}))

    await make_client(recorder).get(TOKEN, "/v2/users/me", api_url="https://api-eu.zoom.example/")

    assert str(recorder.last.url) == "https://api-eu.zoom.example/v2/users/me"


async def test_get_refuses_to_downgrade_an_https_api_to_plain_http() -> None:
    recorder = Recorder(httpx.Response(200, json={}))

    outcome = await make_client(recorder).get(TOKEN, "/v2/users/me", api_url="http://api.zoom.example")

    assert isinstance(outcome, Transient)
    assert outcome.kind == "connection"
    assert "plain http" in outcome.detail
    assert recorder.requests == []


async def test_get_keeps_the_host_when_the_path_lacks_a_leading_slash() -> None:
    recorder = Recorder(httpx.Response(200, json={}))

    await make_client(recorder).get(TOKEN, "@evil.example/v2/users/me")

    assert recorder.last.url.host == "api.zoom.example"


async def test_get_with_a_token_no_header_can_carry_sends_nothing() -> None:
    recorder = Recorder(httpx.Response(200, json={}))

    outcome = await make_client(recorder).get(Secret("tök\nen"), "/v2/users/me")

    assert isinstance(outcome, Transient)
    assert outcome.kind == "malformed"
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("user_id", "raw_path"),
    [
        ("u-owner", b"/v2/users/u-owner"),
        ("me", b"/v2/users/me"),
        ("dev-lead@example.com", b"/v2/users/dev-lead@example.com"),
        ("jo+ops@example.com", b"/v2/users/jo%2Bops@example.com"),
        ("../../oauth/token", b"/v2/users/..%2F..%2Foauth%2Ftoken"),
        ("..", b"/v2/users/%2E%2E"),
        ("a b?c#d%e", b"/v2/users/a%20b%3Fc%23d%25e"),
        ("ünï", b"/v2/users/%C3%BCn%C3%AF"),
    ],
)
async def test_get_user_quotes_the_user_id_as_one_path_segment(user_id: str, raw_path: bytes) -> None:
    recorder = Recorder(httpx.Response(200, json=USER))

    await make_client(recorder).get_user(TOKEN, user_id)

    assert recorder.last.url.raw_path == raw_path
    assert recorder.last.url.host == "api.zoom.example"


async def test_get_user_returns_the_owner_facts() -> None:
    outcome = await make_client(Recorder(httpx.Response(200, json=USER))).get_user(TOKEN, "u-owner")

    assert outcome == ZoomUser("u-owner", "dev-lead@example.com", "active", "role-admin", "Admin", "acc-demo")


async def test_get_user_with_a_body_that_is_not_a_user_is_transient_malformed() -> None:
    answer = httpx.Response(200, json={"id": "u-owner"}, headers={"x-zm-trackingid": "rid-1"})

    outcome = await make_client(Recorder(answer)).get_user(TOKEN, "u-owner")

    assert outcome == Transient("malformed", "API answer user lacks id, email or status", 200, "rid-1")


async def test_get_user_passes_failures_through() -> None:
    answer = httpx.Response(404, json={"code": 1001, "message": "User does not exist: u-gone."})

    outcome = await make_client(Recorder(answer)).get_user(TOKEN, "u-gone")

    assert outcome == NotFound(1001, "User does not exist: u-gone.")


async def test_get_role_returns_privileges() -> None:
    role = {"id": "role-member", "name": "Member", "privileges": ["User:Read"]}
    recorder = Recorder(httpx.Response(200, json=role))

    outcome = await make_client(recorder).get_role(TOKEN, "role-member")

    assert outcome == ZoomRole("role-member", "Member", frozenset({"User:Read"}))
    assert recorder.last.url.raw_path == b"/v2/roles/role-member"


async def test_get_role_with_a_body_that_is_not_a_role_is_transient_malformed() -> None:
    outcome = await make_client(Recorder(httpx.Response(200, json={"id": "r"}))).get_role(TOKEN, "r")

    assert isinstance(outcome, Transient)
    assert outcome.kind == "malformed"


async def test_get_role_scope_missing_passes_through() -> None:
    message = "Invalid access token, does not contain scopes:[role:read:admin, role:read:role:admin]."
    answer = httpx.Response(400, json={"code": 4711, "message": message})

    outcome = await make_client(Recorder(answer)).get_role(TOKEN, "role-admin")

    assert isinstance(outcome, ScopeMissing)
    assert outcome.accepted_scopes == ("role:read:admin", "role:read:role:admin")


async def test_get_permissions_returns_a_set() -> None:
    recorder = Recorder(
        httpx.Response(200, json={"permissions": ["User:Edit", "ServerToServerOAuthApp:Edit"]})
    )

    outcome = await make_client(recorder).get_permissions(TOKEN, "dev-lead@example.com")

    assert outcome == frozenset({"User:Edit", "ServerToServerOAuthApp:Edit"})
    assert recorder.last.url.raw_path == b"/v2/users/dev-lead@example.com/permissions"


async def test_get_permissions_without_a_list_is_transient_malformed() -> None:
    outcome = await make_client(Recorder(httpx.Response(200, json={}))).get_permissions(TOKEN, "u")

    assert isinstance(outcome, Transient)
    assert outcome.kind == "malformed"


# ---------------------------------------------------------------------------------------------------
# Network failures


def failing(kind: type[Exception], message: str) -> Callable[[httpx.Request], Exception]:
    return lambda request: kind(message, request=request)  # type: ignore[call-arg]


class Raising:
    def __init__(self, make: Callable[[httpx.Request], Exception]) -> None:
        self.make = make

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raise self.make(request)


@pytest.mark.parametrize(
    ("exception", "kind"),
    [
        (httpx.ReadTimeout, "timeout"),
        (httpx.ConnectTimeout, "timeout"),
        (httpx.WriteTimeout, "timeout"),
        (httpx.PoolTimeout, "timeout"),
        (httpx.ConnectError, "connection"),
        (httpx.ReadError, "connection"),
        (httpx.WriteError, "connection"),
        (httpx.RemoteProtocolError, "connection"),
        (httpx.LocalProtocolError, "connection"),
        (httpx.ProxyError, "connection"),
        (httpx.UnsupportedProtocol, "connection"),
        (httpx.DecodingError, "malformed"),
    ],
)
@pytest.mark.parametrize("call", ["mint", "get"])
async def test_network_failures_become_transient_outcomes(
    exception: type[httpx.RequestError], kind: str, call: str
) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(Raising(failing(exception, "[Errno 111] oops"))))
    client = ZoomClient(oauth_url=OAUTH_URL, api_url=API_URL, http=http)

    outcome: object
    if call == "mint":
        outcome = await client.mint("acc-demo", "demo-client", CLIENT_SECRET)
    else:
        outcome = await client.get(TOKEN, "/v2/users/me")

    assert outcome == Transient(kind, f"{exception.__name__}: [Errno 111] oops")  # type: ignore[arg-type]


async def test_a_timeout_without_text_is_described_by_its_type() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(Raising(failing(httpx.ReadTimeout, ""))))

    outcome = await ZoomClient(oauth_url=OAUTH_URL, api_url=API_URL, http=http).get(TOKEN, "/v2/users/me")

    assert outcome == Transient("timeout", "ReadTimeout")


async def test_failure_text_that_mentions_a_credential_is_redacted() -> None:
    leak = f"peer said {TOKEN.reveal()} and {CLIENT_SECRET.reveal()}\r\nbye"
    http = httpx.AsyncClient(transport=httpx.MockTransport(Raising(failing(httpx.RemoteProtocolError, leak))))
    client = ZoomClient(oauth_url=OAUTH_URL, api_url=API_URL, http=http)

    minted = await client.mint("acc-demo", "demo-client", CLIENT_SECRET)
    got = await client.get(TOKEN, "/v2/users/me")

    assert isinstance(minted, Transient)
    assert isinstance(got, Transient)
    assert CLIENT_SECRET.reveal() not in minted.detail
    assert TOKEN.reveal() not in got.detail
    assert "\n" not in got.detail


async def test_an_invalid_override_url_is_a_connection_failure() -> None:
    recorder = Recorder(httpx.Response(200, json={}))

    outcome = await make_client(recorder).get(TOKEN, "/v2/users/me", api_url="https://[::1")

    assert isinstance(outcome, Transient)
    assert outcome.kind == "connection"
    assert recorder.requests == []


# ---------------------------------------------------------------------------------------------------
# Observer and logging


async def test_observer_sees_every_request_with_endpoint_status_and_zoom_code() -> None:
    observed: list[tuple[str, int | None, int | None]] = []
    recorder = Recorder(
        token_response(),
        httpx.Response(401, json={"code": 124, "message": "Invalid access token."}),
        httpx.Response(200, json={"permissions": []}),
        httpx.Response(429, json={"code": 429, "message": "slow down"}),
        httpx.ReadTimeout("", request=httpx.Request("GET", API_URL)),
    )
    client = make_client(recorder, observed)

    await client.mint("acc-demo", "demo-client", CLIENT_SECRET)
    await client.get_user(TOKEN, "dev-lead@example.com")
    await client.get_permissions(TOKEN, "u-owner")
    assert isinstance(await client.get_role(TOKEN, "role-admin"), RateLimited)
    await client.get(TOKEN, "/v2/users/me?page_size=1")

    assert observed == [
        ("oauth_token", 200, None),
        ("api:/v2/users/{id}", 401, 124),
        ("api:/v2/users/{id}/permissions", 200, None),
        ("api:/v2/roles/{id}", 429, None),
        ("api:/v2/users/{id}", None, None),
    ]


async def test_a_failing_observer_does_not_lose_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    def broken(endpoint: str, status: int | None, code: int | None) -> None:
        raise RuntimeError("metrics are down")

    client = ZoomClient(
        oauth_url=OAUTH_URL,
        api_url=API_URL,
        http=httpx.AsyncClient(transport=httpx.MockTransport(Recorder(httpx.Response(200, json=USER)))),
        observer=broken,
    )

    with caplog.at_level(logging.WARNING, logger="zoom_operator.zoom"):
        outcome = await client.get_user(TOKEN, "u-owner")

    assert isinstance(outcome, ZoomUser)
    assert "request observer failed" in caplog.text


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/v2/users/u-1", "api:/v2/users/{id}"),
        ("/v2/users/a@b.c/permissions", "api:/v2/users/{id}/permissions"),
        ("/v2/users/a/meetings", "api:/v2/users/{id}/meetings"),
        ("/v2/meetings/123", "api:/v2/meetings/{id}"),
        ("/v2/roles/r?x=1", "api:/v2/roles/{id}"),
        ("/v2/users", "api:/v2/users"),
        ("/v2/users/", "api:/v2/users/"),
    ],
)
def test_endpoint_labels_hide_ids(path: str, label: str) -> None:
    assert endpoint_label(path) == label


def test_path_segment_escapes_separators() -> None:
    assert path_segment("a/b") == "a%2Fb"
    assert path_segment(".") == "%2E"
    assert path_segment("a.b") == "a.b"


async def test_debug_log_names_method_path_status_outcome_and_tracking_id_but_no_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(
        token_response(),
        httpx.Response(
            401,
            json={"code": 124, "message": f"Invalid access token {TOKEN.reveal()}"},
            headers={"x-zm-trackingid": "rid-401"},
        ),
    )
    client = make_client(recorder)

    with caplog.at_level(logging.DEBUG, logger="zoom_operator.zoom"):
        await client.mint("acc-demo", "demo-client", CLIENT_SECRET)
        await client.get(TOKEN, "/v2/users/me?secret_param=abc")

    lines = [record.getMessage() for record in caplog.records if record.name == "zoom_operator.zoom"]
    assert lines == [
        "POST /oauth/token -> 200 TokenIssued code=None tracking_id=rid-token",
        "GET /v2/users/me -> 401 Unauthorized code=124 tracking_id=rid-401",
    ]
    assert all(record.levelno == logging.DEBUG for record in caplog.records)
    for secret in (TOKEN.reveal(), CLIENT_SECRET.reveal()):
        assert secret not in caplog.text


# ---------------------------------------------------------------------------------------------------
# Nothing prints a credential


def echoing_answers() -> Iterator[httpx.Response]:
    """Answers that repeat credentials in every place Zoom could put text."""
    leak = f"{TOKEN.reveal()} {CLIENT_SECRET.reveal()}"
    headers = {"x-zm-trackingid": leak, "X-RateLimit-Type": leak, "X-RateLimit-Category": leak}
    yield token_response()
    for status in (200, 400, 401, 403, 404, 429, 500, 302):
        yield httpx.Response(
            status, json={"code": 4711, "message": leak, "reason": leak, "error": leak}, headers=headers
        )
        yield httpx.Response(status, text=leak, headers=headers)


@pytest.mark.parametrize("answer", list(echoing_answers()))
async def test_no_outcome_repr_or_str_contains_a_credential_the_request_carried(
    answer: httpx.Response,
) -> None:
    client = make_client(Recorder(answer))

    minted = await client.mint("acc-demo", "demo-client", CLIENT_SECRET)
    api_outcomes: list[object] = [
        await client.get(TOKEN, "/v2/users/me"),
        await client.get_user(TOKEN, "me"),
        await client.get_role(TOKEN, "role-admin"),
        await client.get_permissions(TOKEN, "me"),
        client,
    ]

    for text in (repr(minted), str(minted), f"{minted}"):
        assert CLIENT_SECRET.reveal() not in text
        assert TOKEN.reveal() not in text
    for outcome in api_outcomes:
        for text in (repr(outcome), str(outcome), f"{outcome}"):
            assert TOKEN.reveal() not in text


def test_token_issued_repr_masks_the_token() -> None:
    issued = TokenIssued(TOKEN, "bearer", NOW, NOW, frozenset(), None, None)

    assert TOKEN.reveal() not in repr(issued)
    assert TOKEN.reveal() not in str(issued)
