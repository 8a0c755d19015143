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

The package, in the order a reader needs it:

- `reasons`: condition types and every reason each can carry (`REASONS`);
- `evidence`: the snapshot, records, facts, verdicts and conditions, and what is read off a snapshot;
- `messages`: the parts messages are built from;
- `rotation`, `owner`, `ready`: the rules of each condition;
- `chains`: the rules in order (`Chain`) and `diagnose`.

Everything callers use is re-exported here: `from zoom_operator import diagnosis as dx; dx.diagnose`.
"""

from zoom_operator.diagnosis.chains import (
    OWNER_ROLE_CHAIN,
    READY_CHAIN,
    SECRET_ROTATION_CHAIN,
    Chain,
    OwnerInformed,
    Rule,
    diagnose,
)
from zoom_operator.diagnosis.evidence import (
    Condition,
    CredentialsProblem,
    Diagnosis,
    MintRecord,
    OwnerFacts,
    ProbeRecord,
    Snapshot,
    TokenFacts,
    TokenSecretConflict,
    Verdict,
    fresh_unauthorized_streak,
    invalid_client_answers,
    invalid_client_streak,
    missing_scopes,
    never_granted_scopes,
    rejected_fresh_tokens,
)
from zoom_operator.diagnosis.reasons import (
    CONDITION_OWNER_ROLE_CHANGE_REQUIRED,
    CONDITION_READY,
    CONDITION_SECRET_ROTATION_REQUIRED,
    OWNER_DEACTIVATED,
    OWNER_FRESH_TOKENS_REJECTED,
    OWNER_NO_EVIDENCE,
    OWNER_NOT_FOUND,
    OWNER_ROLE_LACKS_PERMISSION,
    OWNER_SCOPES_REVOKED,
    OWNER_VERIFIED,
    PENDING,
    READY_APP_DISABLED,
    READY_CLIENT_CREDENTIALS_REJECTED,
    READY_CREDENTIALS_INVALID,
    READY_CREDENTIALS_MISSING,
    READY_DUPLICATE_CLIENT_ID,
    READY_MINT_BUDGET_EXHAUSTED,
    READY_OWNER_PROBLEM,
    READY_REQUIRED_SCOPES_MISSING,
    READY_TOKEN_REJECTED,
    READY_TOKEN_SECRET_CONFLICT,
    READY_TOKEN_VERIFIED,
    READY_ZOOM_UNREACHABLE,
    REASONS,
    ROTATION_CLIENT_CREDENTIALS_REJECTED,
    ROTATION_CREDENTIALS_ACCEPTED,
    ROTATION_CREDENTIALS_UNAVAILABLE,
    ROTATION_OWNERSHIP_TRANSFER_PENDING,
    ConditionStatus,
)

__all__ = [
    "CONDITION_OWNER_ROLE_CHANGE_REQUIRED",
    "CONDITION_READY",
    "CONDITION_SECRET_ROTATION_REQUIRED",
    "OWNER_DEACTIVATED",
    "OWNER_FRESH_TOKENS_REJECTED",
    "OWNER_NOT_FOUND",
    "OWNER_NO_EVIDENCE",
    "OWNER_ROLE_CHAIN",
    "OWNER_ROLE_LACKS_PERMISSION",
    "OWNER_SCOPES_REVOKED",
    "OWNER_VERIFIED",
    "PENDING",
    "READY_APP_DISABLED",
    "READY_CHAIN",
    "READY_CLIENT_CREDENTIALS_REJECTED",
    "READY_CREDENTIALS_INVALID",
    "READY_CREDENTIALS_MISSING",
    "READY_DUPLICATE_CLIENT_ID",
    "READY_MINT_BUDGET_EXHAUSTED",
    "READY_OWNER_PROBLEM",
    "READY_REQUIRED_SCOPES_MISSING",
    "READY_TOKEN_REJECTED",
    "READY_TOKEN_SECRET_CONFLICT",
    "READY_TOKEN_VERIFIED",
    "READY_ZOOM_UNREACHABLE",
    "REASONS",
    "ROTATION_CLIENT_CREDENTIALS_REJECTED",
    "ROTATION_CREDENTIALS_ACCEPTED",
    "ROTATION_CREDENTIALS_UNAVAILABLE",
    "ROTATION_OWNERSHIP_TRANSFER_PENDING",
    "SECRET_ROTATION_CHAIN",
    "Chain",
    "Condition",
    "ConditionStatus",
    "CredentialsProblem",
    "Diagnosis",
    "MintRecord",
    "OwnerFacts",
    "OwnerInformed",
    "ProbeRecord",
    "Rule",
    "Snapshot",
    "TokenFacts",
    "TokenSecretConflict",
    "Verdict",
    "diagnose",
    "fresh_unauthorized_streak",
    "invalid_client_answers",
    "invalid_client_streak",
    "missing_scopes",
    "never_granted_scopes",
    "rejected_fresh_tokens",
]
