"""The ZoomApp spec as typed values: the one place that parses and validates it (pure, no I/O).

The CRD schema rejects most bad input at the API server; this parser is the second line for objects
that predate a schema change or come from elsewhere (tests, `diagnose`), and it never raises anything
but `SpecError`, whose message names the field and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from zoom_operator.zoom.paths import path_segment

DEFAULT_OAUTH_URL = "https://zoom.us"
DEFAULT_API_URL = "https://api.zoom.us"
# Where the operator may send credentials and tokens unless `--allow-endpoint` says otherwise: Zoom's
# and Zoom for Government's HTTPS hosts (zoom-s2s-reference.md, "Endpoints").
DEFAULT_ALLOWED_ENDPOINTS: tuple[str, ...] = (
    "https://zoom.us",
    "https://api.zoom.us",
    "https://zoomgov.com",
    "https://api.zoomgov.com",
)
DEFAULT_PROBE_PATH = "/v2/users/{owner}"
PROBE_PATH_PREFIX = "/v2/"
# A base URL as the Zoom client can use it: http(s), an ASCII host name or a bracketed IPv6 address, an
# optional port from 1 to 65535, an optional path; no userinfo, query or fragment. The CRD's
# `endpoints.*` pattern is this same string (tests/unit/test_spec_security.py checks it).
ENDPOINT_URL_PATTERN = (
    r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])"
    r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(/[A-Za-z0-9._~%!$&'()*+,;=:/-]*)?$"
)
PROBE_PATH_PATTERN = r"^/v2/[A-Za-z0-9._~%!$&'()*+,;=:@{}/-]*$"
DEFAULT_RENEW_BEFORE_SECONDS = 600
MIN_RENEW_BEFORE_SECONDS = 10
DEFAULT_PROBE_INTERVAL_SECONDS = 300
MIN_PROBE_INTERVAL_SECONDS = 5
DEFAULT_UNAUTHORIZED_THRESHOLD = 3
DEFAULT_MINT_BUDGET_PER_HOUR = 6
MAX_NAME_LENGTH = 253
# The role privilege that stands for Zoom's "Server-to-Server OAuth app" permission (View and Edit),
# without which Zoom rejects the tokens of the apps a user owns; `--s2s-privilege` overrides it.
DEFAULT_S2S_PRIVILEGE = "ServerToServerOAuthApp:Edit"


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
        return self.path.replace("{owner}", path_segment(owner.lookup_key))


@dataclass(frozen=True)
class Endpoints:
    oauth_url: str = DEFAULT_OAUTH_URL
    api_url: str = DEFAULT_API_URL


def default_token_secret_name(app_name: str) -> str:
    """The token Secret's name when `tokenSecret.name` is not set."""
    return f"{app_name}-token"


@lru_cache(maxsize=256)  # pure; judged on every step of every app, and the URLs are few
def endpoint_url_problem(value: str) -> str | None:
    """Why `value` cannot be a Zoom base URL, or None when it can.

    The one rule for base URLs, shared by `parse_spec`, the Zoom client and `diagnose`: http(s), a host,
    a numeric port in range, no userinfo, no query, no fragment. The CRD's pattern says the same.
    """
    if any(c.isspace() or not c.isprintable() for c in value):
        return "contains spaces or control characters"
    if "?" in value or "#" in value:
        return "must not have a query string or fragment"
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL with a host"
    if "@" in parts.netloc:
        return "must not carry a user name or password (put credentials in the credentials Secret)"
    if not re.fullmatch(ENDPOINT_URL_PATTERN, value):
        return "is not a plain base URL (an ASCII host name, a port from 1 to 65535, a path)"
    return None


@dataclass(frozen=True)
class EndpointAllowlist:
    """The URL prefixes the operator may send credentials and tokens to (`--allow-endpoint`).

    A prefix matches on URL structure, not on text: same scheme, same host, same port, and a path that
    is the prefix's path or lies below it, so `https://zoom.us` never matches `https://zoom.us.example`.
    """

    prefixes: tuple[str, ...] = DEFAULT_ALLOWED_ENDPOINTS

    @classmethod
    def parse(cls, prefixes: Sequence[str]) -> EndpointAllowlist:
        """Validate prefixes as given on the command line; ValueError names the bad one."""
        cleaned: list[str] = []
        for prefix in prefixes:
            problem = endpoint_url_problem(prefix)
            if problem:
                raise ValueError(f"--allow-endpoint {prefix[:80]!r} {problem}")
            cleaned.append(prefix.rstrip("/"))
        return cls(tuple(cleaned))

    def allows(self, url: str) -> bool:
        target = _url_key(url)
        if target is None:
            return False
        for prefix in self.prefixes:
            allowed = _url_key(prefix)
            if allowed is None or allowed[:3] != target[:3]:
                continue
            path = allowed[3]
            if target[3] == path or target[3].startswith(path + "/"):
                return True
        return False

    def describe(self) -> str:
        return ", ".join(self.prefixes) if self.prefixes else "(none)"


@lru_cache(maxsize=256)
def _url_key(url: str) -> tuple[str, str, int, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    default_port = 443 if scheme == "https" else 80
    return scheme, parts.hostname.lower(), port or default_port, parts.path.rstrip("/")


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


def parse_spec(
    spec: Mapping[str, Any], *, app_name: str, allowlist: EndpointAllowlist | None = None
) -> ZoomAppSpec:
    """Turn a ZoomApp `.spec` (as the API server returns it, defaults applied or not) into typed values.

    With `allowlist`, endpoints outside it are a `SpecError` too: the operator sends nothing there.
    """
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
    if not token.get("name") and len(default_token_secret_name(app_name)) > MAX_NAME_LENGTH:
        raise SpecError(
            "tokenSecret.name",
            f"is required for a ZoomApp name of {len(app_name)} characters: the default <name>-token "
            f"would exceed {MAX_NAME_LENGTH}",
        )
    token_name = _k8s_name(token, "tokenSecret.name", "name", required=False)
    token_secret = TokenSecretTemplate(
        name=token_name or default_token_secret_name(app_name),
        labels=_str_map(token, "tokenSecret.labels", "labels"),
        annotations=_str_map(token, "tokenSecret.annotations", "annotations"),
    )

    probe_spec = _mapping(spec, "probe", required=False)
    probe_path = _opt_str(probe_spec, "probe.path", "path") or DEFAULT_PROBE_PATH
    if not re.fullmatch(PROBE_PATH_PATTERN, probe_path) or "/../" in f"{probe_path}/":
        raise SpecError(
            "probe.path",
            f"{probe_path[:64]!r} must be a Zoom API path under {PROBE_PATH_PREFIX} without a query "
            "(e.g. /v2/users/{owner})",
        )
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
    if allowlist is not None:
        for path, url in (
            ("endpoints.oauthUrl", endpoints.oauth_url),
            ("endpoints.apiUrl", endpoints.api_url),
        ):
            if not allowlist.allows(url):
                raise SpecError(
                    path,
                    f"{url[:80]!r} is not on the operator's endpoint allowlist ({allowlist.describe()}); "
                    "use one of those, or ask the operator's administrators to add it with "
                    "--allow-endpoint (chart value allowEndpoints)",
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
    problem = endpoint_url_problem(value)
    if problem:
        shown = "the URL given" if "@" in value else repr(value[:80])
        raise SpecError(path, f"{shown} {problem}; use an http(s) base URL such as {default}")
    return value.rstrip("/")


def _is_dns_subdomain(name: str) -> bool:
    if not name or name[0] in "-." or name[-1] in "-.":
        return False
    return all(c.islower() or c.isdigit() or c in "-." for c in name)
