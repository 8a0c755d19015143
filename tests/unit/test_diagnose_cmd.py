"""`zoom-operator diagnose` without a network: flag validation, secret files, the exit-code rule, the
report and JSON rendering, and the mint/probe sequence against `httpx.MockTransport` answers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from zoom_operator import diagnose_cmd as cmd
from zoom_operator import diagnosis as dx
from zoom_operator.cli import build_parser
from zoom_operator.secret import Secret
from zoom_operator.spec import ExpectedOwner
from zoom_operator.zoom.outcomes import (
    ApiOk,
    AppDisabled,
    ClientRejected,
    NotFound,
    OwnerMissing,
    RateLimited,
    ScopeMissing,
    TokenIssued,
    Transient,
    Unauthorized,
    ZoomRole,
    ZoomUser,
)

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
FILE_CREDS = ["--account-id", "acc", "--client-id", "cid", "--client-secret-file", "secret.txt"]
STDIN_CREDS = ["--account-id", "acc", "--client-id", "cid", "--client-secret-file", "-"]
BASE = "https://zoom.example"


def options(*argv: str) -> cmd.Options:
    return cmd.parse_options(build_parser().parse_args(["diagnose", *argv]))


def usage_error(*argv: str) -> str:
    with pytest.raises(cmd.UsageError) as raised:
        options(*argv)
    message = str(raised.value)
    assert "\n" not in message
    return message


# --- flags -------------------------------------------------------------------------------------------


def test_file_credentials_with_defaults() -> None:
    parsed = options(*FILE_CREDS)

    assert parsed.app == cmd.FileCredentials("acc", "cid", "secret.txt", "--client-secret-file")
    assert parsed.auditor is None
    assert parsed.owner is None
    assert parsed.attempts == 3
    assert parsed.timeout == 10.0
    assert (parsed.oauth_url, parsed.api_url) == ("https://zoom.us", "https://api.zoom.us")
    assert parsed.keys.client_secret_key == "client_secret"


def test_secret_ref_with_custom_keys_and_kubeconfig() -> None:
    parsed = options("--secret", "zoom/bot-creds", "--client-secret-key", "secret", "--kubeconfig", "kc")

    assert parsed.app == cmd.SecretRef("zoom", "bot-creds", "--secret")
    assert str(parsed.app) == "zoom/bot-creds"
    assert parsed.keys.client_secret_key == "secret"
    assert parsed.keys.account_id_key == "account_id"
    assert parsed.kubeconfig == "kc"


def test_owner_is_an_email_or_a_user_id() -> None:
    assert options(*FILE_CREDS, "--owner", "dev@example.com").owner == ExpectedOwner(email="dev@example.com")
    assert options(*FILE_CREDS, "--owner", "KDcuGIm1Qge").owner == ExpectedOwner(user_id="KDcuGIm1Qge")


def test_auditor_account_defaults_to_the_apps() -> None:
    parsed = options(*FILE_CREDS, "--auditor-client-id", "aud", "--auditor-client-secret-file", "a.txt")

    assert parsed.auditor == cmd.FileCredentials("acc", "aud", "a.txt", "--auditor-client-secret-file")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "no credentials"),
        (["--client-id", "cid"], "missing --account-id, --client-secret-file"),
        (["--secret", "zoom/creds", "--account-id", "acc"], "--secret conflicts with --account-id"),
        (["--secret", "creds"], "NAMESPACE/NAME"),
        (["--secret", "/creds"], "NAMESPACE/NAME"),
        (["--secret", "a/b/c"], "NAMESPACE/NAME"),
        (["--secret", "Zoom/creds"], "not a valid Kubernetes name"),
        ([*FILE_CREDS, "--kubeconfig", "kc"], "--kubeconfig only applies"),
        ([*FILE_CREDS, "--account-id-key", "a"], "--account-id-key only applies"),
        (["--secret", "ns/c", "--client-id-key", "bad key"], "not a Secret data key"),
        ([*FILE_CREDS, "--auditor-client-id", "aud"], "--auditor-client-secret-file"),
        ([*FILE_CREDS, "--auditor-account-id", "acc"], "--auditor-client-id"),
        (
            ["--secret", "ns/c", "--auditor-client-id", "a", "--auditor-client-secret-file", "f"],
            "--auditor-account-id",
        ),
        ([*FILE_CREDS, "--auditor-secret", "ns/a", "--auditor-client-id", "a"], "--auditor-secret conflicts"),
        (
            [*STDIN_CREDS, "--auditor-client-id", "x", "--auditor-client-secret-file", "-"],
            "stdin",
        ),
        ([*FILE_CREDS, "--attempts", "0"], "--attempts must be between 1 and 10"),
        ([*FILE_CREDS, "--attempts", "11"], "--attempts must be between 1 and 10"),
        ([*FILE_CREDS, "--timeout", "0"], "--timeout"),
        ([*FILE_CREDS, "--probe-path", "v2/users/me"], "must start with '/'"),
        ([*FILE_CREDS, "--owner", ""], "--owner is empty"),
        ([*FILE_CREDS, "--required-scope", "a b"], "--required-scope"),
        (["--account-id", "a c", "--client-id", "c", "--client-secret-file", "f"], "--account-id"),
    ],
)
def test_invalid_flag_combinations_are_one_line_usage_errors(argv: list[str], fragment: str) -> None:
    assert fragment in usage_error(*argv)


# --- secret files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"s3cr3t", b"s3cr3t\n", b"s3cr3t\r\n", b"s3cr3t\n\n"])
def test_client_secret_file_drops_trailing_newlines(raw: bytes) -> None:
    assert cmd.client_secret_from_bytes(raw, "F").reveal() == "s3cr3t"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "F is empty"),
        (b"\n", "F is empty"),
        (b"two words\n", "only the client secret"),
        (b"line\nline\n", "only the client secret"),
        (b"\xff\xfe", "not UTF-8"),
        (b"x" * 5000, "only the client secret"),
    ],
)
def test_unusable_client_secret_files(raw: bytes, fragment: str) -> None:
    with pytest.raises(cmd.UsageError) as raised:
        cmd.client_secret_from_bytes(raw, "F")

    assert fragment in str(raised.value)
    assert "two words" not in str(raised.value)


# --- exit codes --------------------------------------------------------------------------------------


def diagnosis(ready: str, rotation: str = "False", owner: str = "False") -> dx.Diagnosis:
    return dx.Diagnosis(
        ready=dx.Condition("Ready", ready, "R", "m"),  # type: ignore[arg-type]
        secret_rotation_required=dx.Condition("SecretRotationRequired", rotation, "R", "m"),  # type: ignore[arg-type]
        owner_role_change_required=dx.Condition("OwnerRoleChangeRequired", owner, "R", "m"),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("ready", "rotation", "owner", "code"),
    [
        ("True", "False", "False", 0),
        ("True", "False", "Unknown", 0),
        ("True", "True", "False", 1),  # e.g. OwnershipTransferPending while the token works
        ("False", "True", "Unknown", 1),
        ("False", "False", "True", 1),
        ("False", "False", "Unknown", 2),  # AppDisabled, ZoomUnreachable
        ("Unknown", "False", "Unknown", 2),  # probe timed out or rate limited
        ("Unknown", "Unknown", "Unknown", 2),
    ],
)
def test_exit_code_rule(ready: str, rotation: str, owner: str, code: int) -> None:
    assert cmd.exit_code(diagnosis(ready, rotation, owner)) == code


# --- probe path and spec -----------------------------------------------------------------------------


def test_probe_template() -> None:
    no_owner = options(*FILE_CREDS)
    with_owner = options(*FILE_CREDS, "--owner", "dev@example.com")
    custom = options(*FILE_CREDS, "--probe-path", "/v2/users/{owner}/permissions")

    assert cmd.probe_template(no_owner, None) == "/v2/users/me"
    assert cmd.probe_template(no_owner, ExpectedOwner(user_id="u-1")) == "/v2/users/me"
    assert cmd.probe_template(with_owner, with_owner.owner) == "/v2/users/{owner}"
    assert cmd.probe_template(custom, None) == "/v2/users/me/permissions"
    assert cmd.probe_template(custom, ExpectedOwner(user_id="u-1")) == "/v2/users/{owner}/permissions"


def app_credentials() -> cmd.ClientCredentials:
    return cmd.ClientCredentials("acc-demo", "demo-client", Secret("demo-secret"))


def test_build_spec_stands_for_the_run() -> None:
    parsed = options(*FILE_CREDS, "--attempts", "5", "--required-scope", "user:read:admin")

    spec = cmd.build_spec(parsed, None, "/v2/users/me", app_credentials(), with_auditor=True)

    assert spec.unauthorized_threshold == 5
    assert spec.required_scopes == {"user:read:admin"}
    assert spec.expected_owner.describe() == cmd.UNKNOWN_OWNER
    assert spec.auditor_ref == cmd.AUDITOR_PLACEHOLDER
    assert spec.token_secret.name == cmd.TOKEN_PLACEHOLDER
    assert spec.credentials.name == cmd.CREDENTIALS_PLACEHOLDER


def test_build_spec_names_the_kubernetes_secret() -> None:
    parsed = options("--secret", "zoom/bot-creds")
    creds = cmd.ClientCredentials("a", "c", Secret("s"), cmd.SecretRef("zoom", "bot-creds", "--secret"))

    spec = cmd.build_spec(parsed, ExpectedOwner(email="d@example.com"), "/v2/users/{owner}", creds, False)

    assert spec.credentials.name == "bot-creds"
    assert spec.auditor_ref is None
    assert creds.source == "Secret zoom/bot-creds"


# --- outcomes and rendering --------------------------------------------------------------------------

TOKEN_VALUE = "eyJhbGciOiJIUzUxMiJ9.eyJ1aWQiOiJ1LW93bmVyIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("outcome", "text"),
    [
        (
            TokenIssued(
                Secret(TOKEN_VALUE), "bearer", NOW, NOW + timedelta(seconds=3599), frozenset(), None, None
            ),
            "token issued, expires in 3599 s",
        ),
        (
            ClientRejected("invalid_client", "Invalid client_id or client_secret", 400),
            'invalid_client: "Invalid',
        ),
        (AppDisabled("The app has been disabled"), '"The app has been disabled"'),
        (OwnerMissing("The owner of the token does not exist."), '"The owner of the token'),
        (RateLimited(None, "QPS", "Light", "slow down"), 'rate limited (QPS): "slow down"'),
        (Transient("timeout", "ReadTimeout"), "timeout: ReadTimeout"),
        (ApiOk(200, {}), "OK"),
        (Unauthorized(124, "Invalid access token."), 'code 124 "Invalid access token."'),
        (ScopeMissing(4711, "does not contain scopes", ()), 'code 4711 "does not contain scopes"'),
        (NotFound(None, "gone"), '"gone"'),
    ],
)
def test_describe_outcome(outcome: Any, text: str) -> None:
    assert cmd.describe_outcome(outcome).startswith(text)


def healthy_findings(required_scope: str = "user:read:admin", **snapshot_changes: Any) -> cmd.Findings:
    parsed = options(*FILE_CREDS, "--owner", "dev@example.com", "--required-scope", required_scope)
    token = TokenIssued(
        Secret(TOKEN_VALUE),
        "bearer",
        NOW,
        NOW + timedelta(seconds=3599),
        frozenset({"user:read:admin", "role:read:admin"}),
        None,
        "u-owner",
    )
    user = ZoomUser("u-owner", "dev@example.com", "active", "role-admin", "Admin", "acc")
    role = ZoomRole("role-admin", "Admin", frozenset({"ServerToServerOAuthApp:Edit"}))
    at = NOW + timedelta(seconds=1)
    probe = ApiOk(200, {"id": "u-owner"}, tracking_id="track-1")
    snapshot = dx.Snapshot(
        now=at,
        spec=cmd.build_spec(parsed, parsed.owner, "/v2/users/{owner}", app_credentials(), False),
        app=cmd.APP_NAME,
        credentials_secret=cmd.CREDENTIALS_PLACEHOLDER,
        token=dx.TokenFacts(token.issued_at, token.expires_at, token.scopes, token.owner_uid),
        mints=(dx.MintRecord(NOW, token),),
        probes=(dx.ProbeRecord(at, NOW, probe),),
        owner=dx.OwnerFacts("probe", at, user, role),
        **snapshot_changes,
    )
    requests = (
        cmd.RequestRecord("app", "POST", "/oauth/token", NOW, 200, token),
        cmd.RequestRecord("app", "GET", "/v2/users/dev@example.com", at, 200, probe),
    )
    return cmd.Findings(
        diagnosis=dx.diagnose(snapshot),
        snapshot=snapshot,
        token=token,
        requests=requests,
        credentials_source="the command line",
        secrets=(Secret("demo-secret"), token.access_token),
    )


def test_report_json_shape_and_values() -> None:
    report = cmd.report_json(healthy_findings())

    assert [(c["type"], c["status"], c["reason"]) for c in report["conditions"]] == [
        ("Ready", "True", "TokenVerified"),
        ("SecretRotationRequired", "False", "CredentialsAccepted"),
        ("OwnerRoleChangeRequired", "False", "OwnerVerified"),
    ]
    assert report["token"] == {
        "issuedAt": "2026-11-05T12:00:00Z",
        "expiresAt": "2026-11-05T12:59:59Z",
        "scopes": ["role:read:admin", "user:read:admin"],
        "missingScopes": [],
        "ownerUid": "u-owner",
        "fingerprint": Secret(TOKEN_VALUE).fingerprint(),
        "mints": 1,
        "tokensIssued": 1,
    }
    assert report["owner"]["s2sPrivilege"] is True
    assert report["owner"]["source"] == "probe"
    assert report["requests"][1]["trackingId"] == "track-1"
    assert report["exitCode"] == 0
    assert TOKEN_VALUE not in json.dumps(report)


def test_report_text_names_conditions_token_owner_and_requests() -> None:
    text = cmd.report_text(healthy_findings())

    assert text.startswith("zoom-operator diagnose: HEALTHY (exit 0)")
    assert "Ready                    True    TokenVerified" in text
    assert "missing required scopes: none" in text
    assert "dev@example.com (u-owner), active, role Admin (role-admin)" in text
    assert "has ServerToServerOAuthApp:Edit" in text
    assert "(tracking id track-1)" in text
    assert '"Secret diagnose-credentials" the credentials given on the command line' in " ".join(text.split())
    assert TOKEN_VALUE not in text


def test_a_required_scope_the_token_lacks_is_not_healthy_and_exits_2() -> None:
    findings = healthy_findings(required_scope="meeting:write:admin")
    report = cmd.report_json(findings)
    assert (report["conditions"][0]["status"], report["conditions"][0]["reason"]) == (
        "False",
        "RequiredScopesMissing",
    )
    assert report["token"]["missingScopes"] == ["meeting:write:admin"]
    assert report["exitCode"] == 2
    assert "Scopes page" in report["conditions"][0]["message"]
    assert cmd.report_text(findings).startswith("zoom-operator diagnose: NOT HEALTHY")


def test_scrub_masks_every_held_value() -> None:
    held = (Secret("demo-secret"), Secret(TOKEN_VALUE), Secret(""))

    scrubbed = cmd.scrub(f"a demo-secret b {TOKEN_VALUE} c", held)

    assert scrubbed == "a *** b *** c"


# --- the mint/probe sequence -------------------------------------------------------------------------


def jwt(uid: str, n: int) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS512'})}.{part({'uid': uid, 'jti': n})}.c2ln"


class FakeZoom:
    """Answers token requests and API calls from per-path queues (the last answer repeats)."""

    def __init__(self, token: list[httpx.Response], api: dict[str, list[httpx.Response]]) -> None:
        self.token = token
        self.api = api
        self.calls: list[str] = []
        self.minted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append(f"{request.method} {path}")
        if path == "/oauth/token":
            answer = self.token.pop(0) if len(self.token) > 1 else self.token[0]
            if answer.status_code == 200 and answer.headers.get("content-type") == "application/json":
                value = jwt("u-owner", len(self.minted))
                self.minted.append(value)
                return httpx.Response(200, json={**answer.json(), "access_token": value})
            return answer
        queue = self.api[path]
        return queue.pop(0) if len(queue) > 1 else queue[0]


ISSUED = httpx.Response(200, json={"token_type": "bearer", "expires_in": 3599, "scope": "user:read:admin"})
REJECTED = httpx.Response(
    400, json={"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
)
INVALID = httpx.Response(401, json={"code": 124, "message": "Invalid access token."})
USER = httpx.Response(
    200, json={"id": "u-owner", "email": "dev@example.com", "status": "active", "role_id": "role-admin"}
)


async def run(
    zoom: FakeZoom, *argv: str, auditor: cmd.ClientCredentials | None = None
) -> tuple[cmd.Findings, int]:
    pauses = 0

    async def pause() -> None:
        nonlocal pauses
        pauses += 1

    parsed = options(*FILE_CREDS, "--oauth-url", BASE, "--api-url", BASE, *argv)
    async with httpx.AsyncClient(transport=httpx.MockTransport(zoom)) as http:
        findings = await cmd.investigate(parsed, app_credentials(), auditor, http=http, pause=pause)
    return findings, pauses


def reasons(findings: cmd.Findings) -> list[tuple[str, str]]:
    return [(c.status, c.reason) for c in findings.diagnosis.conditions()]


async def test_healthy_learns_the_owner_from_the_token_and_probes_me() -> None:
    zoom = FakeZoom([ISSUED], {"/v2/users/me": [USER]})

    findings, pauses = await run(zoom)

    assert zoom.calls == ["POST /oauth/token", "GET /v2/users/me"]  # no role:read scope, no role lookup
    assert cmd.exit_code(findings.diagnosis) == 0
    assert findings.snapshot.spec.expected_owner == ExpectedOwner(email="dev@example.com", user_id="u-owner")
    assert pauses == 0


async def test_401_is_checked_with_fresh_tokens_up_to_attempts() -> None:
    zoom = FakeZoom([ISSUED], {"/v2/users/me": [INVALID]})

    findings, pauses = await run(zoom, "--attempts", "4")

    assert zoom.calls.count("POST /oauth/token") == 4
    assert pauses == 3
    assert len({p.token_issued_at for p in findings.snapshot.probes}) == 4
    assert reasons(findings)[2] == ("True", "FreshTokensRejected")
    assert cmd.exit_code(findings.diagnosis) == 1
    assert set(findings.secrets) >= {Secret(value) for value in zoom.minted}


async def test_a_401_that_a_fresh_token_clears_is_healthy() -> None:
    zoom = FakeZoom([ISSUED], {"/v2/users/u-owner": [INVALID, USER]})

    findings, _ = await run(zoom, "--owner", "u-owner")

    assert zoom.calls.count("POST /oauth/token") == 2
    assert cmd.exit_code(findings.diagnosis) == 0


async def test_invalid_client_is_asked_once_more_then_flags_rotation() -> None:
    zoom = FakeZoom([REJECTED], {})

    findings, pauses = await run(zoom)

    assert zoom.calls == ["POST /oauth/token", "POST /oauth/token"]
    assert pauses == 1
    assert reasons(findings)[1] == ("True", "ClientCredentialsRejected")
    assert cmd.exit_code(findings.diagnosis) == 1


async def test_invalid_client_that_does_not_repeat_is_judged_by_the_second_answer() -> None:
    zoom = FakeZoom([REJECTED, ISSUED], {"/v2/users/me": [USER]})

    findings, _ = await run(zoom)

    assert cmd.exit_code(findings.diagnosis) == 0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="unavailable"),
        httpx.Response(429, json={"reason": "Too many requests", "error": "rate_limited"}),
        httpx.Response(200, text="not json"),
    ],
)
async def test_no_usable_token_answer_stops_at_once_without_a_flag(answer: httpx.Response) -> None:
    zoom = FakeZoom([answer], {})

    findings, _ = await run(zoom)

    assert zoom.calls == ["POST /oauth/token"]
    assert reasons(findings)[0] == ("False", "ZoomUnreachable")
    assert cmd.exit_code(findings.diagnosis) == 2


async def test_auditor_looks_up_the_owner_when_the_apps_tokens_are_rejected() -> None:
    missing = httpx.Response(404, json={"code": 1001, "message": "User does not exist: u-owner."})
    zoom = FakeZoom([ISSUED], {"/v2/users/me": [INVALID], "/v2/users/u-owner": [missing]})
    auditor = cmd.ClientCredentials("acc-demo", "auditor", Secret("auditor-pw"))

    findings, _ = await run(zoom, "--attempts", "1", auditor=auditor)

    assert [r.who for r in findings.requests] == ["app", "app", "auditor", "auditor"]
    assert reasons(findings)[2] == ("True", "OwnerNotFound")
    assert Secret("auditor-pw") in findings.secrets


async def test_role_is_read_with_the_apps_token_when_its_scopes_allow() -> None:
    issued = httpx.Response(
        200, json={"token_type": "bearer", "expires_in": 3599, "scope": "user:read:admin role:read:admin"}
    )
    role = httpx.Response(200, json={"id": "role-admin", "name": "Admin", "privileges": ["User:Read"]})
    zoom = FakeZoom([issued], {"/v2/users/me": [USER], "/v2/roles/role-admin": [role]})

    findings, _ = await run(zoom)

    assert zoom.calls[-1] == "GET /v2/roles/role-admin"
    assert reasons(findings)[2] == ("True", "OwnerRoleLacksPermission")
    assert cmd.exit_code(findings.diagnosis) == 1


async def test_custom_probe_path_looks_the_owner_up_separately() -> None:
    meeting = httpx.Response(404, json={"code": 3001, "message": "Meeting does not exist: 1."})
    zoom = FakeZoom([ISSUED], {"/v2/meetings/1": [meeting], "/v2/users/u-owner": [USER]})

    findings, _ = await run(zoom, "--probe-path", "/v2/meetings/1")

    assert zoom.calls == ["POST /oauth/token", "GET /v2/meetings/1", "GET /v2/users/u-owner"]
    assert findings.snapshot.owner is not None
    assert findings.snapshot.owner.source == "token"
    assert cmd.exit_code(findings.diagnosis) == 0
