"""Shared pytest setup for every tier."""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# The local control plane launcher (tools/control-plane/control_plane.py): `from control_plane import ...`.
sys.path.insert(0, str(REPO_ROOT / "tools" / "control-plane"))

# Control plane, simulator and operator fixtures shared by tests/e2e, tests/chart and tests/reliability.
pytest_plugins = ["tests.support.fixtures"]

# Property tests judge behaviour, not speed: on a loaded 2-core CI machine hypothesis's default 200 ms
# deadline fails examples that are merely slow (speed is shown by bench/, not by tests).
from hypothesis import settings  # noqa: E402

settings.register_profile("zoom-operator", deadline=None)
settings.load_profile("zoom-operator")
