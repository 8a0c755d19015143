"""The operator end to end: a real kube-apiserver, the simulator as Zoom, `zoom-operator run` as a process."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.operator import (
    CREDENTIALS_LABELS,
    Cluster,
    OperatorProcess,
    credentials_secret,
    wait_for,
    zoomapp,
)
from tests.support.simulator import SimulatorProcess

pytestmark = pytest.mark.e2e

SHORT_TTL = 40  # simulator tokens live this long in renewal tests
APP = "meetings-bot"
CREDS = "meetings-bot-zoom"


def _deploy(cluster: Cluster, sim: SimulatorProcess, **spec: Any) -> None:
    cluster.apply(
        [
            credentials_secret(
                CREDS, account_id="acc-demo", client_id="demo-client", client_secret="demo-secret"
            ),
            zoomapp(APP, credentials=CREDS, base_url=sim.base_url, **spec),
        ]
    )


def _tokens_issued(sim: SimulatorProcess, client_id: str = "demo-client") -> int:
    return int(sim.stats()["tokens_issued"].get(client_id, 0))


def test_first_token_lands_in_the_secret_and_the_app_is_ready(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    operator = start_operator()
    _deploy(cluster, sim, requiredScopes=["meeting:write:admin", "user:read:admin"])

    ready = cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified")
    assert ready["observedGeneration"] == 1
    app = cluster.zoomapp(APP)
    status = app["status"]
    for condition_type, reason in (
        ("SecretRotationRequired", "CredentialsAccepted"),
        ("OwnerRoleChangeRequired", "OwnerVerified"),
    ):
        assert cluster.condition(APP, condition_type)["status"] == "False"
        assert cluster.condition(APP, condition_type)["reason"] == reason
    assert status["token"]["secretName"] == f"{APP}-token"
    assert status["owner"]["email"] == "dev-lead@example.com"
    assert status["mints"]["total"] == 1

    data = cluster.secret_data(f"{APP}-token")
    assert data is not None
    assert set(data) == {"access_token", "token_type", "expires_at", "issued_at", "scope", "api_url"}
    assert data["token_type"] == "bearer"
    assert "meeting:write:admin" in data["scope"].split()
    secret = cluster.get("secret", f"{APP}-token")
    assert secret is not None
    owner_ref = secret["metadata"]["ownerReferences"][0]
    assert (owner_ref["kind"], owner_ref["name"], owner_ref["controller"]) == ("ZoomApp", APP, True)
    assert secret["metadata"]["annotations"]["zoom-operator.io/expires-at"] == data["expires_at"]
    assert secret["metadata"]["annotations"]["zoom-operator.io/zoomapp"] == f"{cluster.namespace}/{APP}"
    # The token the pods get works against Zoom.
    import httpx

    me = httpx.get(
        f"{sim.base_url}/v2/users/me", headers={"Authorization": f"Bearer {data['access_token']}"}, timeout=5
    )
    assert me.status_code == 200
    # Printer columns: READY, REASON, EXPIRES, SECRET.
    table = cluster.kubectl("get", "zapp", APP).stdout
    assert "TokenVerified" in table
    assert f"{APP}-token" in table
    # Metrics.
    metrics = operator.metrics()
    ready_series = (
        f'zoomapp_condition{{name="{APP}",namespace="{cluster.namespace}",'
        'reason="TokenVerified",status="True",type="Ready"} 1.0'
    )
    assert ready_series in metrics
    assert "zoomapp_token_expiration_timestamp_seconds" in metrics
    assert data["access_token"] not in operator.logs()


def test_restart_reuses_the_stored_token_without_minting(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    first = start_operator()
    _deploy(cluster, sim)
    cluster.wait_condition(APP, "Ready", "True")
    token_before = cluster.secret_data(f"{APP}-token")
    mints_before = _tokens_issued(sim)
    first.kill()

    second = start_operator()

    def serving() -> bool:
        return f'zoomapp_token_expiration_timestamp_seconds{{name="{APP}"' in second.metrics()

    wait_for(serving, timeout=30, what="the restarted operator to take the app over")
    assert cluster.condition(APP, "Ready")["status"] == "True"
    assert _tokens_issued(sim) == mints_before == 1
    assert cluster.secret_data(f"{APP}-token") == token_before


def test_short_lived_tokens_are_renewed_before_they_expire(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    sim.admin("PATCH", "/_sim/apps/demo-client", {"token_ttl_seconds": SHORT_TTL})
    start_operator()
    _deploy(cluster, sim, renewBeforeSeconds=15)
    cluster.wait_condition(APP, "Ready", "True")
    first = cluster.secret_data(f"{APP}-token")
    assert first is not None

    def renewed() -> dict[str, str] | None:
        data = cluster.secret_data(f"{APP}-token")
        return data if data and data["access_token"] != first["access_token"] else None

    second = wait_for(renewed, timeout=SHORT_TTL, what="a renewed token")
    # Renewed before the old token expired, with at least renewBeforeSeconds to spare.
    old_expiry = datetime.fromisoformat(first["expires_at"].replace("Z", "+00:00"))
    new_issue = datetime.fromisoformat(second["issued_at"].replace("Z", "+00:00"))
    assert (old_expiry - new_issue).total_seconds() >= 14
    assert _tokens_issued(sim) == 2


def test_owner_role_losing_the_s2s_permission_flags_owner_role_change_then_clears(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    _deploy(cluster, sim, probe={"intervalSeconds": 5})
    cluster.wait_condition(APP, "Ready", "True")

    privileges = sim.admin("GET", "/_sim/state")["roles"]
    admin_role = next(r for r in privileges if r["id"] == "role-admin")
    kept = [p for p in admin_role["privileges"] if p != "ServerToServerOAuthApp:Edit"]
    sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": kept})

    flagged = cluster.wait_condition(
        APP, "OwnerRoleChangeRequired", "True", reason="FreshTokensRejected", timeout=45
    )
    assert "dev-lead@example.com" in flagged["message"]
    ready = cluster.condition(APP, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "OwnerProblem")
    assert cluster.condition(APP, "SecretRotationRequired")["status"] == "False"
    warnings = [
        e for e in cluster.events(APP) if e["type"] == "Warning" and e["reason"] == "FreshTokensRejected"
    ]
    assert warnings, "a Warning event when the flag rises"
    # Minting stayed within the budget: one first token + threshold fresh ones.
    assert _tokens_issued(sim) <= 1 + 3

    sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": admin_role["privileges"]})
    cluster.wait_condition(APP, "OwnerRoleChangeRequired", "False", timeout=30)
    cluster.wait_condition(APP, "Ready", "True", timeout=30)


def test_secret_rotated_in_zoom_only_flags_rotation_and_updating_the_secret_clears_it(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    _deploy(cluster, sim)
    cluster.wait_condition(APP, "Ready", "True")
    new_secret = sim.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})["client_secret"]
    cluster.kubectl("annotate", "zapp", APP, f"zoom-operator.io/renew-now={datetime.now(UTC).isoformat()}")

    flagged = cluster.wait_condition(
        APP, "SecretRotationRequired", "True", reason="ClientCredentialsRejected", timeout=60
    )
    assert f"{cluster.namespace}/{CREDS}" in flagged["message"]
    assert cluster.condition(APP, "Ready")["status"] == "True", "the still-valid token keeps being served"
    minted_while_blocked = _tokens_issued(sim)

    cluster.apply(
        credentials_secret(CREDS, account_id="acc-demo", client_id="demo-client", client_secret=new_secret)
    )
    cluster.wait_condition(APP, "SecretRotationRequired", "False", reason="CredentialsAccepted", timeout=20)
    assert _tokens_issued(sim) == minted_while_blocked + 1


def test_token_secret_deleted_or_edited_is_restored_without_a_mint(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    _deploy(cluster, sim)
    cluster.wait_condition(APP, "Ready", "True")
    original = cluster.secret_data(f"{APP}-token")

    cluster.kubectl("delete", "secret", f"{APP}-token")
    wait_for(
        lambda: cluster.secret_data(f"{APP}-token") == original, timeout=20, what="recreated token Secret"
    )

    tampered = base64.b64encode(b"not-a-token").decode()
    cluster.kubectl("patch", "secret", f"{APP}-token", "-p", json.dumps({"data": {"access_token": tampered}}))
    wait_for(
        lambda: cluster.secret_data(f"{APP}-token") == original, timeout=20, what="restored token Secret"
    )
    assert _tokens_issued(sim) == 1


@pytest.mark.parametrize(
    ("secret", "reason", "fragment"),
    [
        (None, "CredentialsSecretMissing", "does not exist"),
        (
            {"account_id": "acc-demo", "client_id": "demo-client"},
            "CredentialsSecretInvalid",
            "'client_secret'",
        ),
        (
            {"account_id": "acc-demo", "client_id": "demo-client", "client_secret": ""},
            "CredentialsSecretInvalid",
            "empty",
        ),
    ],
    ids=["missing", "key-missing", "empty"],
)
def test_unusable_credentials_secret_is_reported_on_ready(
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    secret: dict[str, str] | None,
    reason: str,
    fragment: str,
) -> None:
    start_operator()
    if secret is not None:
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": CREDS, "labels": dict(CREDENTIALS_LABELS)},
                "stringData": secret,
            }
        )
    cluster.apply(zoomapp(APP, credentials=CREDS, base_url=sim.base_url))
    ready = cluster.wait_condition(APP, "Ready", "False", reason=reason)
    assert fragment in ready["message"]
    assert CREDS in ready["message"]
    assert _tokens_issued(sim) == 0

    # Fixing the Secret is noticed without touching the ZoomApp.
    cluster.apply(
        credentials_secret(CREDS, account_id="acc-demo", client_id="demo-client", client_secret="demo-secret")
    )
    cluster.wait_condition(APP, "Ready", "True", timeout=40)


def test_non_utf8_credentials_are_invalid_and_nothing_leaks(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    operator = start_operator()
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": CREDS, "labels": dict(CREDENTIALS_LABELS)},
            "data": {
                "account_id": base64.b64encode(b"acc-demo").decode(),
                "client_id": base64.b64encode(b"demo-client").decode(),
                "client_secret": base64.b64encode(b"\xff\xfe-secret-bytes").decode(),
            },
        }
    )
    cluster.apply(zoomapp(APP, credentials=CREDS, base_url=sim.base_url))
    ready = cluster.wait_condition(APP, "Ready", "False", reason="CredentialsSecretInvalid")
    assert "UTF-8" in ready["message"]
    assert "secret-bytes" not in operator.logs()


def test_two_zoomapps_with_one_client_id_serve_only_the_first(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    _deploy(cluster, sim)
    cluster.wait_condition(APP, "Ready", "True")
    cluster.apply(zoomapp("second-bot", credentials=CREDS, base_url=sim.base_url))
    duplicate = cluster.wait_condition("second-bot", "Ready", "False", reason="DuplicateClientId")
    assert f"{cluster.namespace}/{APP}" in duplicate["message"]
    assert cluster.get("secret", "second-bot-token") is None
    assert _tokens_issued(sim) == 1

    cluster.kubectl("delete", "zapp", APP, "--wait=false")
    cluster.wait_condition("second-bot", "Ready", "True", timeout=40)


def test_zoom_outage_keeps_the_token_and_raises_no_human_flag(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    _deploy(cluster, sim, probe={"intervalSeconds": 5})
    cluster.wait_condition(APP, "Ready", "True")
    token = cluster.secret_data(f"{APP}-token")
    sim.admin("POST", "/_sim/faults", {"target": "api", "kind": "status", "status": 503, "seconds": 20})
    sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "status", "status": 503, "seconds": 20})
    cluster.kubectl("annotate", "zapp", APP, "zoom-operator.io/renew-now=outage")

    def probed_during_outage() -> bool:
        probe = (cluster.zoomapp(APP).get("status") or {}).get("lastProbe") or {}
        return probe.get("httpStatus") == 503

    wait_for(probed_during_outage, timeout=30, what="a probe that met the outage")
    for condition_type in ("SecretRotationRequired", "OwnerRoleChangeRequired"):
        assert cluster.condition(APP, condition_type)["status"] != "True"
    assert cluster.condition(APP, "Ready")["status"] == "True"
    assert cluster.secret_data(f"{APP}-token") == token


def test_scopes_lost_between_mints_flag_scopes_revoked(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    _deploy(cluster, sim, requiredScopes=["meeting:write:admin"])
    cluster.wait_condition(APP, "Ready", "True")
    role = next(r for r in sim.admin("GET", "/_sim/state")["roles"] if r["id"] == "role-admin")
    # The owner's role is downgraded: Zoom strips the admin-level scopes from the app's next tokens.
    sim.admin(
        "PATCH",
        "/_sim/roles/role-admin",
        {"privileges": [p for p in role["privileges"] if p != "Account:Edit"]},
    )
    cluster.kubectl("annotate", "zapp", APP, "zoom-operator.io/renew-now=after-downgrade")

    flagged = cluster.wait_condition(APP, "OwnerRoleChangeRequired", "True", reason="ScopesRevoked")
    assert "meeting:write:admin" in flagged["message"]
    # Zoom checks the token before the scopes: the token itself still works.
    assert cluster.condition(APP, "Ready")["status"] == "True"


def test_token_owner_other_than_expected_owner_asks_for_rotation_until_transfer_completes(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    # The team wants the app owned by second-admin (u-admin2); Zoom still has dev-lead (u-owner).
    _deploy(cluster, sim, owner_email=None, owner_id="u-admin2")
    flagged = cluster.wait_condition(APP, "SecretRotationRequired", "True", reason="OwnershipTransferPending")
    assert "u-owner" in flagged["message"]
    assert "u-admin2" in flagged["message"]

    # The transfer in Zoom completes only with a rotation; the new secret goes into the Secret.
    sim.admin("POST", "/_sim/apps/demo-client/transfer", {"to_user_id": "u-admin2"})
    new_secret = sim.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})["client_secret"]
    cluster.apply(
        credentials_secret(CREDS, account_id="acc-demo", client_id="demo-client", client_secret=new_secret)
    )
    cluster.wait_condition(APP, "SecretRotationRequired", "False", reason="CredentialsAccepted", timeout=30)
    assert cluster.zoomapp(APP)["status"]["owner"]["userId"] == "u-admin2"


def test_auditor_names_the_exact_owner_problem_when_the_owner_is_deactivated(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    cluster.apply(
        [
            credentials_secret(
                "zoom-admin-creds",
                account_id="acc-demo",
                client_id="auditor-client",
                client_secret="auditor-secret",
            ),
            zoomapp(
                "zoom-admin",
                credentials="zoom-admin-creds",
                base_url=sim.base_url,
                owner_email="auditor@example.com",
            ),
        ]
    )
    cluster.wait_condition("zoom-admin", "Ready", "True")
    _deploy(cluster, sim, auditorRef={"name": "zoom-admin"}, probe={"intervalSeconds": 5})
    cluster.wait_condition(APP, "Ready", "True")

    sim.admin("PATCH", "/_sim/users/u-owner", {"status": "inactive"})
    flagged = cluster.wait_condition(
        APP, "OwnerRoleChangeRequired", "True", reason="OwnerDeactivated", timeout=40
    )
    assert "dev-lead@example.com" in flagged["message"]
    assert cluster.zoomapp(APP)["status"]["owner"]["source"] == "auditor"
    # The auditor app itself is unaffected.
    assert cluster.condition("zoom-admin", "Ready")["status"] == "True"


def test_restart_keeps_raised_flags_without_spending_mints_to_prove_them_again(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    first = start_operator()
    _deploy(cluster, sim, probe={"intervalSeconds": 5})
    cluster.wait_condition(APP, "Ready", "True")
    role = next(r for r in sim.admin("GET", "/_sim/state")["roles"] if r["id"] == "role-admin")
    sim.admin(
        "PATCH",
        "/_sim/roles/role-admin",
        {"privileges": [p for p in role["privileges"] if p != "ServerToServerOAuthApp:Edit"]},
    )
    cluster.wait_condition(APP, "OwnerRoleChangeRequired", "True", reason="FreshTokensRejected", timeout=45)
    sim.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})
    cluster.kubectl("annotate", "zapp", APP, "zoom-operator.io/renew-now=rotated")
    cluster.wait_condition(
        APP, "SecretRotationRequired", "True", reason="ClientCredentialsRejected", timeout=60
    )
    requests_before = sim.stats()["token_requests"]["demo-client"]
    first.kill()

    second = start_operator()
    series = f'zoomapp_condition{{name="{APP}"'
    wait_for(lambda: series in second.metrics(), timeout=30, what="the restarted operator")
    for condition_type, reason in (
        ("OwnerRoleChangeRequired", "FreshTokensRejected"),
        ("SecretRotationRequired", "ClientCredentialsRejected"),
    ):
        condition = cluster.condition(APP, condition_type)
        assert condition is not None
        assert (condition["status"], condition["reason"]) == ("True", reason)
    requests_after = sim.stats()["token_requests"]["demo-client"]
    assert requests_after == requests_before, "no token request after the restart"


def test_a_required_scope_the_token_never_had_is_not_ready_until_the_owner_adds_it(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    """Zoom accepts the token, but a call that needs `meeting:read:admin` would fail with 4711: the app
    is not Ready for what its owners declared it needs (reference: scopes are granted on the app's
    Scopes page; the token's `scope` lists what it carries)."""
    start_operator()
    _deploy(cluster, sim, requiredScopes=["user:read:admin", "meeting:read:admin"])
    ready = cluster.wait_condition(APP, "Ready", "False", reason="RequiredScopesMissing")
    assert "meeting:read:admin" in ready["message"]
    assert "Scopes page" in ready["message"]
    assert "admin role" in ready["message"]
    for flag in ("SecretRotationRequired", "OwnerRoleChangeRequired"):
        condition = cluster.condition(APP, flag)
        assert condition is not None
        assert condition["status"] != "True", "never granted is not a revocation"
    events = [e for e in cluster.events(APP) if e.get("reason") == "RequiredScopesMissing"]
    assert events, "a Warning Event says so"
    assert events[0]["type"] == "Warning"

    # The owner adds the scope on the app's Scopes page; a renewal picks it up.
    scopes = next(a for a in sim.admin("GET", "/_sim/state")["apps"] if a["client_id"] == "demo-client")[
        "scopes"
    ]
    sim.admin("PATCH", "/_sim/apps/demo-client", {"scopes": [*scopes, "meeting:read:admin"]})
    cluster.kubectl("annotate", "--overwrite", "zapp", APP, "zoom-operator.io/renew-now=scope-added")
    cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified", timeout=40)


def test_zoomapps_carry_no_finalizer_an_old_one_is_removed_and_deletion_needs_no_operator(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    legacy = zoomapp(APP, credentials=CREDS, base_url=sim.base_url)
    legacy["metadata"]["finalizers"] = ["zoom-operator.io/finalizer"]  # as versions before 2026-12-07 left it
    cluster.apply(
        [
            credentials_secret(
                CREDS, account_id="acc-demo", client_id="demo-client", client_secret="demo-secret"
            ),
            legacy,
        ]
    )
    operator = start_operator()
    cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified")
    wait_for(
        lambda: not cluster.zoomapp(APP)["metadata"].get("finalizers"),
        timeout=30,
        what="the old finalizer to be removed",
    )
    assert _tokens_issued(sim) == 1
    operator.kill()
    cluster.kubectl("delete", "zoomapp", APP, "--wait=false")
    wait_for(lambda: cluster.get("zoomapp", APP) is None, timeout=10, what="the deletion, with no operator")
