"""The pure core imports none of kopf, kubernetes or httpx: each module, alone in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE_MODULES = [
    "zoom_operator.spec",
    "zoom_operator.schedule",
    "zoom_operator.timefmt",
    "zoom_operator.diagnosis",
    "zoom_operator.zoom.outcomes",
    "zoom_operator.zoom.mapping",
    "zoom_operator.zoom.paths",
    "zoom_operator.zoom.transport",
    "zoom_operator.kube.refs",
    "zoom_operator.kube.status",
    "zoom_operator.kube.token_secret",
    "zoom_operator.kube.credentials",
    "zoom_operator.state",
    "zoom_operator.planner",
    "zoom_operator.executors",
    "zoom_operator.scheduler",
    "zoom_operator.registry",
]
"""Modules that must import without the I/O libraries; add new pure modules here."""

FORBIDDEN = ("kopf", "kubernetes", "httpx")

CHECK = """
import importlib, sys
importlib.import_module(sys.argv[1])
loaded = sorted(name for name in sys.argv[2:] if name in sys.modules)
print(",".join(loaded))
"""


def loaded_after_import(module: str) -> list[str]:
    """Which of FORBIDDEN are in sys.modules after importing `module` in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", CHECK, module, *FORBIDDEN],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [name for name in result.stdout.strip().split(",") if name]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_io_library(module: str) -> None:
    assert loaded_after_import(module) == [], f"importing {module} loads an I/O library"


def test_the_check_sees_a_module_that_does_load_them() -> None:
    assert "httpx" in loaded_after_import("zoom_operator.zoom.httpx_transport")
