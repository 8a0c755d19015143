"""The vocabulary of the three status conditions: their types, every reason each can carry (`REASONS`).

Alerts, dashboards and docs key on these strings; the rules (`rotation`, `owner`, `ready`) return them
and nothing else. Pure constants, no imports from the rest of the operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

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
