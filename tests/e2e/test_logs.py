"""What the operator logs at default settings, as a new user would see it: 20 ZoomApps becoming Ready
cost the start-up lines and about a line per condition transition, not a line per kopf handler run or
per Zoom request; `--log-format json` prints one JSON object per line; no token or secret appears,
not even with `--verbose`.

The test relies on the log and on observable behaviour only (conditions, the simulator's issued
tokens), not on how the operator schedules its work.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.support.operator import REPO_ROOT, Cluster, OperatorProcess, credentials_secret, wait_for, zoomapp
from tests.support.simulator import SimulatorProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DEFAULT_STATE = REPO_ROOT / "operator" / "zoom_operator" / "simulator" / "default_state.yaml"
APPS = 20
# Transition lines per app on its way to Ready: Ready set once (a flag first set False is no
# transition), perhaps after Ready and OwnerRoleChangeRequired were Unknown (Pending) first, when the
# simulator's rate limit answers a first probe with 429; at most each of the three conditions twice
# and Ready's first, with room to spare.
TRANSITIONS_PER_APP = 3 + 2
OTHER_LINES = 12  # the settings line and kopf's few start-up and shutdown lines, with room to spare
TRANSITION = re.compile(r"^\S+/logs-\d+: (Ready|SecretRotationRequired|OwnerRoleChangeRequired)=")


def _state_with_apps(count: int) -> dict[str, Any]:
    state = yaml.safe_load(DEFAULT_STATE.read_text())
    template = next(a for a in state["apps"] if a["client_id"] == "demo-client")
    for i in range(count):
        app = copy.deepcopy(template)
        app.update(client_id=f"logs-{i}", client_secret=f"logs-secret-{i}-do-not-log")
        state["apps"].append(app)
    return state


@pytest.fixture
def fleet_sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(state=_state_with_apps(APPS)) as simulator:
        yield simulator


def _deploy_fleet(cluster: Cluster, sim: SimulatorProcess) -> None:
    docs: list[dict[str, Any]] = []
    for i in range(APPS):
        docs.append(
            credentials_secret(
                f"logs-{i}-zoom",
                account_id="acc-demo",
                client_id=f"logs-{i}",
                client_secret=f"logs-secret-{i}-do-not-log",
            )
        )
        docs.append(zoomapp(f"logs-{i}", credentials=f"logs-{i}-zoom", base_url=sim.base_url))
    cluster.apply(docs)


def _all_ready(cluster: Cluster) -> bool:
    items = json.loads(cluster.kubectl("get", "zoomapps", "-o", "json").stdout)["items"]
    ready = 0
    for app in items:
        conditions = {c["type"]: c for c in (app.get("status") or {}).get("conditions") or []}
        ready += (conditions.get("Ready") or {}).get("status") == "True"
    return len(items) == APPS and ready == APPS


def _run_fleet(
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    *args: str,
) -> tuple[OperatorProcess, list[str]]:
    """Start the operator, create the fleet, wait for every app Ready and for the Ready transitions
    to be in the log; return the operator and the log's lines."""
    operator = start_operator(*args, allow=[sim.base_url])
    _deploy_fleet(cluster, sim)
    wait_for(lambda: _all_ready(cluster), timeout=120, what=f"{APPS} ZoomApps Ready")
    wait_for(
        lambda: operator.logs().count("Ready=True") >= APPS,
        timeout=30,
        what="a Ready=True transition line per app",
    )
    return operator, operator.logs().splitlines()


def _secrets_and_tokens(sim: SimulatorProcess) -> list[str]:
    tokens = [str(t["access_token"]) for t in sim.admin("GET", "/_sim/tokens")["tokens"]]
    assert len(tokens) >= APPS, "every app minted"
    return tokens + [f"logs-secret-{i}-do-not-log" for i in range(APPS)]


def _assert_nothing_secret(log: str, sim: SimulatorProcess) -> None:
    leaked = [value[:12] + "..." for value in _secrets_and_tokens(sim) if value in log]
    assert not leaked, f"secret values in the log: {leaked}"


def test_default_log_is_what_a_human_needs(
    cluster: Cluster, fleet_sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    operator, lines = _run_fleet(cluster, fleet_sim, start_operator)
    log = "\n".join(lines)
    assert not [line for line in lines if "HTTP Request:" in line]
    assert not [line for line in lines if "Handler '" in line]
    assert not [line for line in lines if "GET /healthz" in line]
    settings = [line for line in lines if line.startswith("zoom-operator starting: ")]
    assert len(settings) == 1, log[-4000:]
    assert f"namespaces {cluster.namespace}" in settings[0]
    assert "standalone" in settings[0]
    assert f"endpoints allowed for ZoomApps: {fleet_sim.base_url}" in settings[0]
    for i in range(APPS):
        assert f"{cluster.namespace}/logs-{i}: Ready=True TokenVerified" in log, log[-4000:]
    transitions = [line for line in lines if TRANSITION.match(line)]
    assert len(transitions) <= APPS * TRANSITIONS_PER_APP, log[-6000:]
    assert len(lines) - len(transitions) <= OTHER_LINES, log[-6000:]
    _assert_nothing_secret(log, fleet_sim)
    assert operator.process is not None
    assert operator.process.poll() is None, "still running"


def test_json_log_is_one_object_per_line(
    cluster: Cluster, fleet_sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    _operator, lines = _run_fleet(cluster, fleet_sim, start_operator, "--log-format", "json")
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert all(isinstance(r, dict) and {"message", "timestamp", "level", "logger"} <= set(r) for r in records)
    (settings,) = [r for r in records if r["message"].startswith("zoom-operator starting: ")]
    assert settings["options"]["scope"] == f"namespaces {cluster.namespace}"
    ready = [r for r in records if (r.get("condition") or {}).get("type") == "Ready"]
    became_ready = {r["zoomapp"] for r in ready if r["condition"]["status"] == "True"}
    assert became_ready == {f"{cluster.namespace}/logs-{i}" for i in range(APPS)}
    assert {r["level"] for r in ready} == {"INFO"}  # Ready True or Unknown (Pending): no warning
    assert not [r for r in records if r["logger"] in ("httpx", "kopf.objects") and r["level"] == "INFO"]
    transitions = [r for r in records if "condition" in r]
    assert len(transitions) <= APPS * TRANSITIONS_PER_APP
    assert len(records) - len(transitions) <= OTHER_LINES, lines
    _assert_nothing_secret("\n".join(lines), fleet_sim)


def test_verbose_log_has_the_detail_and_still_no_secret(
    cluster: Cluster, fleet_sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    _operator, lines = _run_fleet(cluster, fleet_sim, start_operator, "--verbose")
    log = "\n".join(lines)
    assert "POST /oauth/token -> 200 TokenIssued" in log  # a line per Zoom request
    assert "GET /v2/users/" in log
    _assert_nothing_secret(log, fleet_sim)


def test_the_summary_line_counts_the_fleet(
    cluster: Cluster, fleet_sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    """One periodic line says how the fleet is: apps served, Ready, flags, mints and Zoom errors."""
    operator, _ = _run_fleet(cluster, fleet_sim, start_operator, "--summary-interval", "2")
    line = wait_for(
        lambda: next(
            (
                ln
                for ln in reversed(operator.logs().splitlines())
                if f"summary: {APPS} apps served, {APPS} Ready" in ln
            ),
            None,
        ),
        timeout=15,
        what="a summary line with every app Ready",
    )
    assert "0 OwnerRoleChangeRequired" in line, line
    assert "0 SecretRotationRequired" in line, line
    _assert_nothing_secret(operator.logs(), fleet_sim)
