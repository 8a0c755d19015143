"""Fixtures for the chart, alert, image and install tests: helm and promtool binaries, rendering."""

from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "zoom-operator"
ALERTS = CHART / "files" / "alerts.yaml"

# Value sets the chart is rendered, linted and validated with (tests/chart/test_render.py).
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watchNamespaces": ["team-a", "team-b"]},
    "peering": {"peering": {"enabled": True}, "replicas": 2},
    "peering-namespaced": {"peering": {"enabled": True}, "replicas": 2, "watchNamespaces": ["team-a"]},
    "monitoring": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "alertLabels": {"team": "platform"}},
        "kubeStateMetrics": {"customResourceState": {"enabled": True}},
    },
    "shards": {"shards": 2},
    "network-policy": {
        "networkPolicy": {
            "enabled": True,
            "metricsFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}],
        }
    },
    "everything-off": {
        "crds": {"install": False},
        "rbac": {"create": False},
        "serviceAccount": {"create": False, "name": "existing"},
        "metrics": {"service": {"enabled": False}},
    },
}


def _tool(script: str) -> str:
    result = subprocess.run(
        [str(REPO_ROOT / "tools" / script)], capture_output=True, text=True, check=False, timeout=600
    )
    if result.returncode != 0:
        pytest.fail(f"tools/{script} failed:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def helm_bin() -> str:
    return _tool("get-helm.sh")


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("get-promtool.sh")


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """helm's own state (repositories, cache, plugins) in a throwaway folder, never in ~/.config."""
    home = tmp_path_factory.mktemp("helm-home")
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def helm(helm_bin: str, helm_env: dict[str, str]) -> Helm:
    """`helm(*args, check=True)`: run helm; raise with its stderr on failure when `check`."""

    def run(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [helm_bin, *args], capture_output=True, text=True, env=helm_env, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


def values_file(directory: Path, name: str, values: Mapping[str, Any]) -> Path:
    path = directory / f"values-{name}.yaml"
    path.write_text(yaml.safe_dump(dict(values)))
    return path


Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def render(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Render]:
    """`render(values, release="zo", namespace="zoom-operator")` -> the rendered objects."""
    directory = tmp_path_factory.mktemp("values")
    cache: dict[str, list[dict[str, Any]]] = {}

    def run(
        values: Mapping[str, Any] | None = None, *, release: str = "zo", namespace: str = "zoom-operator"
    ) -> list[dict[str, Any]]:
        key = yaml.safe_dump([dict(values or {}), release, namespace])
        if key not in cache:
            path = values_file(directory, str(len(cache)), values or {})
            out = helm("template", release, str(CHART), "--namespace", namespace, "-f", str(path)).stdout
            cache[key] = [doc for doc in yaml.safe_load_all(out) if doc]
        return copy.deepcopy(cache[key])

    return run


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]
