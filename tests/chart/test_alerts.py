"""The shipped alerts: valid rules (promtool check), and each one fires from synthetic series while a
healthy app fires none (promtool test rules on tests/chart/alerts_test.yaml)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.chart.conftest import ALERTS, VALUE_SETS, Render, one

UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")


def _alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules(promtool: str) -> None:
    result = _promtool(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_rendered_prometheus_rule_passes_promtool(promtool: str, render: Render, tmp_path: Path) -> None:
    rule = one(render(VALUE_SETS["monitoring"]), "PrometheusRule")
    rules_file = tmp_path / "rendered.yaml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]))
    result = _promtool(promtool, "check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_fire_each_alert(promtool: str) -> None:
    result = _promtool(promtool, "test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_unit_tests_cover_every_alert_firing_and_quiet() -> None:
    alerts = _alerts()
    tests = yaml.safe_load(UNIT_TESTS.read_text())
    assert tests["rule_files"] == ["../../charts/zoom-operator/files/alerts.yaml"]  # the shipped file
    fired: set[str] = set()
    quiet_when_healthy: set[str] = set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            if check["exp_alerts"]:
                fired.add(check["alertname"])
            elif case["name"] == "healthy app fires nothing":
                quiet_when_healthy.add(check["alertname"])
    assert fired == set(alerts)
    assert quiet_when_healthy == set(alerts)


def test_alerts_read_as_runbooks() -> None:
    for name, rule in _alerts().items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        description = rule["annotations"]["description"]
        for section in ("What it means:", "Who acts:", "What to do:"):
            assert section in description, f"{name}: no {section!r}"
        assert rule["annotations"]["summary"], name
        if name.startswith("ZoomApp"):
            # Points at the object to look at.
            assert "kubectl describe zoomapp -n {{ $labels.namespace }} {{ $labels.name }}" in description, (
                name
            )
