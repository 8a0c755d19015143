"""Diagnosis: recent Zoom outcomes -> Ready, SecretRotationRequired, OwnerRoleChangeRequired.

Scenarios are built from the outcome types the Zoom client returns; times are seconds after T0.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoom_operator import diagnosis as dx
from zoom_operator.diagnosis import (
    CONDITION_OWNER_ROLE_CHANGE_REQUIRED,
    CONDITION_READY,
    CONDITION_SECRET_ROTATION_REQUIRED,
    OWNER_ROLE_CHAIN,
    READY_CHAIN,
    REASONS,
    SECRET_ROTATION_CHAIN,
    Chain,
    Condition,
    CredentialsProblem,
    Diagnosis,
    MintRecord,
    OwnerFacts,
    ProbeRecord,
    Snapshot,
    TokenFacts,
    Verdict,
    diagnose,
    fresh_unauthorized_streak,
    invalid_client_streak,
    missing_scopes,
)
from zoom_operator.secret import Secret
from zoom_operator.spec import ZoomAppSpec, parse_spec
from zoom_operator.zoom.outcomes import (
    ApiError,
    ApiOk,
    ApiOutcome,
    AppDisabled,
    ClientRejected,
    NotFound,
    OwnerMissing,
    RateLimited,
    ScopeMissing,
    TokenIssued,
    TokenOutcome,
    Transient,
    Unauthorized,
    ZoomRole,
    ZoomUser,
)

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
LIFETIME = 3599
TOKEN_VALUE = "eyJhbGciOiJIUzUxMiJ9.s3cr3t-access-token-VALUE.sig"
OWNER_EMAIL = "dev-lead@example.com"
OWNER_ID = "KDcuGIm1QgePTO8WbOqwIQ"
OTHER_ID = "z8yAAAtheAccountOwner"
APP = "team-a/meetings-bot"
CREDS = "team-a/meetings-bot-zoom"
TOKEN_SECRET = "team-a/meetings-bot-token"
REQUIRED = frozenset({"meeting:write:admin", "user:read:admin"})
S2S = "ServerToServerOAuthApp:Edit"


def make_spec(**overrides: Any) -> ZoomAppSpec:
    raw: dict[str, Any] = {
        "credentialsSecretRef": {"name": "meetings-bot-zoom"},
        "expectedOwner": {"email": OWNER_EMAIL, "userId": OWNER_ID},
        "requiredScopes": sorted(REQUIRED),
    }
    raw.update(overrides)
    return parse_spec(raw, app_name="meetings-bot")


SPEC = make_spec()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def issued(t: float = 0, *, scopes: frozenset[str] = REQUIRED, uid: str | None = OWNER_ID) -> TokenIssued:
    return TokenIssued(
        access_token=Secret(TOKEN_VALUE),
        token_type="bearer",
        issued_at=at(t),
        expires_at=at(t + LIFETIME),
        scopes=scopes,
        api_url="https://api.zoom.us",
        owner_uid=uid,
        tracking_id="trk-mint",
    )


def held(token: TokenIssued) -> TokenFacts:
    return TokenFacts(token.issued_at, token.expires_at, token.scopes, token.owner_uid)


def mint(t: float, outcome: TokenOutcome) -> MintRecord:
    return MintRecord(at(t), outcome)


def probe(t: float, token_t: float, outcome: ApiOutcome) -> ProbeRecord:
    return ProbeRecord(at(t), at(token_t), outcome)


INVALID_CLIENT = ClientRejected("invalid_client", "Invalid client_id or client_secret", 400)
WRONG_GRANT = ClientRejected("unsupported_grant_type", "unsupported grant type", 400)
WRONG_ACCOUNT = ClientRejected("invalid_request", "Invalid account_id", 400)
DISABLED = AppDisabled("The app has been disabled", tracking_id="trk-4717")
OWNER_GONE = OwnerMissing("The owner of the token does not exist.")
SERVER_ERROR = Transient("server_error", "HTTP 503 from https://zoom.us/oauth/token", 503)
TIMEOUT = Transient("timeout", "read timed out")
THROTTLED = RateLimited(at(9999), "QPS", "Light", "You have reached the maximum per-second rate limit.")
OK = ApiOk(200, {"id": OWNER_ID, "email": OWNER_EMAIL})
REJECTED = Unauthorized(124, "Invalid access token.")
EXPIRED = Unauthorized(124, "Access token is expired.")
IN_QUERY = Unauthorized(
    124, "Invalid access token, this access token is not supported as query parameter string."
)
NO_SCOPE = ScopeMissing(
    4711, "Invalid access token, does not contain scopes:[user:read:admin].", ("user:read:admin",)
)
NO_USER = NotFound(1001, f"User does not exist: {OWNER_ID}.")
FORBIDDEN = ApiError(403, 200, "No permission.")
TRANSIENTS: tuple[Transient | RateLimited, ...] = (SERVER_ERROR, TIMEOUT, THROTTLED)

ROLE_OK = ZoomRole("2", "Developer", frozenset({S2S, "User:Read"}))
ROLE_NO_S2S = ZoomRole("3", "Member", frozenset({"User:Read"}))


def user(status: str = "active", *, email: str = OWNER_EMAIL, uid: str = OWNER_ID) -> ZoomUser:
    return ZoomUser(uid, email, status, "2", "Developer", "acct-1")


def facts(
    lookup: ZoomUser | NotFound | None = None,
    role: ZoomRole | None = None,
    source: Literal["token", "probe", "auditor"] = "auditor",
    t: float = 5,
) -> OwnerFacts:
    return OwnerFacts(source, at(t), lookup, role)


def snap(**fields: Any) -> Snapshot:
    fields.setdefault("now", at(120))
    fields.setdefault("spec", SPEC)
    return Snapshot(app=APP, credentials_secret=CREDS, **fields)


def healthy(**fields: Any) -> Snapshot:
    """Minted at 0, probe accepted at 1, owner verified by the auditor at 5; now = 120."""
    token = issued(0)
    fields.setdefault("token", held(token))
    fields.setdefault("mints", (mint(0, token),))
    fields.setdefault("probes", (probe(1, 0, OK),))
    fields.setdefault("owner", facts(user(), ROLE_OK))
    fields.setdefault("previous_scopes", REQUIRED)
    return snap(**fields)


def rejected_fresh(
    count: int, *, start: float = 0, owner: OwnerFacts | None = None, **fields: Any
) -> Snapshot:
    """`count` tokens minted 100 s apart, each rejected 2 s after minting (fresh)."""
    mints = tuple(mint(start + 100 * i, issued(start + 100 * i)) for i in range(count))
    probes = tuple(probe(start + 100 * i + 2, start + 100 * i, REJECTED) for i in range(count))
    last = issued(start + 100 * (count - 1))
    fields.setdefault("now", at(start + 100 * (count - 1) + 3))
    return snap(token=held(last), mints=mints, probes=probes, owner=owner, **fields)


def no_token(*mints: MintRecord, **fields: Any) -> Snapshot:
    return snap(mints=mints, **fields)


def expired(*later_mints: MintRecord, **fields: Any) -> Snapshot:
    """A token minted at 0 that expired at LIFETIME; now = LIFETIME + 100."""
    token = issued(0)
    fields.setdefault("now", at(LIFETIME + 100))
    return snap(token=held(token), mints=(mint(0, token), *later_mints), probes=(probe(1, 0, OK),), **fields)


def conditions(s: Snapshot) -> tuple[tuple[str, str], tuple[str, str], tuple[str, str]]:
    d = diagnose(s)
    r, rot, own = d.conditions()
    return (r.status, r.reason), (rot.status, rot.reason), (own.status, own.reason)


# --- the API shape ----------------------------------------------------------------------------------


def test_reason_vocabulary_matches_the_design_table() -> None:
    assert REASONS[CONDITION_READY] == {
        "TokenVerified",
        "CredentialsSecretMissing",
        "CredentialsSecretInvalid",
        "ClientCredentialsRejected",
        "AppDisabled",
        "TokenRejected",
        "OwnerProblem",
        "DuplicateClientId",
        "MintBudgetExhausted",
        "ZoomUnreachable",
        "TokenSecretConflict",
        "RequiredScopesMissing",
        "Pending",
    }
    assert REASONS[CONDITION_SECRET_ROTATION_REQUIRED] == {
        "ClientCredentialsRejected",
        "OwnershipTransferPending",
        "CredentialsAccepted",
        "CredentialsUnavailable",
        "Pending",
    }
    assert REASONS[CONDITION_OWNER_ROLE_CHANGE_REQUIRED] == {
        "OwnerNotFound",
        "OwnerDeactivated",
        "OwnerRoleLacksPermission",
        "ScopesRevoked",
        "FreshTokensRejected",
        "OwnerVerified",
        "NoEvidence",
        "Pending",
    }


def test_diagnosis_lists_conditions_in_fixed_order_with_their_types() -> None:
    d = diagnose(healthy())
    assert [c.type for c in d.conditions()] == [
        "Ready",
        "SecretRotationRequired",
        "OwnerRoleChangeRequired",
    ]
    assert not d.human_action_required()


@pytest.mark.parametrize(
    ("rotation", "owner", "expected"),
    [
        ("True", "False", True),
        ("False", "True", True),
        ("Unknown", "Unknown", False),
        ("False", "False", False),
    ],
)
def test_human_action_required_when_either_flag_is_true(rotation: str, owner: str, expected: bool) -> None:
    ready = Condition("Ready", "True", "TokenVerified", "")
    d = Diagnosis(
        ready,
        Condition("SecretRotationRequired", rotation, "x", ""),  # type: ignore[arg-type]
        Condition("OwnerRoleChangeRequired", owner, "y", ""),  # type: ignore[arg-type]
    )
    assert d.human_action_required() is expected


def test_chain_takes_the_first_applicable_rule_and_falls_back_to_its_default() -> None:
    chain = Chain(
        "Demo",
        (
            lambda s: None,
            lambda s: Verdict("True", "First", "m1"),
            lambda s: Verdict("False", "Second", "m2"),
        ),
        lambda s: Verdict("Unknown", "Default", "m3"),
    )
    assert chain.evaluate(snap()) == Condition("Demo", "True", "First", "m1")
    assert (
        Chain("Demo", (), lambda s: Verdict("Unknown", "Default", "m3")).evaluate(snap()).reason == "Default"
    )


@pytest.mark.parametrize(
    "chain", [READY_CHAIN, SECRET_ROTATION_CHAIN, OWNER_ROLE_CHAIN], ids=lambda c: c.condition_type
)
def test_no_rule_applies_when_nothing_is_known_and_the_default_is_pending(chain: Chain) -> None:
    empty = snap()
    assert [rule.__name__ for rule in chain.rules if rule(empty) is not None] == []
    assert chain.evaluate(empty).status == "Unknown"
    assert chain.evaluate(empty).reason == "Pending"


def test_snapshot_needs_a_timezone_aware_clock() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Snapshot(now=datetime(2026, 11, 3), spec=SPEC, app=APP, credentials_secret=CREDS)


def test_credentials_problem_takes_only_the_credentials_reasons() -> None:
    with pytest.raises(ValueError, match="CredentialsSecretMissing"):
        CredentialsProblem("TokenRejected", "nope")


# --- streak helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probes", "expected"),
    [
        pytest.param(
            [probe(2, 0, REJECTED), probe(102, 100, REJECTED), probe(202, 200, REJECTED)], 3, id="three-fresh"
        ),
        pytest.param([probe(2, 0, REJECTED), probe(5, 0, REJECTED)], 1, id="same-token-twice-counts-once"),
        pytest.param([probe(300, 0, REJECTED)], 0, id="old-token-is-no-evidence"),
        pytest.param(
            [probe(2, 0, REJECTED), probe(300, 0, REJECTED), probe(302, 300, REJECTED)],
            2,
            id="old-401s-are-neutral",
        ),
        pytest.param(
            [
                probe(2, 0, REJECTED),
                probe(50, 0, SERVER_ERROR),
                probe(51, 0, THROTTLED),
                probe(102, 100, REJECTED),
            ],
            2,
            id="transient-is-neutral",
        ),
        pytest.param([probe(2, 0, REJECTED), probe(10, 0, OK), probe(102, 100, REJECTED)], 1, id="ok-breaks"),
        pytest.param([probe(2, 0, REJECTED), probe(102, 100, NO_SCOPE)], 0, id="scope-error-breaks"),
        pytest.param([probe(2, 0, REJECTED), probe(102, 100, NO_USER)], 0, id="not-found-breaks"),
        pytest.param([probe(2, 0, REJECTED), probe(102, 100, FORBIDDEN)], 0, id="api-error-breaks"),
        pytest.param(
            [probe(2, 0, EXPIRED), probe(102, 100, IN_QUERY)], 0, id="self-explained-401s-do-not-count"
        ),
        pytest.param(
            [probe(2, 0, REJECTED), probe(102, 100, EXPIRED)], 1, id="self-explained-401s-are-neutral"
        ),
        pytest.param([probe(59.9, 0, REJECTED)], 1, id="just-under-fresh-limit"),
        pytest.param([probe(60, 0, REJECTED)], 0, id="at-fresh-limit-is-old"),
    ],
)
def test_fresh_unauthorized_streak(probes: list[ProbeRecord], expected: int) -> None:
    assert fresh_unauthorized_streak(snap(probes=tuple(probes))) == expected


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        pytest.param([INVALID_CLIENT, INVALID_CLIENT], 2, id="two"),
        pytest.param([INVALID_CLIENT, SERVER_ERROR, THROTTLED, INVALID_CLIENT], 2, id="transient-is-neutral"),
        pytest.param([INVALID_CLIENT, issued(1), INVALID_CLIENT], 1, id="token-issued-breaks"),
        pytest.param([INVALID_CLIENT, WRONG_GRANT], 0, id="other-client-error-breaks"),
        pytest.param([INVALID_CLIENT, DISABLED], 0, id="app-disabled-breaks"),
        pytest.param([], 0, id="none"),
    ],
)
def test_invalid_client_streak(outcomes: list[TokenOutcome], expected: int) -> None:
    mints = tuple(mint(10 * i, o) for i, o in enumerate(outcomes))
    assert invalid_client_streak(snap(mints=mints)) == expected


@pytest.mark.parametrize(
    ("s", "expected"),
    [
        pytest.param(snap(), frozenset(), id="no-token-known"),
        pytest.param(
            snap(token=held(issued(0, scopes=frozenset({"user:read:admin"})))),
            {"meeting:write:admin"},
            id="held",
        ),
        pytest.param(
            snap(token=held(issued(0, scopes=frozenset())), mints=(mint(5, issued(5)),)),
            frozenset(),
            id="latest-mint-wins",
        ),
    ],
)
def test_missing_scopes(s: Snapshot, expected: frozenset[str]) -> None:
    assert missing_scopes(s) == expected


# --- SecretRotationRequired -------------------------------------------------------------------------

EMAIL_ONLY = make_spec(expectedOwner={"email": OWNER_EMAIL})
PROBE_ME = make_spec(probe={"path": "/v2/users/me"})

ROTATION_CASES = [
    pytest.param(
        no_token(mint(0, INVALID_CLIENT), mint(30, INVALID_CLIENT)),
        "True",
        "ClientCredentialsRejected",
        id="invalid-client-twice",
    ),
    pytest.param(
        no_token(mint(0, INVALID_CLIENT), mint(10, SERVER_ERROR), mint(30, INVALID_CLIENT)),
        "True",
        "ClientCredentialsRejected",
        id="invalid-client-twice-around-an-outage",
    ),
    pytest.param(
        healthy(mints=(mint(0, issued(0)), mint(60, INVALID_CLIENT), mint(90, INVALID_CLIENT))),
        "True",
        "ClientCredentialsRejected",
        id="invalid-client-while-old-token-still-serves",
    ),
    pytest.param(
        no_token(mint(0, INVALID_CLIENT)), "Unknown", "Pending", id="invalid-client-once-awaits-confirmation"
    ),
    pytest.param(
        no_token(mint(0, INVALID_CLIENT), mint(30, INVALID_CLIENT), invalid_client_threshold=3),
        "Unknown",
        "Pending",
        id="threshold-is-configurable",
    ),
    pytest.param(
        no_token(mint(0, WRONG_GRANT), mint(30, WRONG_GRANT)),
        "Unknown",
        "Pending",
        id="wrong-app-type-is-no-rotation",
    ),
    pytest.param(
        healthy(token=held(issued(0, uid=OTHER_ID)), mints=(mint(0, issued(0, uid=OTHER_ID)),)),
        "True",
        "OwnershipTransferPending",
        id="token-uid-differs-from-expected-user-id",
    ),
    pytest.param(
        healthy(token=held(issued(0, uid=OTHER_ID)), mints=()),
        "True",
        "OwnershipTransferPending",
        id="held-token-uid-differs-after-restart",
    ),
    pytest.param(
        healthy(
            token=held(issued(0, uid=OTHER_ID)), mints=(mint(0, issued(0, uid=OTHER_ID)),), spec=EMAIL_ONLY
        ),
        "True",
        "OwnershipTransferPending",
        id="email-only-owner-compared-through-the-lookup-of-that-email",
    ),
    pytest.param(
        healthy(
            spec=EMAIL_ONLY,
            owner=facts(user(email="account.owner@example.com", uid=OTHER_ID), source="token"),
        ),
        "True",
        "OwnershipTransferPending",
        id="own-token-sees-another-owner",
    ),
    pytest.param(
        healthy(spec=EMAIL_ONLY, owner=facts(user(email="DEV-LEAD@example.com"), source="token")),
        "False",
        "CredentialsAccepted",
        id="email-compared-case-insensitively",
    ),
    pytest.param(
        healthy(
            spec=PROBE_ME, owner=facts(user(email="account.owner@example.com", uid=OTHER_ID), source="probe")
        ),
        "True",
        "OwnershipTransferPending",
        id="probe-of-me-sees-another-owner",
    ),
    pytest.param(
        healthy(owner=facts(user(email="old-address@example.com"), source="probe")),
        "False",
        "CredentialsAccepted",
        id="probe-of-expected-owner-is-not-about-the-token-owner",
    ),
    pytest.param(
        healthy(spec=EMAIL_ONLY, owner=facts(user(email="someone@example.com"), source="auditor")),
        "False",
        "CredentialsAccepted",
        id="auditor-lookups-are-not-about-the-token-owner",
    ),
    pytest.param(
        snap(
            token=held(issued(0, uid=OTHER_ID)),
            mints=(mint(0, issued(0, uid=OTHER_ID)), mint(60, INVALID_CLIENT), mint(90, INVALID_CLIENT)),
        ),
        "True",
        "ClientCredentialsRejected",
        id="rejection-outranks-transfer",
    ),
    pytest.param(
        snap(
            credentials_problem=CredentialsProblem(
                dx.READY_CREDENTIALS_MISSING, f"Secret {CREDS} does not exist."
            )
        ),
        "Unknown",
        "CredentialsUnavailable",
        id="credentials-unreadable",
    ),
    pytest.param(healthy(), "False", "CredentialsAccepted", id="latest-mint-issued"),
    pytest.param(healthy(mints=()), "False", "CredentialsAccepted", id="token-held-without-mints"),
    pytest.param(
        no_token(mint(0, DISABLED)), "False", "CredentialsAccepted", id="disabled-app-knows-its-credentials"
    ),
    pytest.param(
        no_token(mint(0, OWNER_GONE)),
        "False",
        "CredentialsAccepted",
        id="owner-missing-knows-its-credentials",
    ),
    pytest.param(
        no_token(mint(0, SERVER_ERROR), mint(9, THROTTLED)), "Unknown", "Pending", id="only-outages"
    ),
    pytest.param(snap(), "Unknown", "Pending", id="nothing-yet"),
]


@pytest.mark.parametrize(("s", "status", "reason"), ROTATION_CASES)
def test_secret_rotation_required(s: Snapshot, status: str, reason: str) -> None:
    condition = diagnose(s).secret_rotation_required
    assert (condition.status, condition.reason) == (status, reason)


def test_rejected_credentials_message_says_who_rotates_what_and_where() -> None:
    message = diagnose(
        no_token(mint(0, INVALID_CLIENT), mint(30, INVALID_CLIENT))
    ).secret_rotation_required.message
    assert f"Secret {CREDS}" in message
    assert "Invalid client_id or client_secret" in message
    assert "2 times in a row" in message
    assert "activated in the Zoom App Marketplace" in message
    assert OWNER_EMAIL in message
    assert f"retries as soon as Secret {CREDS} changes" in message


def test_transfer_message_names_both_owners_the_rotation_and_the_spec_fix() -> None:
    s = healthy(token=held(issued(0, uid=OTHER_ID)), mints=(mint(0, issued(0, uid=OTHER_ID)),))
    message = diagnose(s).secret_rotation_required.message
    assert OTHER_ID in message
    assert f"{OWNER_EMAIL} ({OWNER_ID})" in message
    assert "Complete Rotation" in message
    assert f"Secret {CREDS}" in message
    assert "fix spec.expectedOwner" in message


def test_unconfirmed_rejection_message_counts_towards_the_threshold() -> None:
    message = diagnose(no_token(mint(0, INVALID_CLIENT))).secret_rotation_required.message
    assert "1 of the 2" in message


def test_unavailable_credentials_repeat_the_operator_message() -> None:
    problem = CredentialsProblem(dx.READY_CREDENTIALS_INVALID, f"Secret {CREDS} lacks key client_secret.")
    assert problem.message in diagnose(snap(credentials_problem=problem)).secret_rotation_required.message


# --- OwnerRoleChangeRequired ------------------------------------------------------------------------

MEETINGS_PROBE = make_spec(probe={"path": "/v2/meetings/123"})

OWNER_CASES = [
    pytest.param(no_token(mint(0, OWNER_GONE)), "True", "OwnerNotFound", id="token-endpoint-4735"),
    pytest.param(
        no_token(mint(0, OWNER_GONE), mint(30, SERVER_ERROR)),
        "True",
        "OwnerNotFound",
        id="4735-survives-outage",
    ),
    pytest.param(
        healthy(mints=(mint(0, issued(0)), mint(60, OWNER_GONE))),
        "True",
        "OwnerNotFound",
        id="4735-beats-old-facts",
    ),
    pytest.param(healthy(owner=facts(NO_USER)), "True", "OwnerNotFound", id="auditor-404"),
    pytest.param(healthy(owner=facts(NO_USER, source="probe")), "True", "OwnerNotFound", id="probe-404"),
    pytest.param(healthy(owner=facts(user("inactive"), ROLE_OK)), "True", "OwnerDeactivated", id="inactive"),
    pytest.param(healthy(owner=facts(user("pending"))), "True", "OwnerDeactivated", id="pending"),
    pytest.param(
        healthy(owner=facts(user("inactive"), ROLE_NO_S2S)),
        "True",
        "OwnerDeactivated",
        id="status-before-role",
    ),
    pytest.param(
        healthy(owner=facts(user(), ROLE_NO_S2S)), "True", "OwnerRoleLacksPermission", id="role-lacks-s2s"
    ),
    pytest.param(
        healthy(owner=facts(user(), ROLE_NO_S2S), s2s_privilege="User:Read"),
        "False",
        "OwnerVerified",
        id="privilege-name-is-configurable",
    ),
    pytest.param(
        healthy(
            token=held(issued(60, scopes=frozenset({"user:read:admin"}))),
            mints=(mint(0, issued(0)), mint(60, issued(60, scopes=frozenset({"user:read:admin"})))),
            probes=(probe(61, 60, OK),),
            owner=None,
            previous_scopes=REQUIRED,
        ),
        "True",
        "ScopesRevoked",
        id="required-scope-lost-since-last-mint",
    ),
    pytest.param(
        healthy(token=held(issued(0, scopes=frozenset())), mints=(), previous_scopes=None, owner=None),
        "False",
        "NoEvidence",
        id="scopes-never-held-are-no-owner-flag",
    ),
    pytest.param(
        healthy(
            token=held(issued(0, scopes=frozenset({"user:read:admin"}))),
            mints=(mint(0, issued(0, scopes=frozenset({"user:read:admin"}))),),
            previous_scopes=frozenset({"user:read:admin"}),
        ),
        "False",
        "OwnerVerified",
        id="scope-absent-before-too",
    ),
    pytest.param(
        healthy(previous_scopes=REQUIRED | {"role:read:admin"}),
        "False",
        "OwnerVerified",
        id="losing-an-unrequired-scope-is-fine",
    ),
    pytest.param(rejected_fresh(3), "True", "FreshTokensRejected", id="three-fresh-401s"),
    pytest.param(
        rejected_fresh(3, owner=facts(user(), ROLE_OK, t=-600)),
        "True",
        "FreshTokensRejected",
        id="beats-old-facts",
    ),
    pytest.param(rejected_fresh(2), "Unknown", "Pending", id="two-fresh-401s-await-confirmation"),
    pytest.param(
        rejected_fresh(2, spec=make_spec(unauthorizedThreshold=2)),
        "True",
        "FreshTokensRejected",
        id="threshold",
    ),
    pytest.param(
        healthy(
            probes=(
                probe(1, 0, OK),
                probe(300, 0, REJECTED),
                probe(600, 0, REJECTED),
                probe(900, 0, REJECTED),
            ),
            owner=None,
            now=at(901),
        ),
        "Unknown",
        "Pending",
        id="401s-on-an-old-token-are-no-owner-evidence",
    ),
    pytest.param(healthy(), "False", "OwnerVerified", id="active-with-s2s-role"),
    pytest.param(
        healthy(owner=facts(user(), None, source="probe")), "False", "OwnerVerified", id="active-role-unknown"
    ),
    pytest.param(healthy(owner=None), "False", "NoEvidence", id="token-accepted-owner-unknown"),
    pytest.param(healthy(owner=facts(None)), "False", "NoEvidence", id="lookup-failed-transiently"),
    pytest.param(
        healthy(owner=None, probes=(probe(1, 0, NO_SCOPE),)),
        "False",
        "NoEvidence",
        id="scope-error-proves-token",
    ),
    pytest.param(
        healthy(owner=None, probes=(probe(1, 0, FORBIDDEN),)),
        "False",
        "NoEvidence",
        id="api-error-proves-token",
    ),
    pytest.param(
        healthy(owner=None, probes=(probe(1, 0, NO_USER),), spec=MEETINGS_PROBE),
        "False",
        "NoEvidence",
        id="404-on-a-non-user-path-proves-token",
    ),
    pytest.param(
        healthy(owner=None, probes=(probe(1, 0, NO_USER),)),
        "Unknown",
        "Pending",
        id="404-on-the-user-path-is-not-proof",
    ),
    pytest.param(
        healthy(owner=None, probes=(probe(1, 0, TIMEOUT),)), "Unknown", "Pending", id="only-outages"
    ),
    pytest.param(snap(), "Unknown", "Pending", id="nothing-yet"),
]


@pytest.mark.parametrize(("s", "status", "reason"), OWNER_CASES)
def test_owner_role_change_required(s: Snapshot, status: str, reason: str) -> None:
    condition = diagnose(s).owner_role_change_required
    assert (condition.status, condition.reason) == (status, reason)


def test_fresh_tokens_rejected_three_times_flags_owner_role_change() -> None:
    d = diagnose(rejected_fresh(3))
    assert d.owner_role_change_required.status == "True"
    assert d.ready.reason == "OwnerProblem"
    assert d.human_action_required()
    message = d.owner_role_change_required.message
    assert "Zoom rejected 3 freshly minted tokens" in message
    assert "code 124" in message
    assert OWNER_EMAIL in message
    assert "Server-to-Server OAuth app" in message
    assert "Transfer App Owner" in message
    assert "Add spec.auditorRef" in message


def test_fresh_tokens_rejected_with_healthy_auditor_view_points_at_app_deactivation() -> None:
    s = rejected_fresh(
        3, owner=facts(user(), ROLE_OK, t=250), spec=make_spec(auditorRef={"name": "zoom-admin"})
    )
    message = diagnose(s).owner_role_change_required.message
    assert diagnose(s).owner_role_change_required.reason == "FreshTokensRejected"
    assert "The auditor sees" in message
    assert "by auditor ZoomApp zoom-admin at 2026-11-03T10:04:10Z" in message
    assert "whether the app was deactivated" in message


def test_fresh_tokens_rejected_with_silent_auditor_says_so() -> None:
    s = rejected_fresh(3, spec=make_spec(auditorRef={"name": "zoom-admin"}))
    assert "Auditor ZoomApp zoom-admin has not been able" in diagnose(s).owner_role_change_required.message


def test_owner_not_found_message_says_admin_transfers_then_rotates() -> None:
    message = diagnose(healthy(owner=facts(NO_USER))).owner_role_change_required.message
    assert f"{OWNER_EMAIL} ({OWNER_ID})" in message
    assert "does not exist" in message
    assert "account owner" in message
    assert "An account admin must transfer the app to an active admin" in message
    assert "Complete Rotation" in message
    assert f"Secret {CREDS}" in message
    assert "spec.expectedOwner" in message


@pytest.mark.parametrize(
    ("status", "fix"),
    [("inactive", "reactivate dev-lead@example.com"), ("pending", "accept the account invitation")],
)
def test_deactivated_owner_message_offers_reactivation_or_transfer(status: str, fix: str) -> None:
    s = healthy(owner=facts(user(status)), spec=make_spec(auditorRef={"name": "zoom-admin"}))
    message = diagnose(s).owner_role_change_required.message
    assert fix in message
    assert "Transfer App Owner" in message
    assert "looked up by auditor ZoomApp zoom-admin at 2026-11-03T10:00:05Z" in message


def test_role_message_names_the_role_and_where_to_tick_the_permission() -> None:
    message = diagnose(healthy(owner=facts(user(), ROLE_NO_S2S))).owner_role_change_required.message
    assert 'role "Member"' in message
    assert 'tick View and Edit for "Server-to-Server OAuth app"' in message
    assert "User Management > Roles" in message
    assert f"move {OWNER_EMAIL} ({OWNER_ID}) to a role that has it" in message


def test_scopes_revoked_message_lists_the_lost_scopes() -> None:
    s = healthy(
        token=held(issued(60, scopes=frozenset())),
        mints=(mint(60, issued(60, scopes=frozenset())),),
        previous_scopes=frozenset({"meeting:write:admin"}),
    )
    d = diagnose(s)
    assert d.owner_role_change_required.reason == "ScopesRevoked"
    assert "meeting:write:admin" in d.owner_role_change_required.message
    assert "user:read:admin" not in d.owner_role_change_required.message  # never held: not "revoked"
    assert "re-adds the scopes" in d.owner_role_change_required.message


def test_owner_verified_message_includes_when_it_was_checked() -> None:
    message = diagnose(healthy()).owner_role_change_required.message
    assert "2026-11-03T10:00:05Z" in message
    assert 'role "Developer"' in message


def test_pending_owner_message_counts_fresh_rejections() -> None:
    assert (
        "Zoom rejected 2 freshly minted token(s)"
        in diagnose(rejected_fresh(2)).owner_role_change_required.message
    )


# --- Ready ------------------------------------------------------------------------------------------

DUPLICATE = "ZoomApp team-a/other-bot"
CONFLICT = dx.TokenSecretConflict(secret="team-a/meetings-bot-token", controller="victim-bot")

READY_CASES = [
    pytest.param(
        healthy(credentials_problem=CredentialsProblem(dx.READY_CREDENTIALS_MISSING, "missing")),
        "False",
        "CredentialsSecretMissing",
        id="credentials-missing-first",
    ),
    pytest.param(
        snap(credentials_problem=CredentialsProblem(dx.READY_CREDENTIALS_INVALID, "bad key")),
        "False",
        "CredentialsSecretInvalid",
        id="credentials-invalid",
    ),
    pytest.param(healthy(duplicate_of=DUPLICATE), "False", "DuplicateClientId", id="duplicate-client-id"),
    pytest.param(
        healthy(token_secret_conflict=CONFLICT),
        "False",
        "TokenSecretConflict",
        id="token-secret-conflict-first",
    ),
    pytest.param(
        healthy(mints=(mint(0, issued(0)), mint(60, DISABLED))), "False", "AppDisabled", id="app-disabled"
    ),
    pytest.param(healthy(), "True", "TokenVerified", id="verified"),
    pytest.param(
        healthy(probes=(probe(1, 0, NO_SCOPE),)), "True", "TokenVerified", id="scope-error-proves-token"
    ),
    pytest.param(healthy(probes=(probe(1, 0, NO_USER),)), "True", "TokenVerified", id="404-proves-token"),
    pytest.param(healthy(probes=(probe(1, 0, FORBIDDEN),)), "True", "TokenVerified", id="403-proves-token"),
    pytest.param(
        healthy(probes=(probe(1, 0, OK), probe(300, 0, SERVER_ERROR), probe(600, 0, THROTTLED)), now=at(601)),
        "True",
        "TokenVerified",
        id="stays-verified-through-probe-outages",
    ),
    pytest.param(
        healthy(probes=(probe(1, 0, OK), probe(300, 0, REJECTED)), now=at(301)),
        "False",
        "TokenRejected",
        id="401-once",
    ),
    pytest.param(rejected_fresh(3), "False", "OwnerProblem", id="401-with-owner-flag"),
    pytest.param(
        healthy(
            probes=(probe(1, 0, OK), probe(300, 0, REJECTED)), owner=facts(user("inactive")), now=at(301)
        ),
        "False",
        "OwnerProblem",
        id="401-with-deactivated-owner",
    ),
    pytest.param(
        healthy(probes=(probe(1, 0, OK), probe(300, 0, REJECTED), probe(301, 0, TIMEOUT)), now=at(302)),
        "False",
        "TokenRejected",
        id="401-survives-later-outage",
    ),
    pytest.param(
        healthy(token=held(issued(3000)), mints=(mint(0, issued(0)), mint(3000, issued(3000))), now=at(3001)),
        "True",
        "TokenVerified",
        id="renewed-token-not-probed-yet-previous-verified",
    ),
    pytest.param(healthy(probes=()), "Unknown", "Pending", id="token-never-probed"),
    pytest.param(healthy(probes=(probe(1, 0, TIMEOUT),)), "Unknown", "Pending", id="token-probe-unanswered"),
    pytest.param(
        expired(mint(LIFETIME - 500, INVALID_CLIENT)),
        "False",
        "ClientCredentialsRejected",
        id="expired-invalid-client",
    ),
    pytest.param(no_token(mint(0, WRONG_GRANT)), "False", "ClientCredentialsRejected", id="wrong-app-type"),
    pytest.param(no_token(mint(0, WRONG_ACCOUNT)), "False", "ClientCredentialsRejected", id="wrong-account"),
    pytest.param(
        no_token(mint(0, INVALID_CLIENT), mint(60, SERVER_ERROR)),
        "False",
        "ClientCredentialsRejected",
        id="rejection-outranks-later-outage",
    ),
    pytest.param(no_token(mint(0, OWNER_GONE)), "False", "OwnerProblem", id="owner-missing-at-mint"),
    pytest.param(expired(budget_exhausted=True), "False", "MintBudgetExhausted", id="budget-exhausted"),
    pytest.param(
        expired(mint(LIFETIME - 500, SERVER_ERROR), mint(LIFETIME + 50, THROTTLED)),
        "False",
        "ZoomUnreachable",
        id="zoom-down",
    ),
    pytest.param(no_token(mint(0, TIMEOUT)), "False", "ZoomUnreachable", id="zoom-down-from-the-start"),
    pytest.param(expired(), "Unknown", "Pending", id="expired-no-attempt-yet"),
    pytest.param(healthy(now=at(LIFETIME)), "Unknown", "Pending", id="expiry-instant-is-expired"),
    pytest.param(snap(), "Unknown", "Pending", id="nothing-yet"),
]


@pytest.mark.parametrize(("s", "status", "reason"), READY_CASES)
def test_ready(s: Snapshot, status: str, reason: str) -> None:
    condition = diagnose(s).ready
    assert (condition.status, condition.reason) == (status, reason)


def test_verified_message_names_the_secret_probe_and_expiry() -> None:
    message = diagnose(healthy()).ready.message
    assert f"Secret {TOKEN_SECRET}" in message
    assert f"GET /v2/users/{OWNER_ID}" in message
    assert "expires at 2026-11-03T10:59:59Z" in message


def test_required_scopes_the_first_token_never_had_are_not_ready_and_name_who_adds_them() -> None:
    token = issued(0, scopes=frozenset({"user:read:admin"}))
    s = healthy(
        token=held(token), mints=(mint(0, token),), previous_scopes=None, probes=(probe(1, 0, NO_SCOPE),)
    )
    d = diagnose(s)
    assert (d.ready.status, d.ready.reason) == ("False", dx.READY_REQUIRED_SCOPES_MISSING)
    assert "lacks required scopes meeting:write:admin" in d.ready.message
    assert f"The app owner {OWNER_EMAIL}" in d.ready.message
    assert "Scopes page in the Zoom App Marketplace" in d.ready.message
    assert "admin-level scopes (meeting:write:admin) can be added only while the owner has an admin role" in (
        d.ready.message
    )
    assert "zoom-operator.io/renew-now" in d.ready.message
    assert d.owner_role_change_required.status != "True", "not a flag: nothing changed, the app never had it"
    assert d.secret_rotation_required.status != "True"


def test_a_token_rejected_with_a_missing_scope_is_reported_as_rejected_first() -> None:
    token = issued(0, scopes=frozenset({"user:read:admin"}))
    s = healthy(
        token=held(token), mints=(mint(0, token),), previous_scopes=None, probes=(probe(1, 0, REJECTED),)
    )
    assert diagnose(s).ready.reason == dx.READY_TOKEN_REJECTED


def test_verified_message_points_at_owner_flag_when_scopes_were_revoked() -> None:
    token = issued(60, scopes=frozenset({"user:read:admin"}))
    s = healthy(token=held(token), mints=(mint(60, token),), probes=(probe(61, 60, OK),))
    assert "see condition OwnerRoleChangeRequired" in diagnose(s).ready.message


def test_verified_message_notes_an_unreachable_last_probe() -> None:
    s = healthy(probes=(probe(1, 0, OK), probe(300, 0, SERVER_ERROR)), now=at(301))
    assert (
        "Zoom was unreachable at the last probe (2026-11-03T10:05:00Z, server_error (HTTP 503))"
        in diagnose(s).ready.message
    )


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        pytest.param(mint(3000, SERVER_ERROR), "Renewal has failed since 2026-11-03T10:50:00Z", id="outage"),
        pytest.param(mint(3000, INVALID_CLIENT), "see condition SecretRotationRequired", id="rejected"),
        pytest.param(mint(3000, OWNER_GONE), "see condition OwnerRoleChangeRequired", id="owner-gone"),
    ],
)
def test_verified_message_notes_failing_renewal(later: MintRecord, expected: str) -> None:
    s = healthy(mints=(mint(0, issued(0)), later), now=at(3001))
    ready = diagnose(s).ready
    assert ready.reason == "TokenVerified"
    assert expected in ready.message


def test_verified_message_notes_renewal_waiting_for_budget() -> None:
    assert "waits for the mint budget (6 per hour)" in diagnose(healthy(budget_exhausted=True)).ready.message


def test_unprobed_renewed_token_message_says_it_is_not_probed_yet() -> None:
    s = healthy(token=held(issued(3000)), mints=(mint(0, issued(0)), mint(3000, issued(3000))), now=at(3001))
    assert "minted at 2026-11-03T10:50:00Z, has not been probed yet" in diagnose(s).ready.message


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(REJECTED, "mints a fresh token and probes again", id="plain"),
        pytest.param(EXPIRED, "check the clocks", id="clock-skew"),
        pytest.param(IN_QUERY, "operator bug", id="query-string"),
    ],
)
def test_token_rejected_message_says_what_happens_next(outcome: Unauthorized, expected: str) -> None:
    s = healthy(probes=(probe(1, 0, OK), probe(300, 0, outcome)), now=at(301))
    d = diagnose(s)
    assert d.ready.reason == "TokenRejected"
    assert expected in d.ready.message
    assert not d.human_action_required()


def test_owner_problem_message_points_at_the_owner_condition() -> None:
    message = diagnose(rejected_fresh(3)).ready.message
    assert "FreshTokensRejected" in message
    assert "OwnerRoleChangeRequired" in message


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(INVALID_CLIENT, "activated in the Zoom App Marketplace", id="invalid-client"),
        pytest.param(WRONG_GRANT, "not the credentials of a Server-to-Server OAuth app", id="wrong-grant"),
        pytest.param(WRONG_ACCOUNT, "Invalid account_id", id="other"),
    ],
)
def test_client_rejected_message_depends_on_zoom_error(outcome: ClientRejected, expected: str) -> None:
    message = diagnose(no_token(mint(0, outcome))).ready.message
    assert expected in message
    assert f"Secret {CREDS}" in message
    assert f"Secret {TOKEN_SECRET} holds no token" in message


def test_app_disabled_message_sends_owner_to_zoom_support_with_tracking_id() -> None:
    message = diagnose(no_token(mint(0, DISABLED))).ready.message
    assert "only Zoom support can re-enable it" in message
    assert "trk-4717" in message
    assert OWNER_EMAIL in message


def test_app_disabled_message_without_tracking_id_gives_the_time() -> None:
    message = diagnose(no_token(mint(0, AppDisabled("The app has been disabled")))).ready.message
    assert "the time 2026-11-03T10:00:00Z" in message


def test_duplicate_message_names_the_other_zoomapp() -> None:
    message = diagnose(healthy(duplicate_of=DUPLICATE)).ready.message
    assert DUPLICATE in message
    assert "Delete one of the two ZoomApps" in message


def test_duplicate_in_another_namespace_is_not_named() -> None:
    message = diagnose(healthy(duplicate_of="a ZoomApp in another namespace")).ready.message
    assert message.startswith("A ZoomApp in another namespace already serves the client ID")
    assert "team-b" not in message


def test_token_secret_conflict_names_the_secret_and_what_to_do() -> None:
    ready = diagnose(healthy(token_secret_conflict=CONFLICT)).ready
    assert ready.reason == dx.READY_TOKEN_SECRET_CONFLICT
    assert "Secret team-a/meetings-bot-token (spec.tokenSecret.name)" in ready.message
    assert "token Secret of ZoomApp victim-bot" in ready.message
    assert "Set spec.tokenSecret.name to a name no other Secret uses" in ready.message
    foreign = diagnose(healthy(token_secret_conflict=dx.TokenSecretConflict("team-a/db-password"))).ready
    assert "has no controller ownerReference to this ZoomApp" in foreign.message


def test_an_unused_auditor_is_said_on_the_owner_condition() -> None:
    note = (
        "auditor ZoomApp team-a/zoom-admin (spec.auditorRef) is not Ready; its token is used only while it is"
    )
    owner = diagnose(healthy(auditor_note=note)).owner_role_change_required
    assert owner.message.endswith(f"The auditor was not used: {note}.")


def test_a_bare_404_without_a_zoom_code_does_not_prove_the_token() -> None:
    s = healthy()
    bare = dataclasses.replace(s, probes=(*s.probes, probe(2, 0, NotFound(None, "Not Found"))))
    assert diagnose(bare).ready.status == "Unknown"


def test_budget_message_names_the_limit_and_next_allowed_time() -> None:
    attempts = tuple(mint(LIFETIME + 10 * i, SERVER_ERROR) for i in range(6))
    s = expired(*attempts, budget_exhausted=True, now=at(LIFETIME + 100))
    message = diagnose(s).ready.message
    assert "mint budget of 6 token requests per hour" in message
    assert "spec.mintBudgetPerHour" in message
    # Six attempts in the last hour, the oldest at LIFETIME: one more fits an hour after it.
    assert "allowed at 2026-11-03T11:59:59Z" in message


def test_budget_message_without_known_attempts_says_within_the_hour() -> None:
    assert "allowed within the hour" in diagnose(no_token(budget_exhausted=True)).ready.message


def test_unreachable_message_says_since_when_and_that_nobody_needs_to_act_yet() -> None:
    s = expired(mint(LIFETIME - 500, SERVER_ERROR), mint(LIFETIME + 50, THROTTLED))
    message = diagnose(s).ready.message
    assert "unreachable since 2026-11-03T10:51:39Z" in message
    assert "HTTP 429 (QPS)" in message
    assert "keeps retrying" in message
    assert "nothing for a human to do unless it lasts" in message
    assert "expired at 2026-11-03T10:59:59Z" in message


def test_transient_detail_text_is_never_copied_into_messages() -> None:
    message = diagnose(no_token(mint(0, SERVER_ERROR))).ready.message
    assert SERVER_ERROR.detail not in message


# --- the reference's classification table -----------------------------------------------------------

Expected = tuple[tuple[str, str], tuple[str, str], tuple[str, str]]

CLASSIFICATION_TABLE: list[Any] = [
    pytest.param(
        no_token(mint(0, INVALID_CLIENT), mint(30, INVALID_CLIENT)),
        (
            ("False", "ClientCredentialsRejected"),
            ("True", "ClientCredentialsRejected"),
            ("Unknown", "Pending"),
        ),
        id="token-400-invalid_client-repeatedly",
    ),
    pytest.param(
        healthy(
            mints=(mint(0, issued(0)), mint(3000, INVALID_CLIENT), mint(3030, INVALID_CLIENT)), now=at(3031)
        ),
        (("True", "TokenVerified"), ("True", "ClientCredentialsRejected"), ("False", "OwnerVerified")),
        id="invalid_client-keeps-serving-old-token",
    ),
    pytest.param(
        no_token(mint(0, WRONG_GRANT)),
        (("False", "ClientCredentialsRejected"), ("Unknown", "Pending"), ("Unknown", "Pending")),
        id="token-400-unsupported_grant_type",
    ),
    pytest.param(
        no_token(mint(0, DISABLED)),
        (("False", "AppDisabled"), ("False", "CredentialsAccepted"), ("Unknown", "Pending")),
        id="token-app-disabled-4717",
    ),
    pytest.param(
        no_token(mint(0, OWNER_GONE)),
        (("False", "OwnerProblem"), ("False", "CredentialsAccepted"), ("True", "OwnerNotFound")),
        id="token-owner-does-not-exist-4735",
    ),
    pytest.param(
        healthy(probes=(probe(1, 0, OK), probe(400, 0, EXPIRED)), now=at(401)),
        (("False", "TokenRejected"), ("False", "CredentialsAccepted"), ("False", "OwnerVerified")),
        id="rest-401-access-token-is-expired",
    ),
    pytest.param(
        healthy(
            token=held(issued(400)),
            mints=(mint(0, issued(0)), mint(400, issued(400))),
            probes=(probe(1, 0, OK), probe(399, 0, REJECTED), probe(401, 400, OK)),
            now=at(402),
        ),
        (("True", "TokenVerified"), ("False", "CredentialsAccepted"), ("False", "OwnerVerified")),
        id="rest-401-on-old-token-fresh-token-works",
    ),
    pytest.param(
        rejected_fresh(3),
        (("False", "OwnerProblem"), ("False", "CredentialsAccepted"), ("True", "FreshTokensRejected")),
        id="fresh-tokens-401-persisting-3-mints",
    ),
    pytest.param(
        healthy(owner=facts(NO_USER), probes=(probe(1, 0, REJECTED),)),
        (("False", "OwnerProblem"), ("False", "CredentialsAccepted"), ("True", "OwnerNotFound")),
        id="auditor-owner-404",
    ),
    pytest.param(
        healthy(owner=facts(user("inactive")), probes=(probe(1, 0, REJECTED),)),
        (("False", "OwnerProblem"), ("False", "CredentialsAccepted"), ("True", "OwnerDeactivated")),
        id="auditor-owner-inactive",
    ),
    pytest.param(
        healthy(owner=facts(user("pending"))),
        (("True", "TokenVerified"), ("False", "CredentialsAccepted"), ("True", "OwnerDeactivated")),
        id="auditor-owner-pending-before-401s-start",
    ),
    pytest.param(
        healthy(owner=facts(user(), ROLE_NO_S2S), probes=(probe(1, 0, REJECTED),)),
        (("False", "OwnerProblem"), ("False", "CredentialsAccepted"), ("True", "OwnerRoleLacksPermission")),
        id="auditor-role-lacks-s2s-privilege",
    ),
    pytest.param(
        healthy(
            token=held(issued(60, scopes=frozenset({"meeting:write:admin"}))),
            mints=(mint(0, issued(0)), mint(60, issued(60, scopes=frozenset({"meeting:write:admin"})))),
            probes=(probe(61, 60, NO_SCOPE),),
            owner=None,
        ),
        (("True", "TokenVerified"), ("False", "CredentialsAccepted"), ("True", "ScopesRevoked")),
        id="rest-4711-and-scope-shrank",
    ),
    pytest.param(
        healthy(
            token=held(issued(0, scopes=frozenset({"meeting:write:admin"}))),
            mints=(mint(0, issued(0, scopes=frozenset({"meeting:write:admin"}))),),
            probes=(probe(1, 0, NO_SCOPE),),
            owner=None,
            previous_scopes=frozenset({"meeting:write:admin"}),
        ),
        (("False", "RequiredScopesMissing"), ("False", "CredentialsAccepted"), ("False", "NoEvidence")),
        id="rest-4711-scope-unchanged-app-never-had-it",
    ),
    pytest.param(
        healthy(probes=(probe(1, 0, OK), probe(300, 0, IN_QUERY)), now=at(301)),
        (("False", "TokenRejected"), ("False", "CredentialsAccepted"), ("False", "OwnerVerified")),
        id="rest-401-token-in-query-string",
    ),
    pytest.param(
        healthy(probes=(probe(1, 0, OK), probe(300, 0, THROTTLED)), now=at(301)),
        (("True", "TokenVerified"), ("False", "CredentialsAccepted"), ("False", "OwnerVerified")),
        id="rest-429",
    ),
    pytest.param(
        expired(mint(LIFETIME - 600, SERVER_ERROR), mint(LIFETIME - 300, THROTTLED)),
        (("False", "ZoomUnreachable"), ("False", "CredentialsAccepted"), ("False", "NoEvidence")),
        id="token-endpoint-429-or-5xx",
    ),
]


@pytest.mark.parametrize(("s", "expected"), CLASSIFICATION_TABLE)
def test_classification_table_row(s: Snapshot, expected: Expected) -> None:
    assert conditions(s) == expected


# --- properties -------------------------------------------------------------------------------------

ALL_CASES: list[Snapshot] = [
    p.values[0] for p in (*ROTATION_CASES, *OWNER_CASES, *READY_CASES, *CLASSIFICATION_TABLE)
]


@pytest.mark.parametrize("s", ALL_CASES)
def test_messages_never_contain_the_token_and_reasons_are_declared(s: Snapshot) -> None:
    for condition in diagnose(s).conditions():
        assert TOKEN_VALUE not in condition.message
        assert "s3cr3t" not in condition.message
        assert condition.reason in REASONS[condition.type]
        assert condition.message


@pytest.mark.parametrize(
    "chain", [READY_CHAIN, SECRET_ROTATION_CHAIN, OWNER_ROLE_CHAIN], ids=lambda c: c.condition_type
)
def test_every_rule_decides_at_least_one_case(chain: Chain) -> None:
    deciding = set()
    for s in ALL_CASES:
        first = next((rule for rule in chain.rules if rule(s) is not None), None)
        deciding.add(first.__name__ if first else "default")
    assert deciding == {rule.__name__ for rule in chain.rules} | {"default"}


tails = st.lists(
    st.tuples(st.sampled_from(["mint", "probe"]), st.sampled_from(TRANSIENTS), st.integers(1, 900)),
    max_size=25,
)


@given(tail=tails, owner_known=st.booleans())
def test_transient_failures_never_raise_a_human_action_flag(
    tail: list[tuple[str, Transient | RateLimited, int]], owner_known: bool
) -> None:
    base = healthy(owner=facts(user(), ROLE_OK) if owner_known else None)
    mints, probes, t = list(base.mints), list(base.probes), 1
    for kind, outcome, gap in tail:
        t += gap
        if kind == "mint":
            mints.append(mint(t, outcome))
        else:
            probes.append(probe(t, 0, outcome))
    s = dataclasses.replace(base, mints=tuple(mints), probes=tuple(probes), now=at(t + 1))
    d = diagnose(s)
    assert d.secret_rotation_required.status == "False"
    assert d.owner_role_change_required.status == "False"
    assert not d.human_action_required()
    if t + 1 < LIFETIME:
        assert d.ready.reason == "TokenVerified"


TOKEN_OUTCOME_CHOICES: list[TokenOutcome] = [
    INVALID_CLIENT,
    WRONG_GRANT,
    WRONG_ACCOUNT,
    DISABLED,
    OWNER_GONE,
    SERVER_ERROR,
    TIMEOUT,
    THROTTLED,
]
API_OUTCOME_CHOICES: list[ApiOutcome] = [
    OK,
    REJECTED,
    EXPIRED,
    IN_QUERY,
    NO_SCOPE,
    NO_USER,
    FORBIDDEN,
    SERVER_ERROR,
    THROTTLED,
]
TOKEN_OUTCOMES = st.sampled_from(TOKEN_OUTCOME_CHOICES)
API_OUTCOMES = st.sampled_from(API_OUTCOME_CHOICES)
SCOPE_SETS = st.frozensets(st.sampled_from(sorted(REQUIRED | {"role:read:admin"})))


@st.composite
def histories(draw: st.DrawFn) -> Snapshot:
    """Arbitrary (ordered) histories: any mix of outcomes, tokens, owner facts and flags."""
    offsets = sorted(draw(st.lists(st.integers(0, 7200), max_size=12)))
    mints: list[MintRecord] = []
    minted: list[TokenIssued] = []
    for t in offsets:
        if draw(st.booleans()):
            token = issued(t, scopes=draw(SCOPE_SETS), uid=draw(st.sampled_from([OWNER_ID, OTHER_ID, None])))
            minted.append(token)
            mints.append(MintRecord(at(t), token))
        else:
            mints.append(mint(t, draw(TOKEN_OUTCOMES)))
    probe_times = sorted(draw(st.lists(st.integers(0, 7200), max_size=12)))
    probes = [
        ProbeRecord(at(t), draw(st.sampled_from([m.issued_at for m in minted] or [T0])), draw(API_OUTCOMES))
        for t in probe_times
    ]
    lookup = draw(
        st.sampled_from(
            [None, NO_USER, user(), user("inactive"), user("pending"), user(email="x@example.com")]
        )
    )
    owner = draw(
        st.one_of(
            st.none(),
            st.builds(
                facts,
                st.just(lookup),
                st.sampled_from([None, ROLE_OK, ROLE_NO_S2S]),
                st.sampled_from(["token", "probe", "auditor"]),
            ),
        )
    )
    hold_token = draw(st.booleans())
    return Snapshot(
        now=at(draw(st.integers(0, 9000))),
        spec=draw(st.sampled_from([SPEC, EMAIL_ONLY, MEETINGS_PROBE])),
        app=APP,
        credentials_secret=CREDS,
        credentials_problem=draw(
            st.sampled_from([None, None, CredentialsProblem(dx.READY_CREDENTIALS_MISSING, "missing")])
        ),
        duplicate_of=draw(st.sampled_from([None, None, DUPLICATE])),
        token=held(draw(st.sampled_from(minted))) if minted and hold_token else None,
        mints=tuple(mints),
        probes=tuple(probes),
        owner=owner,
        previous_scopes=draw(st.one_of(st.none(), SCOPE_SETS)),
        budget_exhausted=draw(st.booleans()),
    )


@settings(max_examples=300)
@given(s=histories())
def test_any_history_gives_declared_reasons_and_no_secrets(s: Snapshot) -> None:
    d = diagnose(s)
    for condition in d.conditions():
        assert condition.reason in REASONS[condition.type]
        assert TOKEN_VALUE not in condition.message
    assert d.human_action_required() == (
        "True" in (d.secret_rotation_required.status, d.owner_role_change_required.status)
    )


@settings(max_examples=300)
@given(s=histories(), data=st.data())
def test_inserting_outages_anywhere_never_changes_the_human_action_flags(
    s: Snapshot, data: st.DataObject
) -> None:
    def with_outages(records: tuple[Any, ...], make: Any) -> tuple[Any, ...]:
        out = list(records)
        for _ in range(data.draw(st.integers(0, 4))):
            i = data.draw(st.integers(0, len(out)))
            out.insert(i, make(out[i - 1].at if i else T0, data.draw(st.sampled_from(TRANSIENTS))))
        return tuple(out)

    noisy = dataclasses.replace(
        s,
        mints=with_outages(s.mints, MintRecord),
        probes=with_outages(s.probes, lambda t, o: ProbeRecord(t, T0, o)),
    )
    before, after = diagnose(s), diagnose(noisy)
    for old, new in zip(before.conditions()[1:], after.conditions()[1:], strict=True):
        assert (new.status, new.reason) == (old.status, old.reason)


def test_email_only_expected_owner_is_matched_against_the_tokens_uid_through_the_lookup() -> None:
    """Finding 1 of bench/RESULTS.md: a completed transfer with expectedOwner.email only was not flagged."""
    from zoom_operator.secret import Secret
    from zoom_operator.spec import parse_spec
    from zoom_operator.zoom.outcomes import ApiOk, TokenIssued, ZoomUser

    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    spec = parse_spec(
        {"credentialsSecretRef": {"name": "c"}, "expectedOwner": {"email": "Dev-Lead@example.com"}},
        app_name="a",
    )
    token = TokenIssued(
        access_token=Secret("t"),
        token_type="bearer",
        issued_at=now,
        expires_at=now + timedelta(hours=1),
        scopes=frozenset(),
        api_url=None,
        owner_uid="u-new-owner",
    )
    expected = ZoomUser(
        id="u-owner",
        email="dev-lead@example.com",
        status="active",
        role_id=None,
        role_name=None,
        account_id=None,
    )

    def snapshot(user: ZoomUser) -> Snapshot:
        return Snapshot(
            now=now,
            spec=spec,
            app="ns/a",
            credentials_secret="ns/c",
            token=TokenFacts(
                issued_at=now, expires_at=token.expires_at, scopes=frozenset(), owner_uid=token.owner_uid
            ),
            mints=(MintRecord(at=now, outcome=token),),
            probes=(ProbeRecord(at=now, token_issued_at=now, outcome=ApiOk(200, {})),),
            owner=OwnerFacts(source="probe", checked_at=now, lookup=user, role=None),
        )

    flagged = diagnose(snapshot(expected)).secret_rotation_required
    assert (flagged.status, flagged.reason) == ("True", dx.ROTATION_OWNERSHIP_TRANSFER_PENDING)
    same = ZoomUser(
        id="u-new-owner",
        email="dev-lead@example.com",
        status="active",
        role_id=None,
        role_name=None,
        account_id=None,
    )
    assert diagnose(snapshot(same)).secret_rotation_required.status == "False"
