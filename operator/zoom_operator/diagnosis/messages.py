"""The parts condition messages are built from: how an app, its Secrets, its owner, a Zoom answer, a
time and a set of scopes are written, and the sentences several rules share.

Times are `timefmt.rfc3339`. A Zoom answer is written as its HTTP status, code and Zoom's (sanitized)
text, a failure without its free-form detail, which may quote a URL or an exception; nothing here ever
writes a token or a secret. Private to the diagnosis package.
"""

from __future__ import annotations

from zoom_operator.diagnosis.evidence import OwnerFacts, Snapshot, _is_transient, _unreachable_since
from zoom_operator.timefmt import rfc3339 as _ts
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
    ZoomUser,
)


def _owner(s: Snapshot) -> str:
    return s.spec.expected_owner.describe()


def _user(user: ZoomUser) -> str:
    return f"{user.email} ({user.id})"


def _token_secret(s: Snapshot) -> str:
    namespace, slash, _ = s.app.partition("/")
    name = s.spec.token_secret.name
    return f"Secret {namespace}/{name}" if slash else f"Secret {name}"


def _creds(s: Snapshot) -> str:
    return f"Secret {s.credentials_secret}"


def _probe_path(s: Snapshot) -> str:
    return s.spec.probe.resolve_path(s.spec.expected_owner)


def _looked_up(s: Snapshot, facts: OwnerFacts) -> str:
    how = {
        "token": "with the app's own token",
        "probe": "by the probe",
        "auditor": f"by auditor ZoomApp {s.spec.auditor_ref}" if s.spec.auditor_ref else "by the auditor",
    }[facts.source]
    return f"looked up {how} at {_ts(facts.checked_at)}"


def _transfer_steps(s: Snapshot) -> str:
    return (
        "transfer the app to an active admin (Zoom App Marketplace > Created Apps > Transfer App Owner), "
        'who must then rotate the client secret ("Complete Rotation" on the App Credentials page) and put '
        f"the new secret into {_creds(s)}; then set spec.expectedOwner of ZoomApp {s.app} to the new owner"
    )


def _zoom_text(code: int | None, message: str) -> str:
    return f'code {code} "{message}"' if code is not None else f'"{message}"'


def _api_answer(outcome: ApiOutcome) -> str:
    if isinstance(outcome, ApiOk):
        return f"HTTP {outcome.http_status}"
    if isinstance(outcome, Unauthorized):
        return f"HTTP 401, {_zoom_text(outcome.code, outcome.message)}"
    if isinstance(outcome, ScopeMissing):
        return f"HTTP 400, {_zoom_text(outcome.code, outcome.message)}"
    if isinstance(outcome, NotFound):
        return f"HTTP 404, {_zoom_text(outcome.code, outcome.message)}"
    if isinstance(outcome, ApiError):
        return f"HTTP {outcome.http_status}, {_zoom_text(outcome.code, outcome.message)}"
    return _failure(outcome)


def _failure(outcome: Transient | RateLimited) -> str:
    """No usable answer, without the free-form detail (it may quote a URL or an exception)."""
    if isinstance(outcome, RateLimited):
        kind = outcome.limit_type or "rate limit"
        return f"HTTP 429 ({kind})"
    return f"{outcome.kind} (HTTP {outcome.http_status})" if outcome.http_status else outcome.kind


def _mint_answer(outcome: TokenOutcome) -> str:
    if isinstance(outcome, TokenIssued):
        return "token issued"
    if isinstance(outcome, ClientRejected):
        return f'HTTP {outcome.http_status}, {outcome.error} "{outcome.reason}"'
    if isinstance(outcome, AppDisabled | OwnerMissing):
        return f'"{outcome.reason}"'
    return _failure(outcome)


def _no_valid_token(s: Snapshot) -> str:
    if s.token is None:
        return f"{_token_secret(s)} holds no token"
    return f"The token in {_token_secret(s)} expired at {_ts(s.token.expires_at)}"


def _last_probe_unreachable(s: Snapshot) -> str:
    """A sentence when the most recent probe got no usable answer, else empty."""
    if not s.probes or _unreachable_since(s.probes) is None:
        return ""
    last = s.probes[-1]
    outcome = last.outcome
    assert isinstance(outcome, Transient | RateLimited)
    return (
        f" Zoom was unreachable at the last probe ({_ts(last.at)}, {_failure(outcome)}); the operator "
        "keeps probing."
    )


def _renewal_note(s: Snapshot) -> str:
    """A sentence when renewing the (still valid) token is failing or held back, else empty."""
    assert s.token is not None
    latest = s.mints[-1] if s.mints else None
    if latest is not None and latest.at >= s.token.issued_at and not isinstance(latest.outcome, TokenIssued):
        outcome = latest.outcome
        if _is_transient(outcome):
            since = _unreachable_since(s.mints)
            assert since is not None
            return (
                f" Renewal has failed since {_ts(since)} ({_mint_answer(outcome)}); the operator keeps "
                "retrying while this token lasts."
            )
        see = "OwnerRoleChangeRequired" if isinstance(outcome, OwnerMissing) else "SecretRotationRequired"
        return (
            f" Renewal was refused at {_ts(latest.at)} ({_mint_answer(outcome)}); this token keeps serving "
            f"until it expires: see condition {see}."
        )
    if s.budget_exhausted:
        return f" Renewal waits for the mint budget ({s.spec.mint_budget_per_hour} per hour)."
    return ""


def _scopes(scopes: frozenset[str]) -> str:
    return ", ".join(sorted(scopes))
