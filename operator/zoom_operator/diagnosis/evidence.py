"""What the rules judge: the `Snapshot` of evidence, the records in it, and the facts read off it.

The data types are the diagnosis's input (`Snapshot` and the records and facts it holds), a rule's
output (`Verdict`) and the result (`Condition`, `Diagnosis`). The functions below them read evidence off
a snapshot without judging it: the latest decisive mint or probe (Transient and RateLimited skipped),
streaks of rejections, missing and revoked scopes, what is known of the owner. Names with a leading
underscore are shared by the modules of this package only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeVar

from zoom_operator.diagnosis.reasons import (
    READY_CREDENTIALS_INVALID,
    READY_CREDENTIALS_MISSING,
    ConditionStatus,
)
from zoom_operator.spec import DEFAULT_S2S_PRIVILEGE, ZoomAppSpec
from zoom_operator.zoom.outcomes import (
    ApiError,
    ApiOk,
    ApiOutcome,
    ClientRejected,
    NotFound,
    RateLimited,
    ScopeMissing,
    TokenIssued,
    TokenOutcome,
    Transient,
    Unauthorized,
    ZoomRole,
    ZoomUser,
)
from zoom_operator.zoom.paths import is_user_path


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: ConditionStatus
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class MintRecord:
    """One token request and its outcome."""

    at: datetime
    outcome: TokenOutcome


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """One probe call; `token_issued_at` says which token was probed."""

    at: datetime
    token_issued_at: datetime
    outcome: ApiOutcome


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """The token currently in the token Secret (never its value)."""

    issued_at: datetime
    expires_at: datetime
    scopes: frozenset[str]
    owner_uid: str | None


@dataclass(frozen=True, slots=True)
class OwnerFacts:
    """What a lookup of the app owner found: via the app's own token (`token`), the probe's answer
    (`probe`), or the auditor app (`auditor`). `lookup` is None when it was not looked up or the lookup
    failed transiently."""

    source: Literal["token", "probe", "auditor"]
    checked_at: datetime
    lookup: ZoomUser | NotFound | None
    role: ZoomRole | None


@dataclass(frozen=True, slots=True)
class CredentialsProblem:
    """Why the credentials Secret cannot be used; the message (built by the operator) names Secret and key."""

    reason: str
    message: str

    def __post_init__(self) -> None:
        if self.reason not in (READY_CREDENTIALS_MISSING, READY_CREDENTIALS_INVALID):
            raise ValueError(f"reason must be {READY_CREDENTIALS_MISSING} or {READY_CREDENTIALS_INVALID}")


@dataclass(frozen=True, slots=True)
class TokenSecretConflict:
    """The Secret `spec.tokenSecret.name` names exists and is not this ZoomApp's own."""

    secret: str  # "namespace/name"
    controller: str | None = None  # the ZoomApp (same namespace) that controls it, if one does


@dataclass(frozen=True, slots=True)
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
    s2s_privilege: str = DEFAULT_S2S_PRIVILEGE
    fresh_token_seconds: int = 60  # a probe is on a "fresh" token when probe.at - token_issued_at < this
    invalid_client_threshold: int = 2
    # Streaks that status remembers from before a restart: counted on when the records run out first
    # (the records hold only what this process saw; status holds the count, not invented records).
    prior_fresh_rejections: int = 0
    prior_invalid_client: int = 0

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("Snapshot.now must be timezone-aware (UTC)")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule decided; the chain it belongs to supplies the condition type."""

    status: ConditionStatus
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Diagnosis:
    ready: Condition
    secret_rotation_required: Condition
    owner_role_change_required: Condition

    def conditions(self) -> tuple[Condition, Condition, Condition]:
        return (self.ready, self.secret_rotation_required, self.owner_role_change_required)

    def human_action_required(self) -> bool:
        return "True" in (self.secret_rotation_required.status, self.owner_role_change_required.status)


# --- what the rules read off a snapshot --------------------------------------------------------------


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
    return is_user_path(s.spec.probe.path)


def fresh_unauthorized_streak(snapshot: Snapshot) -> int:
    """`rejected_fresh_tokens` of the snapshot's probes."""
    return rejected_fresh_tokens(
        snapshot.probes, snapshot.fresh_token_seconds, snapshot.prior_fresh_rejections
    )


def rejected_fresh_tokens(probes: Sequence[ProbeRecord], fresh_token_seconds: int, prior: int = 0) -> int:
    """How many distinct freshly minted tokens Zoom rejected in a row, most recent first.

    A 401 on a token minted less than `fresh_token_seconds` before the probe counts once per token.
    401s on older tokens and the 401s that name their own cause ("Access token is expired", token sent
    in the query string) are no evidence either way, nor are Transient and RateLimited outcomes: they
    are skipped. Any answer that proves a token valid ends the streak; `prior` counts on when the
    records run out before one does.
    """
    rejected_tokens: set[datetime] = set()
    for probe in reversed(probes):
        outcome = probe.outcome
        if _is_transient(outcome):
            continue
        if not isinstance(outcome, Unauthorized):
            return len(rejected_tokens)
        fresh = 0 <= (probe.at - probe.token_issued_at).total_seconds() < fresh_token_seconds
        if not (outcome.token_expired or outcome.token_in_query) and fresh:
            rejected_tokens.add(probe.token_issued_at)
    return len(rejected_tokens) + prior


def invalid_client_streak(snapshot: Snapshot) -> int:
    """`invalid_client_answers` of the snapshot's mints."""
    return invalid_client_answers(snapshot.mints, snapshot.prior_invalid_client)


def invalid_client_answers(mints: Sequence[MintRecord], prior: int = 0) -> int:
    """How many of the most recent token requests Zoom answered `invalid_client` in a row (Transient
    and RateLimited outcomes skipped; any other answer ends the streak; `prior` counts on when the
    records run out before one does)."""
    streak = 0
    for mint in reversed(mints):
        outcome = mint.outcome
        if _is_transient(outcome):
            continue
        if not (isinstance(outcome, ClientRejected) and outcome.error == "invalid_client"):
            return streak
        streak += 1
    return streak + prior


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


def _unreachable_since(records: Sequence[_Record]) -> datetime | None:
    """Start of the trailing run of Transient/RateLimited records, if the latest record is one."""
    since = None
    for record in reversed(records):
        if not _is_transient(record.outcome):
            break
        since = record.at
    return since
