"""The three condition chains and `diagnose`, which runs them on a snapshot.

As in cert-manager's policy chains, each condition is a `Chain` of small named rules tried in order: a
rule returns a `Verdict` when it applies and None when it does not, the first verdict wins, and the
chain's default covers the rest. The rules live in `rotation`, `owner` and `ready`; the order here is
part of the design (e.g. a token Zoom accepts beats a failing renewal).

`diagnose` reaches the OwnerRoleChangeRequired condition once and hands it to the Ready rules that
judge by it (`OwnerInformed`), rather than those rules running the owner chain again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from zoom_operator.diagnosis.evidence import Condition, Diagnosis, Snapshot, Verdict
from zoom_operator.diagnosis.owner import (
    _owner_pending,
    fresh_tokens_rejected,
    no_evidence,
    owner_deactivated,
    owner_not_found,
    owner_role_lacks_permission,
    owner_verified,
    scopes_revoked,
    token_endpoint_owner_missing,
)
from zoom_operator.diagnosis.ready import (
    _ready_pending,
    app_disabled,
    credentials_unreadable,
    duplicate_client_id,
    mint_budget_exhausted,
    mint_owner_missing,
    mint_rejected,
    required_scopes_missing,
    token_rejected,
    token_secret_conflict,
    token_unverified,
    token_verified,
    zoom_unreachable,
)
from zoom_operator.diagnosis.reasons import (
    CONDITION_OWNER_ROLE_CHANGE_REQUIRED,
    CONDITION_READY,
    CONDITION_SECRET_ROTATION_REQUIRED,
)
from zoom_operator.diagnosis.rotation import (
    _rotation_pending,
    client_credentials_rejected,
    client_rejection_unconfirmed,
    credentials_accepted,
    credentials_unavailable,
    ownership_transfer_pending,
)

Rule = Callable[[Snapshot], Verdict | None]


@dataclass(frozen=True)
class OwnerInformed:
    """A rule that also judges by the OwnerRoleChangeRequired condition. A chain hands it the condition
    `diagnose` reached; called on a snapshot alone (a `Rule` like any other) it reaches it itself."""

    judge: Callable[[Snapshot, Condition], Verdict | None]

    @property
    def __name__(self) -> str:
        return self.judge.__name__

    def __call__(self, snapshot: Snapshot) -> Verdict | None:
        return self.judge(snapshot, OWNER_ROLE_CHAIN.evaluate(snapshot))


@dataclass(frozen=True)
class Chain:
    """Rules for one condition type, tried in order; the first verdict wins, else the default's."""

    condition_type: str
    rules: tuple[Rule, ...]
    default: Callable[[Snapshot], Verdict]

    def evaluate(self, snapshot: Snapshot, owner: Condition | None = None) -> Condition:
        """The condition for `snapshot`. `owner`, the OwnerRoleChangeRequired condition when already
        reached, goes to the `OwnerInformed` rules (which otherwise reach it themselves)."""
        for rule in self.rules:
            if owner is not None and isinstance(rule, OwnerInformed):
                verdict = rule.judge(snapshot, owner)
            else:
                verdict = rule(snapshot)
            if verdict is not None:
                return self._condition(verdict)
        return self._condition(self.default(snapshot))

    def _condition(self, verdict: Verdict) -> Condition:
        return Condition(self.condition_type, verdict.status, verdict.reason, verdict.message)


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

READY_CHAIN: Final = Chain(
    CONDITION_READY,
    (
        token_secret_conflict,
        credentials_unreadable,
        duplicate_client_id,
        app_disabled,
        required_scopes_missing,
        token_verified,
        OwnerInformed(token_rejected),
        token_unverified,
        mint_rejected,
        mint_owner_missing,
        mint_budget_exhausted,
        zoom_unreachable,
    ),
    _ready_pending,
)


def diagnose(snapshot: Snapshot) -> Diagnosis:
    """The three conditions for a snapshot; the owner's first, since Ready judges by it."""
    owner = OWNER_ROLE_CHAIN.evaluate(snapshot)
    if snapshot.auditor_note:
        owner = replace(owner, message=f"{owner.message} The auditor was not used: {snapshot.auditor_note}.")
    return Diagnosis(
        ready=READY_CHAIN.evaluate(snapshot, owner),
        secret_rotation_required=SECRET_ROTATION_CHAIN.evaluate(snapshot),
        owner_role_change_required=owner,
    )
