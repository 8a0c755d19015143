"""Helpers shared by the reliability tests: watching a Secret's history, reading the simulator."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.operator import Cluster, credentials_secret, zoomapp
from tests.support.simulator import SimulatorProcess

APP = "meetings-bot"
CREDS = "meetings-bot-zoom"
TOKEN_SECRET = f"{APP}-token"


def deploy(
    cluster: Cluster, sim: SimulatorProcess, *, name: str = APP, creds: str = CREDS, **spec: Any
) -> None:
    cluster.apply(
        [
            credentials_secret(
                creds, account_id="acc-demo", client_id="demo-client", client_secret="demo-secret"
            ),
            zoomapp(name, credentials=creds, base_url=sim.base_url, **spec),
        ]
    )


def renew_now(cluster: Cluster, value: str, name: str = APP) -> None:
    cluster.kubectl("annotate", "--overwrite", "zapp", name, f"zoom-operator.io/renew-now={value}")


def token_requests(sim: SimulatorProcess) -> int:
    """Every answered token request, faulted ones included (the tests using it have one client)."""
    return int(sim.stats()["endpoints"].get("POST /oauth/token", 0))


def tokens_issued(sim: SimulatorProcess, client_id: str = "demo-client") -> int:
    return int(sim.stats()["tokens_issued"].get(client_id, 0))


def token_works(sim: SimulatorProcess, token: str) -> bool:
    answer = httpx.get(f"{sim.base_url}/v2/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    return answer.status_code == 200


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def fingerprint(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()[:12]


class SecretHistory:
    """Every version of one Secret, as `kubectl get -w -o json` streams it (a background thread).

    `versions()` gives the decoded data of each version seen, in order; deletions are recorded as None.
    """

    def __init__(self, kubectl_argv: list[str], namespace: str, name: str, log: Path) -> None:
        self._argv = [
            *kubectl_argv,
            "-n",
            namespace,
            "get",
            "secret",
            "--field-selector",
            f"metadata.name={name}",
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ]
        self._log = log
        self._events: list[tuple[str, dict[str, str] | None]] = []
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> SecretHistory:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        # kubectl's watch ends when the API server goes away: start it again until stopped.
        while not self._stopped:
            with self._log.open("a") as errors:
                self._process = subprocess.Popen(self._argv, stdout=subprocess.PIPE, stderr=errors, text=True)
                assert self._process.stdout is not None
                decoder = json.JSONDecoder()
                buffer = ""
                for line in self._process.stdout:
                    buffer += line
                    stripped = buffer.lstrip()
                    try:
                        event, end = decoder.raw_decode(stripped)
                    except ValueError:
                        continue
                    buffer = stripped[end:]
                    self._record(event)
                self._process.wait()
            if not self._stopped:
                time.sleep(0.5)

    def _record(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type"))
        obj = event.get("object") or {}
        data = None
        if kind != "DELETED":
            data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        with self._lock:
            self._events.append((kind, data))

    def versions(self) -> list[dict[str, str] | None]:
        with self._lock:
            return [data for _, data in self._events]

    def stop(self) -> None:
        self._stopped = True
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if self._thread is not None:
            self._thread.join(timeout=10)


def assert_issued_at_monotonic(versions: list[dict[str, str] | None]) -> None:
    """Never a Secret written with an older token over a newer one."""
    last: datetime | None = None
    for data in versions:
        if not data or "issued_at" not in data:
            continue
        issued = parse_time(data["issued_at"])
        assert last is None or issued >= last, f"token Secret went back in time: {issued} after {last}"
        last = issued
