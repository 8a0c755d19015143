"""Typed outcomes of talking to Zoom: every HTTP answer (or failure to get one) becomes one of these.

Nothing here raises on a Zoom answer and nothing here imports kopf or kubernetes. Access tokens are
held in `Secret`, so a repr of any outcome is safe to log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from zoom_operator.secret import Secret

# Zoom codes for "the token is valid but lacks a scope this endpoint accepts": 4711 on the REST API,
# 104 on Zoom Events endpoints. An HTTP 400 with one of them is a `ScopeMissing`.
SCOPE_MISSING_CODE: Final = 4711
EVENTS_SCOPE_MISSING_CODE: Final = 104
SCOPE_MISSING_CODES: Final = frozenset({SCOPE_MISSING_CODE, EVENTS_SCOPE_MISSING_CODE})


@dataclass(frozen=True, slots=True)
class TokenIssued:
    """`POST /oauth/token` answered 200 with a usable token."""

    access_token: Secret = field(repr=False)
    token_type: str
    issued_at: datetime
    expires_at: datetime
    scopes: frozenset[str]
    api_url: str | None
    owner_uid: str | None  # the JWT `uid` claim when the token decodes; diagnostics only
    tracking_id: str | None = None

    @property
    def expires_in_seconds(self) -> float:
        return (self.expires_at - self.issued_at).total_seconds()


@dataclass(frozen=True, slots=True)
class ClientRejected:
    """The token endpoint refused the client: `invalid_client` (wrong or rotated secret, deactivated app),
    `unsupported_grant_type` (not an S2S app), or `invalid_request` (e.g. wrong account id)."""

    error: str
    reason: str
    http_status: int
    tracking_id: str | None = None


@dataclass(frozen=True, slots=True)
class AppDisabled:
    """Zoom disabled the app (`The app has been disabled`, doc code 4717): only Zoom support can help."""

    reason: str
    tracking_id: str | None = None


@dataclass(frozen=True, slots=True)
class OwnerMissing:
    """The token endpoint says the owner of the token does not exist (doc code 4735)."""

    reason: str
    tracking_id: str | None = None


@dataclass(frozen=True, slots=True)
class Unauthorized:
    """A REST call answered 401 (Zoom code 124 and friends)."""

    code: int | None
    message: str
    tracking_id: str | None = None

    @property
    def token_expired(self) -> bool:
        return self.message.lower().startswith("access token is expired")

    @property
    def token_in_query(self) -> bool:
        return "query parameter" in self.message.lower()


@dataclass(frozen=True, slots=True)
class ScopeMissing:
    """A REST call answered 400 code 4711 (or 104): the token is valid but lacks a scope the endpoint
    accepts. Zoom checks the token before the scopes, so this proves the token itself works."""

    code: int
    message: str
    accepted_scopes: tuple[str, ...]
    tracking_id: str | None = None


@dataclass(frozen=True, slots=True)
class NotFound:
    """A REST call answered 404 (e.g. code 1001 user does not exist, 3001 meeting does not exist)."""

    code: int | None
    message: str
    tracking_id: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimited:
    """HTTP 429 from either endpoint. `retry_after` is parsed from Zoom's ISO-8601 `Retry-After`
    (or from `X-RateLimit-Reset` for per-second limits) when present."""

    retry_after: datetime | None
    limit_type: str | None  # "QPS", "Daily-limit", or None when Zoom sent no X-RateLimit-Type
    category: str | None
    message: str
    tracking_id: str | None = None


TransientKind = Literal["server_error", "timeout", "connection", "malformed", "unexpected_status"]


@dataclass(frozen=True, slots=True)
class Transient:
    """No usable answer: 5xx, a timeout, a refused or dropped connection, or a body that is not what Zoom
    sends. Never evidence about credentials or owners."""

    kind: TransientKind
    detail: str
    http_status: int | None = None
    tracking_id: str | None = None


@dataclass(frozen=True, slots=True)
class ApiError:
    """Any other 4xx REST answer (400 validation, 403, 409, ...), kept verbatim for the record."""

    http_status: int
    code: int | None
    message: str
    tracking_id: str | None = None


@dataclass(frozen=True, slots=True)
class ApiOk:
    """A 2xx REST answer."""

    http_status: int
    body: dict[str, Any] = field(repr=False)
    tracking_id: str | None = None


TokenOutcome = TokenIssued | ClientRejected | AppDisabled | OwnerMissing | RateLimited | Transient
ApiOutcome = ApiOk | Unauthorized | ScopeMissing | NotFound | RateLimited | Transient | ApiError


def zoom_code(outcome: TokenOutcome | ApiOutcome) -> int | None:
    """The Zoom error code an outcome carries (a REST error answer's `code`), else None."""
    if isinstance(outcome, Unauthorized | ScopeMissing | NotFound | ApiError):
        return outcome.code
    return None


@dataclass(frozen=True, slots=True)
class ZoomUser:
    """The fields of `GET /v2/users/{userId}` that matter for diagnosing an owner."""

    id: str
    email: str
    status: str  # active | inactive | pending
    role_id: str | None
    role_name: str | None
    account_id: str | None


@dataclass(frozen=True, slots=True)
class ZoomRole:
    """The fields of `GET /v2/roles/{roleId}` that matter for diagnosing an owner."""

    id: str
    name: str
    privileges: frozenset[str]
