"""Run `zoom-operator run` as a real process against the local control plane, and read what it did."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = REPO_ROOT / "crds" / "zoomapps.zoom-operator.io.yaml"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    probe: Callable[[], T | None], *, timeout: float, interval: float = 0.25, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


class OperatorProcess:
    """`zoom-operator run` in its own process group, logging to a file the test can read."""

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        *,
        namespaces: Sequence[str] = (),
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        allow_endpoints: Sequence[str] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        self.args = [
            sys.executable,
            "-m",
            "zoom_operator.cli",
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--metrics-port",
            str(self.metrics_port),
            "--liveness",
            f"http://127.0.0.1:{self.liveness_port}/healthz",
            *[a for ns in namespaces for a in ("-n", ns)],
            *[a for url in allow_endpoints for a in ("--allow-endpoint", url)],
            *extra_args,
        ]
        if "--peering" not in extra_args:
            self.args.append("--standalone")
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        if not self._log.closed:
            self._log.close()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> str:
        import httpx

        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        except httpx.TransportError:
            return ""  # not listening yet

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Cluster:
    """kubectl-based helpers for one namespace (what an on-call engineer would type)."""

    def __init__(self, kubectl: Callable[..., subprocess.CompletedProcess[str]], namespace: str) -> None:
        self._kubectl = kubectl
        self.namespace = namespace

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        if stdin is None:
            return self._kubectl("-n", self.namespace, *args, check=check)
        return self._kubectl("-n", self.namespace, *args, check=check, input=stdin)

    def apply(
        self, manifest: dict[str, Any] | list[dict[str, Any]], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        docs = manifest if isinstance(manifest, list) else [manifest]
        return self.kubectl("apply", "-f", "-", check=check, stdin=yaml.safe_dump_all(docs))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        result = self.kubectl("get", kind, name, "-o", "json", check=False)
        if result.returncode != 0:
            return None
        return dict(json.loads(result.stdout))

    def zoomapp(self, name: str) -> dict[str, Any]:
        app = self.get("zoomapp", name)
        assert app is not None, f"ZoomApp {name} not found"
        return app

    def condition(self, name: str, condition_type: str) -> dict[str, Any] | None:
        app = self.get("zoomapp", name) or {}
        for condition in (app.get("status") or {}).get("conditions") or []:
            if condition.get("type") == condition_type:
                return dict(condition)
        return None

    def wait_condition(
        self, name: str, condition_type: str, status: str, *, reason: str | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            condition = self.condition(name, condition_type)
            if (
                condition
                and condition["status"] == status
                and (reason is None or condition["reason"] == reason)
            ):
                return condition
            return None

        return wait_for(
            matches, timeout=timeout, what=f"{name} {condition_type}={status} ({reason or 'any reason'})"
        )

    def secret_data(self, name: str) -> dict[str, str] | None:
        secret = self.get("secret", name)
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    def events(self, name: str) -> list[dict[str, Any]]:
        result = self.kubectl(
            "get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json", check=False
        )
        if result.returncode != 0:
            return []
        return list(json.loads(result.stdout).get("items") or [])


CREDENTIALS_LABELS = {"zoom-operator.io/credentials": "true"}


def credentials_secret(name: str, *, account_id: str, client_id: str, client_secret: str) -> dict[str, Any]:
    """A credentials Secret as its writer makes it: labelled for the operator, which reads no other."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": dict(CREDENTIALS_LABELS)},
        "type": "Opaque",
        "stringData": {"account_id": account_id, "client_id": client_id, "client_secret": client_secret},
    }


def zoomapp(
    name: str,
    *,
    credentials: str,
    base_url: str,
    owner_email: str | None = "dev-lead@example.com",
    owner_id: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    owner: dict[str, str] = {}
    if owner_email:
        owner["email"] = owner_email
    if owner_id:
        owner["userId"] = owner_id
    return {
        "apiVersion": "zoom-operator.io/v1alpha1",
        "kind": "ZoomApp",
        "metadata": {"name": name},
        "spec": {
            "credentialsSecretRef": {"name": credentials},
            "expectedOwner": owner,
            "endpoints": {"oauthUrl": base_url, "apiUrl": base_url},
            **spec,
        },
    }
