"""Concurrency: bursts of ZoomApp creates, edits and deletes while tokens renew; the credentials
Secret rotated while a mint is in flight; two operator replicas started at once (kopf peering).

Across all of it: never two token requests in flight for one app (the simulator counts concurrent
token requests per client id, held ones included) and never an older token written over a newer
one (each watched Secret's versions, from `kubectl get -w`, have non-decreasing `issued_at`).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from control_plane import ControlPlane

from tests.reliability.helpers import (
    APP,
    CREDS,
    TOKEN_SECRET,
    SecretHistory,
    assert_issued_at_monotonic,
    deploy,
    fingerprint,
    renew_now,
    token_works,
)
from tests.support.operator import REPO_ROOT, Cluster, OperatorProcess, credentials_secret, wait_for, zoomapp
from tests.support.simulator import SimulatorProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DEFAULT_STATE = REPO_ROOT / "operator" / "zoom_operator" / "simulator" / "default_state.yaml"
PEERING_CRDS = REPO_ROOT / "charts" / "zoom-operator" / "crds" / "kopf-peerings.yaml"
APPS = 6


def _state_with_apps(count: int) -> dict[str, Any]:
    state = yaml.safe_load(DEFAULT_STATE.read_text())
    template = next(a for a in state["apps"] if a["client_id"] == "demo-client")
    for i in range(count):
        app = copy.deepcopy(template)
        app.update(client_id=f"burst-{i}", client_secret=f"burst-secret-{i}")
        state["apps"].append(app)
    return state


@pytest.fixture
def burst_sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(state=_state_with_apps(APPS)) as simulator:
        yield simulator


def _burst_manifests(sim: SimulatorProcess, indices: range, **spec: Any) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for i in indices:
        docs.append(
            credentials_secret(
                f"burst-{i}-zoom",
                account_id="acc-demo",
                client_id=f"burst-{i}",
                client_secret=f"burst-secret-{i}",
            )
        )
        docs.append(zoomapp(f"burst-{i}", credentials=f"burst-{i}-zoom", base_url=sim.base_url, **spec))
    return docs


def _history(control_plane: ControlPlane, cluster: Cluster, name: str, tmp_path: Path) -> SecretHistory:
    argv = [str(control_plane.kubectl_path), f"--kubeconfig={control_plane.kubeconfig}"]
    return SecretHistory(argv, cluster.namespace, name, tmp_path / f"watch-{name}.log").start()


def _served_consistently(cluster: Cluster, sim: SimulatorProcess, name: str) -> None:
    def consistent() -> bool:
        app = cluster.get("zoomapp", name) or {}
        status = app.get("status") or {}
        ready = {c["type"]: c for c in status.get("conditions") or []}.get("Ready") or {}
        data = cluster.secret_data(f"{name}-token")
        return (
            ready.get("status") == "True"
            and bool(data)
            and (status.get("token") or {}).get("fingerprint") == fingerprint(data["access_token"])
        )

    wait_for(consistent, timeout=60, what=f"{name} Ready with status matching its Secret")
    data = cluster.secret_data(f"{name}-token")
    assert data is not None
    assert token_works(sim, data["access_token"])
    secret = cluster.get("secret", f"{name}-token")
    assert secret is not None
    uid = cluster.zoomapp(name)["metadata"]["uid"]
    assert [r["uid"] for r in secret["metadata"]["ownerReferences"]] == [uid], "owned by the live ZoomApp"


def test_bursts_of_creates_edits_and_deletes_while_tokens_renew(
    control_plane: ControlPlane,
    cluster: Cluster,
    burst_sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    sim = burst_sim
    sim.admin("PATCH", "/_sim/config", {"token_ttl_seconds": 20})
    operator = start_operator(allow=[burst_sim.base_url])
    watched = [_history(control_plane, cluster, f"burst-{i}-token", tmp_path) for i in (0, 4)]
    try:
        cluster.apply(_burst_manifests(sim, range(APPS), renewBeforeSeconds=10, probe={"intervalSeconds": 5}))
        for i in range(APPS):
            cluster.wait_condition(f"burst-{i}", "Ready", "True", timeout=60)
        started = time.monotonic()

        # Burst 1: every app edited at once, half of them also asked to renew now.
        cluster.apply(
            _burst_manifests(
                sim,
                range(APPS),
                renewBeforeSeconds=12,
                probe={"intervalSeconds": 6},
                requiredScopes=["user:read:admin"],
            )
        )
        for i in range(0, APPS, 2):
            renew_now(cluster, "burst-1", name=f"burst-{i}")
        # Burst 2: half deleted while the other half is edited again.
        cluster.kubectl("delete", "zapp", *[f"burst-{i}" for i in range(3, APPS)], "--wait=false")
        for i in range(3):
            renew_now(cluster, "burst-2", name=f"burst-{i}")
        cluster.kubectl(
            "wait", "--for=delete", *[f"zapp/burst-{i}" for i in range(3, APPS)], "--timeout=40s"
        )  # deletion completes
        # Burst 3: the deleted ones come back under the same names (new uids).
        cluster.apply(
            _burst_manifests(sim, range(3, APPS), renewBeforeSeconds=10, probe={"intervalSeconds": 5})
        )
        # Let natural renewals (20 s tokens) happen among the bursts.
        while time.monotonic() - started < 25:
            time.sleep(1)
        for i in range(APPS):
            _served_consistently(cluster, sim, f"burst-{i}")
    finally:
        for history in watched:
            history.stop()

    stats = sim.stats()
    print(f"tokens issued: {stats['tokens_issued']}; most in flight: {stats['token_in_flight_max']}")
    assert stats["token_in_flight_max"], "no token request seen"
    assert max(stats["token_in_flight_max"].values()) == 1, "two mints in flight for one app"
    assert stats["tokens_issued"].get("burst-0", 0) >= 3, "renewals happened during the bursts"
    for history in watched:
        assert_issued_at_monotonic(history.versions())
    token_secrets = json.loads(
        cluster.kubectl("get", "secrets", "-l", "zoom-operator.io/credentials=token", "-o", "json").stdout
    )["items"]
    assert sorted(s["metadata"]["name"] for s in token_secrets) == [f"burst-{i}-token" for i in range(APPS)]
    assert operator.process is not None
    assert operator.process.poll() is None
    assert "failed with an exception" not in operator.logs()


def test_credentials_rotated_while_a_mint_is_in_flight(
    control_plane: ControlPlane,
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    start_operator()
    deploy(cluster, sim, probe={"intervalSeconds": 5})
    cluster.wait_condition(APP, "Ready", "True")
    original = cluster.secret_data(TOKEN_SECRET)
    assert original is not None
    history = _history(control_plane, cluster, TOKEN_SECRET, tmp_path)
    try:
        sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "timeout", "seconds": 3})
        renew_now(cluster, "slow-mint")
        wait_for(
            lambda: sim.stats()["token_in_flight"].get("demo-client"),
            timeout=30,
            interval=0.05,
            what="a token request in flight",
        )
        # Rotated in Zoom (old secret revoked at once) and in the cluster while the request is held.
        new_secret = sim.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})[
            "client_secret"
        ]
        cluster.apply(
            credentials_secret(
                CREDS, account_id="acc-demo", client_id="demo-client", client_secret=new_secret
            )
        )
        flags: set[str] = set()

        def renewed_with_new_credentials() -> bool:
            rotation = cluster.condition(APP, "SecretRotationRequired") or {}
            flags.add(str(rotation.get("status")))
            data = cluster.secret_data(TOKEN_SECRET)
            status = cluster.zoomapp(APP).get("status") or {}
            return (
                bool(data)
                and data["access_token"] != original["access_token"]
                and (status.get("credentials") or {}).get("fingerprint") is not None
                and cluster.condition(APP, "Ready")["status"] == "True"
            )

        wait_for(renewed_with_new_credentials, timeout=60, what="a token minted with the new credentials")
    finally:
        history.stop()
    data = cluster.secret_data(TOKEN_SECRET)
    assert data is not None
    assert token_works(sim, data["access_token"])
    assert "True" not in flags, "one rejected in-flight request with the old secret is not a rotation flag"
    assert sim.stats()["token_in_flight_max"]["demo-client"] == 1
    assert_issued_at_monotonic(history.versions())


def test_two_replicas_started_at_once_never_mint_twice_at_a_time(
    control_plane: ControlPlane,
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    control_plane.kubectl("apply", "--server-side", "-f", str(PEERING_CRDS))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=60s")
    cluster.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "zoom-operator"}})
    sim.admin("PATCH", "/_sim/apps/demo-client", {"token_ttl_seconds": 20})
    deploy(cluster, sim, renewBeforeSeconds=10, probe={"intervalSeconds": 5})
    history = _history(control_plane, cluster, TOKEN_SECRET, tmp_path)
    try:
        replicas = [
            start_operator(
                "--peering", "zoom-operator", "--priority", str(priority), log_name=f"replica-{priority}.log"
            )
            for priority in (10, 20)
        ]
        cluster.wait_condition(APP, "Ready", "True", timeout=60)
        time.sleep(25)  # at least one renewal of the 20 s token under two live replicas
        _served_consistently(cluster, sim, APP)
    finally:
        history.stop()
    stats = sim.stats()
    print(f"tokens issued {stats['tokens_issued']}, most in flight {stats['token_in_flight_max']}")
    assert stats["token_in_flight_max"]["demo-client"] == 1
    assert stats["tokens_issued"]["demo-client"] >= 2
    assert_issued_at_monotonic(history.versions())
    for replica in replicas:
        assert replica.process is not None
        assert replica.process.poll() is None
    # kopf logs "Pausing operations" only when a replica resumed first, so ask what each one serves
    serving = [r for r in replicas if "zoom_operator_managed_apps 1.0" in r.metrics()]
    assert len(serving) == 1, "exactly one replica serves the app; the other stands by"
