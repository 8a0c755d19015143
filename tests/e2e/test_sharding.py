"""`--shard I/N` on a real API server: the Python uid hash is the server's (its shard selectors return
exactly the apps `shard_hash` puts in each range), and a shard refuses to start, minting nothing, on
an API server without the ShardedListAndWatch gate (which would ignore the selector and hand every
shard every app)."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from control_plane import ControlPlane

from tests.support.operator import (
    REPO_ROOT,
    Cluster,
    OperatorProcess,
    credentials_secret,
    wait_for,
    zoomapp,
)
from tests.support.simulator import SimulatorProcess
from zoom_operator.kube.api import connect
from zoom_operator.kube.sharding import (
    check_shard_support,
    in_shard,
    shard_selector,
    verify_shard_selector,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

APP = "sharded-bot"
CREDS = "sharded-bot-zoom"
APPS = 6
DEFAULT_STATE = REPO_ROOT / "operator" / "zoom_operator" / "simulator" / "default_state.yaml"
EXIT_BOUND = 15.0  # seconds for a refused shard to exit (Python start-up included, on a loaded CI box)


def _deploy(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(
        [
            credentials_secret(
                CREDS, account_id="acc-demo", client_id="demo-client", client_secret="demo-secret"
            ),
            zoomapp(APP, credentials=CREDS, base_url=sim.base_url),
        ]
    )


def _exited(proc: OperatorProcess, timeout: float) -> int:
    assert proc.process is not None
    code = wait_for(
        lambda: proc.process.poll() if proc.process is not None else None,
        timeout=timeout,
        interval=0.1,
        what=f"{proc.log_path.name} to exit",
    )
    return int(code)


# ---- the gate on (the session's control plane) --------------------------------------------------


def test_the_servers_shard_selectors_agree_with_shard_hash(
    control_plane: ControlPlane, cluster: Cluster
) -> None:
    names = [f"app-{i:02d}" for i in range(16)]
    cluster.apply([zoomapp(name, credentials=CREDS, base_url="https://zoom.us") for name in names])
    listed = json.loads(cluster.kubectl("get", "zoomapps", "-o", "json").stdout)
    uids = {item["metadata"]["name"]: item["metadata"]["uid"] for item in listed["items"]}
    assert sorted(uids) == names

    for count in (2, 3, 4):
        served: list[set[str]] = []
        for index in range(count):
            selector = shard_selector(f"{index}/{count}")
            query = urllib.parse.urlencode({"shardSelector": selector})
            status, body = control_plane.request(
                f"/apis/zoom-operator.io/v1alpha1/namespaces/{cluster.namespace}/zoomapps?{query}"
            )
            assert status == 200, body
            # Filtered, though a custom resource list carries no metadata.shardInfo in 1.37 (which is
            # why the start-up check also lists Secrets).
            returned = {item["metadata"]["name"] for item in json.loads(body)["items"]}
            expected = {name for name, uid in uids.items() if in_shard(uid, index, count)}
            assert returned == expected, f"shard {index}/{count}"
            served.append(returned)
        assert set().union(*served) == set(names)
        assert sum(len(s) for s in served) == len(names)  # no app in two shards
    # 16 random uids in 2 shards: all in one shard would be a 1 in 32768 fluke, not a passing test.
    assert 0 < sum(in_shard(uid, 0, 2) for uid in uids.values()) < len(names)


def test_the_check_passes_where_the_gate_is_on(control_plane: ControlPlane, cluster: Cluster) -> None:
    for shard in ("0/1", "0/2", "1/2", "2/3"):
        assert check_shard_support(str(control_plane.kubeconfig), shard_selector(shard)) is None
        assert (
            check_shard_support(str(control_plane.kubeconfig), shard_selector(shard), [cluster.namespace])
            is None
        )


def test_a_shard_without_list_permission_exits_with_the_reason(
    control_plane: ControlPlane,
    cluster: Cluster,
    start_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    cluster.kubectl("create", "serviceaccount", "no-rights")
    token = control_plane.create_token(cluster.namespace, "no-rights")
    kubeconfig = control_plane.token_kubeconfig(tmp_path / "no-rights.kubeconfig", token)

    proc = start_operator("--shard", "0/2", kubeconfig=kubeconfig)

    assert _exited(proc, EXIT_BOUND) == 1
    logs = proc.logs()
    assert "zoom-operator run: the API server forbade listing zoomapps.zoom-operator.io" in logs
    assert f'"system:serviceaccount:{cluster.namespace}:no-rights" cannot list resource' in logs
    assert "Traceback" not in logs


@pytest.fixture
def shards_sim() -> Iterator[SimulatorProcess]:
    """The simulator with one Zoom app (client id) per ZoomApp of the test."""
    state = yaml.safe_load(DEFAULT_STATE.read_text())
    template = next(a for a in state["apps"] if a["client_id"] == "demo-client")
    for i in range(APPS):
        app = copy.deepcopy(template)
        app.update(client_id=f"shard-app-{i}", client_secret=f"shard-secret-{i}")
        state["apps"].append(app)
    with SimulatorProcess(state=state) as simulator:
        yield simulator


def _managed_apps(proc: OperatorProcess) -> int | None:
    match = re.search(r"^zoom_operator_managed_apps(?:\{[^}]*\})? ([0-9.e+]+)$", proc.metrics(), re.MULTILINE)
    return int(float(match.group(1))) if match else None


def test_two_shards_split_the_apps_and_each_app_is_minted_once(
    cluster: Cluster, shards_sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    docs: list[dict[str, Any]] = []
    for i in range(APPS):
        docs.append(
            credentials_secret(
                f"shard-app-{i}-zoom",
                account_id="acc-demo",
                client_id=f"shard-app-{i}",
                client_secret=f"shard-secret-{i}",
            )
        )
        docs.append(
            zoomapp(f"shard-app-{i}", credentials=f"shard-app-{i}-zoom", base_url=shards_sim.base_url)
        )
    cluster.apply(docs)
    uids = [cluster.zoomapp(f"shard-app-{i}")["metadata"]["uid"] for i in range(APPS)]
    expected = [sum(in_shard(uid, index, 2) for uid in uids) for index in range(2)]

    shards = [
        start_operator("--shard", f"{i}/2", log_name=f"shard-{i}.log", allow=[shards_sim.base_url])
        for i in range(2)
    ]

    for i in range(APPS):
        cluster.wait_condition(f"shard-app-{i}", "Ready", "True", timeout=90)
        assert cluster.secret_data(f"shard-app-{i}-token")
    assert all(proc.process is not None and proc.process.poll() is None for proc in shards)
    wait_for(
        lambda: [_managed_apps(proc) for proc in shards] == expected,
        timeout=30,
        what=f"the shards managing {expected} apps, as shard_hash splits them",
    )
    issued = shards_sim.stats()["tokens_issued"]
    assert issued == {f"shard-app-{i}": 1 for i in range(APPS)}, "each app minted by one shard, once"


# ---- the gate off -------------------------------------------------------------------------------


class TestGateOff:
    """A control plane of its own with `--feature-gates ShardedListAndWatch=false`; every fixture
    (namespace, cluster, start_operator) follows the `control_plane` overridden here."""

    @pytest.fixture(scope="class")
    @classmethod
    def control_plane(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
        with ControlPlane(
            tmp_path_factory.mktemp("gate-off-cp"),
            feature_gates={"ShardedListAndWatch": False},
            controller_manager=False,
        ) as cp:
            yield cp

    def test_the_gate_is_off_and_the_selector_ignored(
        self, control_plane: ControlPlane, cluster: Cluster
    ) -> None:
        status, metrics = control_plane.request("/metrics")
        assert status == 200
        assert b'kubernetes_feature_enabled{name="ShardedListAndWatch",stage="ALPHA"} 0' in metrics

        async def verify(namespaces: tuple[str, ...]) -> str | None:
            kube = connect(str(control_plane.kubeconfig))
            try:
                return await verify_shard_selector(kube, shard_selector("0/2"), namespaces)
            finally:
                await kube.close()

        for namespaces in ((), (cluster.namespace,)):
            message = asyncio.run(verify(namespaces))
            assert message is not None
            assert message.startswith("the API server ignored the shard selector")
            assert "--feature-gates=ShardedListAndWatch=true" in message

    def test_both_shards_refuse_to_start_and_mint_nothing(
        self,
        cluster: Cluster,
        sim: SimulatorProcess,
        start_operator: Callable[..., OperatorProcess],
    ) -> None:
        _deploy(cluster, sim)  # an app the shards would mint for, were they to start
        started = time.monotonic()
        shards = [
            start_operator("--shard", shard, log_name=f"shard-{i}.log")
            for i, shard in enumerate(("0/2", "1/2"))
        ]

        codes = [_exited(proc, EXIT_BOUND) for proc in shards]

        assert codes == [1, 1]
        print(f"both shards exited in {time.monotonic() - started:.1f}s")
        for proc in shards:
            logs = proc.logs()
            assert "zoom-operator run: the API server ignored the shard selector" in logs
            assert "ShardedListAndWatch" in logs
            assert "Traceback" not in logs
        stats = sim.stats()
        assert stats["token_requests"] == {}
        assert stats["tokens_issued"] == {}
        assert stats["requests"] == 0
        assert "status" not in cluster.zoomapp(APP)  # no operator ever touched it
