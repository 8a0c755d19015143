"""Process faults: the operator SIGKILLed at random and at chosen points of a reconcile, many times.

The two windows the issue names are hit deterministically, without test hooks in the operator:

- *between mint and Secret write*: the simulator holds token requests (`timeout` fault) and the
  operator is killed while its token request is in flight; the simulator still issues the token, so
  Zoom has minted a token nobody stored.
- *between Secret write and status patch*: in one step the worker mints, writes the Secret, probes the
  new token and only then patches status. The simulator holds API requests, so the operator sits in
  the probe after the Secret write; it is killed as soon as the Secret changes, and the test checks
  that status still shows the previous token (the window was really hit).

The other iterations kill at a random moment after a renew-now request (seeded, printed).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from control_plane import ControlPlane

from tests.reliability.helpers import (
    APP,
    TOKEN_SECRET,
    SecretHistory,
    assert_issued_at_monotonic,
    deploy,
    fingerprint,
    renew_now,
    token_requests,
    token_works,
    tokens_issued,
)
from tests.support.operator import Cluster, OperatorProcess, wait_for
from tests.support.simulator import SimulatorProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

ITERATIONS = 18
BUDGET = 12  # fewer than the renewals asked for: the cap itself must survive the kills


def _serving(operator: OperatorProcess) -> bool:
    return f'zoomapp_token_expiration_timestamp_seconds{{name="{APP}"' in operator.metrics()


def _status_fingerprint(cluster: Cluster) -> str | None:
    return ((cluster.zoomapp(APP).get("status") or {}).get("token") or {}).get("fingerprint")


def test_sigkill_at_random_and_chosen_points_leaves_a_valid_consistent_token_within_budget(
    control_plane: ControlPlane,
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("ZOOM_TEST_SEED") or random.randrange(1 << 30))  # to replay a printed seed
    print(f"random seed {seed}")
    rng = random.Random(seed)
    history = SecretHistory(
        [str(control_plane.kubectl_path), f"--kubeconfig={control_plane.kubeconfig}"],
        cluster.namespace,
        TOKEN_SECRET,
        tmp_path / "watch.log",
    ).start()
    try:
        operator = start_operator(log_name="operator-first.log")
        deploy(cluster, sim, mintBudgetPerHour=BUDGET, probe={"intervalSeconds": 5})
        cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified")
        hit_mint_window = hit_write_window = 0

        for i in range(ITERATIONS):
            mode = ("in-mint", "after-secret-write")[i % 2] if i < 6 else "random"
            if mode != "random":
                wait_for(lambda op=operator: _serving(op), timeout=30, what="the operator serving the app")
            before = cluster.secret_data(TOKEN_SECRET)
            issued_before = tokens_issued(sim)
            if mode == "in-mint":
                sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "timeout", "seconds": 3})
                renew_now(cluster, f"kill-{i}")
                wait_for(
                    lambda: sim.stats()["token_in_flight"].get("demo-client"),
                    timeout=15,
                    interval=0.05,
                    what="the token request in flight",
                )
                operator.kill(signal.SIGKILL)
                unchanged = cluster.secret_data(TOKEN_SECRET) == before
                # the simulator finishes the held request: Zoom minted a token the operator never stored
                wait_for(lambda b=issued_before: tokens_issued(sim) > b, timeout=10, what="the orphan token")
                hit_mint_window += unchanged
            elif mode == "after-secret-write":
                # long enough to cover a restarted operator waiting out the killed one's recorded token
                # request (MINT_LEASE) before it serves the renew-now: the probe after the write is held
                sim.admin("POST", "/_sim/faults", {"target": "api", "kind": "timeout", "seconds": 20})
                renew_now(cluster, f"kill-{i}")
                new = wait_for(
                    lambda b=before: (d := cluster.secret_data(TOKEN_SECRET)) != b and d,
                    timeout=25,
                    interval=0.05,
                    what="the new token in the Secret",
                )
                operator.kill(signal.SIGKILL)
                if _status_fingerprint(cluster) != fingerprint(new["access_token"]):
                    hit_write_window += 1
                sim.admin("DELETE", "/_sim/faults")
            else:
                time.sleep(rng.uniform(0.0, 3.0))
                renew_now(cluster, f"kill-{i}")
                time.sleep(rng.uniform(0.0, 2.0))
                operator.kill(signal.SIGKILL)
            print(f"iteration {i} ({mode}): token requests so far {token_requests(sim)}")
            sim.admin("DELETE", "/_sim/faults")
            operator = start_operator(log_name=f"operator-{i:02d}.log")

        # Let the last operator settle, then judge what is left behind.
        cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified", timeout=60)

        def consistent() -> tuple[dict[str, str], dict[str, object]] | None:
            data = cluster.secret_data(TOKEN_SECRET)
            status = cluster.zoomapp(APP)["status"]
            if data and status["token"]["fingerprint"] == fingerprint(data["access_token"]):
                return data, status
            return None

        data, status = wait_for(consistent, timeout=30, what="status.token matching the Secret")
    finally:
        history.stop()

    print(f"windows hit: mint->write {hit_mint_window}, write->status {hit_write_window}")
    assert hit_mint_window >= 1, "never killed between the token request and the Secret write"
    assert hit_write_window >= 1, "never killed between the Secret write and the status patch"
    # The Secret holds a token Zoom accepts, and status describes exactly that token.
    assert token_works(sim, data["access_token"])
    token_status = status["token"]
    assert isinstance(token_status, dict)
    assert token_status["issuedAt"] == data["issued_at"]
    assert token_status["expiresAt"] == data["expires_at"]
    # Mints stayed within the budget, and the operator's own count did not lose any to the kills.
    requests = token_requests(sim)
    mints = status["mints"]
    assert isinstance(mints, dict)
    print(f"token requests at Zoom: {requests}; status.mints: {json.dumps(mints)}")
    assert requests <= BUDGET
    assert mints["lastHour"] >= requests, "attempts made before a kill were forgotten"
    # Exactly one token Secret, owned by the ZoomApp; no orphans, no duplicates.
    owned = json.loads(
        cluster.kubectl("get", "secrets", "-l", "zoom-operator.io/zoomapp", "-o", "json").stdout
    )["items"]
    assert [s["metadata"]["name"] for s in owned] == [TOKEN_SECRET]
    uid = cluster.zoomapp(APP)["metadata"]["uid"]
    assert [(r["kind"], r["uid"]) for r in owned[0]["metadata"]["ownerReferences"]] == [("ZoomApp", uid)]
    # Never an older token written over a newer one, across all the kills.
    versions = history.versions()
    assert len([v for v in versions if v]) >= 3, "the Secret watch saw too little to judge"
    assert_issued_at_monotonic(versions)


def test_restart_does_not_serve_an_already_served_renew_request_again(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    """Regression: `status.token.renewRequestHandled` was pruned by the CRD schema, so every restart
    took an old renew-now annotation for a new request and minted (restart must cost nothing)."""
    first = start_operator()
    deploy(cluster, sim)
    cluster.wait_condition(APP, "Ready", "True")
    renew_now(cluster, "once")
    wait_for(lambda: tokens_issued(sim) == 2, timeout=30, what="the requested renewal")
    wait_for(
        lambda: (cluster.zoomapp(APP)["status"].get("token") or {}).get("renewRequestHandled") == "once",
        timeout=30,
        what="the handled request on status",
    )
    first.kill()

    second = start_operator()
    wait_for(lambda: _serving(second), timeout=30, what="the restarted operator serving the app")
    assert tokens_issued(sim) == 2
    assert cluster.condition(APP, "Ready")["status"] == "True"
