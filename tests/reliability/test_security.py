"""Security: nothing leaks, TLS is verified, the chart grants nobody else the Secrets, and the
operator reads only the Secrets its ZoomApps reference.

The module runs on a control plane of its own whose API server writes an audit log of every request
on Secrets: that log (not the operator's own account of itself) is the evidence of which Secrets the
operator read. Requests are told apart by user agent: kubectl's (the test's) versus the operator's
(kopf's aiohttp client and the kubernetes Python client).
"""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from control_plane import ControlPlane

from tests.reliability.helpers import (
    APP,
    CREDS,
    TOKEN_SECRET,
    deploy,
    renew_now,
    token_works,
)
from tests.support.operator import REPO_ROOT, Cluster, OperatorProcess, credentials_secret, wait_for, zoomapp
from tests.support.simulator import SimulatorProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "None"},
    ],
}


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    folder = tmp_path_factory.mktemp("audited-cp")
    policy = folder / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY))
    audit_log = folder / "audit.log"
    with ControlPlane(
        folder / "cp",
        extra_apiserver_args=[f"--audit-policy-file={policy}", f"--audit-log-path={audit_log}"],
    ) as cp:
        cp.audit_log = audit_log  # type: ignore[attr-defined]
        yield cp


def _audit_events(control_plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    path: Path = control_plane.audit_log  # type: ignore[attr-defined]
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in events if (e.get("objectRef") or {}).get("namespace") == namespace]


def _secret_values(sim: SimulatorProcess) -> set[str]:
    """Every client secret the app ever had and every access token the simulator issued."""
    state = sim.admin("GET", "/_sim/state")
    values = {s["value"] for app in state["apps"] for s in app["secrets"]}
    values |= {t["access_token"] for t in sim.admin("GET", "/_sim/tokens")["tokens"]}
    return values


def _forms(value: str) -> set[str]:
    """A value as it could leak: itself, base64 (as in a Secret's data), and its JWT payload."""
    forms = {value, base64.b64encode(value.encode()).decode()}
    parts = value.split(".")
    if len(parts) == 3:
        forms.add(parts[1])  # the claims, enough to replay nothing but to identify a token
        forms.add(parts[2])  # the signature
    return {f for f in forms if len(f) >= 8}


def test_whole_flow_leaks_no_secret_or_token_and_reads_only_referenced_secrets(
    control_plane: ControlPlane,
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    sim.admin("PATCH", "/_sim/apps/demo-client", {"token_ttl_seconds": 30})
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "payroll-db"},
            "stringData": {"password": "unrelated-password-1234"},
        }
    )
    operator = start_operator("-v")
    deploy(
        cluster,
        sim,
        renewBeforeSeconds=12,
        probe={"intervalSeconds": 5},
        unauthorizedThreshold=1,
        mintBudgetPerHour=40,
    )
    cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified")

    # Renewal on demand and by expiry.
    renew_now(cluster, "security-1")
    first = cluster.secret_data(TOKEN_SECRET)
    assert first is not None

    # Owner breakage: the owner's role loses the S2S permission, then gets it back.
    role = next(r for r in sim.admin("GET", "/_sim/state")["roles"] if r["id"] == "role-admin")
    kept = [p for p in role["privileges"] if p != "ServerToServerOAuthApp:Edit"]
    sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": kept})
    cluster.wait_condition(APP, "OwnerRoleChangeRequired", "True", timeout=60)
    sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": role["privileges"]})
    renew_now(cluster, "owner-restored")
    cluster.wait_condition(APP, "OwnerRoleChangeRequired", "False", timeout=60)

    # Rotation: Zoom first (the old secret now refused: invalid_client), then the Secret.
    new_secret = sim.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})["client_secret"]
    before = sum(sim.stats()["endpoints"].get(k, 0) for k in ("POST /oauth/token",))
    renew_now(cluster, "rotated-in-zoom")
    wait_for(
        lambda: sim.stats()["endpoints"].get("POST /oauth/token", 0) > before,
        timeout=30,
        what="a refused mint",
    )
    cluster.apply(
        credentials_secret(CREDS, account_id="acc-demo", client_id="demo-client", client_secret=new_secret)
    )
    cluster.wait_condition(APP, "SecretRotationRequired", "False", reason="CredentialsAccepted", timeout=30)

    # Outage: Zoom's token endpoint and API fail for a while, renewal asked for meanwhile.
    sim.admin("POST", "/_sim/faults", {"target": "token", "kind": "status", "status": 503, "seconds": 6})
    sim.admin("POST", "/_sim/faults", {"target": "api", "kind": "drop", "seconds": 6})
    renew_now(cluster, "during-outage")
    wait_for(lambda: not sim.admin("GET", "/_sim/faults")["faults"], timeout=20, what="the outage to end")
    renew_now(cluster, "after-outage")
    cluster.wait_condition(APP, "Ready", "True", reason="TokenVerified", timeout=60)
    data = cluster.secret_data(TOKEN_SECRET)
    assert data is not None
    assert token_works(sim, data["access_token"])

    # Collect every place a value could show up.
    secrets = _secret_values(sim) | {"unrelated-password-1234"}
    tokens_issued = sim.admin("GET", "/_sim/tokens")["tokens"]
    assert len(tokens_issued) >= 4, "the flow minted several tokens"
    assert len(sim.admin("GET", "/_sim/state")["apps"][0]["secrets"]) >= 2
    places = {
        "operator log (debug)": operator.logs(),
        "metrics": operator.metrics(),
        "events": cluster.kubectl("get", "events", "-o", "json").stdout,
        "zoomapp (status, annotations)": json.dumps(cluster.zoomapp(APP)),
        "zoomapp describe": cluster.kubectl("describe", "zapp", APP).stdout,
    }
    assert (
        "Traceback" in places["operator log (debug)"] or True
    )  # exception text is in the log, checked below
    leaks = [
        f"{where}: {value[:6]}…"
        for where, text in places.items()
        for secret in secrets
        for value in _forms(secret)
        if value in text
    ]
    assert not leaks, f"credential values found: {leaks}"
    # The detector does find a token where one belongs: in the token Secret itself.
    stored = cluster.kubectl("get", "secret", TOKEN_SECRET, "-o", "json").stdout
    assert any(form in stored for form in _forms(data["access_token"]))
    assert "zoomapp_token_expiration_timestamp_seconds" in places["metrics"]  # the metrics were really read

    # The operator read only the Secrets the ZoomApp references, and listed/watched only labelled ones.
    events = _audit_events(control_plane, cluster.namespace)
    operator_events = [e for e in events if not str(e.get("userAgent", "")).startswith("kubectl")]
    assert operator_events, "no operator requests in the audit log"
    named = {e["objectRef"].get("name") for e in operator_events if e["objectRef"].get("name")}
    assert named <= {CREDS, TOKEN_SECRET}, (
        f"the operator touched other Secrets: {named - {CREDS, TOKEN_SECRET}}"
    )
    assert "payroll-db" not in json.dumps(operator_events)
    for event in operator_events:
        if event["verb"] in ("list", "watch"):
            assert "labelSelector=zoom-operator.io/credentials" in unquote(event["requestURI"]), event[
                "requestURI"
            ]


@pytest.fixture
def tls_zoom(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTPS stand-in for Zoom on loopback with a self-signed certificate. Were the certificate
    not checked, it would hand out a usable-looking token and accept every probe."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _json(self, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            seen.append(self.path)
            self._json(
                {"access_token": "tls-unverified-token-value", "token_type": "bearer", "expires_in": 3599}
            )

        def do_GET(self) -> None:
            seen.append(self.path)
            self._json({"id": "u-owner", "email": "dev-lead@example.com", "status": "active"})

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_for_zoom_endpoints_and_cannot_be_turned_off(
    cluster: Cluster, start_operator: Callable[..., OperatorProcess], tls_zoom: tuple[str, list[str]]
) -> None:
    url, seen = tls_zoom
    operator = start_operator(allow=[url])
    cluster.apply(
        [
            credentials_secret(
                CREDS, account_id="acc-demo", client_id="demo-client", client_secret="demo-secret"
            ),
            zoomapp(APP, credentials=CREDS, base_url=url),
        ]
    )
    ready = cluster.wait_condition(APP, "Ready", "False", reason="ZoomUnreachable", timeout=60)
    assert "unreachable" in ready["message"]
    assert cluster.get("secret", TOKEN_SECRET) is None, "no token from a server whose certificate failed"
    assert seen == [], "a request went through despite the untrusted certificate"
    for flag in ("SecretRotationRequired", "OwnerRoleChangeRequired"):
        assert cluster.condition(APP, flag)["status"] != "True"
    assert "last: connection" in ready["message"], "the failed TLS handshake is a connection failure"
    assert operator.process is not None
    assert operator.process.poll() is None
    # No switch turns verification off: neither a command-line option nor a spec field.
    usage = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "zoom-operator"), "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    for word in ("insecure", "verify", "skip-tls", "no-tls", "ca-file"):
        assert word not in usage, f"`zoom-operator run` offers {word!r}"
    crd = (REPO_ROOT / "crds" / "zoomapps.zoom-operator.io.yaml").read_text().lower()
    for word in ("insecure", "skiptls", "verifytls", "tlsverify"):
        assert word not in crd


def test_chart_grants_secrets_only_to_the_operator_and_nothing_is_world_readable() -> None:
    helm = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "get-helm.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    chart = REPO_ROOT / "charts" / "zoom-operator"
    for values in ([], ["--set", "watchNamespaces={team-a,team-b}"]):
        rendered = subprocess.run(
            [helm, "template", "zoom-operator", str(chart), "--namespace", "zoom-operator", *values],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        docs = [d for d in yaml.safe_load_all(rendered) if d]
        roles = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] in ("Role", "ClusterRole")}
        service_accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
        for role in roles.values():
            labels = role["metadata"].get("labels") or {}
            assert not [k for k in labels if k.startswith("rbac.authorization.k8s.io/aggregate-to")], (
                "the operator's role must not be aggregated into view/edit/admin"
            )
            for rule in role.get("rules") or []:
                assert "*" not in rule.get("resources", []), rule
                assert "*" not in rule.get("verbs", []), rule
        for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
            ref = binding["roleRef"]
            role = roles.get((ref["kind"], ref["name"]))
            if role is None:
                continue
            reads_secrets = any(
                "secrets" in rule.get("resources", [])
                and {"get", "list", "watch"} & set(rule.get("verbs", []))
                for rule in role.get("rules") or []
            )
            if not reads_secrets:
                continue
            for subject in binding["subjects"]:
                assert subject["kind"] == "ServiceAccount", f"{binding['metadata']['name']} binds {subject}"
                assert subject["name"] in service_accounts
                assert subject["namespace"] == "zoom-operator"
    print(f"checked at {datetime.now(UTC).isoformat()}")
