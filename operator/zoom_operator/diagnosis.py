"""Recent Zoom outcomes -> the three status conditions of a ZoomApp (pure, clock injected).

The operator, and `zoom-operator diagnose`, gather an immutable `Snapshot` (the spec, the token in the
Secret, recent mints and probes, what is known about the owner, and `now`); `diagnose` turns it into the
`Ready`, `SecretRotationRequired` and `OwnerRoleChangeRequired` conditions. As in cert-manager's policy
chains, each condition is a `Chain` of small named rules tried in order: a rule returns a `Verdict` when
it applies and None when it does not, the first verdict wins, and the chain's default covers the rest.

Rules judge by context, never by one response. Transient and RateLimited outcomes (no usable answer) are
skipped when looking for the latest "decisive" mint or probe, so they never raise a human-action flag.
Messages say who must act and what to do, naming the app, the owner and the Secrets; they never contain
a token or a secret value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final, Literal, Protocol, TypeVar

from zoom_operator.schedule import MintBudget
from zoom_operator.spec import ZoomAppSpec
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

ConditionStatus = Literal["True", "False", "Unknown"]

CONDITION_READY: Final = "Ready"
CONDITION_SECRET_ROTATION_REQUIRED: Final = "SecretRotationRequired"
CONDITION_OWNER_ROLE_CHANGE_REQUIRED: Final = "OwnerRoleChangeRequired"

PENDING: Final = "Pending"  # Unknown: not enough evidence yet, on any condition

READY_TOKEN_VERIFIED: Final = "TokenVerified"
READY_CREDENTIALS_MISSING: Final = "CredentialsSecretMissing"
READY_CREDENTIALS_INVALID: Final = "CredentialsSecretInvalid"
READY_CLIENT_CREDENTIALS_REJECTED: Final = "ClientCredentialsRejected"
READY_APP_DISABLED: Final = "AppDisabled"
READY_TOKEN_REJECTED: Final = "TokenRejected"
READY_OWNER_PROBLEM: Final = "OwnerProblem"
READY_DUPLICATE_CLIENT_ID: Final = "DuplicateClientId"
READY_MINT_BUDGET_EXHAUSTED: Final = "MintBudgetExhausted"
READY_ZOOM_UNREACHABLE: Final = "ZoomUnreachable"
READY_TOKEN_SECRET_CONFLICT: Final = "TokenSecretConflict"
READY_REQUIRED_SCOPES_MISSING: Final = "RequiredScopesMissing"

ROTATION_CLIENT_CREDENTIALS_REJECTED: Final = "ClientCredentialsRejected"
ROTATION_OWNERSHIP_TRANSFER_PENDING: Final = "OwnershipTransferPending"
ROTATION_CREDENTIALS_ACCEPTED: Final = "CredentialsAccepted"
ROTATION_CREDENTIALS_UNAVAILABLE: Final = "CredentialsUnavailable"

OWNER_NOT_FOUND: Final = "OwnerNotFound"
OWNER_DEACTIVATED: Final = "OwnerDeactivated"
OWNER_ROLE_LACKS_PERMISSION: Final = "OwnerRoleLacksPermission"
OWNER_SCOPES_REVOKED: Final = "ScopesRevoked"
OWNER_FRESH_TOKENS_REJECTED: Final = "FreshTokensRejected"
OWNER_VERIFIED: Final = "OwnerVerified"
OWNER_NO_EVIDENCE: Final = "NoEvidence"

REASONS: Final[Mapping[str, frozenset[str]]] = {
    CONDITION_READY: frozenset(
        {
            READY_TOKEN_VERIFIED,
            READY_CREDENTIALS_MISSING,
            READY_CREDENTIALS_INVALID,
            READY_CLIENT_CREDENTIALS_REJECTED,
            READY_APP_DISABLED,
            READY_TOKEN_REJECTED,
            READY_OWNER_PROBLEM,
            READY_DUPLICATE_CLIENT_ID,
            READY_MINT_BUDGET_EXHAUSTED,
            READY_ZOOM_UNREACHABLE,
            READY_TOKEN_SECRET_CONFLICT,
            READY_REQUIRED_SCOPES_MISSING,
            PENDING,
        }
    ),
    CONDITION_SECRET_ROTATION_REQUIRED: frozenset(
        {
            ROTATION_CLIENT_CREDENTIALS_REJECTED,
            ROTATION_OWNERSHIP_TRANSFER_PENDING,
            ROTATION_CREDENTIALS_ACCEPTED,
            ROTATION_CREDENTIALS_UNAVAILABLE,
            PENDING,
        }
    ),
    CONDITION_OWNER_ROLE_CHANGE_REQUIRED: frozenset(
        {
            OWNER_NOT_FOUND,
            OWNER_DEACTIVATED,
            OWNER_ROLE_LACKS_PERMISSION,
            OWNER_SCOPES_REVOKED,
            OWNER_FRESH_TOKENS_REJECTED,
            OWNER_VERIFIED,
            OWNER_NO_EVIDENCE,
            PENDING,
        }
    ),
}
"""Every reason each condition type can carry: the vocabulary alerts and docs key on."""

_INACTIVE_STATUSES: Final = frozenset({"inactive", "pending"})


@dataclass(frozen=True)
class Condition:
    type: str
    status: ConditionStatus
    reason: str
    message: str


@dataclass(frozen=True)
class MintRecord:
    """One token request and its outcome."""

    at: datetime
    outcome: TokenOutcome


@dataclass(frozen=True)
class ProbeRecord:
    """One probe call; `token_issued_at` says which token was probed."""

    at: datetime
    token_issued_at: datetime
    outcome: ApiOutcome


@dataclass(frozen=True)
class TokenFacts:
    """The token currently in the token Secret (never its value)."""

    issued_at: datetime
    expires_at: datetime
    scopes: frozenset[str]
    owner_uid: str | None


@dataclass(frozen=True)
class OwnerFacts:
    """What a lookup of the app owner found: via the app's own token (`token`), the probe's answer
    (`probe`), or the auditor app (`auditor`). `lookup` is None when it was not looked up or the lookup
    failed transiently."""

    source: Literal["token", "probe", "auditor"]
    checked_at: datetime
    lookup: ZoomUser | NotFound | None
    role: ZoomRole | None


@dataclass(frozen=True)
class CredentialsProblem:
    """Why the credentials Secret cannot be used; the message (built by the operator) names Secret and key."""

    reason: str
    message: str

    def __post_init__(self) -> None:
        if self.reason not in (READY_CREDENTIALS_MISSING, READY_CREDENTIALS_INVALID):
            raise ValueError(f"reason must be {READY_CREDENTIALS_MISSING} or {READY_CREDENTIALS_INVALID}")


@dataclass(frozen=True)
class TokenSecretConflict:
    """The Secret `spec.tokenSecret.name` names exists and is not this ZoomApp's own."""

    secret: str  # "namespace/name"
    controller: str | None = None  # the ZoomApp (same namespace) that controls it, if one does


@dataclass(frozen=True)
class Snapshot:
    """Everything the rules may look at. Records are oldest first; `mints` holds only attempts made
    since the credentials last changed."""

    now: datetime
    spec: ZoomAppSpec
    app: str  # "namespace/name" (or "diagnose" outside Kubernetes)
    credentials_secret: str  # "namespace/name" of the credentials Secret
    credentials_problem: CredentialsProblem | None = None
    duplicate_of: str | None = None  # who already serves this client_id, as this app may name it
    token_secret_conflict: TokenSecretConflict | None = None
    auditor_note: str | None = None  # why spec.auditorRef's token was not used
    token: TokenFacts | None = None
    mints: tuple[MintRecord, ...] = ()
    probes: tuple[ProbeRecord, ...] = ()
    owner: OwnerFacts | None = None
    previous_scopes: frozenset[str] | None = None  # scopes of the token before the latest mint
    budget_exhausted: bool = False  # the mint budget forbids a mint right now and one is needed
    s2s_privilege: str = "ServerToServerOAuthApp:Edit"
    fresh_token_seconds: int = 60  # a probe is on a "fresh" token when probe.at - token_issued_at < this
    invalid_client_threshold: int = 2

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("Snapshot.now must be timezone-aware (UTC)")


@dataclass(frozen=True)
class Verdict:
    """What a rule decided; the chain it belongs to supplies the condition type."""

    status: ConditionStatus
    reason: str
    message: str


Rule = Callable[[Snapshot], Verdict | None]


@dataclass(frozen=True)
class Chain:
    """Rules for one condition type, tried in order; the first verdict wins, else the default's."""

    condition_type: str
    rules: tuple[Rule, ...]
    default: Callable[[Snapshot], Verdict]

    def evaluate(self, snapshot: Snapshot) -> Condition:
        for rule in self.rules:
            verdict = rule(snapshot)
            if verdict is not None:
                return self._condition(verdict)
        return self._condition(self.default(snapshot))

    def _condition(self, verdict: Verdict) -> Condition:
        return Condition(self.condition_type, verdict.status, verdict.reason, verdict.message)


@dataclass(frozen=True)
class Diagnosis:
    ready: Condition
    secret_rotation_required: Condition
    owner_role_change_required: Condition

    def conditions(self) -> tuple[Condition, Condition, Condition]:
        return (self.ready, self.secret_rotation_required, self.owner_role_change_required)

    def human_action_required(self) -> bool:
        return "True" in (self.secret_rotation_required.status, self.owner_role_change_required.status)


def diagnose(snapshot: Snapshot) -> Diagnosis:
    """The three conditions for a snapshot."""
    owner = OWNER_ROLE_CHAIN.evaluate(snapshot)
    if snapshot.auditor_note:
        owner = replace(owner, message=f"{owner.message} The auditor was not used: {snapshot.auditor_note}.")
    return Diagnosis(
        ready=READY_CHAIN.evaluate(snapshot),
        secret_rotation_required=SECRET_ROTATION_CHAIN.evaluate(snapshot),
        owner_role_change_required=owner,
    )


# --- evidence ---------------------------------------------------------------------------------------


class _Record(Protocol):
    @property
    def at(self) -> datetime: ...

    @property
    def outcome(self) -> TokenOutcome | ApiOutcome: ...


_R = TypeVar("_R", bound=_Record)


def _is_transient(outcome: TokenOutcome | ApiOutcome) -> bool:
    return isinstance(outcome, Transient | RateLimited)


def _latest_decisive(records: Sequence[_R]) -> _R | None:
    """The newest record with a usable answer (Transient and RateLimited skipped)."""
    return next((r for r in reversed(records) if not _is_transient(r.outcome)), None)


def _token_accepted(outcome: ApiOutcome) -> bool:
    """Zoom checks the token first: any answer past authentication (even a 4711 scope error) proves it.

    A 404 proves it only with a Zoom error code: a bare 404 may come from anything but Zoom's API.
    """
    if isinstance(outcome, NotFound):
        return outcome.code is not None
    return isinstance(outcome, ApiOk | ScopeMissing | ApiError)


def _latest_issued(s: Snapshot) -> TokenIssued | None:
    return next((m.outcome for m in reversed(s.mints) if isinstance(m.outcome, TokenIssued)), None)


def _token_valid(s: Snapshot) -> bool:
    return s.token is not None and s.now < s.token.expires_at


def _current_token_probes(s: Snapshot) -> tuple[ProbeRecord, ...]:
    if s.token is None:
        return ()
    issued_at = s.token.issued_at
    return tuple(p for p in s.probes if p.token_issued_at == issued_at)


def _is_fresh(s: Snapshot, probe: ProbeRecord) -> bool:
    return 0 <= (probe.at - probe.token_issued_at).total_seconds() < s.fresh_token_seconds


def _probe_is_user_lookup(s: Snapshot) -> bool:
    """Whether the probe reads the owner (`/v2/users/{owner}`), so its 404 means the owner is gone."""
    path = s.spec.probe.path
    return path.startswith("/v2/users/") and path.count("/") == 3


def fresh_unauthorized_streak(snapshot: Snapshot) -> int:
    """`rejected_fresh_tokens` of the snapshot's probes."""
    return rejected_fresh_tokens(snapshot.probes, snapshot.fresh_token_seconds)


def rejected_fresh_tokens(probes: Sequence[ProbeRecord], fresh_token_seconds: int) -> int:
    """How many distinct freshly minted tokens Zoom rejected in a row, most recent first.

    A 401 on a token minted less than `fresh_token_seconds` before the probe counts once per token.
    401s on older tokens and the 401s that name their own cause ("Access token is expired", token sent
    in the query string) are no evidence either way, nor are Transient and RateLimited outcomes: they
    are skipped. Any answer that proves a token valid ends the streak.
    """
    rejected_tokens: set[datetime] = set()
    for probe in reversed(probes):
        outcome = probe.outcome
        if _is_transient(outcome):
            continue
        if not isinstance(outcome, Unauthorized):
            break
        fresh = 0 <= (probe.at - probe.token_issued_at).total_seconds() < fresh_token_seconds
        if not (outcome.token_expired or outcome.token_in_query) and fresh:
            rejected_tokens.add(probe.token_issued_at)
    return len(rejected_tokens)


def invalid_client_streak(snapshot: Snapshot) -> int:
    """`invalid_client_answers` of the snapshot's mints."""
    return invalid_client_answers(snapshot.mints)


def invalid_client_answers(mints: Sequence[MintRecord]) -> int:
    """How many of the most recent token requests Zoom answered `invalid_client` in a row (Transient
    and RateLimited outcomes skipped; any other answer ends the streak)."""
    streak = 0
    for mint in reversed(mints):
        outcome = mint.outcome
        if _is_transient(outcome):
            continue
        if not (isinstance(outcome, ClientRejected) and outcome.error == "invalid_client"):
            break
        streak += 1
    return streak


def _latest_minted(s: Snapshot) -> tuple[datetime, frozenset[str]] | None:
    """When the newest known token was minted and its scopes: the latest mint, else the Secret's token."""
    issued = _latest_issued(s)
    if issued is not None:
        return issued.issued_at, issued.scopes
    if s.token is not None:
        return s.token.issued_at, s.token.scopes
    return None


def missing_scopes(snapshot: Snapshot) -> frozenset[str]:
    """Required scopes the newest token lacks (empty while no token is known)."""
    latest = _latest_minted(snapshot)
    if latest is None:
        return frozenset()
    return snapshot.spec.required_scopes - latest[1]


def _revoked_scopes(s: Snapshot) -> frozenset[str]:
    """Required scopes the token before the latest mint had and the newest token lacks."""
    if s.previous_scopes is None:
        return frozenset()
    return (s.spec.required_scopes & s.previous_scopes) & missing_scopes(s)


def never_granted_scopes(snapshot: Snapshot) -> frozenset[str]:
    """Required scopes the newest token lacks that no earlier token had: the app never had them (as
    opposed to `ScopesRevoked`, scopes an earlier token had)."""
    return missing_scopes(snapshot) - _revoked_scopes(snapshot)


def _owner_user(s: Snapshot) -> ZoomUser | None:
    return s.owner.lookup if s.owner is not None and isinstance(s.owner.lookup, ZoomUser) else None


def _is_expected_owner(s: Snapshot, user: ZoomUser) -> bool:
    expected = s.spec.expected_owner
    if expected.user_id is not None and user.id != expected.user_id:
        return False
    return expected.email is None or user.email.casefold() == expected.email.casefold()


def _role_allows_s2s(s: Snapshot, role: ZoomRole | None) -> bool:
    return role is None or s.s2s_privilege in role.privileges


def _owner_healthy(s: Snapshot, facts: OwnerFacts) -> bool:
    user = facts.lookup
    return isinstance(user, ZoomUser) and user.status == "active" and _role_allows_s2s(s, facts.role)


def _token_holder(s: Snapshot) -> str | None:
    """The Zoom user the app's tokens belong to, when that is known not to be the expected owner."""
    issued = _latest_issued(s)
    uid = (issued.owner_uid if issued else None) or (s.token.owner_uid if s.token else None)
    if uid is not None and s.spec.expected_owner.matches_uid(uid) is False:
        return uid
    user = _owner_user(s)
    expected_email = s.spec.expected_owner.email
    if (
        uid is not None
        and s.spec.expected_owner.user_id is None
        and user is not None
        and expected_email is not None
        and user.email.lower() == expected_email.lower()
        and user.id != uid
    ):
        # only the email is expected: the lookup of that email tells its id, which the token's uid is not
        return uid
    if user is not None and _looked_up_token_owner(s) and not _is_expected_owner(s, user):
        return _user(user)
    return None


def _looked_up_token_owner(s: Snapshot) -> bool:
    """Whether the owner facts describe whoever the app's token belongs to (`/v2/users/me`), rather than
    the expected owner looked up by id or email."""
    if s.owner is None:
        return False
    return s.owner.source == "token" or (s.owner.source == "probe" and s.spec.probe.path == "/v2/users/me")


# --- message parts ----------------------------------------------------------------------------------


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _unreachable_since(records: Sequence[_Record]) -> datetime | None:
    """Start of the trailing run of Transient/RateLimited records, if the latest record is one."""
    since = None
    for record in reversed(records):
        if not _is_transient(record.outcome):
            break
        since = record.at
    return since


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


# --- SecretRotationRequired -------------------------------------------------------------------------


def client_credentials_rejected(s: Snapshot) -> Verdict | None:
    """Zoom's token endpoint answered `invalid_client` to the configured credentials repeatedly."""
    streak = invalid_client_streak(s)
    latest = _latest_decisive(s.mints)
    if (
        streak < s.invalid_client_threshold
        or latest is None
        or not isinstance(latest.outcome, ClientRejected)
    ):
        return None
    creds = _creds(s)
    return Verdict(
        "True",
        ROTATION_CLIENT_CREDENTIALS_REJECTED,
        f"Zoom's token endpoint rejected the client ID and client secret from {creds} {streak} times in a "
        f'row ("{latest.outcome.reason}", last at {_ts(latest.at)}). The app owner {_owner(s)} must check '
        "that the app is activated in the Zoom App Marketplace and, if its client secret was rotated, put "
        f"the current secret into {creds}; the operator retries as soon as {creds} changes.",
    )


def ownership_transfer_pending(s: Snapshot) -> Verdict | None:
    """The app's tokens belong to someone other than spec.expectedOwner."""
    holder = _token_holder(s)
    if holder is None:
        return None
    owner = _owner(s)
    return Verdict(
        "True",
        ROTATION_OWNERSHIP_TRANSFER_PENDING,
        f"Tokens of ZoomApp {s.app} belong to Zoom user {holder}, but spec.expectedOwner is {owner}. A "
        f"transfer of the app to {owner} completes only after {owner} rotates the client secret "
        '("Complete Rotation" on the App Credentials page in the Zoom App Marketplace) and '
        f"{_creds(s)} is updated with the new secret; if no transfer is intended, fix spec.expectedOwner "
        f"of ZoomApp {s.app}.",
    )


def credentials_unavailable(s: Snapshot) -> Verdict | None:
    """The credentials Secret cannot be read, so nothing can be said about the secret."""
    if s.credentials_problem is None:
        return None
    return Verdict(
        "Unknown",
        ROTATION_CREDENTIALS_UNAVAILABLE,
        f"Cannot tell whether the client secret must be rotated: {s.credentials_problem.message}",
    )


def client_rejection_unconfirmed(s: Snapshot) -> Verdict | None:
    """The latest token request was refused, but not (yet) in a way that calls for a rotation."""
    latest = _latest_decisive(s.mints)
    if latest is None or not isinstance(latest.outcome, ClientRejected):
        return None
    outcome = latest.outcome
    creds = _creds(s)
    if outcome.error == "invalid_client":
        message = (
            f"Zoom's token endpoint rejected the credentials from {creds} at {_ts(latest.at)} "
            f'("{outcome.reason}"), {invalid_client_streak(s)} of the {s.invalid_client_threshold} '
            "rejections in a row that flag a rotation; the operator asks again to confirm."
        )
    else:
        message = (
            f"Zoom's token endpoint refused the credentials from {creds} at {_ts(latest.at)} "
            f"({_mint_answer(outcome)}); rotating the client secret does not fix this: see condition Ready."
        )
    return Verdict("Unknown", PENDING, message)


def credentials_accepted(s: Snapshot) -> Verdict | None:
    """Zoom recognised the credentials on the latest decisive request, or the held token proves them."""
    latest = _latest_decisive(s.mints)
    creds = _creds(s)
    if latest is not None and isinstance(latest.outcome, TokenIssued):
        message = (
            f"Zoom's token endpoint accepted the client credentials from {creds} at {_ts(latest.at)}; "
            "no rotation is needed."
        )
    elif latest is not None and isinstance(latest.outcome, AppDisabled | OwnerMissing):
        message = (
            f"Zoom's token endpoint recognised the client credentials from {creds} at {_ts(latest.at)} but "
            f"refused a token ({_mint_answer(latest.outcome)}); rotating the secret alone does not fix that: "
            "see conditions Ready and OwnerRoleChangeRequired."
        )
    elif latest is None and s.token is not None:
        message = (
            f"The token in {_token_secret(s)} was minted at {_ts(s.token.issued_at)} with the client "
            f"credentials from {creds}; no rotation is needed."
        )
    else:
        return None
    return Verdict("False", ROTATION_CREDENTIALS_ACCEPTED, message)


def _rotation_pending(s: Snapshot) -> Verdict:
    return Verdict(
        "Unknown", PENDING, f"No token request with the credentials from {_creds(s)} has completed yet."
    )


SECRET_ROTATION_CHAIN: Final = Chain(
    CONDITION_SECRET_ROTATION_REQUIRED,
    (
        client_credentials_rejected,
        ownership_transfer_pending,
        credentials_unavailable,
        client_rejection_unconfirmed,
        credentials_accepted,
    ),
    _rotation_pending,
)


# --- OwnerRoleChangeRequired ------------------------------------------------------------------------


def token_endpoint_owner_missing(s: Snapshot) -> Verdict | None:
    """The token endpoint says the owner of the app's tokens does not exist (doc code 4735)."""
    latest = _latest_decisive(s.mints)
    if latest is None or not isinstance(latest.outcome, OwnerMissing):
        return None
    return Verdict(
        "True",
        OWNER_NOT_FOUND,
        f"Zoom's token endpoint says the owner of ZoomApp {s.app}'s tokens does not exist "
        f'("{latest.outcome.reason}", at {_ts(latest.at)}): the expected owner {_owner(s)} has left the '
        "account or was deleted, and Zoom may have moved the app to the account owner. An account admin "
        f"must {_transfer_steps(s)}.",
    )


def owner_not_found(s: Snapshot) -> Verdict | None:
    """A lookup of the owner answered 404."""
    facts = s.owner
    if facts is None or not isinstance(facts.lookup, NotFound):
        return None
    return Verdict(
        "True",
        OWNER_NOT_FOUND,
        f"The expected owner {_owner(s)} of ZoomApp {s.app} does not exist in the Zoom account "
        f'({_looked_up(s, facts)}: "{facts.lookup.message}"); Zoom may have moved the app to the account '
        f"owner. An account admin must {_transfer_steps(s)}.",
    )


def owner_deactivated(s: Snapshot) -> Verdict | None:
    """The owner's Zoom user is inactive or has not joined the account."""
    user = _owner_user(s)
    if s.owner is None or user is None or user.status not in _INACTIVE_STATUSES:
        return None
    if user.status == "inactive":
        state, fix = "deactivated", f"reactivate {user.email} (User Management > Users)"
    else:
        state, fix = (
            "pending (has not joined the account)",
            f"have {user.email} accept the account invitation",
        )
    return Verdict(
        "True",
        OWNER_DEACTIVATED,
        f"The owner of ZoomApp {s.app}, Zoom user {_user(user)}, is {state} ({_looked_up(s, s.owner)}), so "
        f"Zoom rejects the app's tokens. An account admin must {fix} or {_transfer_steps(s)}.",
    )


def owner_role_lacks_permission(s: Snapshot) -> Verdict | None:
    """The owner's role does not carry the Server-to-Server OAuth app privilege."""
    facts = s.owner
    if facts is None or facts.role is None or _role_allows_s2s(s, facts.role):
        return None
    user = _owner_user(s)
    who = _user(user) if user else _owner(s)
    role = facts.role.name
    return Verdict(
        "True",
        OWNER_ROLE_LACKS_PERMISSION,
        f'The owner of ZoomApp {s.app}, Zoom user {who}, has role "{role}", which lacks the '
        f"Server-to-Server OAuth app permission ({s.s2s_privilege}; {_looked_up(s, facts)}), so Zoom "
        "rejects the app's tokens. An account admin must tick View and Edit for \"Server-to-Server OAuth "
        f'app" on role "{role}" (User Management > Roles > Role Settings > Advanced features), or move '
        f"{who} to a role that has it, or {_transfer_steps(s)}.",
    )


def scopes_revoked(s: Snapshot) -> Verdict | None:
    """The newest token lost required scopes the token before it had: the owner's role was downgraded."""
    lost = _revoked_scopes(s)
    latest = _latest_minted(s)
    if not lost or latest is None:
        return None
    owner = _owner(s)
    return Verdict(
        "True",
        OWNER_SCOPES_REVOKED,
        f"The token minted for ZoomApp {s.app} at {_ts(latest[0])} lacks required scopes {_scopes(lost)} "
        f"that the token before it had: the role of the app owner {owner} likely lost admin privileges, and "
        "Zoom removes admin-level scopes the owner may no longer grant. An account admin must restore the "
        f"owner's admin role (User Management > Roles) or {_transfer_steps(s)}. Then the owner re-adds the "
        "scopes on the app's Scopes page in the Zoom App Marketplace.",
    )


def fresh_tokens_rejected(s: Snapshot) -> Verdict | None:
    """Zoom keeps answering 401 to brand-new tokens while minting works: the owner can no longer use it."""
    streak = fresh_unauthorized_streak(s)
    if streak < s.spec.unauthorized_threshold:
        return None
    last = _latest_decisive(s.probes)
    assert last is not None
    owner = _owner(s)
    facts = s.owner
    if facts is not None and facts.source == "auditor" and _owner_healthy(s, facts):
        hint = (
            f" The auditor sees {owner} as active with that permission ({_looked_up(s, facts)}), so also "
            "check in the Zoom App Marketplace whether the app was deactivated."
        )
    elif s.spec.auditor_ref is None:
        hint = (
            " Add spec.auditorRef (a ZoomApp whose token may read users and roles) to get an exact diagnosis."
        )
    else:
        hint = f" Auditor ZoomApp {s.spec.auditor_ref} has not been able to look up {owner} yet."
    return Verdict(
        "True",
        OWNER_FRESH_TOKENS_REJECTED,
        f"Zoom rejected {streak} freshly minted tokens of ZoomApp {s.app} in a row "
        f"({_api_answer(last.outcome)}, last at {_ts(last.at)}) while minting works: the app owner "
        f"{owner} likely lost their role or status. An account admin must check that {owner} is active "
        'and that their role has the "Server-to-Server OAuth app" permission (User Management > Roles), '
        f"or {_transfer_steps(s)}.{hint}",
    )


def owner_verified(s: Snapshot) -> Verdict | None:
    """The owner was seen active, with the S2S privilege when the role is known."""
    facts = s.owner
    user = _owner_user(s)
    if facts is None or user is None or not _owner_healthy(s, facts):
        return None
    if facts.role is None:
        state = f"active ({_looked_up(s, facts)}; role not checked)"
    else:
        state = (
            f'active with role "{facts.role.name}", which has the Server-to-Server OAuth app permission '
            f"({_looked_up(s, facts)})"
        )
    return Verdict(
        "False",
        OWNER_VERIFIED,
        f"The owner of ZoomApp {s.app}, Zoom user {_user(user)}, is {state}; no action needed.",
    )


def no_evidence(s: Snapshot) -> Verdict | None:
    """Zoom accepted a token, so the owner works for now, but the owner was never looked up."""
    latest = _latest_decisive(s.probes)
    if latest is None or (s.owner is not None and s.owner.lookup is not None):
        return None
    outcome = latest.outcome
    if not _token_accepted(outcome) or (isinstance(outcome, NotFound) and _probe_is_user_lookup(s)):
        return None
    hint = (
        " Set spec.auditorRef to check the owner's status and role before tokens start failing."
        if s.spec.auditor_ref is None
        else ""
    )
    return Verdict(
        "False",
        OWNER_NO_EVIDENCE,
        f"Zoom accepted ZoomApp {s.app}'s token at {_ts(latest.at)}, so the owner {_owner(s)} can use the "
        f"API, but the owner's status and role have not been looked up; no action needed.{hint}",
    )


def _owner_pending(s: Snapshot) -> Verdict:
    streak = fresh_unauthorized_streak(s)
    latest = _latest_decisive(s.probes)
    if streak:
        message = (
            f"Zoom rejected {streak} freshly minted token(s) of ZoomApp {s.app} in a row; "
            f"{s.spec.unauthorized_threshold} flag an owner problem. The operator keeps minting and probing "
            "to confirm."
        )
    elif latest is not None and isinstance(latest.outcome, Unauthorized):
        message = (
            f"Zoom rejected a token of ZoomApp {s.app} at {_ts(latest.at)} ({_api_answer(latest.outcome)}); "
            "the operator probes a freshly minted token to tell a token problem from an owner problem."
        )
    else:
        message = (
            f"Nothing is known yet about the owner {_owner(s)} of ZoomApp {s.app}: no probe has been "
            "answered and the owner has not been looked up."
        )
    return Verdict("Unknown", PENDING, message)


OWNER_ROLE_CHAIN: Final = Chain(
    CONDITION_OWNER_ROLE_CHANGE_REQUIRED,
    (
        token_endpoint_owner_missing,
        owner_not_found,
        owner_deactivated,
        owner_role_lacks_permission,
        scopes_revoked,
        fresh_tokens_rejected,
        owner_verified,
        no_evidence,
    ),
    _owner_pending,
)


# --- Ready ------------------------------------------------------------------------------------------


def credentials_unreadable(s: Snapshot) -> Verdict | None:
    """The credentials Secret is missing or lacks a usable key."""
    problem = s.credentials_problem
    return None if problem is None else Verdict("False", problem.reason, problem.message)


def token_secret_conflict(s: Snapshot) -> Verdict | None:
    """The token Secret's name is taken by a Secret this ZoomApp does not control."""
    conflict = s.token_secret_conflict
    if conflict is None:
        return None
    owner = (
        f"it is the token Secret of ZoomApp {conflict.controller}"
        if conflict.controller
        else "it has no controller ownerReference to this ZoomApp"
    )
    return Verdict(
        "False",
        READY_TOKEN_SECRET_CONFLICT,
        f"Secret {conflict.secret} (spec.tokenSecret.name) exists and is not this ZoomApp's own: {owner}. "
        f"The operator mints nothing for ZoomApp {s.app} and reads, writes or sends nothing of that Secret. "
        "Set spec.tokenSecret.name to a name no other Secret uses (empty: <name>-token), or, if the Secret "
        "is stale, have whoever manages the namespace's Secrets delete it; the operator retries within "
        "15 seconds.",
    )


def duplicate_client_id(s: Snapshot) -> Verdict | None:
    """Another ZoomApp already mints for this client ID; one minter per Zoom app."""
    if s.duplicate_of is None:
        return None
    return Verdict(
        "False",
        READY_DUPLICATE_CLIENT_ID,
        f"{s.duplicate_of[0].upper()}{s.duplicate_of[1:]} already serves the client ID in {_creds(s)} and "
        f"has proven it with a token, so ZoomApp {s.app} does not mint (one minter per Zoom app). Delete one "
        "of the two ZoomApps, or point this one at the credentials of another Zoom app.",
    )


def app_disabled(s: Snapshot) -> Verdict | None:
    """Zoom disabled the app (doc code 4717); only Zoom support can re-enable it."""
    latest = _latest_decisive(s.mints)
    if latest is None or not isinstance(latest.outcome, AppDisabled):
        return None
    tracking = latest.outcome.tracking_id
    reference = f" and tracking ID {tracking}" if tracking else f" and the time {_ts(latest.at)}"
    return Verdict(
        "False",
        READY_APP_DISABLED,
        f'Zoom disabled the app whose credentials are in {_creds(s)} ("{latest.outcome.reason}", at '
        f"{_ts(latest.at)}); only Zoom support can re-enable it. The app owner {_owner(s)} must contact "
        f"Zoom support with the app's client ID{reference}.",
    )


def token_verified(s: Snapshot) -> Verdict | None:
    """The Secret's token is unexpired and the latest answered probe accepted it (or, while it is not
    probed yet, accepted the token it replaced)."""
    if not _token_valid(s):
        return None
    assert s.token is not None
    probe = _latest_decisive(_current_token_probes(s))
    unprobed = ""
    if probe is None:
        probe = _latest_decisive(s.probes)
        unprobed = f" The current token, minted at {_ts(s.token.issued_at)}, has not been probed yet."
    if probe is None or not _token_accepted(probe.outcome):
        return None
    message = (
        f"{_token_secret(s)} holds a token that Zoom accepted at {_ts(probe.at)} (GET {_probe_path(s)}: "
        f"{_api_answer(probe.outcome)}); it expires at {_ts(s.token.expires_at)}.{unprobed}"
    )
    if isinstance(probe.outcome, ScopeMissing):
        message += (
            " Zoom checks the token before its scopes, so the scope error still proves the token valid."
        )
    missing = missing_scopes(s)
    if missing:
        message += f" It lacks required scopes {_scopes(missing)}: see condition OwnerRoleChangeRequired."
    message += _last_probe_unreachable(s) + _renewal_note(s)
    return Verdict("True", READY_TOKEN_VERIFIED, message)


def required_scopes_missing(s: Snapshot) -> Verdict | None:
    """Zoom accepts the token, but it lacks required scopes the app was never granted: every call that
    needs them fails (code 4711), so the app is not Ready for what its owners declared it needs."""
    never = never_granted_scopes(s)
    verified = token_verified(s) if never else None
    if verified is None:
        return None
    admin = sorted(scope for scope in never if scope.endswith(":admin"))
    admin_note = (
        f"; admin-level scopes ({', '.join(admin)}) can be added only while the owner has an admin role"
        if admin
        else ""
    )
    return Verdict(
        "False",
        READY_REQUIRED_SCOPES_MISSING,
        f"{_token_secret(s)} holds a token that Zoom accepts, but it lacks required scopes {_scopes(never)} "
        "(spec.requiredScopes) that the app has never been granted, so every call that needs them fails "
        f"with code 4711. The app owner {_owner(s)} must add them on the app's Scopes page in the Zoom App "
        f"Marketplace{admin_note}; then renew the token (annotate ZoomApp {s.app} with "
        "zoom-operator.io/renew-now=<anything new>) and this clears.",
    )


def token_rejected(s: Snapshot) -> Verdict | None:
    """Zoom answered 401 to the Secret's unexpired token on its latest answered probe."""
    probe = _latest_decisive(_current_token_probes(s))
    if not _token_valid(s) or probe is None or not isinstance(probe.outcome, Unauthorized):
        return None
    outcome = probe.outcome
    rejected = f"Zoom rejected the token in {_token_secret(s)} at {_ts(probe.at)} ({_api_answer(outcome)})"
    owner = OWNER_ROLE_CHAIN.evaluate(s)
    if owner.status == "True":
        return Verdict(
            "False",
            READY_OWNER_PROBLEM,
            f"{rejected} because of the app owner ({owner.reason}); an account admin must act as condition "
            "OwnerRoleChangeRequired says.",
        )
    if outcome.token_expired:
        hint = "Zoom considers it expired before its expiry time: check the clocks of the cluster's nodes."
    elif outcome.token_in_query:
        hint = "The token was sent as a query parameter, which Zoom refuses: report this operator bug."
    else:
        hint = (
            "The operator mints a fresh token and probes again; if Zoom rejects "
            f"{s.spec.unauthorized_threshold} fresh tokens in a row, OwnerRoleChangeRequired rises."
        )
    return Verdict("False", READY_TOKEN_REJECTED, f"{rejected}. {hint}")


def token_unverified(s: Snapshot) -> Verdict | None:
    """The Secret holds an unexpired token that no answered probe has judged yet."""
    if not _token_valid(s):
        return None
    assert s.token is not None
    next_step = _last_probe_unreachable(s) or " The operator probes it next."
    return Verdict(
        "Unknown",
        PENDING,
        f"{_token_secret(s)} holds a token minted at {_ts(s.token.issued_at)} (expires "
        f"{_ts(s.token.expires_at)}) that no probe has verified yet.{next_step}",
    )


def mint_rejected(s: Snapshot) -> Verdict | None:
    """No valid token, and the token endpoint refused the configured credentials."""
    latest = _latest_decisive(s.mints)
    if _token_valid(s) or latest is None or not isinstance(latest.outcome, ClientRejected):
        return None
    outcome = latest.outcome
    creds = _creds(s)
    refused = (
        f"{_no_valid_token(s)}: Zoom's token endpoint refused the credentials from {creds} at "
        f"{_ts(latest.at)}"
    )
    if outcome.error == "invalid_client":
        action = (
            f'("{outcome.reason}"). The app owner {_owner(s)} must check that the app is activated in the '
            f"Zoom App Marketplace and that {creds} holds its current client ID and secret; the operator "
            f"retries as soon as {creds} changes."
        )
    elif outcome.error == "unsupported_grant_type":
        action = (
            f'("{outcome.reason}"): they are not the credentials of a Server-to-Server OAuth app. The app '
            f"owner {_owner(s)} must put the Account ID, Client ID and Client Secret of a Server-to-Server "
            f"OAuth app into {creds}."
        )
    else:
        action = (
            f"({_mint_answer(outcome)}). The app owner {_owner(s)} must compare the account ID, client ID "
            f"and client secret in {creds} with the app's App Credentials page in the Zoom App Marketplace."
        )
    return Verdict("False", READY_CLIENT_CREDENTIALS_REJECTED, f"{refused} {action}")


def mint_owner_missing(s: Snapshot) -> Verdict | None:
    """No valid token, and the token endpoint says the owner of the app's tokens does not exist."""
    latest = _latest_decisive(s.mints)
    if _token_valid(s) or latest is None or not isinstance(latest.outcome, OwnerMissing):
        return None
    return Verdict(
        "False",
        READY_OWNER_PROBLEM,
        f"{_no_valid_token(s)}: Zoom refuses tokens for ZoomApp {s.app} because the owner of its tokens "
        f'does not exist ("{latest.outcome.reason}", at {_ts(latest.at)}); an account admin must act as '
        "condition OwnerRoleChangeRequired says.",
    )


def mint_budget_exhausted(s: Snapshot) -> Verdict | None:
    """No valid token, and the hourly mint budget forbids asking for one now."""
    if _token_valid(s) or not s.budget_exhausted:
        return None
    limit = s.spec.mint_budget_per_hour
    next_allowed = MintBudget.from_timestamps(limit, (m.at for m in s.mints)).next_allowed(s.now)
    when = f"at {_ts(next_allowed)}" if next_allowed > s.now else "within the hour"
    return Verdict(
        "False",
        READY_MINT_BUDGET_EXHAUSTED,
        f"{_no_valid_token(s)} and ZoomApp {s.app} has used its mint budget of {limit} token requests per "
        f"hour (spec.mintBudgetPerHour); the next request is allowed {when}. If this repeats, find out why "
        "tokens are requested so often (rejections, renew-now annotations) or raise spec.mintBudgetPerHour.",
    )


def zoom_unreachable(s: Snapshot) -> Verdict | None:
    """No valid token, and the latest token requests got no usable answer."""
    since = _unreachable_since(s.mints)
    if _token_valid(s) or since is None:
        return None
    last = s.mints[-1]
    return Verdict(
        "False",
        READY_ZOOM_UNREACHABLE,
        f"{_no_valid_token(s)}: Zoom's token endpoint {s.spec.endpoints.oauth_url} has been unreachable "
        f"since {_ts(since)} (last: {_mint_answer(last.outcome)} at {_ts(last.at)}). The operator keeps "
        "retrying; nothing for a human to do unless it lasts, then check the cluster's egress to Zoom and "
        "Zoom's status page.",
    )


def _ready_pending(s: Snapshot) -> Verdict:
    return Verdict(
        "Unknown",
        PENDING,
        f"{_no_valid_token(s)}; the operator is requesting a new token.",
    )


READY_CHAIN: Final = Chain(
    CONDITION_READY,
    (
        token_secret_conflict,
        credentials_unreadable,
        duplicate_client_id,
        app_disabled,
        required_scopes_missing,
        token_verified,
        token_rejected,
        token_unverified,
        mint_rejected,
        mint_owner_missing,
        mint_budget_exhausted,
        zoom_unreachable,
    ),
    _ready_pending,
)
