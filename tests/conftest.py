"""Shared pytest setup for every tier."""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# The local control plane launcher (tools/control-plane/control_plane.py): `from control_plane import ...`.
sys.path.insert(0, str(REPO_ROOT / "tools" / "control-plane"))

# Control plane, simulator and operator fixtures shared by tests/e2e, tests/chart and tests/reliability.
pytest_plugins = ["tests.support.fixtures"]
