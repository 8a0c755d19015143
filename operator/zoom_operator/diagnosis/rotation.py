"""The rules of `SecretRotationRequired`: must someone rotate the client secret (or fix the Secret)?

True when Zoom's token endpoint keeps rejecting the client ID and secret (`invalid_client`), or when
the app's tokens belong to someone other than spec.expectedOwner (a transfer completes only with a
rotation). Each rule returns a `Verdict` when it applies, else None; `chains` orders them.
"""

from __future__ import annotations

from zoom_operator.diagnosis.evidence import (
    Snapshot,
    Verdict,
    _is_expected_owner,
    _latest_decisive,
    _latest_issued,
    _owner_user,
    invalid_client_streak,
)
from zoom_operator.diagnosis.messages import (
    _creds,
    _mint_answer,
    _owner,
    _token_secret,
    _user,
)
from zoom_operator.diagnosis.reasons import (
    PENDING,
    ROTATION_CLIENT_CREDENTIALS_REJECTED,
    ROTATION_CREDENTIALS_ACCEPTED,
    ROTATION_CREDENTIALS_UNAVAILABLE,
    ROTATION_OWNERSHIP_TRANSFER_PENDING,
)
from zoom_operator.timefmt import rfc3339 as _ts
from zoom_operator.zoom.outcomes import (
    AppDisabled,
    ClientRejected,
    OwnerMissing,
    TokenIssued,
)


def _token_holder(s: Snapshot) -> str | None:
    """The Zoom user the app's tokens belong to, when that is known not to be the expected owner."""
    issued = _latest_issued(s)
    uid = (issued.owner_uid if issued else None) or (s.token.owner_uid if s.token else None)
    if uid is not None and s.spec.expected_owner.matches_uid(uid) is False:
        return uid
    user = _owner_user(s)
    expected_email = s.spec.expected_owner.email
    if (
        uid is not None
        and s.spec.expected_owner.user_id is None
        and user is not None
        and expected_email is not None
        and user.email.lower() == expected_email.lower()
        and user.id != uid
    ):
        # only the email is expected: the lookup of that email tells its id, which the token's uid is not
        return uid
    if user is not None and _looked_up_token_owner(s) and not _is_expected_owner(s, user):
        return _user(user)
    return None


def _looked_up_token_owner(s: Snapshot) -> bool:
    """Whether the owner facts describe whoever the app's token belongs to (`/v2/users/me`), rather than
    the expected owner looked up by id or email."""
    if s.owner is None:
        return False
    return s.owner.source == "token" or (s.owner.source == "probe" and s.spec.probe.path == "/v2/users/me")


def client_credentials_rejected(s: Snapshot) -> Verdict | None:
    """Zoom's token endpoint answered `invalid_client` to the configured credentials repeatedly."""
    streak = invalid_client_streak(s)
    latest = _latest_decisive(s.mints)
    if (
        streak < s.invalid_client_threshold
        or latest is None
        or not isinstance(latest.outcome, ClientRejected)
    ):
        return None
    creds = _creds(s)
    return Verdict(
        "True",
        ROTATION_CLIENT_CREDENTIALS_REJECTED,
        f"Zoom's token endpoint rejected the client ID and client secret from {creds} {streak} times in a "
        f'row ("{latest.outcome.reason}", last at {_ts(latest.at)}). The app owner {_owner(s)} must check '
        "that the app is activated in the Zoom App Marketplace and, if its client secret was rotated, put "
        f"the current secret into {creds}; the operator retries as soon as {creds} changes.",
    )


def ownership_transfer_pending(s: Snapshot) -> Verdict | None:
    """The app's tokens belong to someone other than spec.expectedOwner."""
    holder = _token_holder(s)
    if holder is None:
        return None
    owner = _owner(s)
    return Verdict(
        "True",
        ROTATION_OWNERSHIP_TRANSFER_PENDING,
        f"Tokens of ZoomApp {s.app} belong to Zoom user {holder}, but spec.expectedOwner is {owner}. A "
        f"transfer of the app to {owner} completes only after {owner} rotates the client secret "
        '("Complete Rotation" on the App Credentials page in the Zoom App Marketplace) and '
        f"{_creds(s)} is updated with the new secret; if no transfer is intended, fix spec.expectedOwner "
        f"of ZoomApp {s.app}.",
    )


def credentials_unavailable(s: Snapshot) -> Verdict | None:
    """The credentials Secret cannot be read, so nothing can be said about the secret."""
    if s.credentials_problem is None:
        return None
    return Verdict(
        "Unknown",
        ROTATION_CREDENTIALS_UNAVAILABLE,
        f"Cannot tell whether the client secret must be rotated: {s.credentials_problem.message}",
    )


def client_rejection_unconfirmed(s: Snapshot) -> Verdict | None:
    """The latest token request was refused, but not (yet) in a way that calls for a rotation."""
    latest = _latest_decisive(s.mints)
    if latest is None or not isinstance(latest.outcome, ClientRejected):
        return None
    outcome = latest.outcome
    creds = _creds(s)
    if outcome.error == "invalid_client":
        message = (
            f"Zoom's token endpoint rejected the credentials from {creds} at {_ts(latest.at)} "
            f'("{outcome.reason}"), {invalid_client_streak(s)} of the {s.invalid_client_threshold} '
            "rejections in a row that flag a rotation; the operator asks again to confirm."
        )
    else:
        message = (
            f"Zoom's token endpoint refused the credentials from {creds} at {_ts(latest.at)} "
            f"({_mint_answer(outcome)}); rotating the client secret does not fix this: see condition Ready."
        )
    return Verdict("Unknown", PENDING, message)


def credentials_accepted(s: Snapshot) -> Verdict | None:
    """Zoom recognised the credentials on the latest decisive request, or the held token proves them."""
    latest = _latest_decisive(s.mints)
    creds = _creds(s)
    if latest is not None and isinstance(latest.outcome, TokenIssued):
        message = (
            f"Zoom's token endpoint accepted the client credentials from {creds} at {_ts(latest.at)}; "
            "no rotation is needed."
        )
    elif latest is not None and isinstance(latest.outcome, AppDisabled | OwnerMissing):
        message = (
            f"Zoom's token endpoint recognised the client credentials from {creds} at {_ts(latest.at)} but "
            f"refused a token ({_mint_answer(latest.outcome)}); rotating the secret alone does not fix that: "
            "see conditions Ready and OwnerRoleChangeRequired."
        )
    elif latest is None and s.token is not None:
        message = (
            f"The token in {_token_secret(s)} was minted at {_ts(s.token.issued_at)} with the client "
            f"credentials from {creds}; no rotation is needed."
        )
    else:
        return None
    return Verdict("False", ROTATION_CREDENTIALS_ACCEPTED, message)


def _rotation_pending(s: Snapshot) -> Verdict:
    return Verdict(
        "Unknown", PENDING, f"No token request with the credentials from {_creds(s)} has completed yet."
    )
