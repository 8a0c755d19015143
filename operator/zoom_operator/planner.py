"""What is due for one app, and when to wake it next (pure, clock injected).

`plan(state, spec, now, ...)` reads an `AppState` and says whether a token request may go out now and
why, and when the app next needs a step. The `on_*` functions fold an executor's evidence into the
state: the budget, backoff, Retry-After, fresh-token verification and owner-check rules live here, once.
Like cert-manager's trigger policies, each rule is a small function of the state and `now`; nothing
here does I/O, and every random choice comes in as a number in [0, 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

from zoom_operator.diagnosis import MintRecord, ProbeRecord, invalid_client_answers, rejected_fresh_tokens
from zoom_operator.schedule import Backoff, next_probe_at
from zoom_operator.spec import ZoomAppSpec
from zoom_operator.state import AppState
from zoom_operator.zoom.outcomes import ClientRejected, RateLimited, TokenIssued, Transient, Unauthorized

CONFIRM_INVALID_CLIENT_AFTER: Final = timedelta(seconds=20)  # one retry before SecretRotationRequired
VERIFY_FRESH_AFTER: Final = timedelta(seconds=2)  # pause between fresh-token verifications of a 401
PROBE_RETRY_FLOOR: Final = timedelta(seconds=5)  # after an outage on the probe
CREDENTIALS_POLL: Final = timedelta(seconds=15)  # while the credentials Secret is missing or unlabelled
CONFLICT_POLL: Final = timedelta(seconds=15)  # while the token Secret's name is taken by a Secret not ours
OWNER_CHECK_INTERVAL: Final = timedelta(hours=1)  # role lookups with the app's own token
FOREVER: Final = timedelta(days=1)
MIN_STEP_INTERVAL: Final = timedelta(milliseconds=100)
ROLE_READ_SCOPES: Final = frozenset({"role:read:admin", "role:read:role:admin", "role:write:admin"})

MintReason = Literal["no-token", "renewal", "verification", "requested"]
Blocker = Literal["blocked", "retry-after", "backoff", "budget", "lease"]


@dataclass(frozen=True)
class Tuning:
    """The rules' knobs (`[INVENTED]` values stay configurable: zoom-s2s-reference.md)."""

    fresh_token_seconds: int = 60
    invalid_client_threshold: int = 2
    backoff: Backoff = field(default_factory=Backoff)
    owner_backoff: Backoff = field(default_factory=lambda: Backoff(base_seconds=60.0, cap_seconds=900.0))


@dataclass(frozen=True)
class MintDecision:
    """Whether a token request may go out now: `reason` says why one is wanted, `blocker` what holds it."""

    reason: MintReason | None
    blocker: Blocker | None = None

    @property
    def now(self) -> bool:
        return self.reason is not None and self.blocker is None


def mint_reason(state: AppState, spec: ZoomAppSpec, now: datetime, *, force: bool) -> MintReason | None:
    """Why a token is wanted now, if it is."""
    if force:
        return "requested"
    if state.token is None or not state.token_valid(now):
        return "no-token"
    renewal = state.current_renew_at(spec.renew_before_seconds)
    if renewal is not None and now >= renewal:
        return "renewal"
    if state.verify_at is not None and now >= state.verify_at:
        return "verification"
    return None


def decide_mint(
    state: AppState, spec: ZoomAppSpec, now: datetime, *, credentials_fingerprint: str, force: bool
) -> MintDecision:
    """The token request rule: wanted, and not held back by a block, Zoom's Retry-After, the backoff,
    the budget, or another process's request in flight. A renew-now request skips the backoff only."""
    reason = mint_reason(state, spec, now, force=force)
    if reason is None:
        return MintDecision(None)
    if state.blocked_fingerprint == credentials_fingerprint:
        return MintDecision(reason, "blocked")
    if state.zoom_retry_after is not None and now < state.zoom_retry_after:
        return MintDecision(reason, "retry-after")  # Zoom said when to come back: even renew-now waits
    if not force and state.retry_at is not None and now < state.retry_at:
        return MintDecision(reason, "backoff")
    if not state.budget.allows(now):
        return MintDecision(reason, "budget")
    if state.lease_until is not None and now < state.lease_until:
        return MintDecision(reason, "lease")
    return MintDecision(reason)


def next_mint_at(state: AppState, spec: ZoomAppSpec, now: datetime) -> datetime | None:
    """When the next token request may go out: the earliest reason to mint, held back by the backoff,
    Zoom's Retry-After, another process's request and the mint budget."""
    wanted = [t for t in (state.verify_at,) if t is not None]
    if state.mint_requested or not state.token_valid(now):
        wanted.append(now)
    renewal = state.current_renew_at(spec.renew_before_seconds)
    if renewal is not None:
        wanted.append(renewal)
    if not wanted:
        return None
    at = min(wanted)
    if state.retry_at is not None and not state.mint_requested:
        at = max(at, state.retry_at)
    if state.zoom_retry_after is not None:
        at = max(at, state.zoom_retry_after)
    if state.lease_until is not None and state.lease_until > now:
        at = max(at, state.lease_until)
    return max(at, state.budget.next_allowed(max(at, now)))


def probe_due(state: AppState, now: datetime) -> bool:
    """A valid token is proven when its probe is due (every new token at once)."""
    return state.token_valid(now) and (state.probe_due is None or now >= state.probe_due)


def role_check_due(state: AppState, now: datetime) -> bool:
    """Without an auditor: look the owner's role up with the app's own token, when it may read roles,
    the role is not known yet or changed, or the last lookup is OWNER_CHECK_INTERVAL old."""
    owner, token = state.owner, state.token
    if owner is None or token is None or owner.lookup is None:
        return False
    role_id = getattr(owner.lookup, "role_id", None)
    if not role_id or not token.scopes & ROLE_READ_SCOPES:
        return False
    fresh_role = owner.role is not None and owner.role.id == role_id
    recent = (
        state.owner_role_checked_at is not None and now - state.owner_role_checked_at < OWNER_CHECK_INTERVAL
    )
    return not (fresh_role and recent)


def auditor_check_due(state: AppState, now: datetime) -> bool:
    """With an auditor: every probe interval, and at once after a 401 while the owner facts are not the
    auditor's own."""
    rejected = bool(state.probes) and isinstance(state.probes[-1].outcome, Unauthorized)
    due = state.next_owner_check is None or now >= state.next_owner_check
    return due or (rejected and state.owner is not None and state.owner.source != "auditor")


def next_wakeup(
    state: AppState,
    spec: ZoomAppSpec,
    now: datetime,
    *,
    credentials_usable: bool,
    credentials_fingerprint: str | None,
    duplicate: bool,
) -> datetime:
    """When this app needs its next step (watch events may bring it forward)."""
    if state.conflict is not None:
        return now + CONFLICT_POLL
    if not credentials_usable:
        return now + CREDENTIALS_POLL
    if duplicate:
        return now + FOREVER  # woken when the serving app goes away
    candidates: list[datetime] = []
    if state.token_valid(now) and state.probe_due is not None:
        candidates.append(state.probe_due)
    if state.blocked_fingerprint != credentials_fingerprint:
        mint_at = next_mint_at(state, spec, now)
        if mint_at is not None:
            candidates.append(mint_at)
    if state.token is not None and state.token.expires_at > now:
        candidates.append(state.token.expires_at)  # Ready flips when the token runs out
    if spec.auditor_ref and state.next_owner_check is not None:
        candidates.append(state.next_owner_check)
    if not candidates:
        return now + FOREVER
    # Everything above is actionable when due (budget, backoff and Retry-After are already applied),
    # so a due time means "step again now"; the floor keeps a mistake from becoming a hot loop.
    return max(min(candidates), now + MIN_STEP_INTERVAL)


# Folding evidence into the state --------------------------------------------------------------------


def on_mint_attempt(state: AppState) -> None:
    """A token request is about to go out (its attempt is recorded on status)."""
    state.verify_at = None
    state.mint_requested = False


def on_minted(
    state: AppState,
    spec: ZoomAppSpec,
    record: MintRecord,
    tuning: Tuning,
    *,
    credentials_fingerprint: str,
    client_id_fingerprint: str,
    rng_value: float,
) -> str | None:
    """Fold a token endpoint answer into the state. Returns a log-worthy note when minting stops."""
    outcome = record.outcome
    at = record.at
    state.add_mint(record)
    state.zoom_retry_after = None
    if not isinstance(outcome, Transient | RateLimited) and not (
        isinstance(outcome, ClientRejected) and outcome.error == "invalid_client"
    ):
        state.prior_invalid_client = 0  # another answer: the streak from before the restart has ended
    if isinstance(outcome, TokenIssued):
        state.attempt = 0
        state.retry_at = None
        state.proven_client_id = client_id_fingerprint
        state.renew_jitter = rng_value
        if state.token is not None and spec.required_scopes <= state.token.scopes:
            # remember the last scopes that still held everything required: a lost scope stays flagged
            # across later mints until it comes back
            state.previous_scopes = state.token.scopes
        # Held in memory first: if the write fails, the next step retries the write, not the mint.
        state.token, state.token_unsaved = outcome, True
        state.probe_due = at  # prove every new token at once (after a failed write: once stored)
        return None
    if isinstance(outcome, ClientRejected) and outcome.error == "invalid_client":
        streak = invalid_client_answers(state.mints, state.prior_invalid_client)
        if streak >= tuning.invalid_client_threshold:
            state.blocked_fingerprint = credentials_fingerprint
            return f"Zoom rejected the client credentials {streak} times"
        state.verify_at = at + CONFIRM_INVALID_CLIENT_AFTER  # confirm once before flagging
        return None
    if isinstance(outcome, ClientRejected):
        state.blocked_fingerprint = credentials_fingerprint  # a misconfiguration: retrying cannot help
        return f"Zoom refused the token request ({outcome.error})"
    backoff = tuning.backoff if isinstance(outcome, Transient | RateLimited) else tuning.owner_backoff
    retry_after = outcome.retry_after if isinstance(outcome, RateLimited) else None
    state.zoom_retry_after = retry_after
    state.retry_at = backoff.retry_at(at, state.attempt, rng_value, retry_after=retry_after)
    state.attempt += 1
    return None


def on_probed(
    state: AppState,
    spec: ZoomAppSpec,
    record: ProbeRecord,
    tuning: Tuning,
    *,
    rng_value: float,
) -> None:
    """Fold a probe answer (already stripped of its body) into the state."""
    at, outcome = record.at, record.outcome
    state.last_probe_at = at
    state.probe_due = next_probe_at(at, spec.probe.interval_seconds)
    if isinstance(outcome, Transient | RateLimited):
        retry = tuning.backoff.retry_at(
            at, 0, rng_value, retry_after=outcome.retry_after if isinstance(outcome, RateLimited) else None
        )
        state.probe_due = min(state.probe_due, max(retry, at + PROBE_RETRY_FLOOR))
    state.add_probe(record, fresh_token_seconds=tuning.fresh_token_seconds)
    if not isinstance(outcome, Unauthorized | Transient | RateLimited):
        state.prior_fresh_rejections = 0  # proven valid: the streak from before the restart has ended
    fresh_streak = rejected_fresh_tokens(
        state.probes, tuning.fresh_token_seconds, state.prior_fresh_rejections
    )
    if isinstance(outcome, Unauthorized) and fresh_streak < spec.unauthorized_threshold:
        # the verdict must rest on fresh tokens: mint again (within budget) and probe that one
        state.verify_at = at + (VERIFY_FRESH_AFTER if fresh_streak else timedelta(0))
