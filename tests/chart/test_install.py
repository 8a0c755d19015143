"""The chart on a real API server: its RBAC is enough for the operator, and not one rule more.

`helm install` puts the chart into the local kube-apiserver (RBAC enforced). No kubelet runs, so the
operator runs as a local process authenticated with the chart's ServiceAccount token (TokenRequest,
as `kubectl create token` gives), against the Zoom simulator. If it reconciles a ZoomApp to Ready
(token Secret written, status patched, Events posted), the chart's RBAC suffices; removing one
rule makes it fail with a 403, which shows the test can fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from control_plane import ControlPlane

from tests.chart.conftest import CHART, Helm, values_file
from tests.support.operator import (
    CRD_PATH,
    Cluster,
    OperatorProcess,
    credentials_secret,
    wait_for,
    zoomapp,
)
from tests.support.simulator import SimulatorProcess

pytestmark = pytest.mark.e2e

APP = "meetings-bot"
CREDS = "meetings-bot-zoom"
FINALIZER = "zoom-operator.io/finalizer"
# How a refused request shows in the operator's log (its own API calls, and kopf's).
FORBIDDEN = re.compile(r"403 Forbidden|APIForbiddenError|status=403")


def _suffix() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    """The simulator with the demo app under a client_id no other test uses: a cluster-wide operator
    sees every ZoomApp left behind by other tests and would flag a shared client_id as duplicate."""
    from importlib import resources

    state = yaml.safe_load(
        resources.files("zoom_operator.simulator").joinpath("default_state.yaml").read_text()
    )
    client_id = f"chart-{_suffix()}"
    for app in state["apps"]:
        if app["client_id"] == "demo-client":
            app["client_id"] = client_id
    with SimulatorProcess(state=state) as simulator:
        simulator.client_id = client_id  # type: ignore[attr-defined]
        yield simulator


class Release:
    """One `helm install` of the chart into the control plane, and the identity it creates."""

    def __init__(self, cp: ControlPlane, helm: Helm, tmp_path: Path, values: dict[str, Any]) -> None:
        self.cp = cp
        self.helm = helm
        self.name = f"zo-{_suffix()}"
        self.namespace = f"{self.name}-system"
        self.values = values
        self.values_path = values_file(tmp_path, self.name, values)
        self.service_account = f"{self.name}-zoom-operator"

    def install(self) -> Release:
        self.cp.create_namespace(self.namespace)
        for crd in self._crds_to_install():
            _let_helm_adopt(self.cp, "customresourcedefinition", crd, self.name, self.namespace)
        self.helm(
            "install", self.name, str(CHART),
            "--namespace", self.namespace,
            "--kubeconfig", str(self.cp.kubeconfig),
            "-f", str(self.values_path),
        )  # fmt: skip
        return self

    def _crds_to_install(self) -> list[str]:
        crds = []
        if self.values.get("crds", {}).get("install", True):
            crds.append("zoomapps.zoom-operator.io")
        return crds

    def uninstall(self) -> None:
        self.helm(
            "uninstall", self.name, "--namespace", self.namespace, "--kubeconfig", str(self.cp.kubeconfig)
        )

    def token_kubeconfig(self, directory: Path) -> Path:
        """A kubeconfig that authenticates as the chart's ServiceAccount, and as nothing else."""
        token = self.cp.create_token(self.namespace, self.service_account)
        return self.cp.token_kubeconfig(directory / f"{self.name}.kubeconfig", token)


def _let_helm_adopt(cp: ControlPlane, kind: str, name: str, release: str, namespace: str) -> None:
    """A CRD that already exists (another test applied crds/ with kubectl, or an earlier run on an
    outside cluster) is handed to this release the way helm documents adoption."""
    if cp.kubectl("get", kind, name, check=False).returncode != 0:
        return
    cp.kubectl(
        "annotate", "--overwrite", kind, name,
        f"meta.helm.sh/release-name={release}", f"meta.helm.sh/release-namespace={namespace}",
    )  # fmt: skip
    cp.kubectl("label", "--overwrite", kind, name, "app.kubernetes.io/managed-by=Helm")


@pytest.fixture
def install(
    control_plane: ControlPlane, helm: Helm, tmp_path: Path
) -> Iterator[Callable[[dict[str, Any]], Release]]:
    releases: list[Release] = []

    def run(values: dict[str, Any]) -> Release:
        release = Release(control_plane, helm, tmp_path, values).install()
        releases.append(release)
        return release

    yield run
    for release in releases:
        release.helm(
            "uninstall", release.name, "--namespace", release.namespace,
            "--kubeconfig", str(control_plane.kubeconfig), check=False,
        )  # fmt: skip


@pytest.fixture
def crd_present(control_plane: ControlPlane) -> None:
    """For releases installed with crds.install=false (only one release can own the CRD)."""
    if control_plane.kubectl("get", "crd", "zoomapps.zoom-operator.io", check=False).returncode != 0:
        control_plane.kubectl("apply", "--server-side", "-f", str(CRD_PATH))
    _wait_established(control_plane, "zoomapps.zoom-operator.io")


def _wait_established(cp: ControlPlane, crd: str) -> None:
    cp.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


@pytest.fixture
def operators(tmp_path: Path, sim: SimulatorProcess) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start(kubeconfig: Path, namespaces: list[str], *extra_args: str) -> OperatorProcess:
        proc = OperatorProcess(
            kubeconfig,
            tmp_path / f"operator-{len(started)}.log",
            namespaces=namespaces,
            extra_args=extra_args,
            allow_endpoints=[sim.base_url],
        )
        started.append(proc.start())
        return proc

    yield start
    for proc in started:
        proc.stop()
    for proc in started:
        print(f"--- {proc.log_path.name} ---\n{proc.logs()[-6000:]}")


def _deploy_app(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(
        [
            credentials_secret(
                CREDS,
                account_id="acc-demo",
                client_id=sim.client_id,  # type: ignore[attr-defined]
                client_secret="demo-secret",
            ),
            zoomapp(APP, credentials=CREDS, base_url=sim.base_url),
        ]
    )


def _can_i(cp: ControlPlane, kubeconfig: Path, *args: str) -> bool:
    result = subprocess.run(
        [str(cp.kubectl_path), f"--kubeconfig={kubeconfig}", "auth", "can-i", *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return result.stdout.strip() == "yes"


def _assert_reconciled(cluster: Cluster, operator: OperatorProcess) -> None:
    """What a user sees when the operator works: Ready, a token Secret, status, Events, the label."""
    ready = cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified", timeout=90)
    assert ready["observedGeneration"] == 1
    status = cluster.zoomapp(APP)["status"]
    assert status["token"]["secretName"] == f"{APP}-token"  # zoomapps/status patch
    data = cluster.secret_data(f"{APP}-token")  # secrets create
    assert data is not None
    assert data["access_token"]
    creds = cluster.get("secret", CREDS)  # secrets patch: the label that scopes kopf's Secret watch
    assert creds is not None
    assert creds["metadata"]["labels"]["zoom-operator.io/credentials"] == "true"
    assert FINALIZER not in (cluster.zoomapp(APP)["metadata"].get("finalizers") or [])  # none any more
    events = wait_for(lambda: cluster.events(APP), timeout=30, what=f"Events on {APP}")  # events create
    assert any(e["involvedObject"]["kind"] == "ZoomApp" for e in events)
    logs = operator.logs()
    assert not FORBIDDEN.search(logs), logs[-4000:]


def _delete_app(cluster: Cluster) -> None:
    """Deleting a ZoomApp completes at once: it carries no finalizer."""
    cluster.kubectl("delete", "zoomapp", APP, "--wait=false")
    wait_for(lambda: cluster.get("zoomapp", APP) is None, timeout=60, what=f"{APP} to be deleted")


# ---- enough --------------------------------------------------------------------------------------


def test_cluster_wide_install_rbac_is_enough(
    control_plane: ControlPlane,
    install: Callable[[dict[str, Any]], Release],
    operators: Callable[..., OperatorProcess],
    sim: SimulatorProcess,
    namespace: str,
    tmp_path: Path,
) -> None:
    release = install({})  # the defaults: cluster-wide, CRD installed by the chart
    _wait_established(control_plane, "zoomapps.zoom-operator.io")
    crd = json.loads(control_plane.kubectl("get", "crd", "zoomapps.zoom-operator.io", "-o", "json").stdout)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == release.name
    control_plane.kubectl("get", "clusterrole,clusterrolebinding", f"{release.name}-zoom-operator")
    control_plane.kubectl(
        "-n", release.namespace, "get", "deployment,serviceaccount,service", release.service_account
    )

    kubeconfig = release.token_kubeconfig(tmp_path)
    # What the API server itself says the ServiceAccount may do, in any namespace.
    assert _can_i(control_plane, kubeconfig, "create", "secrets", "-n", namespace)
    assert _can_i(
        control_plane,
        kubeconfig,
        "patch",
        "zoomapps.zoom-operator.io",
        "--subresource=status",
        "-n",
        namespace,
    )
    assert not _can_i(control_plane, kubeconfig, "delete", "secrets", "-n", namespace)
    assert not _can_i(control_plane, kubeconfig, "update", "zoomapps.zoom-operator.io", "-n", namespace)
    assert not _can_i(control_plane, kubeconfig, "list", "pods", "-n", namespace)
    assert not _can_i(control_plane, kubeconfig, "create", "clusterkopfpeerings.kopf.dev")

    cluster = Cluster(control_plane.kubectl, namespace)
    _deploy_app(cluster, sim)
    operator = operators(kubeconfig, [])  # no -n: cluster-wide, like the chart's --all-namespaces
    _assert_reconciled(cluster, operator)
    _delete_app(cluster)

    release.uninstall()
    # crds.keep: the CRD (and every ZoomApp) survives `helm uninstall`; the RBAC does not.
    control_plane.kubectl("get", "crd", "zoomapps.zoom-operator.io")
    gone = control_plane.kubectl("get", "clusterrole", f"{release.name}-zoom-operator", check=False)
    assert gone.returncode != 0


def test_namespaced_install_rbac_is_enough_and_stays_in_its_namespaces(
    control_plane: ControlPlane,
    install: Callable[[dict[str, Any]], Release],
    operators: Callable[..., OperatorProcess],
    sim: SimulatorProcess,
    namespace: str,
    crd_present: None,
    tmp_path: Path,
) -> None:
    release = install({"watchNamespaces": [namespace], "crds": {"install": False}})
    kubeconfig = release.token_kubeconfig(tmp_path)
    other = f"{namespace[:50]}-other"
    control_plane.create_namespace(other)
    assert _can_i(control_plane, kubeconfig, "create", "secrets", "-n", namespace)
    assert not _can_i(control_plane, kubeconfig, "get", "secrets", "-n", other)
    assert not _can_i(control_plane, kubeconfig, "get", "secrets", "-n", release.namespace)
    assert not _can_i(control_plane, kubeconfig, "list", "secrets", "--all-namespaces")
    assert not _can_i(control_plane, kubeconfig, "list", "zoomapps.zoom-operator.io", "-n", other)

    cluster = Cluster(control_plane.kubectl, namespace)
    _deploy_app(cluster, sim)
    operator = operators(kubeconfig, [namespace])
    _assert_reconciled(cluster, operator)
    _delete_app(cluster)


def test_peering_install_rbac_is_enough(
    control_plane: ControlPlane,
    install: Callable[[dict[str, Any]], Release],
    operators: Callable[..., OperatorProcess],
    sim: SimulatorProcess,
    namespace: str,
    crd_present: None,
    tmp_path: Path,
) -> None:
    release = install(
        {
            "watchNamespaces": [namespace],
            "crds": {"install": False},
            "peering": {"enabled": True},
            "replicas": 2,
        }
    )
    _wait_established(control_plane, "kopfpeerings.kopf.dev")
    kubeconfig = release.token_kubeconfig(tmp_path)
    cluster = Cluster(control_plane.kubectl, namespace)
    _deploy_app(cluster, sim)
    # As the chart's StatefulSet runs it: --peering <name> --priority <ordinal>.
    operator = operators(kubeconfig, [namespace], "--peering", "zoom-operator", "--priority", "1")
    _assert_reconciled(cluster, operator)

    def heartbeat() -> dict[str, Any] | None:
        peering = cluster.get("kopfpeering", "zoom-operator") or {}
        return peering.get("status") or None

    # kopf keeps this replica's heartbeat in the chart's KopfPeering object (kopfpeerings patch).
    peers = wait_for(heartbeat, timeout=30, what="a kopf heartbeat in the KopfPeering")
    assert any(peer.get("priority") == 1 for peer in peers.values())

    _delete_app(cluster)


# ---- not one rule more ---------------------------------------------------------------------------


def _remove_verb(
    cp: ControlPlane, kind: str, name: str, namespace: str | None, resource: str, verb: str
) -> None:
    where = ["-n", namespace] if namespace else []
    role = json.loads(cp.kubectl(*where, "get", kind, name, "-o", "json").stdout)
    touched = False
    for rule in role["rules"]:
        if resource in rule["resources"] and verb in rule["verbs"]:
            rule["verbs"].remove(verb)
            touched = True
    assert touched, f"{kind} {name} has no {verb} on {resource}"
    role["rules"] = [rule for rule in role["rules"] if rule["verbs"]]
    cp.kubectl(*where, "replace", "-f", "-", input=json.dumps(role))


@pytest.mark.parametrize(
    ("mode", "resource", "verb", "can_i"),
    [
        # The token Secret cannot be written.
        ("namespaced", "secrets", "create", ["create", "secrets"]),
        # The status cannot be written.
        (
            "cluster-wide",
            "zoomapps/status",
            "patch",
            ["patch", "zoomapps.zoom-operator.io", "--subresource=status"],
        ),
    ],
)
def test_without_one_rule_the_operator_fails_loudly(
    control_plane: ControlPlane,
    install: Callable[[dict[str, Any]], Release],
    operators: Callable[..., OperatorProcess],
    sim: SimulatorProcess,
    namespace: str,
    crd_present: None,
    tmp_path: Path,
    mode: str,
    resource: str,
    verb: str,
    can_i: list[str],
) -> None:
    namespaced = mode == "namespaced"
    values: dict[str, Any] = {"crds": {"install": False}}
    if namespaced:
        values["watchNamespaces"] = [namespace]
    release = install(values)
    role_name = f"{release.name}-zoom-operator"
    if namespaced:
        _remove_verb(control_plane, "role", role_name, namespace, resource, verb)
    else:
        _remove_verb(control_plane, "clusterrole", role_name, None, resource, verb)
    kubeconfig = release.token_kubeconfig(tmp_path)
    assert not _can_i(control_plane, kubeconfig, *can_i, "-n", namespace)  # the API server agrees

    cluster = Cluster(control_plane.kubectl, namespace)
    _deploy_app(cluster, sim)
    operator = operators(kubeconfig, [namespace] if namespaced else [])
    plural = resource.split("/")[0]

    def forbidden_twice() -> bool:
        lines = [line for line in operator.logs().splitlines() if FORBIDDEN.search(line) and plural in line]
        return len(lines) >= 2  # refused, retried, refused again

    wait_for(forbidden_twice, timeout=90, what=f"two 403s on {resource} in the operator log")
    # The app never became Ready, and what the missing rule guards did not happen.
    ready = cluster.condition(APP, "Ready")
    assert ready is None or ready["status"] != "True"
    if resource == "secrets":
        assert cluster.get("secret", f"{APP}-token") is None
    else:
        assert not (cluster.zoomapp(APP).get("status") or {}).get("token")
