"""`zoom-operator diagnose --secret NAMESPACE/NAME`: credentials read from a real kube-apiserver (with
RBAC enforced), Zoom played by the simulator, diagnose run as a process the way on-call would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from control_plane import ControlPlane

from tests.support.simulator import SimulatorProcess

pytestmark = pytest.mark.e2e

CREDS = "meetings-bot-zoom"
AUDITOR = "zoom-admin"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as simulator:
        yield simulator


@pytest.fixture
def zoom(sim: SimulatorProcess) -> SimulatorProcess:
    sim.reset()
    return sim


def create_secret(cp: ControlPlane, namespace: str, name: str, *, label: bool = True, **values: str) -> None:
    """A credentials Secret as the README says to make it: created, then labelled for zoom-operator."""
    literals = [f"--from-literal={key}={value}" for key, value in values.items()]
    cp.kubectl("create", "secret", "generic", name, "-n", namespace, *literals)
    if label:
        cp.kubectl("label", "secret", name, "-n", namespace, "zoom-operator.io/credentials=true")


def diagnose(
    cp: ControlPlane, sim: SimulatorProcess, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zoom_operator.cli",
            "diagnose",
            "--kubeconfig",
            str(kubeconfig or cp.kubeconfig),
            "--oauth-url",
            sim.base_url,
            "--api-url",
            sim.base_url,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    text = result.stdout + result.stderr
    assert "Traceback" not in text
    assert "demo-secret" not in text
    for token in sim.admin("GET", "/_sim/tokens")["tokens"]:
        assert token["access_token"] not in text
    return result


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_credentials_from_a_secret_are_diagnosed_healthy(
    control_plane: ControlPlane, namespace: str, zoom: SimulatorProcess
) -> None:
    create_secret(
        control_plane,
        namespace,
        CREDS,
        account_id="acc-demo",
        client_id="demo-client",
        client_secret="demo-secret",
    )

    result = diagnose(control_plane, zoom, "--secret", f"{namespace}/{CREDS}", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert [(c["type"], c["status"]) for c in report["conditions"]] == [
        ("Ready", "True"),
        ("SecretRotationRequired", "False"),
        ("OwnerRoleChangeRequired", "False"),
    ]
    assert report["token"]["mints"] == 1
    # the messages name the real Secret, as the operator's would
    assert f"Secret {namespace}/{CREDS}" in report["conditions"][1]["message"]


def test_custom_keys_and_an_auditor_find_a_deactivated_owner(
    control_plane: ControlPlane, namespace: str, zoom: SimulatorProcess
) -> None:
    create_secret(control_plane, namespace, CREDS, account="acc-demo", id="demo-client", secret="demo-secret")
    create_secret(
        control_plane,
        namespace,
        AUDITOR,
        account="acc-demo",
        id="auditor-client",
        secret="auditor-secret",
    )
    zoom.admin("PATCH", "/_sim/users/u-owner", {"status": "inactive"})

    result = diagnose(
        control_plane,
        zoom,
        "--secret",
        f"{namespace}/{CREDS}",
        "--auditor-secret",
        f"{namespace}/{AUDITOR}",
        "--account-id-key",
        "account",
        "--client-id-key",
        "id",
        "--client-secret-key",
        "secret",
        "--attempts",
        "2",
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "OwnerRoleChangeRequired  True    OwnerDeactivated" in result.stdout
    assert f"credentials from Secret {namespace}/{CREDS}" in result.stdout


def test_secret_holding_a_rotated_secret_flags_rotation(
    control_plane: ControlPlane, namespace: str, zoom: SimulatorProcess
) -> None:
    create_secret(
        control_plane,
        namespace,
        CREDS,
        account_id="acc-demo",
        client_id="demo-client",
        client_secret="demo-secret",
    )
    zoom.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})

    result = diagnose(control_plane, zoom, "--secret", f"{namespace}/{CREDS}", "--json")

    assert result.returncode == 1
    rotation = json.loads(result.stdout)["conditions"][1]
    assert (rotation["status"], rotation["reason"]) == ("True", "ClientCredentialsRejected")
    assert f"Secret {namespace}/{CREDS}" in rotation["message"]


def test_missing_secret_exits_2_with_one_clear_line(
    control_plane: ControlPlane, namespace: str, zoom: SimulatorProcess
) -> None:
    result = diagnose(control_plane, zoom, "--secret", f"{namespace}/no-such-secret")

    line = one_error_line(result)
    assert f"Secret {namespace}/no-such-secret" in line
    assert "does not exist" in line


def test_secret_missing_a_key_exits_2_naming_the_key(
    control_plane: ControlPlane, namespace: str, zoom: SimulatorProcess
) -> None:
    create_secret(control_plane, namespace, CREDS, account_id="acc-demo", client_id="demo-client")

    result = diagnose(control_plane, zoom, "--secret", f"{namespace}/{CREDS}")

    line = one_error_line(result)
    assert "'client_secret'" in line
    assert "--client-secret-key" in line
    assert "account_id, client_id" in line  # the keys it does have


def test_secret_with_an_empty_value_exits_2(
    control_plane: ControlPlane, namespace: str, zoom: SimulatorProcess
) -> None:
    create_secret(
        control_plane, namespace, CREDS, account_id="acc-demo", client_id="demo-client", client_secret=""
    )

    line = one_error_line(diagnose(control_plane, zoom, "--secret", f"{namespace}/{CREDS}"))

    assert "'client_secret' is empty" in line


def test_forbidden_secret_exits_2_saying_what_permission_is_missing(
    control_plane: ControlPlane, namespace: str, zoom: SimulatorProcess, tmp_path: Path
) -> None:
    create_secret(
        control_plane,
        namespace,
        CREDS,
        account_id="acc-demo",
        client_id="demo-client",
        client_secret="demo-secret",
    )
    control_plane.kubectl("create", "serviceaccount", "on-call", "-n", namespace)
    token = control_plane.kubectl("create", "token", "on-call", "-n", namespace).stdout.strip()
    admin = json.loads(control_plane.kubeconfig.read_text())
    admin["users"] = [{"name": "user", "user": {"token": token}}]
    restricted = tmp_path / "on-call.kubeconfig"
    restricted.write_text(json.dumps(admin))

    result = diagnose(control_plane, zoom, "--secret", f"{namespace}/{CREDS}", kubeconfig=restricted)

    line = one_error_line(result)
    assert "403" in line
    assert "forbidden" in line.lower()
    assert "'get' on secrets" in line
    assert token not in result.stderr


def test_an_unlabelled_secret_is_not_read_and_the_line_gives_the_label_command(
    control_plane: ControlPlane, namespace: str, zoom: SimulatorProcess
) -> None:
    create_secret(
        control_plane,
        namespace,
        CREDS,
        label=False,
        account_id="acc-demo",
        client_id="demo-client",
        client_secret="demo-secret",
    )

    result = diagnose(control_plane, zoom, "--secret", f"{namespace}/{CREDS}")

    line = one_error_line(result)
    assert f"kubectl label secret -n {namespace} {CREDS} zoom-operator.io/credentials=true" in line
    assert "demo-secret" not in result.stdout + result.stderr
    assert int(zoom.stats()["tokens_issued"].get("demo-client", 0)) == 0
