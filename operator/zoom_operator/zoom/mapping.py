"""Zoom HTTP answers -> typed outcomes: the one place that reads Zoom's status codes, headers and bodies.

Pure: no I/O and no clock of its own (`now` is passed in). Every function here accepts anything a
server or a network could hand it -- any status, any headers, any bytes -- and returns a value from
`outcomes`; none of them raises. Messages copied from Zoom are shortened, stripped of control
characters, and scrubbed of credentials (the caller's token or secret, any token echoed in the body,
anything JWT-shaped), so every outcome is safe to log and to put on a resource's status.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlsplit

from zoom_operator.secret import Secret
from zoom_operator.zoom.outcomes import (
    SCOPE_MISSING_CODES,
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
    TransientKind,
    Unauthorized,
    ZoomRole,
    ZoomUser,
)

MESSAGE_MAX_CHARS: Final = 200
HEADER_MAX_CHARS: Final = 128
REDACTED: Final = "***"
WITHHELD: Final = "(message withheld: it contained a credential)"

OWNER_MISSING_REASON: Final = "owner of the token does not exist"

_TRACKING_ID_HEADER: Final = "x-zm-trackingid"
_JWT_SHAPED: Final = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?")
_CONTROL_OR_SPACE_RUN: Final = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
# `scopes:[a, b]`, tolerating quotes, a missing colon or a missing closing bracket (Zoom code 104 sends
# malformed JSON inside the brackets).
_ACCEPTED_SCOPES: Final = re.compile(r"scopes\s*:?\s*\[([^\]]*)\]?", re.IGNORECASE)
_SCOPE_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_:.\-]*")
_SECONDS: Final = re.compile(r"\d{1,12}")
_VISIBLE_ASCII: Final = re.compile(r"[\x21-\x7e]+")


# ---------------------------------------------------------------------------------------------------
# Token endpoint


def map_token_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    redact: Collection[Secret] = (),
) -> TokenOutcome:
    """Classify an answer of `POST /oauth/token`.

    `now` is when the request was sent: `issued_at` and `expires_at` are counted from it, which errs
    towards renewing early. `redact` holds credentials the request carried (the client secret); they
    never appear in a message, and neither does an `access_token` the body carries.
    """
    document = _json_or_none(body)
    secrets = [*(secret.reveal() for secret in redact), *_echoed_tokens(document)]
    tracking_id = _header_text(headers, _TRACKING_ID_HEADER, secrets)
    if status == 200:
        return _token_issued(document, now=now, tracking_id=tracking_id)
    if status in (400, 401):
        return _token_rejected(status, body, document, secrets, tracking_id)
    if status == 429:
        return RateLimited(
            retry_after=parse_retry_after(headers, now),
            limit_type=_header_text(headers, "x-ratelimit-type", secrets),
            category=_header_text(headers, "x-ratelimit-category", secrets),
            message=_error_text(body, document, secrets, keys=("reason", "message")),
            tracking_id=tracking_id,
        )
    kind: TransientKind = "server_error" if 500 <= status <= 599 else "unexpected_status"
    return Transient(
        kind=kind,
        detail=f"token endpoint answered HTTP {status}: "
        + _error_text(body, document, secrets, keys=("reason", "message", "error")),
        http_status=status,
        tracking_id=tracking_id,
    )


def _token_issued(document: object, *, now: datetime, tracking_id: str | None) -> TokenIssued | Transient:
    def malformed(what: str) -> Transient:
        return Transient("malformed", f"token response {what}", http_status=200, tracking_id=tracking_id)

    if not isinstance(document, dict):
        return malformed("is not a JSON object")
    access_token = document.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        return malformed("has no access_token string")
    if not is_header_safe(access_token):
        return malformed("access_token has characters an HTTP header cannot carry")
    expires_in = document.get("expires_in")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        return malformed(f"expires_in is not a positive integer (got {_json_type(expires_in)})")
    scope = document.get("scope")
    if scope is not None and not isinstance(scope, str):
        return malformed(f"scope is not a string (got {_json_type(scope)})")
    token_type = document.get("token_type")
    if token_type is not None and (not isinstance(token_type, str) or not token_type.strip()):
        return malformed(f"token_type is not a string (got {_json_type(token_type)})")
    api_url = document.get("api_url")
    if api_url is not None and not (isinstance(api_url, str) and _is_http_url(api_url)):
        return malformed("api_url is not an http(s) URL")
    try:
        expires_at = now + timedelta(seconds=expires_in)
    except OverflowError:
        return malformed("expires_in is out of range")
    return TokenIssued(
        access_token=Secret(access_token),
        token_type=token_type.strip() if isinstance(token_type, str) else "bearer",
        issued_at=now,
        expires_at=expires_at,
        scopes=shared(frozenset(scope.split())) if scope else frozenset(),
        api_url=api_url.rstrip("/") if api_url else None,
        owner_uid=decode_uid(access_token),
        tracking_id=tracking_id,
    )


def _token_rejected(
    status: int, body: bytes, document: object, secrets: Collection[str], tracking_id: str | None
) -> ClientRejected | AppDisabled | OwnerMissing:
    error = _str_field(document, "error")
    reason = _error_text(body, document, secrets, keys=("reason", "message"))
    if OWNER_MISSING_REASON in reason.lower():
        return OwnerMissing(reason=reason, tracking_id=tracking_id)
    if (
        error == "invalid_client" and "disabled" in reason.lower()
    ) or "app has been disabled" in reason.lower():
        return AppDisabled(reason=reason, tracking_id=tracking_id)
    # A 400/401 that names no OAuth error (e.g. params sent in the query string) keeps error="".
    return ClientRejected(
        error=_sanitize(error or "", secrets, MESSAGE_MAX_CHARS),
        reason=reason,
        http_status=status,
        tracking_id=tracking_id,
    )


def _echoed_tokens(document: object) -> list[str]:
    token = _str_field(document, "access_token")
    return [token] if token else []


# ---------------------------------------------------------------------------------------------------
# REST API


def map_api_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    redact: Collection[Secret] = (),
) -> ApiOutcome:
    """Classify an answer of a REST call (`{api_url}/v2/...`).

    `now` resolves a `Retry-After` given in seconds; `redact` holds the bearer token the request
    carried, which never appears in a message even when Zoom echoes it.
    """
    secrets = [secret.reveal() for secret in redact]
    tracking_id = _header_text(headers, _TRACKING_ID_HEADER, secrets)
    if 200 <= status <= 299:
        return _api_ok(status, body, tracking_id)
    document = _json_or_none(body)
    code = _document_code(document)
    message = _error_text(body, document, secrets, keys=("message", "reason"))
    if status == 401:
        return Unauthorized(code=code, message=message, tracking_id=tracking_id)
    if status == 400 and code is not None and code in SCOPE_MISSING_CODES:
        full_message = _sanitize(_str_field(document, "message") or "", secrets, max_chars=len(body))
        return ScopeMissing(
            code=code,
            message=message,
            accepted_scopes=parse_accepted_scopes(full_message),
            tracking_id=tracking_id,
        )
    if status == 404:
        return NotFound(code=code, message=message, tracking_id=tracking_id)
    if status == 429:
        return RateLimited(
            retry_after=parse_retry_after(headers, now),
            limit_type=_header_text(headers, "x-ratelimit-type", secrets),
            category=_header_text(headers, "x-ratelimit-category", secrets),
            message=message,
            tracking_id=tracking_id,
        )
    if 500 <= status <= 599:
        return Transient(
            "server_error",
            f"API answered HTTP {status}: {message}",
            http_status=status,
            tracking_id=tracking_id,
        )
    if 400 <= status <= 499:
        return ApiError(http_status=status, code=code, message=message, tracking_id=tracking_id)
    return Transient(
        "unexpected_status",
        f"API answered HTTP {status}: {message}",
        http_status=status,
        tracking_id=tracking_id,
    )


def _api_ok(status: int, body: bytes, tracking_id: str | None) -> ApiOk | Transient:
    if status == 204 or not body.strip():
        return ApiOk(http_status=status, body={}, tracking_id=tracking_id)
    document = _json_or_none(body)
    if not isinstance(document, dict):
        what = "not valid JSON" if document is None else f"{_json_type(document)}, not a JSON object"
        return Transient("malformed", f"API answer is {what}", http_status=status, tracking_id=tracking_id)
    return ApiOk(http_status=status, body=document, tracking_id=tracking_id)


def _document_code(document: object) -> int | None:
    code = document.get("code") if isinstance(document, dict) else None
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and _SECONDS.fullmatch(code.strip()):
        return int(code.strip())
    return None


def parse_accepted_scopes(message: str) -> tuple[str, ...]:
    """The scopes listed in Zoom's `does not contain scopes:[a, b]` text, in order, without duplicates.

    Tolerates quoted names and the malformed JSON of Zoom code 104 (`scopes:["a",...]`)."""
    match = _ACCEPTED_SCOPES.search(message)
    if match is None:
        return ()
    names = (_SCOPE_NAME.fullmatch(item.strip().strip("\"'").strip()) for item in match.group(1).split(","))
    return tuple(dict.fromkeys(name.group(0) for name in names if name is not None))


# ---------------------------------------------------------------------------------------------------
# Bodies of successful REST answers


def parse_user(body: object) -> ZoomUser | None:
    """The owner-relevant fields of `GET /v2/users/{userId}`; None when the body is not a user."""
    if not isinstance(body, dict):
        return None
    user_id, email, status = (_str_field(body, key) for key in ("id", "email", "status"))
    if not user_id or not email or not status:
        return None
    return ZoomUser(
        id=user_id,
        email=email,
        status=status,
        role_id=_id_field(body, "role_id"),
        role_name=_str_field(body, "role_name"),
        account_id=_str_field(body, "account_id"),
    )


@lru_cache(maxsize=1024)
def shared(names: frozenset[str]) -> frozenset[str]:
    """One copy of each set of scopes or privileges: every app's token has the same scopes, and owners
    share a few roles. A role's privileges held per app were ~1 KB each (10,000 apps: 9.6 MiB of
    frozensets in the operator's census, bench/RESULTS.md)."""
    return names


def parse_role(body: object) -> ZoomRole | None:
    """The fields of `GET /v2/roles/{roleId}` needed to judge an owner; None when the body is not a role."""
    if not isinstance(body, dict):
        return None
    role_id, name, privileges = _id_field(body, "id"), _str_field(body, "name"), body.get("privileges")
    if not role_id or name is None or not isinstance(privileges, list):
        return None
    names = frozenset(p for p in privileges if isinstance(p, str))
    return ZoomRole(id=role_id, name=name, privileges=shared(names))


def parse_permissions(body: object) -> frozenset[str] | None:
    """The `permissions` list of `GET /v2/users/{userId}/permissions`; None when it is missing."""
    permissions = body.get("permissions") if isinstance(body, dict) else None
    if not isinstance(permissions, list):
        return None
    return shared(frozenset(p for p in permissions if isinstance(p, str)))


# ---------------------------------------------------------------------------------------------------
# Headers and tokens


def parse_retry_after(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When Zoom allows the next request, in UTC, or None when it did not say.

    Zoom sends `Retry-After` as an ISO-8601 instant (`2020-05-31T00:00:00Z`) for daily limits; a number
    of seconds or an HTTP date are accepted too. Per-second (QPS) limits send `X-RateLimit-Reset` in
    unix seconds instead.
    """
    retry_after = _header(headers, "retry-after")
    if retry_after:
        when = _parse_instant_or_delay(retry_after.strip(), now)
        if when is not None:
            return when
    reset = _header(headers, "x-ratelimit-reset")
    if reset and _SECONDS.fullmatch(reset.strip()):
        try:
            return datetime.fromtimestamp(int(reset.strip()), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _parse_instant_or_delay(value: str, now: datetime) -> datetime | None:
    try:
        if _SECONDS.fullmatch(value):
            return now + timedelta(seconds=int(value))
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            instant = parsedate_to_datetime(value)
        if instant.tzinfo is None:
            return instant.replace(tzinfo=UTC)
        return instant.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def decode_claims(access_token: str) -> dict[str, Any]:
    """The claims of a JWT-shaped token, read without verifying the signature ({} when not a JWT).

    Diagnostics only (Zoom says token contents may change at any time).
    """
    parts = access_token.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


def decode_uid(access_token: str) -> str | None:
    """The `uid` claim of a JWT-shaped token; None for any token without a string `uid`."""
    uid = decode_claims(access_token).get("uid")
    return uid if isinstance(uid, str) and uid else None


def decode_exp(access_token: str) -> datetime | None:
    """The `exp` claim of a JWT-shaped token as an aware datetime; None without a usable one."""
    exp = decode_claims(access_token).get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def is_header_safe(credential: str) -> bool:
    """Whether `credential` can go into an Authorization header as is: visible ASCII, no spaces."""
    return _VISIBLE_ASCII.fullmatch(credential) is not None


def _header_text(headers: Mapping[str, str], name: str, secrets: Collection[str]) -> str | None:
    """A header value fit for logs and status (cleaned, shortened), or None when absent or blank."""
    value = _header(headers, name)
    cleaned = _sanitize(value, secrets, HEADER_MAX_CHARS) if value else ""
    return cleaned or None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


# ---------------------------------------------------------------------------------------------------
# Bodies and messages


def _json_or_none(body: bytes) -> Any:
    """The decoded JSON document, or None for anything that is not JSON (which Zoom never means)."""
    try:
        return json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return None


def _str_field(document: object, key: str) -> str | None:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def _id_field(document: Mapping[str, Any], key: str) -> str | None:
    """Zoom ids are strings, but some role ids arrive as numbers."""
    value = document.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def _error_text(body: bytes, document: object, secrets: Collection[str], *, keys: tuple[str, ...]) -> str:
    """The human text of an error answer: the first of `keys` found in a JSON body, else the raw body."""
    for key in keys:
        text = _str_field(document, key)
        if text:
            return _sanitize(text, secrets, MESSAGE_MAX_CHARS)
    if isinstance(document, dict) or not body.strip():
        return "(no message)"
    return _sanitize(body.decode("utf-8", errors="replace"), secrets, MESSAGE_MAX_CHARS)


def sanitize_message(text: str, redact: Collection[Secret] = (), max_chars: int = MESSAGE_MAX_CHARS) -> str:
    """`text` made safe to log: credentials and JWT-shaped strings masked, control characters and runs
    of whitespace folded to one space, cut to `max_chars`."""
    return _sanitize(text, [secret.reveal() for secret in redact], max_chars)


def _sanitize(text: str, secrets: Collection[str], max_chars: int) -> str:
    present = [secret for secret in secrets if secret]
    for secret in present:
        text = text.replace(secret, REDACTED)
    text = _JWT_SHAPED.sub(REDACTED, text)
    text = _CONTROL_OR_SPACE_RUN.sub(" ", text).strip()
    if any(secret in text for secret in present):
        return WITHHELD
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    return text


def _json_type(value: object) -> str:
    match value:
        case None:
            return "nothing"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False
