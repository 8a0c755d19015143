"""The ZoomApp spec as typed values: the one place that parses and validates it (pure, no I/O).

The CRD schema rejects most bad input at the API server; this parser is the second line for objects
that predate a schema change or come from elsewhere (tests, `diagnose`), and it never raises anything
but `SpecError`, whose message names the field and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

DEFAULT_OAUTH_URL = "https://zoom.us"
DEFAULT_API_URL = "https://api.zoom.us"
DEFAULT_PROBE_PATH = "/v2/users/{owner}"
DEFAULT_RENEW_BEFORE_SECONDS = 600
MIN_RENEW_BEFORE_SECONDS = 10
DEFAULT_PROBE_INTERVAL_SECONDS = 300
MIN_PROBE_INTERVAL_SECONDS = 5
DEFAULT_UNAUTHORIZED_THRESHOLD = 3
DEFAULT_MINT_BUDGET_PER_HOUR = 6
MAX_NAME_LENGTH = 253


class SpecError(ValueError):
    """A ZoomApp spec that cannot be served. `field` is the dotted path of the offending field."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"spec.{field_path}: {message}")
        self.field = field_path
        self.detail = message


@dataclass(frozen=True)
class CredentialsSecretRef:
    name: str
    account_id_key: str = "account_id"
    client_id_key: str = "client_id"
    client_secret_key: str = "client_secret"


@dataclass(frozen=True)
class ExpectedOwner:
    email: str | None = None
    user_id: str | None = None

    @property
    def lookup_key(self) -> str:
        """What Zoom's `/v2/users/{userId}` accepts for this owner: the id if known, else the email."""
        value = self.user_id or self.email
        assert value is not None  # guaranteed by parse_spec
        return value

    def matches_uid(self, uid: str) -> bool | None:
        """Whether a token's `uid` claim names this owner; None when only the email is known."""
        if self.user_id is None:
            return None
        return self.user_id == uid

    def describe(self) -> str:
        if self.email and self.user_id:
            return f"{self.email} ({self.user_id})"
        return self.lookup_key


@dataclass(frozen=True)
class TokenSecretTemplate:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    interval_seconds: int = DEFAULT_PROBE_INTERVAL_SECONDS
    path: str = DEFAULT_PROBE_PATH

    def resolve_path(self, owner: ExpectedOwner) -> str:
        """The probe path with `{owner}` replaced by the owner's id or email, quoted as one path segment."""
        segment = quote(owner.lookup_key, safe="@")
        if segment.strip(".") == "":
            segment = segment.replace(".", "%2E")
        return self.path.replace("{owner}", segment)


@dataclass(frozen=True)
class Endpoints:
    oauth_url: str = DEFAULT_OAUTH_URL
    api_url: str = DEFAULT_API_URL


@dataclass(frozen=True)
class ZoomAppSpec:
    credentials: CredentialsSecretRef
    expected_owner: ExpectedOwner
    token_secret: TokenSecretTemplate
    required_scopes: frozenset[str] = frozenset()
    renew_before_seconds: int = DEFAULT_RENEW_BEFORE_SECONDS
    probe: Probe = field(default_factory=Probe)
    unauthorized_threshold: int = DEFAULT_UNAUTHORIZED_THRESHOLD
    mint_budget_per_hour: int = DEFAULT_MINT_BUDGET_PER_HOUR
    auditor_ref: str | None = None
    endpoints: Endpoints = field(default_factory=Endpoints)


def parse_spec(spec: Mapping[str, Any], *, app_name: str) -> ZoomAppSpec:
    """Turn a ZoomApp `.spec` (as the API server returns it, defaults applied or not) into typed values."""
    if not isinstance(spec, Mapping):
        raise SpecError("", "must be an object")
    creds = _mapping(spec, "credentialsSecretRef", required=True)
    credentials = CredentialsSecretRef(
        name=_k8s_name(creds, "credentialsSecretRef.name", "name", required=True),
        account_id_key=_secret_key(creds, "credentialsSecretRef.accountIdKey", "accountIdKey", "account_id"),
        client_id_key=_secret_key(creds, "credentialsSecretRef.clientIdKey", "clientIdKey", "client_id"),
        client_secret_key=_secret_key(
            creds, "credentialsSecretRef.clientSecretKey", "clientSecretKey", "client_secret"
        ),
    )

    owner = _mapping(spec, "expectedOwner", required=True)
    email = _opt_str(owner, "expectedOwner.email", "email")
    user_id = _opt_str(owner, "expectedOwner.userId", "userId")
    if not email and not user_id:
        raise SpecError(
            "expectedOwner", "set email or userId (or both) of the Zoom user who should own the app"
        )
    if email is not None and ("@" not in email or len(email) > 320):
        raise SpecError("expectedOwner.email", f"{email[:64]!r} is not an email address")

    token = _mapping(spec, "tokenSecret", required=False)
    if not token.get("name") and len(f"{app_name}-token") > MAX_NAME_LENGTH:
        raise SpecError(
            "tokenSecret.name",
            f"is required for a ZoomApp name of {len(app_name)} characters: the default <name>-token "
            f"would exceed {MAX_NAME_LENGTH}",
        )
    token_secret = TokenSecretTemplate(
        name=_k8s_name(token, "tokenSecret.name", "name", required=False) or f"{app_name}-token",
        labels=_str_map(token, "tokenSecret.labels", "labels"),
        annotations=_str_map(token, "tokenSecret.annotations", "annotations"),
    )

    probe_spec = _mapping(spec, "probe", required=False)
    probe_path = _opt_str(probe_spec, "probe.path", "path") or DEFAULT_PROBE_PATH
    if not probe_path.startswith("/"):
        raise SpecError("probe.path", f"{probe_path[:64]!r} must start with '/' (e.g. /v2/users/{{owner}})")
    probe = Probe(
        interval_seconds=_int(
            probe_spec,
            "probe.intervalSeconds",
            "intervalSeconds",
            DEFAULT_PROBE_INTERVAL_SECONDS,
            minimum=MIN_PROBE_INTERVAL_SECONDS,
        ),
        path=probe_path,
    )

    endpoints_spec = _mapping(spec, "endpoints", required=False)
    endpoints = Endpoints(
        oauth_url=_url(endpoints_spec, "endpoints.oauthUrl", "oauthUrl", DEFAULT_OAUTH_URL),
        api_url=_url(endpoints_spec, "endpoints.apiUrl", "apiUrl", DEFAULT_API_URL),
    )

    scopes_raw = spec.get("requiredScopes", [])
    if not isinstance(scopes_raw, list) or not all(isinstance(s, str) and s for s in scopes_raw):
        raise SpecError("requiredScopes", "must be a list of Zoom scope names such as meeting:write:admin")

    auditor = _mapping(spec, "auditorRef", required=False)
    auditor_name = _k8s_name(auditor, "auditorRef.name", "name", required=False) if auditor else None

    return ZoomAppSpec(
        credentials=credentials,
        expected_owner=ExpectedOwner(email=email or None, user_id=user_id or None),
        token_secret=token_secret,
        required_scopes=frozenset(scopes_raw),
        renew_before_seconds=_int(
            spec,
            "renewBeforeSeconds",
            "renewBeforeSeconds",
            DEFAULT_RENEW_BEFORE_SECONDS,
            minimum=MIN_RENEW_BEFORE_SECONDS,
        ),
        probe=probe,
        unauthorized_threshold=_int(
            spec, "unauthorizedThreshold", "unauthorizedThreshold", DEFAULT_UNAUTHORIZED_THRESHOLD, minimum=1
        ),
        mint_budget_per_hour=_int(
            spec, "mintBudgetPerHour", "mintBudgetPerHour", DEFAULT_MINT_BUDGET_PER_HOUR, minimum=1
        ),
        auditor_ref=auditor_name,
        endpoints=endpoints,
    )


def _mapping(parent: Mapping[str, Any], key: str, *, required: bool) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        if required:
            raise SpecError(key, "is required")
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(key, "must be an object")
    return value


def _opt_str(parent: Mapping[str, Any], path: str, key: str) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(path, "must be a string")
    return value.strip() or None


def _k8s_name(parent: Mapping[str, Any], path: str, key: str, *, required: bool) -> str:
    value = _opt_str(parent, path, key)
    if value is None:
        if required:
            raise SpecError(path, "is required: the name of a Secret in the ZoomApp's namespace")
        return ""
    if len(value) > MAX_NAME_LENGTH or not _is_dns_subdomain(value):
        raise SpecError(path, f"{value[:64]!r} is not a valid Kubernetes object name")
    return value


def _secret_key(parent: Mapping[str, Any], path: str, key: str, default: str) -> str:
    value = _opt_str(parent, path, key) or default
    if len(value) > MAX_NAME_LENGTH or not all(c.isalnum() or c in "-._" for c in value):
        raise SpecError(
            path, f"{value[:64]!r} is not a valid Secret data key (letters, digits, '-', '_', '.')"
        )
    return value


def _str_map(parent: Mapping[str, Any], path: str, key: str) -> Mapping[str, str]:
    value = parent.get(key) or {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise SpecError(path, "must map strings to strings")
    return dict(value)


def _int(parent: Mapping[str, Any], path: str, key: str, default: int, *, minimum: int) -> int:
    value = parent.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise SpecError(path, f"must be at least {minimum}, got {value}")
    return value


def _url(parent: Mapping[str, Any], path: str, key: str, default: str) -> str:
    value = _opt_str(parent, path, key) or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(path, f"{value[:80]!r} is not an http(s) URL such as {default}")
    return value.rstrip("/")


def _is_dns_subdomain(name: str) -> bool:
    if not name or name[0] in "-." or name[-1] in "-.":
        return False
    return all(c.islower() or c.isdigit() or c in "-." for c in name)
