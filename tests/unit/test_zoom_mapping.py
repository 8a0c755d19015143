"""Zoom answers -> typed outcomes: every row of the reference's token (§2) and REST (§3) error tables,
the classification table's inputs, rate-limit headers, `uid` decoding, redaction, and properties over
arbitrary input (nothing raises, credentials never leak)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoom_operator.secret import Secret
from zoom_operator.zoom.mapping import (
    decode_uid,
    map_api_response,
    map_token_response,
    parse_accepted_scopes,
    parse_permissions,
    parse_retry_after,
    parse_role,
    parse_user,
    sanitize_message,
)
from zoom_operator.zoom.outcomes import (
    ApiError,
    ApiOk,
    ApiOutcome,
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
    ZoomRole,
    ZoomUser,
)

NOW = datetime(2026, 11, 5, 12, 0, 0, tzinfo=UTC)
TRACKING = {"x-zm-trackingid": "v=2.0;clid=us05;rid=WEB_abc123"}


def jwt(claims: dict[str, Any]) -> str:
    def segment(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'HS512', 'v': '2.0', 'kid': 'sim'})}.{segment(claims)}.c2lnbmF0dXJlLWJ5dGVz"


TOKEN = jwt({"ver": 8, "uid": "u-owner", "aid": "acc-demo", "iss": "zm:cid:demo-client"})
CLIENT_SECRET = Secret("demo-secret-9f8e7d")


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def token_answer(status: int, document: object, headers: dict[str, str] | None = None) -> TokenOutcome:
    raw = document if isinstance(document, bytes) else body(document)
    return map_token_response(status, headers or {}, raw, now=NOW, redact=(CLIENT_SECRET,))


def api_answer(status: int, document: object, headers: dict[str, str] | None = None) -> ApiOutcome:
    raw = document if isinstance(document, bytes) else body(document)
    return map_api_response(status, headers or {}, raw, now=NOW, redact=(Secret(TOKEN),))


# ---------------------------------------------------------------------------------------------------
# Token endpoint: 200


def test_token_answer_with_all_fields_issues_a_token_expiring_expires_in_after_sending() -> None:
    outcome = token_answer(
        200,
        {
            "access_token": TOKEN,
            "token_type": "bearer",
            "expires_in": 3599,
            "scope": "user:read:admin meeting:write:admin role:read:admin",
            "api_url": "https://api.zoom.us",
        },
        TRACKING,
    )

    assert outcome == TokenIssued(
        access_token=Secret(TOKEN),
        token_type="bearer",
        issued_at=NOW,
        expires_at=NOW + timedelta(seconds=3599),
        scopes=frozenset({"user:read:admin", "meeting:write:admin", "role:read:admin"}),
        api_url="https://api.zoom.us",
        owner_uid="u-owner",
        tracking_id=TRACKING["x-zm-trackingid"],
    )
    assert outcome.expires_in_seconds == 3599


def test_token_answer_without_scope_api_url_or_token_type_defaults_them() -> None:
    outcome = token_answer(200, {"access_token": "opaque-token", "expires_in": 3600})

    assert isinstance(outcome, TokenIssued)
    assert outcome.scopes == frozenset()
    assert outcome.api_url is None
    assert outcome.token_type == "bearer"
    assert outcome.owner_uid is None
    assert outcome.expires_at == NOW + timedelta(hours=1)


def test_token_answer_scope_splits_on_any_whitespace_and_api_url_loses_trailing_slash() -> None:
    outcome = token_answer(
        200,
        {
            "access_token": TOKEN,
            "expires_in": 3599,
            "scope": "  meeting:master   user:read:admin ",
            "api_url": "http://127.0.0.1:9900/",
        },
    )

    assert isinstance(outcome, TokenIssued)
    assert outcome.scopes == {"meeting:master", "user:read:admin"}
    assert outcome.api_url == "http://127.0.0.1:9900"


@pytest.mark.parametrize(
    ("document", "what"),
    [
        (b"<html>gateway</html>", "is not a JSON object"),
        (b"", "is not a JSON object"),
        ([TOKEN], "is not a JSON object"),
        ({"expires_in": 3599}, "has no access_token string"),
        ({"access_token": 12345, "expires_in": 3599}, "has no access_token string"),
        ({"access_token": "", "expires_in": 3599}, "has no access_token string"),
        ({"access_token": "tök en", "expires_in": 3599}, "characters an HTTP header cannot carry"),
        ({"access_token": TOKEN}, "expires_in is not a positive integer (got nothing)"),
        (
            {"access_token": TOKEN, "expires_in": "3599"},
            "expires_in is not a positive integer (got a string)",
        ),
        ({"access_token": TOKEN, "expires_in": 0}, "expires_in is not a positive integer"),
        ({"access_token": TOKEN, "expires_in": -1}, "expires_in is not a positive integer"),
        ({"access_token": TOKEN, "expires_in": True}, "expires_in is not a positive integer (got a boolean)"),
        (
            {"access_token": TOKEN, "expires_in": 3599.5},
            "expires_in is not a positive integer (got a number)",
        ),
        ({"access_token": TOKEN, "expires_in": 10**20}, "expires_in is out of range"),
        ({"access_token": TOKEN, "expires_in": 3599, "scope": ["a", "b"]}, "scope is not a string"),
        ({"access_token": TOKEN, "expires_in": 3599, "token_type": 1}, "token_type is not a string"),
        ({"access_token": TOKEN, "expires_in": 3599, "api_url": "api.zoom.us"}, "api_url is not an http(s)"),
        ({"access_token": TOKEN, "expires_in": 3599, "api_url": 7}, "api_url is not an http(s)"),
    ],
)
def test_token_answer_200_that_is_not_a_usable_token_is_transient_malformed(
    document: object, what: str
) -> None:
    outcome = token_answer(200, document, TRACKING)

    assert isinstance(outcome, Transient)
    assert outcome.kind == "malformed"
    assert what in outcome.detail
    assert outcome.http_status == 200
    assert outcome.tracking_id == TRACKING["x-zm-trackingid"]
    assert TOKEN not in outcome.detail


# ---------------------------------------------------------------------------------------------------
# Token endpoint: §2 error table


@pytest.mark.parametrize(
    ("status", "document", "expected"),
    [
        (
            400,
            {"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
            ClientRejected("invalid_client", "Invalid client_id or client_secret", 400),
        ),
        (
            400,
            {"reason": "unsupported grant type", "error": "unsupported_grant_type"},
            ClientRejected("unsupported_grant_type", "unsupported grant type", 400),
        ),
        (
            400,
            {"reason": "Invalid Token!", "error": "invalid_grant"},
            ClientRejected("invalid_grant", "Invalid Token!", 400),
        ),
        (400, {"error": "invalid_grant"}, ClientRejected("invalid_grant", "(no message)", 400)),
        (
            401,
            {"reason": "Invalid Token!", "error": "invalid_request"},
            ClientRejected("invalid_request", "Invalid Token!", 401),
        ),
        (
            400,
            {"reason": "Invalid authorization code", "error": "invalid_grant"},
            ClientRejected("invalid_grant", "Invalid authorization code", 400),
        ),
        (
            400,
            {"reason": "Client ID or client secret is missing.", "error": "invalid_request"},
            ClientRejected("invalid_request", "Client ID or client secret is missing.", 400),
        ),
        (
            400,
            {"reason": "Invalid account_id", "error": "invalid_request"},
            ClientRejected("invalid_request", "Invalid account_id", 400),
        ),
        # Query-string parameters: a bare 400 with no OAuth error keeps error="".
        (400, b"", ClientRejected("", "(no message)", 400)),
        (400, b"400 Bad Request", ClientRejected("", "400 Bad Request", 400)),
        (
            400,
            {"reason": "Bad Request", "error": "invalid_request"},
            ClientRejected("invalid_request", "Bad Request", 400),
        ),
        (
            400,
            {"reason": "The app has been disabled", "error": "invalid_client"},
            AppDisabled("The app has been disabled"),
        ),
        (
            401,
            {"reason": "This app is disabled.", "error": "invalid_client"},
            AppDisabled("This app is disabled."),
        ),
        (
            400,
            {"reason": "The owner of the token does not exist.", "error": "invalid_request"},
            OwnerMissing("The owner of the token does not exist."),
        ),
        (
            401,
            {"reason": "The owner of the token does not exist.", "error": "invalid_client"},
            OwnerMissing("The owner of the token does not exist."),
        ),
    ],
)
def test_token_endpoint_rejections_follow_the_reference_table(
    status: int, document: object, expected: TokenOutcome
) -> None:
    assert token_answer(status, document) == expected


def test_token_disabled_by_admin_is_not_mistaken_for_a_disabled_app() -> None:
    outcome = token_answer(400, {"reason": "The token is disabled by admin.", "error": "invalid_grant"})

    assert outcome == ClientRejected("invalid_grant", "The token is disabled by admin.", 400)


def test_token_endpoint_429_is_rate_limited_with_reason_as_message() -> None:
    outcome = token_answer(
        429, {"reason": "Too many requests", "error": "rate_limited"}, {"Retry-After": "30", **TRACKING}
    )

    assert outcome == RateLimited(
        retry_after=NOW + timedelta(seconds=30),
        limit_type=None,
        category=None,
        message="Too many requests",
        tracking_id=TRACKING["x-zm-trackingid"],
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_token_endpoint_5xx_is_transient_server_error(status: int) -> None:
    outcome = token_answer(status, b"<html><body>Service Unavailable</body></html>")

    assert isinstance(outcome, Transient)
    assert (outcome.kind, outcome.http_status) == ("server_error", status)
    assert "Service Unavailable" in outcome.detail


@pytest.mark.parametrize("status", [100, 201, 204, 301, 302, 403, 404, 405, 409, 418])
def test_token_endpoint_other_statuses_are_transient_unexpected(status: int) -> None:
    outcome = token_answer(status, {"reason": "nope", "error": "whatever"})

    assert isinstance(outcome, Transient)
    assert (outcome.kind, outcome.http_status) == ("unexpected_status", status)
    assert f"HTTP {status}" in outcome.detail


def test_token_rejection_echoing_the_client_secret_or_a_token_is_redacted() -> None:
    outcome = token_answer(
        400,
        {
            "reason": f"Invalid secret {CLIENT_SECRET.reveal()} for token {TOKEN}",
            "error": "invalid_client",
            "access_token": "echoed-opaque-token",
        },
    )
    echoed = token_answer(
        400, {"reason": "bad echoed-opaque-token", "error": "x", "access_token": "echoed-opaque-token"}
    )

    assert isinstance(outcome, ClientRejected)
    assert CLIENT_SECRET.reveal() not in outcome.reason
    assert TOKEN not in outcome.reason
    assert outcome.reason == "Invalid secret *** for token ***"
    assert isinstance(echoed, ClientRejected)
    assert echoed.reason == "bad ***"


# ---------------------------------------------------------------------------------------------------
# REST API: 2xx


def test_api_2xx_with_object_body_is_ok_with_the_body() -> None:
    user = {"id": "u-owner", "email": "dev-lead@example.com", "status": "active", "role_id": "role-admin"}

    outcome = api_answer(200, user, TRACKING)

    assert outcome == ApiOk(http_status=200, body=user, tracking_id=TRACKING["x-zm-trackingid"])


@pytest.mark.parametrize(("status", "raw"), [(204, b""), (200, b""), (202, b"  \n"), (204, b"ignored")])
def test_api_no_content_is_ok_with_empty_body(status: int, raw: bytes) -> None:
    assert api_answer(status, raw) == ApiOk(http_status=status, body={})


@pytest.mark.parametrize(
    ("raw", "what"), [(b"<html>ok</html>", "not valid JSON"), (b"[1, 2]", "an array, not a JSON object")]
)
def test_api_2xx_with_a_non_object_body_is_transient_malformed(raw: bytes, what: str) -> None:
    outcome = api_answer(200, raw)

    assert isinstance(outcome, Transient)
    assert (outcome.kind, outcome.http_status) == ("malformed", 200)
    assert what in outcome.detail


# ---------------------------------------------------------------------------------------------------
# REST API: §3 error table


def test_api_401_invalid_access_token_is_unauthorized_code_124() -> None:
    outcome = api_answer(401, {"code": 124, "message": "Invalid access token."}, TRACKING)

    assert outcome == Unauthorized(124, "Invalid access token.", TRACKING["x-zm-trackingid"])
    assert not outcome.token_expired
    assert not outcome.token_in_query


def test_api_401_expired_token_is_unauthorized_and_says_expired() -> None:
    outcome = api_answer(401, {"code": 124, "message": "Access token is expired."})

    assert isinstance(outcome, Unauthorized)
    assert outcome.token_expired


def test_api_401_token_in_query_string_is_unauthorized_and_says_so() -> None:
    message = "Invalid access token, this access token is not supported as query parameter string."

    outcome = api_answer(401, {"code": 124, "message": message})

    assert isinstance(outcome, Unauthorized)
    assert outcome.token_in_query
    assert outcome.message == message


def test_api_400_4711_is_scope_missing_with_the_accepted_scopes() -> None:
    message = (
        "Invalid access token, does not contain scopes:"
        "[contact:read:list_contacts, contact:read:list_contacts:admin]."
    )

    outcome = api_answer(400, {"code": 4711, "message": message}, TRACKING)

    assert outcome == ScopeMissing(
        code=4711,
        message=message,
        accepted_scopes=("contact:read:list_contacts", "contact:read:list_contacts:admin"),
        tracking_id=TRACKING["x-zm-trackingid"],
    )


def test_api_400_104_with_malformed_json_inside_the_message_is_scope_missing() -> None:
    raw = (
        b'{"code":104,"message":"Invalid access token, does not contain scopes:'
        b'[\\"zoom_events_basic:read\\",\\"zoom_events_basic:read:admin\\"]."}'
    )

    outcome = api_answer(400, raw)

    assert isinstance(outcome, ScopeMissing)
    assert outcome.code == 104
    assert outcome.accepted_scopes == ("zoom_events_basic:read", "zoom_events_basic:read:admin")


def test_api_scope_missing_lists_every_scope_even_when_the_message_is_shortened() -> None:
    scopes = [f"meeting:write:meeting_number_{index}:admin" for index in range(12)]
    message = f"Invalid access token, does not contain scopes:[{', '.join(scopes)}]."

    outcome = api_answer(400, {"code": 4711, "message": message})

    assert isinstance(outcome, ScopeMissing)
    assert outcome.accepted_scopes == tuple(scopes)
    assert len(outcome.message) <= 200


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"code": 1001, "message": "User does not exist: jo@example.com."},
            NotFound(1001, "User does not exist: jo@example.com."),
        ),
        (
            {"code": 1001, "message": "User u-1 not exist or not belong to this account."},
            NotFound(1001, "User u-1 not exist or not belong to this account."),
        ),
        ({"code": 1120, "message": "Invite not exist"}, NotFound(1120, "Invite not exist")),
        (
            {"code": 3001, "message": "Meeting does not exist: 123."},
            NotFound(3001, "Meeting does not exist: 123."),
        ),
        (
            {"code": 1001, "message": "Role does not exist: role-x."},
            NotFound(1001, "Role does not exist: role-x."),
        ),
    ],
)
def test_api_404_is_not_found_with_code_and_message(document: object, expected: NotFound) -> None:
    assert api_answer(404, document) == expected


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, 200, "No permission."),
        (400, 200, "Only available for Paid account."),
        (400, 300, "Invalid parameter: occurrence_id."),
        (400, 3000, "Cannot access webinar information."),
        (400, 3018, "Not allowed to delete PMI."),
        (400, 3037, "Not allowed to delete PAC."),
        (400, 3161, "Meeting hosting and scheduling capabilities are not allowed for your user account."),
        (400, 300, "Request Body should be a valid JSON object."),
        (403, 200, "No permission."),
        (409, 1005, "User already in the account."),
    ],
)
def test_api_other_4xx_is_api_error_kept_verbatim(status: int, code: int, message: str) -> None:
    assert api_answer(status, {"code": code, "message": message}) == ApiError(status, code, message)


def test_api_validation_failure_keeps_message_and_ignores_errors_list() -> None:
    outcome = api_answer(
        400,
        {"code": 300, "message": "Validation Failed.", "errors": [{"field": "topic", "message": "too long"}]},
    )

    assert outcome == ApiError(400, 300, "Validation Failed.")


def test_api_429_per_second_limit_retries_at_rate_limit_reset() -> None:
    reset = int((NOW + timedelta(seconds=1)).timestamp())

    outcome = api_answer(
        429,
        {
            "code": 429,
            "message": "You have reached the maximum per-second rate limit for this API. Try again later.",
        },
        {
            "X-RateLimit-Category": "Light",
            "X-RateLimit-Type": "QPS",
            "X-RateLimit-Limit": "30",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
            **TRACKING,
        },
    )

    assert outcome == RateLimited(
        retry_after=datetime.fromtimestamp(reset, UTC),
        limit_type="QPS",
        category="Light",
        message="You have reached the maximum per-second rate limit for this API. Try again later.",
        tracking_id=TRACKING["x-zm-trackingid"],
    )


def test_api_429_daily_limit_retries_at_the_iso_retry_after() -> None:
    outcome = api_answer(
        429,
        {"code": 429, "message": "You have reached the maximum daily rate limit for this API."},
        {
            "x-ratelimit-category": "Heavy",
            "x-ratelimit-type": "Daily-limit",
            "retry-after": "2020-05-31T00:00:00Z",
        },
    )

    assert isinstance(outcome, RateLimited)
    assert outcome.retry_after == datetime(2020, 5, 31, tzinfo=UTC)
    assert (outcome.limit_type, outcome.category) == ("Daily-limit", "Heavy")


def test_api_429_per_user_daily_cap_without_headers_has_no_retry_time() -> None:
    message = (
        "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for"
        " this particular user. You may resume these requests at GMT 00:00:00."
    )

    outcome = api_answer(429, {"code": 429, "message": message})

    assert isinstance(outcome, RateLimited)
    assert (outcome.retry_after, outcome.limit_type, outcome.category) == (None, None, None)
    assert outcome.message.startswith("You have exceeded the daily rate limit (100)")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_api_5xx_is_transient_server_error(status: int) -> None:
    outcome = api_answer(status, {"code": status, "message": "Internal Error"})

    assert isinstance(outcome, Transient)
    assert (outcome.kind, outcome.http_status) == ("server_error", status)


@pytest.mark.parametrize("status", [100, 101, 301, 302, 304])
def test_api_1xx_and_3xx_are_transient_unexpected_status(status: int) -> None:
    outcome = api_answer(status, b"")

    assert isinstance(outcome, Transient)
    assert outcome.kind == "unexpected_status"


def test_api_error_with_non_json_body_keeps_a_short_clean_message() -> None:
    page = b"<html>\r\n<head><title>401 Authorization Required</title></head>\n\x00\x1b[31m" + b"x" * 5000

    outcome = api_answer(401, page)

    assert isinstance(outcome, Unauthorized)
    assert outcome.code is None
    assert outcome.message.startswith("<html> <head><title>401 Authorization Required</title></head>")
    assert len(outcome.message) <= 200
    assert "\x00" not in outcome.message
    assert "\n" not in outcome.message


def test_api_error_code_given_as_a_string_is_read_as_a_number() -> None:
    outcome = api_answer(
        400, {"code": "4711", "message": "Invalid access token, does not contain scopes:[a:b]."}
    )

    assert isinstance(outcome, ScopeMissing)
    assert outcome.code == 4711


def test_api_error_with_odd_code_and_no_message() -> None:
    assert api_answer(404, {"code": True}) == NotFound(None, "(no message)")
    assert api_answer(401, b"not json") == Unauthorized(None, "not json")


def test_api_message_echoing_the_bearer_token_is_redacted() -> None:
    outcome = api_answer(401, {"code": 124, "message": f"Invalid access token: {TOKEN}"})

    assert outcome == Unauthorized(124, "Invalid access token: ***")


def test_api_message_with_a_jwt_shaped_string_is_redacted_even_if_unknown() -> None:
    other_token = jwt({"uid": "someone-else"})

    outcome = map_api_response(401, {}, body({"code": 124, "message": f"bad {other_token}"}), now=NOW)

    assert outcome == Unauthorized(124, "bad ***")


# ---------------------------------------------------------------------------------------------------
# Tracking ids


@pytest.mark.parametrize("header", ["x-zm-trackingid", "X-Zm-Trackingid", "X-ZM-TRACKINGID"])
@pytest.mark.parametrize("status", [200, 204, 400, 401, 403, 404, 429, 500, 302])
def test_every_api_outcome_carries_the_tracking_id_in_any_header_case(status: int, header: str) -> None:
    raw = body({"code": 4711, "message": "scopes:[a]"}) if status != 200 else b"{}"

    outcome = map_api_response(status, {header: "rid-42"}, raw, now=NOW)

    assert outcome.tracking_id == "rid-42"


@pytest.mark.parametrize("status", [200, 400, 401, 429, 500, 302])
def test_every_token_outcome_carries_the_tracking_id(status: int) -> None:
    raw = body({"access_token": TOKEN, "expires_in": 3599}) if status == 200 else body({"error": "x"})

    outcome = map_token_response(status, {"X-Zm-TrackingId": "rid-7"}, raw, now=NOW)

    assert outcome.tracking_id == "rid-7"


def test_missing_or_blank_tracking_id_is_none() -> None:
    assert api_answer(404, {}).tracking_id is None
    assert map_api_response(404, {"x-zm-trackingid": " \t"}, b"", now=NOW).tracking_id is None


# ---------------------------------------------------------------------------------------------------
# Retry-After and X-RateLimit-Reset


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2020-05-31T00:00:00Z"}, datetime(2020, 5, 31, tzinfo=UTC)),
        ({"Retry-After": "2026-11-06T00:00:00+02:00"}, datetime(2026, 11, 5, 22, tzinfo=UTC)),
        ({"Retry-After": "2026-11-06T00:00:00"}, datetime(2026, 11, 6, tzinfo=UTC)),
        ({"retry-after": "120"}, NOW + timedelta(seconds=120)),
        ({"Retry-After": " 0 "}, NOW),
        ({"Retry-After": "Fri, 06 Nov 2026 00:00:00 GMT"}, datetime(2026, 11, 6, tzinfo=UTC)),
        ({"X-RateLimit-Reset": "1793966401"}, datetime.fromtimestamp(1793966401, UTC)),
        (
            {"Retry-After": "2026-11-06T00:00:00Z", "X-RateLimit-Reset": "1793966401"},
            datetime(2026, 11, 6, tzinfo=UTC),
        ),
        ({"Retry-After": "soon", "X-RateLimit-Reset": "1793966401"}, datetime.fromtimestamp(1793966401, UTC)),
        ({}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "999999999999"}, None),
        ({"X-RateLimit-Reset": "tomorrow"}, None),
        ({"X-RateLimit-Reset": "999999999999"}, None),
        ({"Retry-After": "9999-12-31T23:59:59-01:00"}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: datetime | None) -> None:
    assert parse_retry_after(headers, NOW) == expected


def test_retry_after_is_always_utc() -> None:
    when = parse_retry_after({"Retry-After": "2026-11-06T09:00:00+09:00"}, NOW)

    assert when is not None
    assert when.tzinfo == UTC
    assert when == datetime(2026, 11, 6, tzinfo=timezone(timedelta(hours=0)))


# ---------------------------------------------------------------------------------------------------
# Token `uid` claim


def test_decode_uid_reads_the_uid_claim_without_verifying() -> None:
    assert decode_uid(TOKEN) == "u-owner"
    assert decode_uid(jwt({"uid": "KDcuGIm1QgePTO8WbOqwIQ", "ver": 7})) == "KDcuGIm1QgePTO8WbOqwIQ"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "opaque",
        "a.b",
        "a.b.c",
        "eyJhbGciOiJIUzUxMiJ9.!!!.sig",
        jwt({"userId": "legacy-v6"}),
        jwt({"uid": 42}),
        jwt({"uid": ""}),
        "x." + base64.urlsafe_b64encode(b"[1,2]").decode() + ".y",
        "x." + base64.urlsafe_b64encode(b"\xff\xfe").decode() + ".y",
        "x.éé.y",
    ],
)
def test_decode_uid_tolerates_anything_that_is_not_a_token_with_a_uid(token: str) -> None:
    assert decode_uid(token) is None


# ---------------------------------------------------------------------------------------------------
# Bodies of successful answers


def test_parse_user_keeps_owner_fields() -> None:
    user = {
        "id": "u-owner",
        "email": "dev-lead@example.com",
        "status": "active",
        "role_id": "role-admin",
        "role_name": "Admin",
        "account_id": "acc-demo",
        "first_name": "Dev",
        "type": 2,
    }

    assert parse_user(user) == ZoomUser(
        "u-owner", "dev-lead@example.com", "active", "role-admin", "Admin", "acc-demo"
    )


def test_parse_user_takes_numeric_role_ids_and_missing_optional_fields() -> None:
    parsed = parse_user({"id": "u", "email": "e@x", "status": "inactive", "role_id": 2})

    assert parsed == ZoomUser("u", "e@x", "inactive", "2", None, None)


@pytest.mark.parametrize(
    "document",
    [None, [], "user", {}, {"id": "u", "email": "e@x"}, {"id": 1, "email": "e@x", "status": "active"}],
)
def test_parse_user_rejects_bodies_that_are_not_users(document: object) -> None:
    assert parse_user(document) is None


def test_parse_role_keeps_string_privileges() -> None:
    role = {
        "id": "role-admin",
        "name": "Admin",
        "privileges": ["User:Read", "ServerToServerOAuthApp:Edit", 7],
        "total_members": 1,
    }

    assert parse_role(role) == ZoomRole(
        "role-admin", "Admin", frozenset({"User:Read", "ServerToServerOAuthApp:Edit"})
    )


@pytest.mark.parametrize(
    "document",
    [
        None,
        {"id": "r", "name": "n"},
        {"id": "r", "privileges": []},
        {"name": "n", "privileges": []},
        {"id": "r", "name": "n", "privileges": "x"},
    ],
)
def test_parse_role_rejects_bodies_that_are_not_roles(document: object) -> None:
    assert parse_role(document) is None


def test_parse_permissions() -> None:
    permissions = parse_permissions({"permissions": ["User:Edit", "MarketPlace:Edit", None]})
    assert permissions == frozenset({"User:Edit", "MarketPlace:Edit"})
    assert parse_permissions({"permissions": []}) == frozenset()
    assert parse_permissions({"perms": []}) is None
    assert parse_permissions([]) is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Invalid access token, does not contain scopes:[a:b, c:d:admin].", ("a:b", "c:d:admin")),
        ('does not contain scopes:["zoom_events_basic:read",...]', ("zoom_events_basic:read",)),
        ("does not contain scopes:['x:y' , 'x:y']", ("x:y",)),
        ("does not contain scopes: [a:b, c:d", ("a:b", "c:d")),
        ("does not contain scopes[a:b]", ("a:b",)),
        ("does not contain scopes:[]", ()),
        ("Invalid access token.", ()),
        ("", ()),
    ],
)
def test_accepted_scopes_are_read_from_zoom_text(message: str, expected: tuple[str, ...]) -> None:
    assert parse_accepted_scopes(message) == expected


# ---------------------------------------------------------------------------------------------------
# Message hygiene


def test_sanitize_message_masks_credentials_folds_control_characters_and_shortens() -> None:
    secret = Secret("s3cr3t-value")

    text = sanitize_message(f"failed\r\n\twith s3cr3t-value and {TOKEN} " + "y" * 400, (secret,))

    assert text.startswith("failed with *** and *** yyy")
    assert len(text) == 200
    assert text.endswith("…")


def test_sanitize_message_withholds_text_if_a_credential_survives_masking() -> None:
    # A credential made only of the mask's characters would reappear after masking.
    assert sanitize_message("a ** b", (Secret("**"),)) == "(message withheld: it contained a credential)"


# ---------------------------------------------------------------------------------------------------
# Properties over arbitrary input

TOKEN_OUTCOMES = (TokenIssued, ClientRejected, AppDisabled, OwnerMissing, RateLimited, Transient)
API_OUTCOMES = (ApiOk, Unauthorized, ScopeMissing, NotFound, RateLimited, Transient, ApiError)
INTERESTING_HEADERS = [
    "x-zm-trackingid",
    "Retry-After",
    "X-RateLimit-Reset",
    "X-RateLimit-Type",
    "X-RateLimit-Category",
    "Content-Type",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=16,
)
zoom_shaped = st.fixed_dictionaries(
    {},
    optional={
        "access_token": json_values | st.text(alphabet="abcXYZ.-_0123456789", min_size=1),
        "expires_in": json_values | st.integers(-5, 10**22),
        "scope": json_values,
        "token_type": json_values,
        "api_url": json_values | st.sampled_from(["https://api.zoom.us", "http://[::1", "http://h:x"]),
        "error": json_values | st.sampled_from(["invalid_client", "invalid_request"]),
        "reason": json_values
        | st.sampled_from(["The app has been disabled", "The owner of the token does not exist."]),
        "code": json_values | st.sampled_from([124, 4711, 104, 1001, "4711"]),
        "message": json_values | st.text().map(lambda text: f"does not contain scopes:[{text}"),
        "privileges": json_values,
    },
)
bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda value: json.dumps(value).encode())
    | zoom_shaped.map(lambda value: json.dumps(value).encode())
)
header_maps = st.dictionaries(
    st.sampled_from(INTERESTING_HEADERS) | st.text(max_size=20),
    st.text(max_size=40) | st.integers(-(10**15), 10**15).map(str) | st.datetimes().map(datetime.isoformat),
    max_size=6,
)
statuses = st.integers(min_value=100, max_value=599)
token_like = st.from_regex(r"[A-Za-z0-9_-]{12,40}\.[A-Za-z0-9_-]{8,40}\.[A-Za-z0-9_-]{0,20}", fullmatch=True)


@settings(max_examples=400)
@given(status=statuses, headers=header_maps, raw=bodies)
def test_token_mapping_never_raises_and_always_returns_a_token_outcome(
    status: int, headers: dict[str, str], raw: bytes
) -> None:
    assert isinstance(map_token_response(status, headers, raw, now=NOW), TOKEN_OUTCOMES)


@settings(max_examples=400)
@given(status=statuses, headers=header_maps, raw=bodies)
def test_api_mapping_never_raises_and_always_returns_an_api_outcome(
    status: int, headers: dict[str, str], raw: bytes
) -> None:
    assert isinstance(map_api_response(status, headers, raw, now=NOW), API_OUTCOMES)


@settings(max_examples=300)
@given(
    status=statuses,
    headers=header_maps,
    token=token_like,
    prefix=st.text(max_size=300),
    suffix=st.text(max_size=40),
)
def test_a_token_echoed_anywhere_in_an_answer_never_reaches_an_outcome(
    status: int, headers: dict[str, str], token: str, prefix: str, suffix: str
) -> None:
    echo = prefix + token + suffix
    raws = [
        echo.encode(),
        body({"code": 124, "message": echo, "reason": echo, "error": echo}),
        body({"access_token": token, "expires_in": 3599, "reason": echo, "error": echo}),
    ]
    for raw in raws:
        for outcome in (
            map_api_response(
                status, {**headers, "x-zm-trackingid": echo}, raw, now=NOW, redact=(Secret(token),)
            ),
            map_token_response(
                status, {**headers, "x-zm-trackingid": echo}, raw, now=NOW, redact=(Secret(token),)
            ),
        ):
            assert token not in repr(outcome)
            assert token not in str(outcome)


@given(headers=header_maps)
def test_retry_after_never_raises(headers: dict[str, str]) -> None:
    when = parse_retry_after(headers, NOW)

    assert when is None or when.tzinfo is not None


@given(
    token=st.text()
    | st.text().map(lambda text: "a." + text)
    | json_values.map(lambda value: jwt({"uid": value}))
)
def test_decode_uid_never_raises(token: str) -> None:
    uid = decode_uid(token)

    assert uid is None or (isinstance(uid, str) and uid)


@given(document=json_values | zoom_shaped)
def test_body_parsers_never_raise(document: object) -> None:
    assert parse_user(document) is None or isinstance(parse_user(document), ZoomUser)
    assert parse_role(document) is None or isinstance(parse_role(document), ZoomRole)
    assert parse_permissions(document) is None or isinstance(parse_permissions(document), frozenset)


@given(message=st.text())
def test_accepted_scopes_never_raise_and_are_clean_names(message: str) -> None:
    for scope in parse_accepted_scopes(message):
        assert scope
        assert not set(scope) & set(" \"',[]")


def test_equal_roles_and_scopes_of_many_apps_share_one_set() -> None:
    role = {"id": "r", "name": "Admin", "privileges": ["User:Read", "ServerToServerOAuthApp:Edit"]}
    first, second = (
        parse_role(dict(role)),
        parse_role({**role, "privileges": list(reversed(role["privileges"]))}),
    )
    assert first is not None
    assert second is not None
    assert first.privileges is second.privileges, "one copy per distinct set, not one per app"
