"""The pure parts of the Kubernetes side: credentials Secret, token Secret, status rendering and restore."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from zoom_operator import diagnosis as dx
from zoom_operator.kube.credentials import Credentials, is_labelled, read_credentials
from zoom_operator.kube.status import render_conditions, render_rejection, restore_evidence, transitions
from zoom_operator.kube.token_secret import (
    is_intact,
    is_owned_by,
    read_stored_token,
    render_token_secret,
)
from zoom_operator.secret import Secret
from zoom_operator.spec import CredentialsSecretRef, TokenSecretTemplate
from zoom_operator.zoom.outcomes import ApiOk, ClientRejected, TokenIssued, Unauthorized, ZoomUser

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
REF = CredentialsSecretRef(name="bot-zoom")


def _secret(**values: bytes) -> dict[str, Any]:
    return {
        "metadata": {"name": "bot-zoom", "labels": {"zoom-operator.io/credentials": "true"}},
        "data": {k: base64.b64encode(v).decode() for k, v in values.items()},
    }


def _token(issued_at: datetime = NOW) -> TokenIssued:
    return TokenIssued(
        access_token=Secret("eyJ.token.value"),
        token_type="bearer",
        issued_at=issued_at,
        expires_at=issued_at + timedelta(seconds=3599),
        scopes=frozenset({"user:read:admin", "meeting:write:admin"}),
        api_url="https://api.zoom.us",
        owner_uid="u-owner",
    )


def test_credentials_are_read_stripped_and_fingerprinted_without_exposing_the_secret() -> None:
    creds = read_credentials(
        _secret(account_id=b"acc\n", client_id=b"cid", client_secret=b"s3cret\n"), REF, "team-a"
    )
    assert isinstance(creds, Credentials)
    assert (creds.account_id, creds.client_id, creds.client_secret.reveal()) == ("acc", "cid", "s3cret")
    assert "s3cret" not in repr(creds)
    assert len(creds.fingerprint) == 16


@pytest.mark.parametrize(
    ("secret", "reason", "fragment"),
    [
        (None, dx.READY_CREDENTIALS_MISSING, "does not exist"),
        (_secret(account_id=b"a", client_id=b"c"), dx.READY_CREDENTIALS_INVALID, "no key 'client_secret'"),
        (
            _secret(account_id=b"a", client_id=b"c", client_secret=b""),
            dx.READY_CREDENTIALS_INVALID,
            "is empty",
        ),
        (
            _secret(account_id=b"a", client_id=b"c", client_secret=b"\xff\xfe"),
            dx.READY_CREDENTIALS_INVALID,
            "UTF-8",
        ),
        (
            _secret(account_id=b"a", client_id=b"c d", client_secret=b"x"),
            dx.READY_CREDENTIALS_INVALID,
            "spaces",
        ),
        (
            {
                "metadata": {"labels": {"zoom-operator.io/credentials": "true"}},
                "data": {"account_id": "%%%", "client_id": "", "client_secret": ""},
            },
            dx.READY_CREDENTIALS_INVALID,
            "base64",
        ),
    ],
    ids=["missing", "key-missing", "empty", "not-utf8", "space", "not-base64"],
)
def test_unusable_credentials_name_the_secret_and_key(
    secret: dict[str, Any] | None, reason: str, fragment: str
) -> None:
    problem = read_credentials(secret, REF, "team-a")
    assert isinstance(problem, dx.CredentialsProblem)
    assert problem.reason == reason
    assert fragment in problem.message
    assert "team-a/bot-zoom" in problem.message


def test_credentials_secret_is_used_only_with_its_writers_label() -> None:
    assert not is_labelled({"metadata": {}})
    assert not is_labelled({"metadata": {"labels": {"zoom-operator.io/credentials": "token"}}})
    assert is_labelled({"metadata": {"labels": {"zoom-operator.io/credentials": "true"}}})


@pytest.mark.parametrize("label", [None, "token", "yes"])
def test_unlabelled_credentials_secret_is_not_read_and_says_how_to_label_it(label: str | None) -> None:
    secret = _secret(account_id=b"acc", client_id=b"cid", client_secret=b"s3cret")
    secret["metadata"]["labels"] = {} if label is None else {"zoom-operator.io/credentials": label}
    problem = read_credentials(secret, REF, "team-a")
    assert isinstance(problem, dx.CredentialsProblem)
    assert problem.reason == dx.READY_CREDENTIALS_INVALID
    assert "kubectl label secret -n team-a bot-zoom zoom-operator.io/credentials=true" in problem.message
    assert "cid" not in problem.message
    assert "s3cret" not in problem.message


def test_token_secret_round_trips_and_detects_edits() -> None:
    token = _token()
    body = render_token_secret(
        namespace="team-a",
        app_name="bot",
        app_uid="uid-1",
        template=TokenSecretTemplate(name="bot-token", labels={"team": "a"}),
        token=token,
        default_api_url="https://api.zoom.us",
    )
    assert body["metadata"]["ownerReferences"][0]["controller"] is True
    assert body["metadata"]["annotations"]["zoom-operator.io/zoomapp"] == "team-a/bot"
    assert body["metadata"]["labels"]["team"] == "a"
    stored = read_stored_token(body)
    assert stored is not None
    assert stored.access_token == token.access_token
    assert (stored.issued_at, stored.expires_at, stored.scopes) == (
        token.issued_at,
        token.expires_at,
        token.scopes,
    )
    assert is_intact(body, body)

    edited = {**body, "data": {**body["data"], "access_token": base64.b64encode(b"other").decode()}}
    assert not is_intact(edited, body)
    assert read_stored_token(edited) is None, "a hand-edited token is not trusted"


def _diagnosis(ready: dx.ConditionStatus, reason: str) -> dx.Diagnosis:
    return dx.Diagnosis(
        ready=dx.Condition("Ready", ready, reason, "m"),
        secret_rotation_required=dx.Condition("SecretRotationRequired", "False", "CredentialsAccepted", "m"),
        owner_role_change_required=dx.Condition("OwnerRoleChangeRequired", "False", "OwnerVerified", "m"),
    )


def test_last_transition_time_moves_only_when_the_status_changes() -> None:
    first = render_conditions(None, _diagnosis("True", "TokenVerified"), generation=1, now=NOW)
    later = NOW + timedelta(minutes=5)
    same = render_conditions(first, _diagnosis("True", "TokenVerified"), generation=2, now=later)
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert same[0]["observedGeneration"] == 2
    flipped = render_conditions(first, _diagnosis("False", "TokenRejected"), generation=2, now=later)
    assert flipped[0]["lastTransitionTime"] != first[0]["lastTransitionTime"]
    changes = transitions(first, _diagnosis("False", "TokenRejected"))
    assert [(c.condition.type, c.is_warning) for c in changes] == [("Ready", True)]


def test_a_new_app_posts_one_event_unless_a_flag_is_raised_at_once() -> None:
    assert [c.condition.type for c in transitions(None, _diagnosis("True", "TokenVerified"))] == ["Ready"]
    raised = dx.Diagnosis(
        ready=dx.Condition("Ready", "False", "TokenRejected", "m"),
        secret_rotation_required=dx.Condition("SecretRotationRequired", "True", "InvalidClient", "m"),
        owner_role_change_required=dx.Condition("OwnerRoleChangeRequired", "Unknown", "NotChecked", "m"),
    )
    changes = transitions(None, raised)
    assert [(c.condition.type, c.is_warning) for c in changes] == [
        ("Ready", True),
        ("SecretRotationRequired", True),
        ("OwnerRoleChangeRequired", False),
    ]


def test_restart_restores_an_accepted_probe_and_the_owner() -> None:
    token = _token(NOW - timedelta(minutes=10))
    status = {
        "lastProbe": {"at": "2026-11-29T11:55:00Z", "httpStatus": 200, "message": "accepted"},
        "owner": {
            "userId": "u-owner",
            "email": "dev-lead@example.com",
            "status": "active",
            "roleId": "role-admin",
            "roleName": "Admin",
            "checkedAt": "2026-11-29T11:55:00Z",
            "source": "probe",
        },
    }
    evidence = restore_evidence(status, token_issued_at=token.issued_at, fresh_token_seconds=60, now=NOW)
    assert [type(p.outcome) for p in evidence.probes] == [ApiOk]
    assert evidence.owner is not None
    assert isinstance(evidence.owner.lookup, ZoomUser)
    assert evidence.owner.lookup.status == "active"


def test_restart_restores_the_fresh_token_rejections_behind_a_raised_flag() -> None:
    issued = NOW - timedelta(minutes=30)
    status = {
        "lastProbe": {
            "at": "2026-11-29T11:55:00Z",
            "httpStatus": 401,
            "zoomCode": 124,
            "message": "Invalid access token.",
        },
        "consecutiveUnauthorized": 3,
    }
    evidence = restore_evidence(status, token_issued_at=issued, fresh_token_seconds=60, now=NOW)
    assert all(isinstance(p.outcome, Unauthorized) for p in evidence.probes)
    assert evidence.probes[-1].token_issued_at == issued
    assert len(evidence.probes) == 1, "the last probe as status shows it, no invented records"
    assert evidence.prior_fresh_rejections == 3  # a 401 on a 25-minute-old token does not count itself
    snapshot = dx.Snapshot(
        now=NOW,
        spec=_spec(),
        app="team-a/bot",
        credentials_secret="team-a/bot-zoom",
        token=dx.TokenFacts(
            issued_at=issued, expires_at=issued + timedelta(hours=1), scopes=frozenset(), owner_uid=None
        ),
        probes=evidence.probes,
        prior_fresh_rejections=evidence.prior_fresh_rejections,
    )
    assert dx.fresh_unauthorized_streak(snapshot) == 3


def test_an_outage_at_the_last_probe_restores_no_evidence() -> None:
    status = {"lastProbe": {"at": "2026-11-29T11:55:00Z", "httpStatus": 503, "message": "server_error: 503"}}
    assert (
        restore_evidence(
            status, token_issued_at=NOW - timedelta(hours=0.5), fresh_token_seconds=60, now=NOW
        ).probes
        == ()
    )


def test_restart_restores_client_rejections_for_the_same_credentials() -> None:
    rejection = ClientRejected(
        error="invalid_client", reason="Invalid client_id or client_secret", http_status=400
    )
    status = {"credentials": {"rejected": render_rejection("fp-1", [rejection, rejection], NOW)}}
    evidence = restore_evidence(status, token_issued_at=None, fresh_token_seconds=60, now=NOW)
    assert evidence.rejected_fingerprint == "fp-1"
    # the last rejection as status shows it, and the one before it as a count (no invented records)
    assert [r.outcome for r in evidence.rejected_mints] == [rejection]
    assert evidence.prior_invalid_client == 1
    assert dx.invalid_client_answers(evidence.rejected_mints, evidence.prior_invalid_client) == 2


def test_restore_drops_evidence_dated_in_the_future_and_bounds_counts() -> None:
    issued = NOW - timedelta(minutes=30)
    future = "2099-01-01T00:00:00Z"
    rejection = ClientRejected(error="invalid_client", reason="edited", http_status=400)
    status = {
        "lastProbe": {"at": future, "httpStatus": 401, "zoomCode": 124, "message": "Invalid access token."},
        "consecutiveUnauthorized": 10**9,
        "owner": {"userId": "u", "source": "auditor", "checkedAt": future, "status": "inactive"},
        "credentials": {"rejected": {**render_rejection("fp-1", [rejection] * 3, NOW), "at": future}},
    }
    evidence = restore_evidence(status, token_issued_at=issued, fresh_token_seconds=60, now=NOW)
    assert evidence.probes == ()
    assert evidence.owner is None
    assert evidence.rejected_mints == ()
    status["lastProbe"]["at"] = "2026-11-29T11:55:00Z"
    bounded = restore_evidence(status, token_issued_at=issued, fresh_token_seconds=60, now=NOW)
    assert len(bounded.probes) <= 13
    assert bounded.prior_fresh_rejections <= 12


def test_a_later_expiry_written_beside_a_jwt_never_outlives_its_exp_claim() -> None:
    claims = {"uid": "u-owner", "exp": int((NOW + timedelta(minutes=20)).timestamp())}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    token = dataclasses.replace(_token(), access_token=Secret(f"eyJhbGciOiJIUzUxMiJ9.{payload}.sig"))
    body = render_token_secret(
        namespace="team-a",
        app_name="bot",
        app_uid="uid-1",
        template=TokenSecretTemplate(name="bot-token"),
        token=token,
        default_api_url="https://api.zoom.us",
    )
    body["data"]["expires_at"] = base64.b64encode(b"2099-01-01T00:00:00Z").decode()
    stored = read_stored_token(body)
    assert stored is not None
    assert stored.expires_at == NOW + timedelta(minutes=20)


def test_token_secret_ownership_is_the_controller_reference_to_this_zoomapps_uid() -> None:
    body = render_token_secret(
        namespace="team-a",
        app_name="bot",
        app_uid="uid-1",
        template=TokenSecretTemplate(name="bot-token"),
        token=_token(),
        default_api_url="https://api.zoom.us",
    )
    assert is_owned_by(body, "uid-1")
    assert not is_owned_by(body, "uid-2")
    assert not is_owned_by(body, "")
    assert not is_owned_by({"metadata": {"name": "db-password"}}, "uid-1")
    not_controller = {
        "metadata": {"ownerReferences": [{**body["metadata"]["ownerReferences"][0], "controller": False}]}
    }
    assert not is_owned_by(not_controller, "uid-1")
    other_kind = {
        "metadata": {"ownerReferences": [{**body["metadata"]["ownerReferences"][0], "kind": "Deployment"}]}
    }
    assert not is_owned_by(other_kind, "uid-1")


def _spec() -> Any:
    from zoom_operator.spec import parse_spec

    return parse_spec(
        {"credentialsSecretRef": {"name": "bot-zoom"}, "expectedOwner": {"email": "dev-lead@example.com"}},
        app_name="bot",
    )


def test_api_errors_drop_echoed_bodies_and_tokens_but_keep_kubernetes_names() -> None:
    from zoom_operator.kube.api import KubeError

    namespace = "test-operator-reconciles-a-zoomapp-to-ready-0a1b2c"
    jwt = "eyJhbGciOiJIUzUxMiIsInYiOiIyLjAiLCJraWQiOiJzaW0ifQ.eyJ2ZXIiOjh9.c2lnbmF0dXJl"
    error = KubeError(
        400,
        "BadRequest",
        f"in {namespace}: json parse error (227b5c22617069566572736f6e5c223a205c2276315c22) {jwt}",
    )
    assert namespace in str(error)
    assert jwt not in str(error)
    assert "227b5c22617069566572736f6e5c223a205c2276315c22" not in str(error)
