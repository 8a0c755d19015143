"""The local control plane is a real Kubernetes API server: version, CRD schema validation, RBAC,
service-account tokens, the ShardedListAndWatch gate, and a clean stop of all three processes
(etcd, kube-apiserver, kube-controller-manager)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
from control_plane import KUBERNETES_VERSION, ControlPlane, down

pytestmark = pytest.mark.e2e

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
LAUNCHER = Path(__file__).resolve().parents[2] / "tools" / "control-plane" / "control_plane.py"

# A small CRD of its own (not the product's), cluster-wide and shared by the session.
WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.harness.zoom-operator.test
spec:
  group: harness.zoom-operator.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1, maximum: 10}
                colour: {type: string, enum: [red, blue]}
"""


def widget(name: str, namespace: str, spec: str) -> str:
    return (
        "apiVersion: harness.zoom-operator.test/v1\nkind: Widget\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n"
    )


def _pids_mentioning(text: str) -> list[int]:
    """Live (non-zombie) processes whose command line mentions `text`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_server_reports_the_pinned_kubernetes_version(kubectl: Kubectl) -> None:
    versions = json.loads(kubectl("version", "-o", "json").stdout)

    assert versions["serverVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert versions["clientVersion"]["gitVersion"] == KUBERNETES_VERSION


def test_crd_schema_is_enforced_by_the_api_server(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=WIDGET_CRD)
    kubectl("wait", "--for=condition=Established", "crd/widgets.harness.zoom-operator.test", "--timeout=60s")

    kubectl("apply", "-f", "-", input=widget("good", namespace, "{size: 3, colour: red}"))
    too_big = kubectl("apply", "-f", "-", input=widget("too-big", namespace, "{size: 11}"), check=False)
    bad_enum = kubectl(
        "apply", "-f", "-", input=widget("bad-colour", namespace, "{size: 1, colour: green}"), check=False
    )
    no_size = kubectl("apply", "-f", "-", input=widget("no-size", namespace, "{colour: blue}"), check=False)

    assert too_big.returncode != 0
    assert (
        "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10" in too_big.stderr
    )
    assert bad_enum.returncode != 0
    assert 'spec.colour: Unsupported value: "green": supported values: "red", "blue"' in bad_enum.stderr
    assert no_size.returncode != 0
    assert "spec.size: Required value" in no_size.stderr
    stored = kubectl("get", "widgets", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}").stdout
    assert stored.split() == ["good"]


def test_rbac_is_enforced_for_service_account_tokens(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = control_plane.create_token(namespace, "nobody")  # kubectl create token: TokenRequest API
    secrets = f"/api/v1/namespaces/{namespace}/secrets"

    as_sa, body = control_plane.request(secrets, token=token)
    as_admin, _ = control_plane.request(secrets)
    assert (as_sa, as_admin) == (403, 200)
    assert json.loads(body)["message"] == (
        f'secrets is forbidden: User "system:serviceaccount:{namespace}:nobody" cannot list resource '
        f'"secrets" in API group "" in the namespace "{namespace}"'
    )
    assert control_plane.request(secrets, token=token + "x")[0] == 401  # a forged token is not accepted

    sa_kubeconfig = control_plane.token_kubeconfig(tmp_path / "nobody.kubeconfig", token)
    whoami = kubectl(
        f"--kubeconfig={sa_kubeconfig}", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"
    )
    assert whoami.stdout == f"system:serviceaccount:{namespace}:nobody"

    kubectl("create", "role", "read-secrets", "--verb=list", "--resource=secrets", "-n", namespace)
    kubectl(
        "create", "rolebinding", "nobody-reads", "--role=read-secrets",
        f"--serviceaccount={namespace}:nobody", "-n", namespace,
    )  # fmt: skip
    assert control_plane.request(secrets, token=token)[0] == 200  # the same token, now granted


def test_sharded_list_and_watch_gate_is_on(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str
) -> None:
    status, metrics = control_plane.request("/metrics")
    assert status == 200
    assert re.search(
        rb'^kubernetes_feature_enabled\{name="ShardedListAndWatch"[^}]*\} 1$', metrics, re.MULTILINE
    )

    names = {f"cm-{i}" for i in range(12)}
    for name in sorted(names):
        kubectl("create", "configmap", name, "-n", namespace)
    halves = []
    for start, end in (
        ("0x0000000000000000", "0x8000000000000000"),
        ("0x8000000000000000", "0x10000000000000000"),
    ):
        selector = f"shardRange(object.metadata.uid, '{start}', '{end}')"
        query = urllib.parse.urlencode({"shardSelector": selector})
        status, body = control_plane.request(f"/api/v1/namespaces/{namespace}/configmaps?{query}")
        assert status == 200, body
        answer = json.loads(body)
        assert answer["metadata"]["shardInfo"] == {"selector": selector}
        halves.append({item["metadata"]["name"] for item in answer["items"]} & names)
    assert halves[0].isdisjoint(halves[1])
    assert halves[0] | halves[1] == names


def test_context_manager_stops_every_process(tmp_path: Path) -> None:
    with ControlPlane(tmp_path / "cp") as cp:
        pids = list(cp.pids.values())
        assert set(cp.pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
        assert cp.request("/readyz")[0] == 200

    assert all(_gone(pid) for pid in pids)
    assert _pids_mentioning(str(tmp_path / "cp")) == []


def test_cli_up_status_down_from_separate_processes(tmp_path: Path) -> None:
    directory = tmp_path / "cluster"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(LAUNCHER), *args, "--dir", str(directory)],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip

    try:
        up = cli("up")
        assert up.returncode == 0, up.stderr
        assert f"export KUBECONFIG={directory / 'kubeconfig'}" in up.stdout
        pids = [
            int((directory / f"{name}.pid").read_text())
            for name in ("etcd", "kube-apiserver", "kube-controller-manager")
        ]
        assert not any(_gone(pid) for pid in pids)  # outlived the `up` process
        assert cli("status").returncode == 0

        assert cli("down").returncode == 0

        assert all(_gone(pid) for pid in pids)
        assert _pids_mentioning(str(directory)) == []
        assert cli("status").returncode == 1
    finally:
        down(directory)
