"""The rules of `OwnerRoleChangeRequired`: must an account admin act on the app's owner?

True when the owner is gone, deactivated or pending, lacks the Server-to-Server OAuth app privilege,
lost admin-level scopes, or when Zoom keeps rejecting freshly minted tokens while minting works. Each
rule returns a `Verdict` when it applies, else None; `chains` orders them.
"""

from __future__ import annotations

from typing import Final

from zoom_operator.diagnosis.evidence import (
    Snapshot,
    Verdict,
    _latest_decisive,
    _latest_minted,
    _owner_healthy,
    _owner_user,
    _probe_is_user_lookup,
    _revoked_scopes,
    _role_allows_s2s,
    _token_accepted,
    fresh_unauthorized_streak,
)
from zoom_operator.diagnosis.messages import (
    _api_answer,
    _looked_up,
    _owner,
    _scopes,
    _transfer_steps,
    _user,
)
from zoom_operator.diagnosis.reasons import (
    OWNER_DEACTIVATED,
    OWNER_FRESH_TOKENS_REJECTED,
    OWNER_NO_EVIDENCE,
    OWNER_NOT_FOUND,
    OWNER_ROLE_LACKS_PERMISSION,
    OWNER_SCOPES_REVOKED,
    OWNER_VERIFIED,
    PENDING,
)
from zoom_operator.timefmt import rfc3339 as _ts
from zoom_operator.zoom.outcomes import (
    NotFound,
    OwnerMissing,
    Unauthorized,
)

_INACTIVE_STATUSES: Final = frozenset({"inactive", "pending"})


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
