"""`make demo`: the incident zoom-operator exists for, replayed on a real local control plane.

Starts kube-apiserver, etcd and kube-controller-manager (tools/control-plane), the Zoom simulator and
the operator; applies a ZoomApp; then breaks and repairs the app the way real Zoom accounts break,
printing what a platform engineer would see with kubectl at each step. Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "control-plane"))

from control_plane import ControlPlane  # noqa: E402

NAMESPACE = "demo"
APP = "meetings-bot"
CREDS = "meetings-bot-zoom"
S2S_PRIVILEGE = "ServerToServerOAuthApp:Edit"


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def show(text: str) -> None:
    print(textwrap.indent(text.rstrip(), "    "), flush=True)


class Simulator:
    def __init__(self, log: Path) -> None:
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zoom_operator.cli", "simulator", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().decode().strip()
        if not self.url.startswith("http"):
            raise SystemExit(f"the simulator did not start; see {log}")

    def admin(self, method: str, path: str, body: object | None = None) -> Any:
        response = httpx.request(method, self.url + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def stop(self) -> None:
        _stop(self.process)
        self._log.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 90) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"demo failed: timed out after {timeout:.0f}s waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep", action="store_true", help="leave everything running at the end (Ctrl-C stops)"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="zoom-operator-demo-"))
    say(
        "Starting a local Kubernetes control plane (kube-apiserver, etcd, kube-controller-manager; "
        "the first run builds them)"
    )
    with ControlPlane(workdir / "cluster") as cp:

        def kubectl(*argv: str, stdin: str | None = None) -> str:
            return cp.kubectl("-n", NAMESPACE, *argv, input=stdin).stdout

        def condition(kind: str) -> dict[str, Any]:
            app = json.loads(kubectl("get", "zapp", APP, "-o", "json"))
            for cond in (app.get("status") or {}).get("conditions") or []:
                if cond["type"] == kind:
                    return dict(cond)
            return {}

        def wait_condition(kind: str, status: str, reason: str | None = None) -> float:
            def ok() -> bool:
                cond = condition(kind)
                return cond.get("status") == status and (reason is None or cond.get("reason") == reason)

            return wait_for(ok, f"{kind}={status} {reason or ''}")

        show(f"API server {cp.server}; kubeconfig {cp.kubeconfig}")
        sim = Simulator(workdir / "simulator.log")
        operator: subprocess.Popen[bytes] | None = None
        try:
            say(f"Zoom simulator on {sim.url} (owner dev-lead@example.com, role Admin, app demo-client)")
            cp.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "zoomapps.zoom-operator.io.yaml"))
            cp.kubectl("wait", "--for=condition=Established", "crd/zoomapps.zoom-operator.io")
            cp.create_namespace(NAMESPACE)

            say(f"Starting the operator: zoom-operator run -n demo --allow-endpoint {sim.url}")
            operator_log = (workdir / "operator.log").open("wb")
            operator = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "zoom_operator.cli",
                    "run",
                    "--standalone",
                    "-n",
                    NAMESPACE,
                    "--kubeconfig",
                    str(cp.kubeconfig),
                    "--metrics-port",
                    "0",
                    # the operator talks only to Zoom's hosts unless told otherwise: allow the simulator
                    "--allow-endpoint",
                    sim.url,
                ],
                stdout=operator_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

            manifest = [
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    # labelled by its writer: the operator reads no credentials Secret without it
                    "metadata": {"name": CREDS, "labels": {"zoom-operator.io/credentials": "true"}},
                    "stringData": {
                        "account_id": "acc-demo",
                        "client_id": "demo-client",
                        "client_secret": "demo-secret",
                    },
                },
                {
                    "apiVersion": "zoom-operator.io/v1alpha1",
                    "kind": "ZoomApp",
                    "metadata": {"name": APP},
                    "spec": {
                        "credentialsSecretRef": {"name": CREDS},
                        "expectedOwner": {"email": "dev-lead@example.com"},
                        "requiredScopes": ["meeting:write:admin", "user:read:admin"],
                        "probe": {"intervalSeconds": 10},
                        "endpoints": {"oauthUrl": sim.url, "apiUrl": sim.url},
                    },
                },
            ]
            say("kubectl apply -f meetings-bot.yaml  (credentials Secret + ZoomApp)")
            show(yaml.safe_dump_all(manifest[1:], sort_keys=False))
            kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifest))
            took = wait_condition("Ready", "True", "TokenVerified")
            say(
                f"Ready after {took:.1f}s: token in Secret {APP}-token, proven against Zoom"
            )
            show(kubectl("get", "zapp", "-o", "wide"))
            show(kubectl("get", "secret", f"{APP}-token"))

            say("The incident: an account admin removes 'Server-to-Server OAuth app' from the owner's role")
            role = next(r for r in sim.admin("GET", "/_sim/state")["roles"] if r["id"] == "role-admin")
            sim.admin(
                "PATCH",
                "/_sim/roles/role-admin",
                {"privileges": [p for p in role["privileges"] if p != S2S_PRIVILEGE]},
            )
            show(
                "Zoom still mints tokens, but answers 401 {code 124} to every call, even with a fresh token."
            )
            took = wait_condition("OwnerRoleChangeRequired", "True")
            say(f"Flagged after {took:.1f}s (the probe runs every 10s; three fresh tokens were tried):")
            show(kubectl("get", "zapp", "-o", "wide"))
            show("OwnerRoleChangeRequired: " + condition("OwnerRoleChangeRequired").get("message", ""))

            say("The admin restores the permission on the role")
            sim.admin("PATCH", "/_sim/roles/role-admin", {"privileges": role["privileges"]})
            took = wait_condition("OwnerRoleChangeRequired", "False")
            wait_condition("Ready", "True")
            say(f"Cleared after {took:.1f}s:")
            show(kubectl("get", "zapp"))

            say("Someone rotates the client secret in the Zoom Marketplace, but not in the cluster")
            new_secret = sim.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})[
                "client_secret"
            ]
            show(
                "The next renewal would fail; ask for one now: kubectl annotate zapp meetings-bot "
                "zoom-operator.io/renew-now=$(date +%s)"
            )
            kubectl("annotate", "--overwrite", "zapp", APP, f"zoom-operator.io/renew-now={int(time.time())}")
            took = wait_condition("SecretRotationRequired", "True", "ClientCredentialsRejected")
            say(f"Flagged after {took:.1f}s; the still-valid token keeps being served (Ready stays True):")
            show(kubectl("get", "zapp"))
            show("SecretRotationRequired: " + condition("SecretRotationRequired").get("message", ""))

            say("The platform engineer puts the new secret into the credentials Secret")
            show('kubectl patch secret meetings-bot-zoom -p \'{"stringData": {"client_secret": "<new>"}}\'')
            patch = {"stringData": {"client_secret": new_secret}}
            kubectl("patch", "secret", CREDS, "-p", json.dumps(patch))
            took = wait_condition("SecretRotationRequired", "False", "CredentialsAccepted")
            say(f"Cleared after {took:.1f}s; a token was minted with the new secret at once:")
            show(kubectl("get", "zapp"))
            stats = sim.admin("GET", "/_sim/stats")
            say(
                f"Tokens minted in the whole demo: {stats['tokens_issued'].get('demo-client')}"
            )
            show(kubectl("get", "events", "--sort-by=.lastTimestamp"))
            if args.keep:
                say(f"Everything stays up; export KUBECONFIG={cp.kubeconfig}; Ctrl-C to stop")
                while True:
                    time.sleep(3600)
        finally:
            if operator is not None:
                _stop(operator)
            sim.stop()
            say("Stopped the operator, the simulator and the control plane")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
