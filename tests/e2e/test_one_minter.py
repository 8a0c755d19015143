"""One minter per app, enforced by the API server, end to end.

Two standalone `zoom-operator run` processes serve one namespace (two replicas without peering, a helm
upgrade overlap, two shards whose ranges overlap during a resize), beside one process serving a twin
namespace, in the same run against the same simulator. Every token request is recorded on the
ZoomApp's status with a resourceVersion precondition first, and sent only when that write won; so:

- together the two processes mint no more than 1.05 x what the single one mints for its twin apps;
- the simulator never sees two token requests for one app in flight (`token_in_flight_max`);
- every app is Ready with a working token in its Secret at the end.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from control_plane import ControlPlane

from tests.support.operator import REPO_ROOT, Cluster, OperatorProcess, credentials_secret, wait_for, zoomapp
from tests.support.simulator import SimulatorProcess

pytestmark = pytest.mark.e2e

APPS = 4
TTL = 30  # simulator tokens live this long ...
RENEW_BEFORE = 10  # ... and are renewed this early: a mint about every 20 s per app
LIFETIMES = 4  # the run lasts this many token lifetimes (the issue asks for at least 4)
DEFAULT_STATE = REPO_ROOT / "operator" / "zoom_operator" / "simulator" / "default_state.yaml"
SIDES = ("double", "single")


@pytest.fixture
def twin_sim() -> Iterator[SimulatorProcess]:
    """The default simulator state plus APPS apps per side, each with short-lived tokens."""
    state = yaml.safe_load(DEFAULT_STATE.read_text())
    template = next(a for a in state["apps"] if a["client_id"] == "demo-client")
    for side in SIDES:
        for index in range(APPS):
            app = copy.deepcopy(template)
            app.update(client_id=f"{side}-client-{index}", client_secret=f"{side}-secret-{index}")
            state["apps"].append(app)
    with SimulatorProcess(state=state, extra_args=["--token-ttl-seconds", str(TTL)]) as simulator:
        yield simulator


def _deploy(cluster: Cluster, sim: SimulatorProcess, prefix: str) -> list[str]:
    clients = []
    objects = []
    for index in range(APPS):
        client = f"{prefix}-client-{index}"
        objects.append(
            credentials_secret(
                f"app-{index}-zoom",
                account_id="acc-demo",
                client_id=client,
                client_secret=f"{prefix}-secret-{index}",
            )
        )
        objects.append(
            zoomapp(
                f"app-{index}",
                credentials=f"app-{index}-zoom",
                base_url=sim.base_url,
                renewBeforeSeconds=RENEW_BEFORE,
                mintBudgetPerHour=600,
            )
        )
        clients.append(client)
    cluster.apply(objects)
    return clients


def _operator(
    control_plane: ControlPlane, namespace: str, log: Path, sim: SimulatorProcess
) -> OperatorProcess:
    return OperatorProcess(
        control_plane.kubeconfig,
        log,
        namespaces=[namespace],
        extra_args=["--standalone", "--metrics-port", "0"],
        allow_endpoints=[sim.base_url],
    )


def test_two_operators_on_one_namespace_mint_as_one_and_never_overlap(
    control_plane: ControlPlane, crd_installed: None, twin_sim: SimulatorProcess, tmp_path: Path
) -> None:
    sim = twin_sim
    twins = {}
    for side in SIDES:
        name = f"one-minter-{side}-{int(time.time()) % 100000}"
        control_plane.create_namespace(name)
        twins[side] = Cluster(control_plane.kubectl, name)
    clients = {side: _deploy(cluster, sim, side) for side, cluster in twins.items()}
    processes = [
        _operator(control_plane, twins["double"].namespace, tmp_path / "double-a.log", sim),
        _operator(control_plane, twins["double"].namespace, tmp_path / "double-b.log", sim),
        _operator(control_plane, twins["single"].namespace, tmp_path / "single.log", sim),
    ]
    try:
        for proc in processes:
            proc.start()
        for cluster in twins.values():
            for index in range(APPS):
                cluster.wait_condition(f"app-{index}", "Ready", "True", timeout=90)
        time.sleep(LIFETIMES * TTL)
        stats = sim.stats()
        issued = {
            side: sum(int(stats["tokens_issued"].get(c, 0)) for c in cs) for side, cs in clients.items()
        }
        in_flight = {c: int(stats["token_in_flight_max"].get(c, 0)) for cs in clients.values() for c in cs}
        print(f"tokens issued: {issued}; most in flight per app: {in_flight}")
        assert issued["single"] >= APPS * LIFETIMES, "the single operator renewed every lifetime"
        assert issued["double"] <= 1.05 * issued["single"] + 1, issued
        assert max(in_flight.values()) == 1, in_flight
        for cluster in twins.values():
            for index in range(APPS):
                assert (cluster.condition(f"app-{index}", "Ready") or {}).get("status") == "True"
                token = wait_for(
                    lambda c=cluster, i=index: c.secret_data(f"app-{i}-token"), timeout=10, what="token"
                )
                assert token["access_token"]
        assert all(proc.process is not None and proc.process.poll() is None for proc in processes)
    finally:
        for proc in processes:
            if proc.process is not None:
                proc.stop()
        for proc in processes:
            if proc.log_path.exists():
                print(f"--- {proc.log_path.name} (last lines) ---\n{proc.logs()[-3000:]}")
