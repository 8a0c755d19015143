"""`zoom-operator diagnose` as a real process against the simulator over HTTP.

One test per row of the reference's scenario matrix (each run with `--json` and with the human report),
then the JSON shape, that no secret or token ever reaches stdout or stderr, and bad input: exit 2, one
line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.simulator import SimulatorProcess

CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"
AUDITOR_ID = "auditor-client"
AUDITOR_SECRET = "auditor-secret"
OWNER_EMAIL = "dev-lead@example.com"
S2S_PRIVILEGE = "ServerToServerOAuthApp:Edit"
JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")
CONDITION_TYPES = ("Ready", "SecretRotationRequired", "OwnerRoleChangeRequired")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    output: str  # "json" or "text"

    @property
    def report(self) -> dict[str, Any]:
        assert self.output == "json"
        document: dict[str, Any] = json.loads(self.stdout)
        return document

    def conditions(self) -> dict[str, tuple[str, str]]:
        """{type: (status, reason)}, from either output."""
        if self.output == "json":
            return {c["type"]: (c["status"], c["reason"]) for c in self.report["conditions"]}
        found = {}
        for line in self.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in CONDITION_TYPES:
                found[parts[0]] = (parts[1], parts[2])
        return found


class Diagnose:
    """Runs `python -m zoom_operator.cli diagnose` against one simulator, with secret files in tmp_path."""

    def __init__(self, sim: SimulatorProcess, tmp_path: Path) -> None:
        self.sim = sim
        self.tmp_path = tmp_path
        self.secrets_used: set[str] = set()

    def secret_file(self, value: str, name: str = "client-secret") -> Path:
        path = self.tmp_path / name
        path.write_text(value + "\n")
        self.secrets_used.add(value)
        return path

    def __call__(
        self,
        *extra: str,
        output: str = "json",
        secret: str = CLIENT_SECRET,
        client_id: str = CLIENT_ID,
        auditor: bool = False,
        endpoints: bool = True,
        stdin: str | None = None,
    ) -> Run:
        args = ["--account-id", "acc-demo", "--client-id", client_id]
        args += ["--client-secret-file", "-" if stdin is not None else str(self.secret_file(secret))]
        if auditor:
            auditor_file = self.secret_file(AUDITOR_SECRET, "auditor-secret")
            args += ["--auditor-client-id", AUDITOR_ID, "--auditor-client-secret-file", str(auditor_file)]
        if endpoints:
            args += ["--oauth-url", self.sim.base_url, "--api-url", self.sim.base_url]
        if output == "json":
            args.append("--json")
        run = run_cli(*args, *extra, stdin=stdin)
        result = Run(run.returncode, run.stdout, run.stderr, output)
        self.assert_nothing_leaked(result)
        return result

    def issued_tokens(self) -> list[str]:
        return [t["access_token"] for t in self.sim.admin("GET", "/_sim/tokens")["tokens"]]

    def assert_nothing_leaked(self, run: Run) -> None:
        text = run.stdout + run.stderr
        assert "Traceback" not in text
        # the default state's auditor secret is spelt like a flag the report may recommend
        text = text.replace("--auditor-secret", "--auditor-SECRET")
        for value in self.secrets_used | {CLIENT_SECRET, AUDITOR_SECRET}:
            assert value not in text
        for token in self.issued_tokens():
            assert token not in text
        assert not JWT_SHAPED.search(text)


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zoom_operator.cli", "diagnose", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def diagnose(simulator: SimulatorProcess, tmp_path: Path) -> Diagnose:
    return Diagnose(simulator, tmp_path)


both_outputs = pytest.mark.parametrize("output", ["json", "text"])


def assert_conditions(run: Run, **expected: tuple[str, str] | str) -> None:
    """Each keyword is a condition type; the value (status, reason), or just a status."""
    conditions = run.conditions()
    assert set(conditions) == set(CONDITION_TYPES), run.stdout
    for kind, want in expected.items():
        got = conditions[kind]
        assert (got if isinstance(want, tuple) else got[0]) == want, f"{kind}: {got}\n{run.stdout}"


def no_human_flag(run: Run) -> None:
    conditions = run.conditions()
    assert conditions["SecretRotationRequired"][0] != "True"
    assert conditions["OwnerRoleChangeRequired"][0] != "True"


# --- healthy -----------------------------------------------------------------------------------------


@both_outputs
def test_healthy_app_exits_0_with_the_owner_learnt_from_the_token(diagnose: Diagnose, output: str) -> None:
    run = diagnose(output=output)

    assert run.returncode == 0, run.stdout + run.stderr
    assert_conditions(
        run,
        Ready=("True", "TokenVerified"),
        SecretRotationRequired=("False", "CredentialsAccepted"),
        OwnerRoleChangeRequired=("False", "OwnerVerified"),
    )
    assert run.stderr == ""
    if output == "json":
        assert run.report["owner"]["userId"] == "u-owner"
        assert run.report["owner"]["email"] == OWNER_EMAIL
        assert run.report["owner"]["s2sPrivilege"] is True
        assert run.report["token"]["mints"] == 1
        paths = [r["path"] for r in run.report["requests"]]
        assert paths == ["/oauth/token", "/v2/users/me", "/v2/roles/role-admin"]
    else:
        assert "HEALTHY (exit 0)" in run.stdout
        assert "dev-lead@example.com (u-owner), active, role Admin (role-admin)" in run.stdout


def test_healthy_app_with_expected_owner_probes_that_user(diagnose: Diagnose) -> None:
    run = diagnose("--owner", OWNER_EMAIL, "--required-scope", "meeting:write:admin")

    assert run.returncode == 0
    assert run.report["requests"][1]["path"] == f"/v2/users/{OWNER_EMAIL}"
    assert run.report["owner"]["expected"] == OWNER_EMAIL
    assert run.report["token"]["missingScopes"] == []


def test_secret_from_stdin_with_trailing_newline(diagnose: Diagnose) -> None:
    run = diagnose(stdin=CLIENT_SECRET + "\n")

    assert run.returncode == 0, run.stderr


def test_expected_owner_who_does_not_own_the_app_flags_the_transfer(diagnose: Diagnose) -> None:
    run = diagnose("--owner", "u-admin2")

    assert run.returncode == 1
    assert run.conditions()["SecretRotationRequired"] == ("True", "OwnershipTransferPending")


# --- owner removed -----------------------------------------------------------------------------------


@both_outputs
def test_owner_removed_fresh_tokens_rejected_without_auditor(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("DELETE", "/_sim/users/u-owner")

    run = diagnose(output=output)

    assert run.returncode == 1
    assert_conditions(
        run,
        Ready=("False", "OwnerProblem"),
        SecretRotationRequired=("False", "CredentialsAccepted"),
        OwnerRoleChangeRequired=("True", "FreshTokensRejected"),
    )
    if output == "json":
        assert run.report["token"]["mints"] == 3  # the verdict rests on three fresh tokens
        probes = [r for r in run.report["requests"] if r["method"] == "GET"]
        assert [(p["httpStatus"], p["zoomCode"]) for p in probes] == [(401, 124)] * 3
        assert all(p["trackingId"] for p in probes)
    else:
        assert "HUMAN ACTION REQUIRED (exit 1)" in run.stdout
        assert "--auditor-secret" in run.stdout  # says how to learn the exact cause


@both_outputs
def test_owner_removed_with_auditor_is_owner_not_found(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("DELETE", "/_sim/users/u-owner")

    run = diagnose("--owner", OWNER_EMAIL, output=output, auditor=True)

    assert run.returncode == 1
    assert_conditions(run, Ready=("False", "OwnerProblem"), OwnerRoleChangeRequired=("True", "OwnerNotFound"))
    if output == "json":
        assert run.report["owner"]["found"] is False
        assert run.report["owner"]["source"] == "auditor"


@both_outputs
def test_owner_removed_with_token_4735_is_owner_not_found(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("PATCH", f"/_sim/apps/{CLIENT_ID}", {"owner_failure_mode": "token_4735"})
    diagnose.sim.admin("DELETE", "/_sim/users/u-owner")

    run = diagnose(output=output)

    assert run.returncode == 1
    assert_conditions(run, Ready=("False", "OwnerProblem"), OwnerRoleChangeRequired=("True", "OwnerNotFound"))
    if output == "json":
        assert run.report["token"]["mints"] == 1
        assert run.report["token"]["issuedAt"] is None


# --- owner deactivated, role lost the permission -----------------------------------------------------


@both_outputs
def test_owner_deactivated_without_auditor_fresh_tokens_rejected(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("PATCH", "/_sim/users/u-owner", {"status": "inactive"})

    run = diagnose(output=output)

    assert run.returncode == 1
    assert_conditions(run, OwnerRoleChangeRequired=("True", "FreshTokensRejected"))


@both_outputs
def test_owner_deactivated_with_auditor_is_owner_deactivated(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("PATCH", "/_sim/users/u-owner", {"status": "inactive"})

    run = diagnose(output=output, auditor=True)

    assert run.returncode == 1
    assert_conditions(
        run, Ready=("False", "OwnerProblem"), OwnerRoleChangeRequired=("True", "OwnerDeactivated")
    )
    if output == "json":
        assert run.report["owner"]["status"] == "inactive"
        assert [r["client"] for r in run.report["requests"]][-3:] == ["auditor"] * 3


@both_outputs
def test_owner_role_without_s2s_privilege_fresh_tokens_rejected(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("PATCH", "/_sim/users/u-owner", {"role_id": "role-member"})

    run = diagnose(output=output)

    assert run.returncode == 1
    assert_conditions(run, OwnerRoleChangeRequired=("True", "FreshTokensRejected"))


@both_outputs
def test_owner_role_without_s2s_privilege_with_auditor(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("PATCH", "/_sim/users/u-owner", {"role_id": "role-member"})

    run = diagnose(output=output, auditor=True)

    assert run.returncode == 1
    assert_conditions(run, OwnerRoleChangeRequired=("True", "OwnerRoleLacksPermission"))
    if output == "json":
        assert run.report["owner"]["roleName"] == "Member"
        assert run.report["owner"]["s2sPrivilege"] is False
    else:
        assert f"LACKS {S2S_PRIVILEGE}" in run.stdout


def test_role_edited_to_drop_the_s2s_privilege_flags_fresh_tokens_rejected(diagnose: Diagnose) -> None:
    role = next(r for r in diagnose.sim.admin("GET", "/_sim/state")["roles"] if r["id"] == "role-admin")
    kept = [p for p in role["privileges"] if p != S2S_PRIVILEGE]
    diagnose.sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": kept})

    run = diagnose("--attempts", "2")

    assert run.returncode == 1
    assert run.report["token"]["mints"] == 2
    assert_conditions(run, OwnerRoleChangeRequired=("True", "FreshTokensRejected"))


# --- scopes shrank -----------------------------------------------------------------------------------


@both_outputs
def test_scopes_missing_in_one_run_are_required_scopes_missing_and_exit_2(
    diagnose: Diagnose, output: str
) -> None:
    """One run has no earlier token to compare with, so it cannot tell ScopesRevoked from scopes the app
    never had: Ready is False with RequiredScopesMissing (Zoom's 4711 proves the token, but the calls
    that need the scopes fail), no flag is raised, the exit code is 2 (README's table: not healthy, no
    flag), and the note explains what one run cannot tell."""
    role = next(r for r in diagnose.sim.admin("GET", "/_sim/state")["roles"] if r["id"] == "role-admin")
    kept = [p for p in role["privileges"] if p != "Account:Edit"]
    diagnose.sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": kept})

    run = diagnose(
        "--required-scope", "meeting:write:admin", "--required-scope", "user:read:admin", output=output
    )

    assert run.returncode == 2
    assert_conditions(run, Ready=("False", "RequiredScopesMissing"))
    no_human_flag(run)
    if output == "json":
        assert run.report["token"]["missingScopes"] == ["meeting:write:admin", "user:read:admin"]
        assert run.report["requests"][1]["zoomCode"] == 4711
        assert "meeting:write:admin, user:read:admin" in run.report["conditions"][0]["message"]
    else:
        assert "missing required scopes: meeting:write:admin user:read:admin" in run.stdout
        assert "ScopesRevoked" in run.stdout  # the note explains what one run cannot tell


# --- secret rotated ----------------------------------------------------------------------------------


@both_outputs
def test_secret_rotated_and_old_revoked_flags_rotation_only_for_the_old_secret(
    diagnose: Diagnose, output: str
) -> None:
    new_secret = diagnose.sim.admin("POST", f"/_sim/apps/{CLIENT_ID}/rotate", {"revoke_old": "now"})[
        "client_secret"
    ]
    diagnose.secrets_used.add(new_secret)

    old = diagnose(output=output)
    new = diagnose(output=output, secret=new_secret)

    assert old.returncode == 1
    assert_conditions(
        old,
        Ready=("False", "ClientCredentialsRejected"),
        SecretRotationRequired=("True", "ClientCredentialsRejected"),
    )
    if output == "json":
        assert old.report["token"]["mints"] == 2  # asked twice before flagging
    assert new.returncode == 0
    assert_conditions(new, Ready=("True", "TokenVerified"))


def test_secret_rotated_with_grace_window_both_secrets_are_healthy(diagnose: Diagnose) -> None:
    new_secret = diagnose.sim.admin("POST", f"/_sim/apps/{CLIENT_ID}/rotate", {"revoke_old": "never"})[
        "client_secret"
    ]
    diagnose.secrets_used.add(new_secret)

    assert diagnose().returncode == 0
    assert diagnose(secret=new_secret).returncode == 0


# --- app deactivated, disabled -----------------------------------------------------------------------


@both_outputs
def test_app_deactivated_flags_rotation(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("PATCH", f"/_sim/apps/{CLIENT_ID}", {"status": "deactivated"})

    run = diagnose(output=output)

    assert run.returncode == 1
    assert_conditions(run, SecretRotationRequired=("True", "ClientCredentialsRejected"))


@both_outputs
def test_app_disabled_by_zoom_exits_2_without_a_human_flag(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("PATCH", f"/_sim/apps/{CLIENT_ID}", {"status": "disabled"})

    run = diagnose(output=output)

    assert run.returncode == 2
    assert_conditions(run, Ready=("False", "AppDisabled"))
    no_human_flag(run)
    if output == "text":
        assert "Zoom support" in run.stdout


# --- token caps --------------------------------------------------------------------------------------


@pytest.mark.parametrize("token_mode", ["single", "tolerance:2"])
def test_token_cap_modes_are_healthy_for_a_lone_diagnose(diagnose: Diagnose, token_mode: str) -> None:
    diagnose.sim.admin("PATCH", f"/_sim/apps/{CLIENT_ID}", {"token_mode": token_mode})
    httpx.post(
        diagnose.sim.base_url + "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "account_credentials", "account_id": "acc-demo"},
    ).raise_for_status()  # another consumer's token: diagnose's own mint evicts it, harmlessly

    run = diagnose()

    assert run.returncode == 0
    assert_conditions(run, Ready=("True", "TokenVerified"))


# --- could not tell: rate limits, 5xx, timeouts ------------------------------------------------------


@both_outputs
def test_rate_limited_api_exits_2(diagnose: Diagnose, output: str) -> None:
    diagnose.sim.admin("PATCH", "/_sim/accounts/acc-demo", {"rate_limits": {"Light": {"per_day": 1}}})
    token = httpx.post(
        diagnose.sim.base_url + "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "account_credentials", "account_id": "acc-demo"},
    ).json()["access_token"]
    httpx.get(diagnose.sim.base_url + "/v2/users/me", headers={"Authorization": f"Bearer {token}"})

    run = diagnose(output=output)

    assert run.returncode == 2
    assert_conditions(run, Ready="Unknown")
    no_human_flag(run)
    if output == "json":
        assert run.report["requests"][1]["httpStatus"] == 429


FAULTS: Sequence[tuple[str, dict[str, Any], str]] = (
    ("token-503", {"target": "token", "kind": "status", "status": 503}, "ZoomUnreachable"),
    ("token-429", {"target": "token", "kind": "status", "status": 429}, "ZoomUnreachable"),
    ("token-timeout", {"target": "token", "kind": "timeout"}, "ZoomUnreachable"),
    ("token-drop", {"target": "token", "kind": "drop"}, "ZoomUnreachable"),
    ("token-malformed", {"target": "token", "kind": "malformed"}, "ZoomUnreachable"),
    ("api-500", {"target": "api", "kind": "status", "status": 500}, "Pending"),
    ("api-429", {"target": "api", "kind": "status", "status": 429}, "Pending"),
    ("api-timeout", {"target": "api", "kind": "timeout"}, "Pending"),
    ("api-drop", {"target": "api", "kind": "drop"}, "Pending"),
)


@pytest.mark.parametrize(
    ("fault", "ready_reason"), [(f, r) for _, f, r in FAULTS], ids=[n for n, _, _ in FAULTS]
)
def test_zoom_faults_exit_2_and_never_raise_a_human_flag(
    diagnose: Diagnose, fault: dict[str, Any], ready_reason: str
) -> None:
    diagnose.sim.admin("POST", "/_sim/faults", fault)

    run = diagnose("--timeout", "1")

    assert run.returncode == 2, run.stdout
    assert run.conditions()["Ready"][1] == ready_reason
    assert run.conditions()["Ready"][0] != "True"
    no_human_flag(run)


def test_zoom_unreachable_exits_2(diagnose: Diagnose) -> None:
    closed = "http://127.0.0.1:1"
    run = diagnose(
        "--oauth-url", closed, "--api-url", closed, "--timeout", "2", output="text", endpoints=False
    )

    assert run.returncode == 2
    assert_conditions(run, Ready=("False", "ZoomUnreachable"))
    no_human_flag(run)


# --- JSON shape and secrecy --------------------------------------------------------------------------


def test_json_shape(diagnose: Diagnose) -> None:
    report = diagnose("--owner", OWNER_EMAIL).report

    assert {"conditions", "token", "owner"} <= set(report)
    assert [c["type"] for c in report["conditions"]] == list(CONDITION_TYPES)
    for condition in report["conditions"]:
        assert set(condition) == {"type", "status", "reason", "message"}
        assert condition["status"] in ("True", "False", "Unknown")
        assert condition["message"]
    token = report["token"]
    assert set(token) >= {"issuedAt", "expiresAt", "scopes", "ownerUid", "fingerprint", "mints"}
    assert re.fullmatch(r"[0-9a-f]{12}", token["fingerprint"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", token["issuedAt"])
    assert token["scopes"] == ["meeting:write:admin", "role:read:admin", "user:read:admin"]
    assert token["ownerUid"] == "u-owner"
    owner = report["owner"]
    assert set(owner) >= {"userId", "email", "status", "roleId", "roleName", "source", "checkedAt"}
    assert owner["source"] == "probe"
    for request in report["requests"]:
        assert set(request) >= {"method", "path", "httpStatus", "zoomCode", "message", "trackingId"}
    assert report["exitCode"] == 0


def test_failed_runs_keep_the_json_shape_with_nulls(diagnose: Diagnose) -> None:
    diagnose.sim.admin("PATCH", f"/_sim/apps/{CLIENT_ID}", {"status": "deactivated"})

    report = diagnose().report

    assert report["token"]["issuedAt"] is None
    assert report["token"]["fingerprint"] is None
    assert report["token"]["mints"] == 2
    assert report["owner"]["found"] is None


def test_fingerprint_is_of_the_last_issued_token(diagnose: Diagnose) -> None:
    import hashlib

    report = diagnose().report
    token = diagnose.issued_tokens()[-1]

    assert report["token"]["fingerprint"] == hashlib.sha256(token.encode()).hexdigest()[:12]


# --- bad input ---------------------------------------------------------------------------------------


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zoom-operator diagnose: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert CLIENT_SECRET not in result.stderr


CREDS = ("--account-id", "acc-demo", "--client-id", CLIENT_ID)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_text(CLIENT_SECRET + "\n")
    return path


BadArgs = Callable[[Path, Path], list[str]]

BAD_INPUTS: Sequence[tuple[str, BadArgs, tuple[str, ...]]] = (
    (
        "missing-file",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(tmp / "nope")],
        ("cannot read", "No such file"),
    ),
    ("directory", lambda tmp, f: [*CREDS, "--client-secret-file", str(tmp)], ("cannot read",)),
    ("empty-file", lambda tmp, f: [*CREDS, "--client-secret-file", str(tmp / "empty")], ("is empty",)),
    (
        "spaces-in-file",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(tmp / "spaces")],
        ("only the client secret",),
    ),
    ("empty-stdin", lambda tmp, f: [*CREDS, "--client-secret-file", "-"], ("(stdin) is empty",)),
    (
        "bad-oauth-url",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--oauth-url", "zoom.us"],
        ("--oauth-url",),
    ),
    (
        "bad-api-url",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--api-url", "ftp://api.zoom.us"],
        ("--api-url",),
    ),
    (
        "bad-api-port",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--api-url", "https://api.zoom.us:port"],
        ("--api-url",),
    ),
    (
        "url-with-credentials",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--api-url", f"https://x:{CLIENT_SECRET}@h"],
        ("--api-url", "credentials"),
    ),
    ("secret-without-slash", lambda tmp, f: ["--secret", "creds"], ("NAMESPACE/NAME",)),
    ("secret-with-empty-name", lambda tmp, f: ["--secret", "ns/"], ("NAMESPACE/NAME",)),
    ("secret-and-client-id", lambda tmp, f: ["--secret", "ns/creds", "--client-id", "x"], ("conflicts",)),
    ("no-credentials", lambda tmp, f: [], ("no credentials",)),
    ("partial-credentials", lambda tmp, f: ["--client-id", CLIENT_ID], ("missing --account-id",)),
    (
        "kubeconfig-missing",
        lambda tmp, f: ["--secret", "ns/creds", "--kubeconfig", str(tmp / "kubeconfig")],
        ("does not exist", "--kubeconfig"),
    ),
    (
        "kubeconfig-garbage",
        lambda tmp, f: ["--secret", "ns/creds", "--kubeconfig", str(tmp / "spaces")],
        ("cannot load kubeconfig",),
    ),
    (
        "kubeconfig-without-secret",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--kubeconfig", str(f)],
        ("--kubeconfig only applies",),
    ),
    (
        "key-flag-without-secret",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--client-secret-key", "k"],
        ("--client-secret-key only applies",),
    ),
    (
        "auditor-half-given",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--auditor-client-id", AUDITOR_ID],
        ("--auditor-client-secret-file",),
    ),
    (
        "auditor-secret-and-file",
        lambda tmp, f: [
            *CREDS,
            "--client-secret-file",
            str(f),
            "--auditor-secret",
            "ns/a",
            "--auditor-client-id",
            "x",
        ],
        ("conflicts",),
    ),
    (
        "two-stdins",
        lambda tmp, f: [
            *CREDS,
            "--client-secret-file",
            "-",
            "--auditor-client-id",
            AUDITOR_ID,
            "--auditor-client-secret-file",
            "-",
        ],
        ("stdin",),
    ),
    (
        "attempts-zero",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--attempts", "0"],
        ("--attempts",),
    ),
    (
        "timeout-negative",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--timeout", "-1"],
        ("--timeout",),
    ),
    (
        "probe-path-relative",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--probe-path", "v2/x"],
        ("/",),
    ),
    (
        "owner-with-space",
        lambda tmp, f: [*CREDS, "--client-secret-file", str(f), "--owner", "a b"],
        ("--owner",),
    ),
)


@pytest.mark.parametrize(
    ("make_args", "fragments"), [(a, f) for _, a, f in BAD_INPUTS], ids=[n for n, _, _ in BAD_INPUTS]
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, secret_file: Path, make_args: BadArgs, fragments: tuple[str, ...]
) -> None:
    (tmp_path / "empty").write_text("")
    (tmp_path / "spaces").write_text("two words\n")

    result = run_cli(*make_args(tmp_path, secret_file))

    assert_one_line_error(result, *fragments)


def test_missing_default_kubeconfig_says_where_it_looked(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "zoom_operator.cli", "diagnose", "--secret", "ns/creds"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )

    assert_one_line_error(result, str(tmp_path / ".kube" / "config"), "KUBECONFIG")


def test_argparse_errors_exit_2_without_traceback() -> None:
    result = run_cli("--attempts", "many")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid int value" in result.stderr


def test_help_documents_the_exit_codes() -> None:
    result = run_cli("--help")

    assert result.returncode == 0
    assert "exit codes:" in result.stdout
    for code in ("0  healthy", "1  a human must act", "2  not healthy"):
        assert code in result.stdout
