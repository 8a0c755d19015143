"""The rules of `Ready`: does the token Secret hold a token Zoom accepts, and if not, why not?

Each rule returns a `Verdict` when it applies, else None; `chains` orders them. `token_rejected` also
judges by the OwnerRoleChangeRequired condition, which `diagnose` reaches once and passes in.
"""

from __future__ import annotations

from zoom_operator.diagnosis.evidence import (
    Condition,
    Snapshot,
    Verdict,
    _current_token_probes,
    _latest_decisive,
    _token_accepted,
    _token_valid,
    _unreachable_since,
    missing_scopes,
    never_granted_scopes,
)
from zoom_operator.diagnosis.messages import (
    _api_answer,
    _creds,
    _last_probe_unreachable,
    _mint_answer,
    _no_valid_token,
    _owner,
    _probe_path,
    _renewal_note,
    _scopes,
    _token_secret,
)
from zoom_operator.diagnosis.reasons import (
    PENDING,
    READY_APP_DISABLED,
    READY_CLIENT_CREDENTIALS_REJECTED,
    READY_DUPLICATE_CLIENT_ID,
    READY_MINT_BUDGET_EXHAUSTED,
    READY_OWNER_PROBLEM,
    READY_REQUIRED_SCOPES_MISSING,
    READY_TOKEN_REJECTED,
    READY_TOKEN_SECRET_CONFLICT,
    READY_TOKEN_VERIFIED,
    READY_ZOOM_UNREACHABLE,
)
from zoom_operator.schedule import MintBudget
from zoom_operator.timefmt import rfc3339 as _ts
from zoom_operator.zoom.outcomes import (
    SCOPE_MISSING_CODE,
    AppDisabled,
    ClientRejected,
    OwnerMissing,
    ScopeMissing,
    Unauthorized,
)


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
        f"with code {SCOPE_MISSING_CODE}. The app owner {_owner(s)} must add them on the app's Scopes page "
        f"in the Zoom App Marketplace{admin_note}; then renew the token (annotate ZoomApp {s.app} with "
        "zoom-operator.io/renew-now=<anything new>) and this clears.",
    )


def token_rejected(s: Snapshot, owner: Condition) -> Verdict | None:
    """Zoom answered 401 to the Secret's unexpired token on its latest answered probe; `owner`, the
    OwnerRoleChangeRequired condition `diagnose` already reached, tells whether the owner is the cause."""
    probe = _latest_decisive(_current_token_probes(s))
    if not _token_valid(s) or probe is None or not isinstance(probe.outcome, Unauthorized):
        return None
    outcome = probe.outcome
    rejected = f"Zoom rejected the token in {_token_secret(s)} at {_ts(probe.at)} ({_api_answer(outcome)})"
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
