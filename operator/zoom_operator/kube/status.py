"""Rendering the ZoomApp status: conditions in metav1.Condition shape, and what changed since last time.

Pure. `lastTransitionTime` moves only when a condition's status changes, as Kubernetes conventions ask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zoom_operator.diagnosis import Condition, Diagnosis
from zoom_operator.kube.token_secret import rfc3339

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
