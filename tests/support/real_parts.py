"""Helpers for the tests that run the real parts a platform team deploys with: the image (podman),
Prometheus, kube-state-metrics. Each part is installed or built by a tools/ script on first use."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.operator import free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / "tools"


def tool(script: str, *args: str, timeout: float = 1800) -> str:
    """Run tools/<script> and return the last line it printed (the path or name it made). Raises
    AssertionError with its stderr when it fails: a missing part is a failure, never a skip."""
    result = subprocess.run(
        [str(TOOLS / script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"tools/{script} {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        )
    lines = result.stdout.strip().splitlines()
    assert lines, f"tools/{script} printed nothing"
    return lines[-1]


def http_json(url: str, *, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return json.loads(response.read())


def prom_query(base_url: str, expr: str) -> Any:
    """An instant query against Prometheus' HTTP API; raises on an error answer."""
    answer = http_json(f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert answer["status"] == "success", answer
    return answer["data"]


class PrometheusProcess:
    """A real Prometheus server (tools/get-prometheus.sh) on a free loopback port, scraping `targets`
    (job name -> list of host:port) every second and evaluating `rule_files` every second."""

    def __init__(
        self,
        workdir: Path,
        targets: dict[str, list[str]],
        rule_files: Sequence[Path] = (),
        *,
        interval: str = "1s",
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {
                "scrape_interval": interval,
                "evaluation_interval": interval,
                "scrape_timeout": interval,
            },
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                # honor_labels, as the chart's ServiceMonitor sets it: the series' own `namespace` and
                # `name` labels are the ZoomApp's and must not be renamed to exported_namespace.
                {"job_name": job, "honor_labels": True, "static_configs": [{"targets": list(hosts)}]}
                for job, hosts in targets.items()
            ],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = workdir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrometheusProcess:
        binary = tool("get-prometheus.sh")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._ready, timeout=60, what=f"Prometheus /-/ready on {self.base_url}")
        return self

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise AssertionError(f"prometheus exited {self._process.returncode}:\n{self.logs()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.base_url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def query(self, expr: str) -> Any:
        return prom_query(self.base_url, expr)

    def alerts(self) -> list[dict[str, Any]]:
        """What /api/v1/alerts says now: pending and firing alerts with their labels."""
        answer = http_json(f"{self.base_url}/api/v1/alerts")
        assert answer["status"] == "success", answer
        return list(answer["data"]["alerts"])

    def rules_healthy(self) -> list[dict[str, Any]]:
        """Every loaded rule, asserting Prometheus evaluates each without error."""
        answer = http_json(f"{self.base_url}/api/v1/rules")
        rules = [rule for group in answer["data"]["groups"] for rule in group["rules"]]
        broken = [(rule["name"], rule.get("lastError")) for rule in rules if rule.get("health") == "err"]
        assert not broken, broken
        return rules

    def __enter__(self) -> PrometheusProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def shortened_for(rules_file: Path, target: Path, divisor: int = 20) -> Path:
    """A test copy of a Prometheus rule file whose every `for:` is divided by `divisor` (1m -> 3s,
    5m -> 15s, 10m -> 30s); expressions, labels and annotations stay exactly as shipped."""
    rules = yaml.safe_load(rules_file.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = f"{max(1, _seconds(rule['for']) // divisor)}s"
    target.write_text(yaml.safe_dump(rules, sort_keys=False))
    return target


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, f"unsupported duration {duration!r}"
    return int(match[1]) * units[match[2]]
