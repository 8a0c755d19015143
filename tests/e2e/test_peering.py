"""kopf peering end to end: two `zoom-operator run --peering` replicas of different priorities on one
namespace, a real kube-apiserver, the simulator as Zoom.

- The lower-priority replica stands by: kopf keeps it paused (its ZoomApp watch never starts), it
  serves no app and sends no token request, while the active replica renews.
- SIGKILL of the active replica: the standby takes over once the active's KopfPeering entry has
  expired (kopf's peering lifetime, shortened here to LIFETIME seconds) and keeps the token Secret
  valid without a burst of mints.
- Two replicas started a moment apart: kopf resumes the first one while it is alone in the
  KopfPeering and pauses it when the second one's keep-alive lands; never two token requests in
  flight and one token in all (the simulator holds token requests for a while to make an overlap
  visible): the API server's resourceVersion arbitrates the attempt, no settle wait is needed.

kopf's peering lifetime has no command-line option, so the replicas run `zoom-operator run` through a
`python -c` entry that adds one kopf startup handler setting `settings.peering.lifetime` (as
bench/operator_entry.py does); nothing else differs.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
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

pytestmark = pytest.mark.e2e

PEERING_CRDS = REPO_ROOT / "charts" / "zoom-operator" / "crds" / "kopf-peerings.yaml"
PEERING = "zoom-operator"
APP = "meetings-bot"
CREDS = "meetings-bot-zoom"
TOKEN_SECRET = f"{APP}-token"
CLIENT = "demo-client"
TTL = 30  # simulator tokens live this long ...
RENEW_BEFORE = 10  # ... and are renewed this early: one mint every TTL - RENEW_BEFORE - jitter (<= 1 s)
MINT_PERIOD = TTL - RENEW_BEFORE - 1
LIFETIME = 10  # kopf peering lifetime (s): a killed replica's entry expires this long after its keep-alive
ZOOMAPP_WATCH = "zoomapps.v1alpha1.zoom-operator.io"

ENTRY = f"""
import sys
import kopf
from zoom_operator import handlers  # noqa: F401 - the operator's handlers first

@kopf.on.startup()
async def short_peering_lifetime(settings, **_):
    settings.peering.lifetime = {LIFETIME}

from zoom_operator.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def peering(cluster: Cluster, control_plane: ControlPlane) -> Cluster:
    """The shared `cluster` plus kopf's peering CRDs and the KopfPeering object in the namespace."""
    control_plane.kubectl("apply", "--server-side", "-f", str(PEERING_CRDS))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=60s")
    # kopf only patches the peering object; without it a --peering replica stays paused forever.
    cluster.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}})
    return cluster


@pytest.fixture
def short_tokens(sim: SimulatorProcess) -> SimulatorProcess:
    sim.admin("PATCH", f"/_sim/apps/{CLIENT}", {"token_ttl_seconds": TTL})
    return sim


@pytest.fixture
def replicas(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, sim: SimulatorProcess
) -> Iterator[Callable[[int], OperatorProcess]]:
    """`replica(priority)` builds (not starts) `zoom-operator run --peering … --priority N -n NS -v`."""
    built: list[OperatorProcess] = []

    def replica(priority: int) -> OperatorProcess:
        proc = OperatorProcess(
            control_plane.kubeconfig,
            tmp_path / f"replica-{priority}.log",
            namespaces=[namespace],
            extra_args=["--peering", PEERING, "--priority", str(priority), "-v"],
            env={"KUBECONFIG": str(control_plane.kubeconfig)},  # `import kopf` comes before the CLI
            allow_endpoints=[sim.base_url],
        )
        assert proc.args[1:3] == ["-m", "zoom_operator.cli"]
        proc.args[1:3] = ["-c", ENTRY]
        built.append(proc)
        return proc

    yield replica
    for proc in built:
        if proc.process is not None:
            proc.stop()
    for proc in built:
        if proc.log_path.exists():
            print(f"--- {proc.log_path.name} (last lines) ---\n{_kopf_lines(proc)[-4000:]}")


def _deploy(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(
        [
            credentials_secret(CREDS, account_id="acc-demo", client_id=CLIENT, client_secret="demo-secret"),
            zoomapp(
                APP,
                credentials=CREDS,
                base_url=sim.base_url,
                renewBeforeSeconds=RENEW_BEFORE,
                mintBudgetPerHour=60,
            ),
        ]
    )


def _kopf_lines(proc: OperatorProcess) -> str:
    """The log without the HTTP-level debug chatter of -v."""
    noise = ("send_request", "receive_response", "response_closed", "connect_tcp", "close.")
    return "\n".join(line for line in proc.logs().splitlines() if not line.startswith(noise))


def _tokens_issued(sim: SimulatorProcess) -> int:
    return int(sim.stats()["tokens_issued"].get(CLIENT, 0))


def _most_in_flight(sim: SimulatorProcess) -> int:
    return int(sim.stats()["token_in_flight_max"].get(CLIENT, 0))


def _metric(proc: OperatorProcess, name: str) -> float | None:
    """The sum of a metric's samples (None while the metrics server is not up)."""
    text = proc.metrics()
    if not text:
        return None
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def _serves(proc: OperatorProcess) -> float | None:
    return _metric(proc, "zoom_operator_managed_apps")


def _mints(proc: OperatorProcess) -> float:
    return _metric(proc, "zoomapp_token_mints_total") or 0.0


def _token(cluster: Cluster) -> dict[str, str] | None:
    secret = cluster.get("secret", TOKEN_SECRET)
    if secret is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def _token_works(sim: SimulatorProcess, token: str) -> bool:
    answer = httpx.get(f"{sim.base_url}/v2/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    return answer.status_code == 200


def _running(proc: OperatorProcess) -> bool:
    return proc.process is not None and proc.process.poll() is None


def _peers(cluster: Cluster) -> dict[str, dict[str, Any]]:
    peering = cluster.get("kopfpeering", PEERING) or {}
    return dict(peering.get("status") or {})


def _paused_line(namespace: str) -> str:
    # kopf, for a replica that stays paused from its start (debug level, hence -v).
    return f"Pausing the watch-stream for {ZOOMAPP_WATCH} in '{namespace}' (blockers: {PEERING}@{namespace})"


def test_standby_stays_paused_then_takes_over_when_the_active_replica_is_killed(
    peering: Cluster,
    short_tokens: SimulatorProcess,
    replicas: Callable[[int], OperatorProcess],
    namespace: str,
) -> None:
    cluster, sim = peering, short_tokens
    _deploy(cluster, sim)
    active = replicas(2).start()
    cluster.wait_condition(APP, "Ready", "True", timeout=40)
    first_mint_at = time.monotonic()
    first = _token(cluster)
    assert first is not None
    assert _tokens_issued(sim) == 1

    standby = replicas(1).start()
    peers = wait_for(
        lambda: (p := _peers(cluster)) and sorted(v.get("priority") for v in p.values()) == [1, 2] and p,
        timeout=30,
        what="both replicas' keep-alives in the KopfPeering",
    )
    wait_for(lambda: _serves(standby) == 0, timeout=15, what="the standby's metrics (serving 0 apps)")
    wait_for(lambda: _paused_line(namespace) in standby.logs(), timeout=15, what="the standby paused by kopf")
    print(f"peers: {json.dumps(peers)}")

    # A renewal happens on the active replica; the standby sends nothing.
    renewed = wait_for(
        lambda: (t := _token(cluster)) and t["access_token"] != first["access_token"] and t,
        timeout=TTL + 10,
        what="the active replica's renewal",
    )
    time.sleep(2)  # a standby mint racing the active one would have shown by now
    assert _tokens_issued(sim) == 2, sim.stats()["tokens_issued"]
    assert _most_in_flight(sim) == 1
    assert _serves(active) == 1
    assert _mints(active) == 2
    assert _serves(standby) == 0
    assert _mints(standby) == 0
    standby_log = _kopf_lines(standby)
    assert "Resuming operations" not in standby_log
    assert "Daemon 'serve_zoomapp' is invoked" not in standby_log
    assert _running(active)
    assert _running(standby)

    # Kill -9: no goodbye in the KopfPeering; the standby waits for the entry to expire.
    resumes_before = standby.logs().count("Resuming operations")
    active.kill(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(
        lambda: standby.logs().count("Resuming operations") > resumes_before,
        timeout=LIFETIME + 15,
        what="the standby resuming after the active replica's entry expired",
    )
    resumed_after = time.monotonic() - killed_at
    wait_for(lambda: _serves(standby) == 1, timeout=15, what="the standby serving the app")
    serving_after = time.monotonic() - killed_at
    print(f"standby resumed {resumed_after:.1f}s and served {serving_after:.1f}s after the SIGKILL")
    assert resumed_after <= LIFETIME + 5  # the entry's lifetime, plus a keep-alive's jitter
    assert serving_after <= LIFETIME + 12

    # The token stayed valid across the takeover: the Secret holds the active's last token (or already
    # the standby's renewal of it), unexpired and accepted by Zoom.
    held = _token(cluster)
    assert held is not None
    assert datetime.fromisoformat(held["expires_at"].replace("Z", "+00:00")) > datetime.now(UTC)
    assert _token_works(sim, held["access_token"])

    # The standby, now active, renews in turn.
    standby_renewed = wait_for(
        lambda: (t := _token(cluster)) and t["access_token"] != renewed["access_token"] and t,
        timeout=TTL + 10,
        what="a renewal by the replica that took over",
    )
    assert _token_works(sim, standby_renewed["access_token"])
    time.sleep(2)
    elapsed = time.monotonic() - first_mint_at
    expected_mints = 1 + int(elapsed // MINT_PERIOD)
    issued = _tokens_issued(sim)
    print(f"{issued} tokens in {elapsed:.0f}s (one every {MINT_PERIOD}s: {expected_mints})")
    assert _mints(standby) >= 1
    assert issued <= expected_mints + 1
    assert _most_in_flight(sim) == 1
    assert (cluster.condition(APP, "Ready") or {}).get("status") == "True"


def test_replicas_started_together_never_mint_at_the_same_time(
    peering: Cluster,
    short_tokens: SimulatorProcess,
    replicas: Callable[[int], OperatorProcess],
    namespace: str,
) -> None:
    cluster, sim = peering, short_tokens
    """Two replicas started a moment apart (as a StatefulSet starts its pods): the first one up finds
    itself alone in the KopfPeering and kopf resumes it; a moment later the second one's keep-alive
    lands, and kopf pauses the first one again. Zoom holds every token request for a while, so a mint
    by the first replica in that moment would overlap the second one's."""
    _deploy(cluster, sim)
    low, high = replicas(1), replicas(2)
    low.start()
    wait_for(lambda: len(_peers(cluster)) == 1, timeout=30, what="the first replica's keep-alive")
    # Held for at most 6 s, shorter than the operator's 10 s deadline on a token request
    # (status_writer.MINT_DEADLINE), so the first replica's request, sent as it resumes, is answered:
    # the token it stores is taken by the second replica, which waits out the first one's attempt
    # instead of minting beside it. (Held for 10 s, the first replica sent its request as the fault was
    # posted when it served the app at once, and whether the answer beat its deadline was a coin flip:
    # a timed-out request's token is one the operator cannot know of, and is minted again.)
    sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "timeout", "seconds": 6})
    high.start()
    cluster.wait_condition(APP, "Ready", "True", timeout=60)
    wait_for(
        lambda: _serves(high) == 1 and _serves(low) == 0,
        timeout=20,
        what="the higher priority replica serving and the lower one not",
    )
    time.sleep(3)
    stats = sim.stats()
    print(f"tokens issued {stats['tokens_issued']}, most in flight {stats['token_in_flight_max']}")
    low_log = _kopf_lines(low)
    # kopf resumed the first replica while it was alone, then paused it for the higher priority one.
    assert "Resuming operations" in low_log
    assert "Pausing operations in favour of" in low_log
    assert _most_in_flight(sim) == 1
    assert _tokens_issued(sim) == 1
    # One of the two sent the one token request: the first replica may have recorded its attempt on the
    # ZoomApp's status before it was paused, and then the second one waited for that request instead of
    # sending its own (the API server arbitrates; see AppWorker._record_attempt).
    assert _mints(low) + _mints(high) == 1
    assert "kopf paused this replica (or it is exiting): stopped serving 1 ZoomApps" in low_log
    assert _running(low)
    assert _running(high)
