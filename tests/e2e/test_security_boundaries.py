"""A ZoomApp can use only what is its own: each finding of the security review, tried for real.

The attacker is a user who may create ZoomApps in a namespace but not read its Secrets. Their tools are
the ZoomApp spec (which Secret to read, which keys, which token Secret to write, which auditor to trust,
which endpoints to call) and an HTTP server of their own: `capture`, a local server that records every
request it gets and answers like Zoom would, so that a leak would also look like a working app.

Each test runs the operator as a real process against the real API server with the simulator as Zoom,
and asserts the intended behaviour: the victim keeps working, the attacker's ZoomApp says what is
wrong, and no victim secret, token or unrelated Secret value ever reaches the capture server. Where a
test puts the capture server on the operator's allowlist, it does so to show that the other layer
(ownership of the token Secret, the credentials label, the auditor rules) holds on its own.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from control_plane import ControlPlane

from tests.support.operator import (
    Cluster,
    OperatorProcess,
    credentials_secret,
    wait_for,
    zoomapp,
)
from tests.support.simulator import SimulatorProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

VICTIM, VICTIM_CREDS, VICTIM_TOKEN = "victim-bot", "victim-zoom", "victim-bot-token"
DB_PASSWORD = "db-password-value-8f3a2c"  # an unrelated Secret's value
ATTACKER_CREDS = "attacker-zoom"
FORGED_TOKEN = "forged-token-from-the-attacker-0000"


@dataclass
class Capture:
    """The attacker's endpoint: records everything, answers like Zoom."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        return json.dumps(self.requests)

    def decoded_text(self) -> str:
        """The requests with every Basic auth header decoded, so a value sent as a password shows."""
        parts = [self.text()]
        for request in self.requests:
            auth = request["headers"].get("Authorization", "")
            if auth.startswith("Basic "):
                parts.append(base64.b64decode(auth[6:] + "==").decode(errors="replace"))
        return "\n".join(parts)


@pytest.fixture
def capture() -> Iterator[Capture]:
    seen: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode(errors="replace") if length else ""
            seen.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )

        def _json(self, document: dict[str, Any]) -> None:
            payload = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            self._record()
            self._json({"access_token": FORGED_TOKEN, "token_type": "bearer", "expires_in": 3599,
                        "scope": "user:read:admin", "api_url": "http://127.0.0.1:1"})  # fmt: skip

        def do_GET(self) -> None:
            self._record()
            self._json({"id": "u-owner", "email": "dev-lead@example.com", "status": "active", "role_id": "r"})

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Capture(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()


def _victim(cluster: Cluster, sim: SimulatorProcess) -> dict[str, str]:
    """The victim team's app, Ready on its own token; returns its token Secret's data."""
    cluster.apply(
        [
            credentials_secret(
                VICTIM_CREDS, account_id="acc-demo", client_id="demo-client", client_secret="demo-secret"
            ),
            zoomapp(VICTIM, credentials=VICTIM_CREDS, base_url=sim.base_url),
        ]
    )
    cluster.wait_condition(VICTIM, "Ready", "True", reason="TokenVerified")
    data = cluster.secret_data(VICTIM_TOKEN)
    assert data is not None
    return data


def _attacker_credentials(cluster: Cluster) -> None:
    """The attacker's own credentials Secret, labelled (they may create Secrets, not read others')."""
    cluster.apply(
        credentials_secret(
            ATTACKER_CREDS, account_id="acc-demo", client_id="auditor-client", client_secret="auditor-secret"
        )
    )


def _unrelated_secret(cluster: Cluster, name: str = "db-password") -> dict[str, Any]:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "stringData": {"password": DB_PASSWORD},
        }
    )
    secret = cluster.get("secret", name)
    assert secret is not None
    return secret


def _attacker_app(name: str, url: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("credentialsSecretRef", {"name": ATTACKER_CREDS})
    app = zoomapp(name, credentials=ATTACKER_CREDS, base_url=url)
    app["spec"].update(spec)
    return app


def _no_leak(capture: Capture, *values: str) -> None:
    text = capture.decoded_text()
    leaked = [v[:6] + "…" for v in values if v and v in text]
    assert not leaked, f"values reached the attacker's endpoint: {leaked}"


def _status_text(cluster: Cluster, name: str) -> str:
    return json.dumps(cluster.zoomapp(name).get("status") or {})


def _unchanged(cluster: Cluster, name: str, before: dict[str, Any]) -> None:
    after = cluster.get("secret", name)
    assert after is not None
    assert after["data"] == before["data"], f"Secret {name}'s data was changed"
    assert after["metadata"].get("ownerReferences") == before["metadata"].get("ownerReferences")
    assert after["metadata"].get("labels") == before["metadata"].get("labels"), "its labels were changed"


# --- 1. Reading and sending any Secret -------------------------------------------------------------


def test_an_unlabelled_secret_is_never_read_as_credentials_nor_labelled(
    cluster: Cluster,
    sim: SimulatorProcess,
    capture: Capture,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    """Finding 1: `credentialsSecretRef` naming `db-password` with every key set to `password`."""
    before = _unrelated_secret(cluster)
    start_operator(allow=[sim.base_url, capture.url])  # even an allowed endpoint gets nothing
    keys = {
        "name": "db-password",
        "accountIdKey": "password",
        "clientIdKey": "password",
        "clientSecretKey": "password",
    }
    cluster.apply(_attacker_app("reader", capture.url, credentialsSecretRef=keys))
    ready = cluster.wait_condition("reader", "Ready", "False", reason="CredentialsSecretInvalid")
    assert (
        f"kubectl label secret -n {cluster.namespace} db-password zoom-operator.io/credentials=true"
        in ready["message"]
    )
    time.sleep(3)  # give a wrong implementation time to send something
    assert capture.requests == []
    assert DB_PASSWORD not in _status_text(cluster, "reader")
    _unchanged(cluster, "db-password", before)


def test_another_teams_credentials_with_swapped_keys_never_reach_an_endpoint_off_the_allowlist(
    cluster: Cluster,
    sim: SimulatorProcess,
    capture: Capture,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    """Finding 1, second route: the victim's labelled Secret, client ID and secret keys swapped, and the
    attacker's URL as the token endpoint. The allowlist holds Zoom (here: the simulator) only."""
    start_operator()  # the test's simulator is the only allowed endpoint
    _victim(cluster, sim)
    before = cluster.get("secret", VICTIM_CREDS)
    assert before is not None
    swapped = {"name": VICTIM_CREDS, "clientIdKey": "client_secret", "clientSecretKey": "client_id"}
    cluster.apply(_attacker_app("swapper", capture.url, credentialsSecretRef=swapped))
    ready = cluster.wait_condition("swapper", "Ready", "False", reason="InvalidSpec")
    assert "not on the operator's endpoint allowlist" in ready["message"]
    # Pointed at the allowed Zoom instead, the swapped values would go to Zoom only, and status shows
    # no value read from the Secret: fingerprints only.
    cluster.apply(_attacker_app("swapper-2", sim.base_url, credentialsSecretRef=swapped))
    cluster.wait_condition("swapper-2", "Ready", "False", reason="ClientCredentialsRejected", timeout=60)
    for name in ("swapper", "swapper-2", VICTIM):
        text = _status_text(cluster, name)
        assert "demo-secret" not in text
        assert '"demo-client"' not in text, "the client ID appears as a fingerprint only"
    time.sleep(2)
    assert capture.requests == []
    _unchanged(cluster, VICTIM_CREDS, before)
    cluster.wait_condition(VICTIM, "Ready", "True", reason="TokenVerified")


# --- 2. Stealing another app's token through auditorRef --------------------------------------------


def test_an_auditor_decoy_naming_the_victims_token_secret_gets_nothing(
    cluster: Cluster,
    sim: SimulatorProcess,
    capture: Capture,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    start_operator(
        allow=[sim.base_url, capture.url]
    )  # the decoy's endpoints are allowed: ownership must hold
    victim = _victim(cluster, sim)
    victim_token = victim["access_token"]
    _attacker_credentials(cluster)
    cluster.apply(_attacker_app("decoy", capture.url, tokenSecret={"name": VICTIM_TOKEN}))
    cluster.wait_condition("decoy", "Ready", "False", reason="TokenSecretConflict")
    cluster.apply(_attacker_app("thief", sim.base_url, auditorRef={"name": "decoy"}))
    owner = wait_for(
        lambda: (
            (c := cluster.condition("thief", "OwnerRoleChangeRequired"))
            and "auditor was not used" in c["message"]
            and c
        ),
        timeout=60,
        what="the thief's status to say the auditor was skipped",
    )
    assert "decoy" in owner["message"]
    time.sleep(3)
    _no_leak(capture, victim_token, "demo-secret")
    assert not [r for r in capture.requests if "Bearer" in r["headers"].get("Authorization", "")]
    assert cluster.secret_data(VICTIM_TOKEN) == victim, "the victim's Secret was not touched"
    cluster.wait_condition(VICTIM, "Ready", "True", reason="TokenVerified")


# --- 3. Hijacking another app's token Secret -------------------------------------------------------


def test_a_zoomapp_naming_the_victims_token_secret_can_neither_adopt_probe_nor_overwrite_it(
    cluster: Cluster,
    sim: SimulatorProcess,
    capture: Capture,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    start_operator(allow=[sim.base_url, capture.url])
    victim_data = _victim(cluster, sim)
    before = cluster.get("secret", VICTIM_TOKEN)
    assert before is not None
    _attacker_credentials(cluster)
    cluster.apply(_attacker_app("hijacker", capture.url, tokenSecret={"name": VICTIM_TOKEN}))
    ready = cluster.wait_condition("hijacker", "Ready", "False", reason="TokenSecretConflict")
    assert f"token Secret of ZoomApp {VICTIM}" in ready["message"]
    # renew-now spam on the hijacker: each would have written a forged token into the victim's Secret
    samples = []
    for i in range(8):
        cluster.kubectl("annotate", "--overwrite", "zapp", "hijacker", f"zoom-operator.io/renew-now=spam-{i}")
        time.sleep(0.5)
        samples.append(cluster.get("secret", VICTIM_TOKEN))
    assert all(
        s is not None and s["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        for s in samples
    )
    _unchanged(cluster, VICTIM_TOKEN, before)
    assert capture.requests == [], "nothing minted or probed for the hijacker"
    _no_leak(capture, victim_data["access_token"])
    cluster.wait_condition(VICTIM, "Ready", "True", reason="TokenVerified")


# --- 4. Overwriting any Secret ---------------------------------------------------------------------


@pytest.mark.parametrize("target", ["db-password", VICTIM_CREDS])
def test_a_token_secret_name_that_is_someone_elses_secret_is_never_overwritten(
    target: str,
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    start_operator()
    _victim(cluster, sim)
    _unrelated_secret(cluster)
    before = cluster.get("secret", target)
    assert before is not None
    _attacker_credentials(cluster)
    cluster.apply(_attacker_app("overwriter", sim.base_url, tokenSecret={"name": target}))
    ready = cluster.wait_condition("overwriter", "Ready", "False", reason="TokenSecretConflict")
    assert f"Secret {cluster.namespace}/{target} (spec.tokenSecret.name)" in ready["message"]
    time.sleep(2)
    _unchanged(cluster, target, before)
    assert int(sim.stats()["tokens_issued"].get("auditor-client", 0)) == 0, "nothing minted for it"


# --- 5. Two ZoomApps with the same tokenSecret.name ------------------------------------------------


def test_the_second_zoomapp_naming_an_owned_token_secret_gets_a_conflict_not_the_first_apps_token(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    first = _victim(cluster, sim)
    _attacker_credentials(cluster)
    cluster.apply(_attacker_app("second", sim.base_url, tokenSecret={"name": VICTIM_TOKEN}))
    cluster.wait_condition("second", "Ready", "False", reason="TokenSecretConflict")
    assert cluster.condition(VICTIM, "Ready")["status"] == "True"  # type: ignore[index]
    assert cluster.secret_data(VICTIM_TOKEN) == first


# --- 6. Blocking another team across namespaces ----------------------------------------------------


@pytest.fixture
def other_namespace(control_plane: ControlPlane, namespace: str) -> Cluster:
    name = f"squatters-{namespace[-6:]}"  # no name shares a prefix with the victim's namespace
    control_plane.create_namespace(name)
    return Cluster(control_plane.kubectl, name)


def test_a_squatter_with_the_victims_public_client_id_blocks_nobody_and_names_no_namespace(
    control_plane: ControlPlane,
    cluster: Cluster,
    other_namespace: Cluster,
    sim: SimulatorProcess,
    tmp_path: Any,
) -> None:
    squatter = other_namespace
    squatter.apply(
        [
            credentials_secret(
                "squat-zoom", account_id="acc-demo", client_id="demo-client", client_secret="wrong"
            ),
            zoomapp("squatter", credentials="squat-zoom", base_url=sim.base_url),
        ]
    )
    with OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "operator.log",
        namespaces=[cluster.namespace, squatter.namespace],
        allow_endpoints=[sim.base_url],
    ) as operator:
        squatter.wait_condition("squatter", "Ready", "False", timeout=60)
        _victim(cluster, sim)
        victim_ready = cluster.condition(VICTIM, "Ready")
        assert victim_ready is not None
        assert squatter.namespace not in victim_ready["message"]
        assert squatter.namespace not in _status_text(cluster, VICTIM)

        def squatter_settled() -> dict[str, Any] | None:
            c = squatter.condition("squatter", "Ready")
            return c if c and c["reason"] in ("DuplicateClientId", "ClientCredentialsRejected") else None

        squat = wait_for(squatter_settled, timeout=60, what="the squatter's verdict")
        assert cluster.namespace not in squat["message"]
        assert cluster.namespace not in _status_text(squatter, "squatter")
        assert VICTIM not in _status_text(squatter, "squatter")
        assert cluster.namespace not in json.dumps(squatter.events("squatter"))
        assert operator.process is not None


# --- 7. Misleading states --------------------------------------------------------------------------


def test_renaming_the_token_secret_writes_the_new_one_at_once_and_marks_the_old_one(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    token = _victim(cluster, sim)
    issued = int(sim.stats()["tokens_issued"]["demo-client"])
    cluster.kubectl(
        "patch",
        "zapp",
        VICTIM,
        "--type=merge",
        "-p",
        '{"spec": {"tokenSecret": {"name": "victim-token-v2"}}}',
    )
    moved = wait_for(lambda: cluster.secret_data("victim-token-v2"), timeout=20, what="the new token Secret")
    assert moved["access_token"] == token["access_token"], "the current token, not a new one"
    assert int(sim.stats()["tokens_issued"]["demo-client"]) == issued, "no mint for a rename"
    old = cluster.get("secret", VICTIM_TOKEN)
    assert old is not None
    assert "zoom-operator.io/no-longer-maintained" in old["metadata"]["annotations"]
    warning = wait_for(
        lambda: [e for e in cluster.events(VICTIM) if e.get("reason") == "TokenSecretRenamed"],
        timeout=20,
        what="the TokenSecretRenamed Event",
    )
    assert warning[0]["type"] == "Warning"
    assert "victim-token-v2" in warning[0]["message"]
    ready = cluster.wait_condition(VICTIM, "Ready", "True", reason="TokenVerified")
    assert "victim-token-v2" in ready["message"]
    assert cluster.zoomapp(VICTIM)["status"]["token"]["secretName"] == "victim-token-v2"


@pytest.mark.parametrize(
    "url",
    ["https://zoom.us/?next=x", "https://user:pass@zoom.us", "https://zoom.us:99999", "https://zoom.us#f"],
)
def test_an_endpoint_the_client_would_reject_is_refused_by_the_api_server(cluster: Cluster, url: str) -> None:
    result = cluster.apply(zoomapp("bad-url", credentials=VICTIM_CREDS, base_url=url), check=False)
    assert result.returncode != 0
    assert "spec.endpoints.oauthUrl" in result.stderr


@pytest.mark.parametrize("path", ["/oauth/token", "/v1/users/me", "/"])
def test_a_probe_path_outside_the_zoom_api_is_refused_by_the_api_server(cluster: Cluster, path: str) -> None:
    app = zoomapp("bad-probe", credentials=VICTIM_CREDS, base_url="https://zoom.us", probe={"path": path})
    result = cluster.apply(app, check=False)
    assert result.returncode != 0
    assert "spec.probe.path" in result.stderr


def test_status_and_secret_edited_while_the_operator_was_down_are_not_trusted(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    operator = start_operator()
    token = _victim(cluster, sim)
    exp = json.loads(base64.urlsafe_b64decode(token["access_token"].split(".")[1] + "==="))["exp"]
    operator.stop()

    fingerprint = cluster.zoomapp(VICTIM)["status"]["credentials"]["fingerprint"]
    future = "2099-01-01T00:00:00Z"
    rejected = {
        "fingerprint": fingerprint,
        "count": 9,
        "error": "invalid_client",
        "reason": "x",
        "at": future,
    }
    edited = {
        "status": {
            "mints": {"total": 1, "lastHour": 99, "recentAttempts": [future] * 20, "lastAt": future},
            "credentials": {"fingerprint": fingerprint, "rejected": rejected},
            "lastProbe": {"at": future, "httpStatus": 401, "zoomCode": 124, "message": "edited"},
            "consecutiveUnauthorized": 50,
        }
    }
    cluster.kubectl("patch", "zapp", VICTIM, "--subresource=status", "--type=merge", "-p", json.dumps(edited))
    later = base64.b64encode(b"2099-01-01T00:00:00Z").decode()
    cluster.kubectl(
        "patch", "secret", VICTIM_TOKEN, "--type=merge", "-p", json.dumps({"data": {"expires_at": later}})
    )

    start_operator()
    # the restarted operator probes at once: the edited probe from 2099 is no evidence
    wait_for(
        lambda: not cluster.zoomapp(VICTIM)["status"]["lastProbe"]["at"].startswith("2099"),
        timeout=60,
        what="a real probe after the restart",
    )
    ready = cluster.wait_condition(VICTIM, "Ready", "True", reason="TokenVerified", timeout=60)
    status = cluster.zoomapp(VICTIM)["status"]
    expires_at = datetime.fromisoformat(status["token"]["expiresAt"].replace("Z", "+00:00"))
    assert abs(expires_at.timestamp() - exp) <= 2, "the token's own exp claim, not the edited 2099"
    assert "2099" not in json.dumps(status["mints"])
    for flag in ("SecretRotationRequired", "OwnerRoleChangeRequired"):
        assert cluster.condition(VICTIM, flag)["status"] != "True"  # type: ignore[index]
    assert "2099" not in ready["message"]
    # and renewal still works: the edited attempts do not stall the budget
    before = int(sim.stats()["tokens_issued"]["demo-client"])
    cluster.kubectl("annotate", "--overwrite", "zapp", VICTIM, "zoom-operator.io/renew-now=after-edit")
    wait_for(lambda: int(sim.stats()["tokens_issued"]["demo-client"]) > before, timeout=30, what="a renewal")


def test_a_bare_404_on_the_probe_path_is_not_an_accepted_token(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    sim.admin(
        "POST",
        "/_sim/faults",
        {"target": "api", "kind": "status", "status": 404, "body": "Not Found", "seconds": 120},
    )
    creds = credentials_secret(
        VICTIM_CREDS, account_id="acc-demo", client_id="demo-client", client_secret="demo-secret"
    )
    probe = {"path": "/v2/nothing-here"}
    cluster.apply([creds, zoomapp(VICTIM, credentials=VICTIM_CREDS, base_url=sim.base_url, probe=probe)])
    wait_for(lambda: cluster.zoomapp(VICTIM).get("status", {}).get("lastProbe"), timeout=60, what="a probe")
    time.sleep(2)
    ready = cluster.condition(VICTIM, "Ready")
    assert ready is not None
    assert ready["status"] != "True", ready
    assert cluster.condition(VICTIM, "OwnerRoleChangeRequired")["status"] != "True"  # type: ignore[index]
