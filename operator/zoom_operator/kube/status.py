"""Rendering the ZoomApp status: conditions in metav1.Condition shape, and what changed since last time.

Pure. `lastTransitionTime` moves only when a condition's status changes, as Kubernetes conventions ask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zoom_operator.diagnosis import Condition, Diagnosis, MintRecord, OwnerFacts, ProbeRecord
from zoom_operator.timefmt import parse_rfc3339, rfc3339
from zoom_operator.zoom.outcomes import (
    SCOPE_MISSING_CODES,
    ApiOk,
    ApiOutcome,
    ClientRejected,
    NotFound,
    ScopeMissing,
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
    by_type = {str(c.get("type")): c for c in previous or () if isinstance(c, Mapping)}
    changed = []
    for condition in diagnosis.conditions():
        old = by_type.get(condition.type)
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

    probes: tuple[ProbeRecord, ...] = ()
    owner: OwnerFacts | None = None
    rejected_mints: tuple[MintRecord, ...] = ()
    rejected_fingerprint: str | None = None


MAX_RESTORED_REJECTIONS = 12  # never more than the worker's history holds


def restore_evidence(
    status: Mapping[str, Any], *, token_issued_at: datetime | None, fresh_token_seconds: int, now: datetime
) -> RestoredEvidence:
    """Status can be edited while the operator is down: evidence dated after `now` is dropped and counts
    are bounded, so an edit cannot stall the app; a flag restored from status stands only until the next
    probe or mint proves or clears it."""
    return RestoredEvidence(
        probes=_restore_probes(status, token_issued_at, fresh_token_seconds, now),
        owner=_restore_owner(status, now),
        rejected_mints=_restore_rejections(status, now),
        rejected_fingerprint=_str(
            (_mapping(status.get("credentials")).get("rejected") or {}).get("fingerprint")
        ),
    )


def render_rejection(fingerprint: str, rejections: Sequence[ClientRejected], at: datetime) -> dict[str, Any]:
    last = rejections[-1]
    return {
        "fingerprint": fingerprint,
        "count": len(rejections),
        "error": last.error,
        "reason": last.reason[:200],
        "at": rfc3339(at),
    }


def _restore_probes(
    status: Mapping[str, Any], token_issued_at: datetime | None, fresh_token_seconds: int, now: datetime
) -> tuple[ProbeRecord, ...]:
    probe = _mapping(status.get("lastProbe"))
    at = parse_rfc3339(probe.get("at"))
    if token_issued_at is None or at is None or at < token_issued_at or at > now:
        return ()
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
        return ()  # an outage or an odd answer: no evidence; the worker probes again at once
    records = []
    if isinstance(outcome, Unauthorized):
        count = status.get("consecutiveUnauthorized")
        rejected = min(count, MAX_RESTORED_REJECTIONS) if isinstance(count, int) and count > 0 else 0
        fresh = (at - token_issued_at).total_seconds() < fresh_token_seconds
        # one record per fresh token Zoom rejected, as the streak counts distinct tokens
        for index in range(rejected - (1 if fresh else 0)):
            records.append(
                ProbeRecord(at=at, token_issued_at=at - timedelta(microseconds=index + 1), outcome=outcome)
            )
    records.append(ProbeRecord(at=at, token_issued_at=token_issued_at, outcome=outcome))
    return tuple(records)


def _restore_owner(status: Mapping[str, Any], now: datetime) -> OwnerFacts | None:
    owner = _mapping(status.get("owner"))
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


def _restore_rejections(status: Mapping[str, Any], now: datetime) -> tuple[MintRecord, ...]:
    rejected = _mapping(_mapping(status.get("credentials")).get("rejected"))
    at = parse_rfc3339(rejected.get("at"))
    count = rejected.get("count")
    if at is None or at > now or not isinstance(count, int) or count < 1:
        return ()
    outcome = ClientRejected(
        error=str(rejected.get("error") or "invalid_client"),
        reason=str(rejected.get("reason") or ""),
        http_status=400,
    )
    return tuple(MintRecord(at=at, outcome=outcome) for _ in range(min(count, 10)))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
