"""The ZoomApp status: rendered from an app's state, and restored into it after a restart (pure).

Conditions are in metav1.Condition shape; `lastTransitionTime` moves only when a condition's status
changes, as Kubernetes conventions ask. What was published is kept as `kube/published.Published`
(whether a write is worth it: `published.changed`). Nothing
here talks to the API server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zoom_operator.diagnosis import Condition, Diagnosis, MintRecord, OwnerFacts, ProbeRecord
from zoom_operator.kube.credentials import Credentials
from zoom_operator.kube.published import Published
from zoom_operator.kube.refs import as_mapping
from zoom_operator.schedule import MINT_WINDOW, MintBudget, next_probe_at
from zoom_operator.spec import ZoomAppSpec
from zoom_operator.state import HISTORY, AppState
from zoom_operator.timefmt import parse_rfc3339, rfc3339
from zoom_operator.zoom.outcomes import (
    SCOPE_MISSING_CODES,
    ApiOk,
    ApiOutcome,
    ClientRejected,
    NotFound,
    RateLimited,
    ScopeMissing,
    TokenIssued,
    Transient,
    Unauthorized,
    ZoomUser,
)

HUMAN_ACTION_TYPES = frozenset({"SecretRotationRequired", "OwnerRoleChangeRequired"})


@dataclass(frozen=True)
class Transition:
    """A condition whose status or reason changed; each becomes a Kubernetes Event."""

    condition: Condition
    previous_status: str | None
    previous_reason: str | None

    @property
    def is_warning(self) -> bool:
        if self.condition.type in HUMAN_ACTION_TYPES:
            return bool(self.condition.status == "True")
        return bool(self.condition.status == "False")


def render_conditions(
    previous: Sequence[Mapping[str, Any]] | None, diagnosis: Diagnosis, *, generation: int, now: datetime
) -> list[dict[str, Any]]:
    by_type = {str(c.get("type")): c for c in previous or () if isinstance(c, Mapping)}
    rendered = []
    for condition in diagnosis.conditions():
        old = by_type.get(condition.type)
        unchanged = old is not None and old.get("status") == condition.status
        rendered.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "observedGeneration": generation,
                "lastTransitionTime": (
                    old["lastTransitionTime"]
                    if unchanged and old and old.get("lastTransitionTime")
                    else rfc3339(now)
                ),
            }
        )
    return rendered


def transitions(previous: Sequence[Mapping[str, Any]] | None, diagnosis: Diagnosis) -> list[Transition]:
    """The conditions that changed status or reason since `previous`: each posts an Event.

    A flag that first appears lowered (`False`) is no news and posts none: with one Event each, a new
    ZoomApp cost three Events where one says it (Ready), and Events were 3 of the 10.5 API requests per
    app when 1,000 apps started (bench/RESULTS.md, 2026-12-01).
    """
    by_type = {str(c.get("type")): c for c in previous or () if isinstance(c, Mapping)}
    changed = []
    for condition in diagnosis.conditions():
        old = by_type.get(condition.type)
        if old is None and condition.type != "Ready" and condition.status == "False":
            continue
        old_status = str(old.get("status")) if old else None
        old_reason = str(old.get("reason")) if old else None
        if old_status != condition.status or old_reason != condition.reason:
            changed.append(Transition(condition, old_status, old_reason))
    return changed


@dataclass(frozen=True)
class RestoredEvidence:
    """What status remembers of the evidence behind the conditions, rebuilt after a restart.

    The worker keeps recent Zoom outcomes in memory; status keeps their summary. Without this, a
    restart would forget a raised flag (and spend fresh mints proving it again) or show `Ready` as
    Unknown until the next probe.
    """

    probes: tuple[ProbeRecord, ...] = ()  # the last probe, as status shows it
    owner: OwnerFacts | None = None
    rejected_mints: tuple[MintRecord, ...] = ()  # the last token request Zoom rejected
    rejected_fingerprint: str | None = None
    prior_fresh_rejections: int = 0  # fresh tokens rejected in a row before the last probe
    prior_invalid_client: int = 0  # invalid_client answers in a row before the last rejection


MAX_RESTORED_REJECTIONS = 12  # never more than the worker's history holds


def restore_evidence(
    status: Mapping[str, Any], *, token_issued_at: datetime | None, fresh_token_seconds: int, now: datetime
) -> RestoredEvidence:
    """Status can be edited while the operator is down: evidence dated after `now` is dropped and counts
    are bounded, so an edit cannot stall the app; a flag restored from status stands only until the next
    probe or mint proves or clears it."""
    probes, prior_fresh = _restore_probes(status, token_issued_at, fresh_token_seconds, now)
    rejected, prior_invalid = _restore_rejections(status, now)
    return RestoredEvidence(
        probes=probes,
        owner=_restore_owner(status, now),
        rejected_mints=rejected,
        rejected_fingerprint=_str(
            (as_mapping(status.get("credentials")).get("rejected") or {}).get("fingerprint")
        ),
        prior_fresh_rejections=prior_fresh,
        prior_invalid_client=prior_invalid,
    )


def render_rejection(
    fingerprint: str, rejections: Sequence[ClientRejected], at: datetime, *, prior: int = 0
) -> dict[str, Any]:
    last = rejections[-1]
    return {
        "fingerprint": fingerprint,
        "count": len(rejections) + prior,
        "error": last.error,
        "reason": last.reason[:200],
        "at": rfc3339(at),
    }


def _restore_probes(
    status: Mapping[str, Any], token_issued_at: datetime | None, fresh_token_seconds: int, now: datetime
) -> tuple[tuple[ProbeRecord, ...], int]:
    """The last probe as status shows it, and how many fresh tokens were rejected in a row before it."""
    probe = as_mapping(status.get("lastProbe"))
    at = parse_rfc3339(probe.get("at"))
    if token_issued_at is None or at is None or at < token_issued_at or at > now:
        return (), 0
    http_status = probe.get("httpStatus")
    code = probe.get("zoomCode") if isinstance(probe.get("zoomCode"), int) else None
    message = str(probe.get("message") or "")
    outcome: ApiOutcome
    if isinstance(http_status, int) and 200 <= http_status < 300:
        outcome = ApiOk(http_status=http_status, body={})
    elif http_status == 400 and code in SCOPE_MISSING_CODES:
        outcome = ScopeMissing(code=code, message=message, accepted_scopes=())
    elif http_status == 404:
        outcome = NotFound(code=code, message=message)
    elif http_status == 401:
        outcome = Unauthorized(code=code, message=message)
    else:
        return (), 0  # an outage or an odd answer: no evidence; the worker probes again at once
    prior = 0
    if isinstance(outcome, Unauthorized):
        count = status.get("consecutiveUnauthorized")
        rejected = min(count, MAX_RESTORED_REJECTIONS) if isinstance(count, int) and count > 0 else 0
        fresh = (at - token_issued_at).total_seconds() < fresh_token_seconds
        prior = max(rejected - (1 if fresh else 0), 0)  # the last probe counts itself when fresh
    return (ProbeRecord(at=at, token_issued_at=token_issued_at, outcome=outcome),), prior


def _restore_owner(status: Mapping[str, Any], now: datetime) -> OwnerFacts | None:
    owner = as_mapping(status.get("owner"))
    source = owner.get("source")
    checked_at = parse_rfc3339(owner.get("checkedAt"))
    if (
        source not in ("probe", "auditor")
        or checked_at is None
        or checked_at > now
        or not owner.get("userId")
    ):
        return None
    user = ZoomUser(
        id=str(owner["userId"]),
        email=str(owner.get("email") or ""),
        status=str(owner.get("status") or ""),
        role_id=_str(owner.get("roleId")),
        role_name=_str(owner.get("roleName")),
        account_id=None,
    )
    return OwnerFacts(source=source, checked_at=checked_at, lookup=user, role=None)


def _restore_rejections(status: Mapping[str, Any], now: datetime) -> tuple[tuple[MintRecord, ...], int]:
    """The last rejected token request as status shows it, and how many came before it in a row."""
    rejected = as_mapping(as_mapping(status.get("credentials")).get("rejected"))
    at = parse_rfc3339(rejected.get("at"))
    count = rejected.get("count")
    if at is None or at > now or not isinstance(count, int) or count < 1:
        return (), 0
    outcome = ClientRejected(
        error=str(rejected.get("error") or "invalid_client"),
        reason=str(rejected.get("reason") or ""),
        http_status=400,
    )
    return (MintRecord(at=at, outcome=outcome),), min(count, 10) - 1


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# The whole status: rendered from, and restored into, an app's state -----------------------------------


def render_status(
    state: AppState, spec: ZoomAppSpec, generation: int, diagnosis: Diagnosis, now: datetime
) -> dict[str, Any]:
    """`status` as the operator publishes it (no token or secret value: fingerprints only)."""
    previous = state.published.condition_maps() if state.published is not None else None
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": render_conditions(previous, diagnosis, generation=generation, now=now),
        "consecutiveUnauthorized": state.consecutive_unauthorized,
    }
    token = state.token
    if token is not None:
        state.renew_at = state.current_renew_at(spec.renew_before_seconds)
        status["token"] = {
            "secretName": spec.token_secret.name,
            "issuedAt": rfc3339(token.issued_at),
            "expiresAt": rfc3339(token.expires_at),
            "renewAt": rfc3339(state.renew_at or token.expires_at),
            "scopes": sorted(token.scopes),
            "fingerprint": token.access_token.fingerprint(),
        }
        if state.handled_renew_request is not None:
            status["token"]["renewRequestHandled"] = state.handled_renew_request
        if state.previous_scopes is not None and state.previous_scopes != token.scopes:
            status["token"]["previousScopes"] = sorted(state.previous_scopes)
    owner = state.owner
    if owner is not None and isinstance(owner.lookup, ZoomUser):
        user = owner.lookup
        status["owner"] = {
            "userId": user.id,
            "email": user.email,
            "status": user.status,
            "roleId": user.role_id or "",
            "roleName": (owner.role.name if owner.role else user.role_name) or "",
            "checkedAt": rfc3339(owner.checked_at),
            "source": owner.source,
        }
    elif token is not None and token.owner_uid:
        status["owner"] = {
            "userId": token.owner_uid,
            "source": "token",
            "checkedAt": rfc3339(token.issued_at),
        }
    status["mints"] = render_mints(state, now)
    if state.probes:
        status["lastProbe"] = probe_status(state.probes[-1])
    creds = state.credentials
    if isinstance(creds, Credentials):
        status["credentials"] = {
            "clientIdFingerprint": creds.client_id_fingerprint,
            "fingerprint": creds.fingerprint,
        }
        rejections = trailing_rejections(state.mints)
        if rejections:
            reached_start = not any(isinstance(m.outcome, TokenIssued) for m in state.mints)
            status["credentials"]["rejected"] = render_rejection(
                creds.fingerprint,
                rejections,
                state.mints[-1].at,
                prior=state.prior_invalid_client if reached_start else 0,
            )
    return status


def render_mints(state: AppState, now: datetime) -> dict[str, Any]:
    return mints_status(state.budget.in_window(now), state.mints_total, state.last_mint_at)


def mints_status(attempts: Sequence[datetime], total: int, last_at: datetime | None) -> dict[str, Any]:
    """`status.mints`: the token requests of the last hour, the total, and the latest."""
    return {
        "total": total,
        "lastHour": len(attempts),
        "recentAttempts": [rfc3339(t) for t in attempts],
        # null removes a value the merge patch would otherwise keep (e.g. one edited while the
        # operator was down and dropped on restart)
        "lastAt": rfc3339(last_at) if last_at is not None else None,
    }


def recorded_attempts(mints: Mapping[str, Any], now: datetime, *, until: datetime) -> list[datetime]:
    """The token-request times `status.mints` records within the hour before `now`, none after
    `until`, oldest first (an edited status cannot add attempts from the future)."""
    return sorted(
        t
        for t in (parse_rfc3339(v) for v in _list(mints.get("recentAttempts")))
        if t is not None and now - MINT_WINDOW < t <= until
    )


def trailing_rejections(mints: Sequence[MintRecord]) -> list[ClientRejected]:
    """The ClientRejected answers since the last issued token (outages skipped), oldest first."""
    rejections: list[ClientRejected] = []
    for record in reversed(mints):
        if isinstance(record.outcome, ClientRejected):
            rejections.insert(0, record.outcome)
        elif isinstance(record.outcome, TokenIssued):
            break
    return rejections


def probe_status(record: ProbeRecord) -> dict[str, Any]:
    outcome = record.outcome
    status: dict[str, Any] = {"at": rfc3339(record.at)}
    if isinstance(outcome, ApiOk):
        status.update(httpStatus=outcome.http_status, message="accepted")
    elif isinstance(outcome, Unauthorized):
        status.update(httpStatus=401, zoomCode=outcome.code, message=outcome.message)
    elif isinstance(outcome, ScopeMissing):
        status.update(httpStatus=400, zoomCode=outcome.code, message=outcome.message)
    elif isinstance(outcome, NotFound):
        status.update(httpStatus=404, zoomCode=outcome.code, message=outcome.message)
    elif isinstance(outcome, RateLimited):
        status.update(httpStatus=429, message=outcome.message)
    elif isinstance(outcome, Transient):
        status.update(message=f"{outcome.kind}: {outcome.detail}")
        if outcome.http_status is not None:
            status["httpStatus"] = outcome.http_status
    else:
        status.update(httpStatus=outcome.http_status, zoomCode=outcome.code, message=outcome.message)
    if outcome.tracking_id:
        status["trackingId"] = outcome.tracking_id
    return {k: v for k, v in status.items() if v is not None}


def restore_state(
    state: AppState,
    status: Mapping[str, Any],
    spec: ZoomAppSpec,
    *,
    fresh_token_seconds: int,
    now: datetime,
    probe_spread: float,
) -> None:
    """Rebuild the state from status once its token is known (from the app's own token Secret).

    Status can be edited while the operator is down, so nothing is trusted blindly: attempts dated in
    the future are dropped and never more than the budget allows are kept (an edit cannot stall
    minting), and the restored evidence stands only until the next probe or mint proves or clears it.
    `probe_spread` (seconds) spreads the first probes of many apps after a restart.
    """
    token_status = as_mapping(status.get("token"))
    mints = as_mapping(status.get("mints"))
    attempts = recorded_attempts(mints, now, until=now)
    state.budget = MintBudget.from_timestamps(
        spec.mint_budget_per_hour, attempts[-spec.mint_budget_per_hour :]
    )
    total = mints.get("total")
    state.mints_total = total if isinstance(total, int) and not isinstance(total, bool) and total > 0 else 0
    last_at = parse_rfc3339(mints.get("lastAt"))
    state.last_mint_at = last_at if last_at is not None and last_at <= now else None
    scopes = token_status.get("previousScopes") or token_status.get("scopes")
    if isinstance(scopes, list):
        state.previous_scopes = frozenset(str(s) for s in scopes[:200])
    evidence = restore_evidence(
        status,
        token_issued_at=state.token.issued_at if state.token else None,
        fresh_token_seconds=fresh_token_seconds,
        now=now,
    )
    state.probes = tuple(evidence.probes)[-HISTORY:]
    state.prior_fresh_rejections = evidence.prior_fresh_rejections
    state.owner = evidence.owner
    if evidence.rejected_fingerprint and evidence.rejected_mints:
        state.pending_rejection = (
            evidence.rejected_fingerprint,
            evidence.rejected_mints,
            evidence.prior_invalid_client,
        )
    handled = token_status.get("renewRequestHandled")
    state.handled_renew_request = handled if isinstance(handled, str) else None
    last_probe = parse_rfc3339(as_mapping(status.get("lastProbe")).get("at"))
    if state.token is not None and last_probe is not None and evidence.probes:
        spread = min(probe_spread, float(spec.probe.interval_seconds))
        state.probe_due = max(
            now + timedelta(seconds=spread), next_probe_at(last_probe, spec.probe.interval_seconds)
        )
    else:
        state.probe_due = now
    state.published = Published.of(status)
    state.restored = True


def _list(value: object) -> list[Any]:
    return value[:1000] if isinstance(value, list) else []
