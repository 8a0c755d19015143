"""The operator's log set-up: by default what a human needs (settings, transitions, warnings, errors,
kopf's peering lines, a summary), kopf's per-handler lines and httpx's per-request lines only with
--verbose; --log-format json prints one JSON object per line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kopf._core.actions.loggers import LocalObjectLogger

from zoom_operator import diagnosis as dx
from zoom_operator.cli import build_parser
from zoom_operator.logs import (
    FleetCounts,
    Summary,
    SummaryCounts,
    configure_logging,
    log_settings,
    log_transition,
)

BODY: dict[str, Any] = {
    "apiVersion": "zoom-operator.io/v1alpha1",
    "kind": "ZoomApp",
    "metadata": {"namespace": "demo", "name": "meetings-bot", "uid": "u-1"},
}
PEERING = "kopf._core.engines.peering"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    names = ["", "httpx", "httpcore", "hpack", "aiohttp.access", "zoom_operator", "asyncio"]
    saved = {
        name: (
            logging.getLogger(name).level,
            list(logging.getLogger(name).handlers),
            logging.getLogger(name).propagate,
        )
        for name in names
    }
    hooks = (sys.excepthook, threading.excepthook)
    yield
    sys.excepthook, threading.excepthook = hooks
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
    logging.captureWarnings(False)


def _object_logger() -> LocalObjectLogger:
    return LocalObjectLogger(body=kopf.Body(BODY), settings=kopf.OperatorSettings())


def _emit_everything() -> None:
    """One line of each kind the operator's processes write."""
    _object_logger().info("Handler 'zoomapp_changed' succeeded.")
    _object_logger().debug("Handler 'zoomapp_changed' is invoked.")
    _object_logger().warning("Handler 'zoomapp_changed' failed temporarily: boom")
    logging.getLogger("kopf.activities.probe").info("Activity 'served_apps' succeeded.")
    logging.getLogger("httpx").info('HTTP Request: POST https://zoom.us/oauth/token "HTTP/1.1 200 OK"')
    logging.getLogger("httpcore.connection").debug("connect_tcp.started host='zoom.us'")
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET /healthz HTTP/1.1" 200')
    logging.getLogger(PEERING).info("Pausing operations in favour of [<Peer b: priority=1>].")
    logging.getLogger(PEERING).info("Resuming operations after the pause. Conflicting operators ... gone.")
    logging.getLogger("zoom_operator.worker").debug("demo/meetings-bot: probe due")
    log_transition("demo/meetings-bot", "Ready", "True", "TokenVerified", "Zoom accepted the token", False)


def test_default_drops_per_handler_and_per_request_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=False, log_format="plain")
    _emit_everything()
    err = capsys.readouterr().err
    assert "Handler 'zoomapp_changed' succeeded." not in err
    assert "is invoked" not in err
    assert "Activity 'served_apps' succeeded." not in err
    assert "HTTP Request:" not in err
    assert "connect_tcp" not in err
    assert "/healthz" not in err
    assert "probe due" not in err
    # What a human needs stays.
    assert "[demo/meetings-bot] Handler 'zoomapp_changed' failed temporarily: boom" in err
    assert "Pausing operations in favour of" in err
    assert "Resuming operations after the pause" in err
    assert "demo/meetings-bot: Ready=True TokenVerified: Zoom accepted the token" in err
    assert len(err.splitlines()) == 4, err


def test_the_filter_is_on_the_output_not_on_kopf_loggers() -> None:
    """kopf's Event poster hangs on kopf.objects: INFO records must still reach it."""
    configure_logging(verbose=False, log_format="plain")
    assert logging.getLogger("kopf.objects").isEnabledFor(logging.INFO)


def test_verbose_keeps_everything(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=True, log_format="plain")
    _emit_everything()
    err = capsys.readouterr().err
    assert "[demo/meetings-bot] Handler 'zoomapp_changed' succeeded." in err
    assert "[demo/meetings-bot] Handler 'zoomapp_changed' is invoked." in err
    assert "Activity 'served_apps' succeeded." in err
    assert "HTTP Request: POST https://zoom.us/oauth/token" in err
    assert "/healthz" in err
    assert "demo/meetings-bot: probe due" in err
    assert "connect_tcp" not in err  # httpcore's connection trace stays off even then


def test_json_is_one_object_per_line_with_level_logger_time_and_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(verbose=False, log_format="json")
    _emit_everything()
    log_transition("demo/meetings-bot", "SecretRotationRequired", "True", "InvalidClient", "rotate it", True)
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 5
    for record in records:
        assert {"message", "timestamp", "level", "severity", "logger"} <= set(record), record
    kopf_warning = records[0]
    assert kopf_warning["level"] == "WARNING"
    assert kopf_warning["logger"] == "kopf.objects"
    assert kopf_warning["object"]["namespace"] == "demo"
    assert kopf_warning["object"]["name"] == "meetings-bot"
    ours = [r for r in records if r["logger"] == "zoom_operator"]
    assert [r["level"] for r in ours] == ["INFO", "WARNING"]
    assert all(r["zoomapp"] == "demo/meetings-bot" for r in ours)
    assert ours[1]["condition"] == {
        "type": "SecretRotationRequired",
        "status": "True",
        "reason": "InvalidClient",
    }
    assert ours[1]["message"] == "demo/meetings-bot: SecretRotationRequired=True InvalidClient: rotate it"


def test_json_keeps_exceptions_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=False, log_format="json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("zoom_operator").exception("demo/meetings-bot: step failed", extra={"zoomapp": "x"})
    (line,) = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert "RuntimeError: boom" in record["exc_info"]


def test_json_logs_uncaught_exceptions_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=False, log_format="json")

    def fail() -> None:
        raise RuntimeError("thread broke")

    thread = threading.Thread(target=fail, name="worker-1")
    thread.start()
    thread.join()
    try:
        raise KeyError("main broke")
    except KeyError as error:
        sys.excepthook(KeyError, error, error.__traceback__)
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [r["level"] for r in records] == ["CRITICAL", "CRITICAL"]
    assert records[0]["message"] == "uncaught exception in thread worker-1: thread broke"
    assert "RuntimeError: thread broke" in records[0]["exc_info"]
    assert "KeyError: 'main broke'" in records[1]["exc_info"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        configure_logging(verbose=False, log_format="yaml")


def test_settings_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=False, log_format="plain")
    log_settings(
        namespaces=["zoom", "team-*"],
        standalone=False,
        peering="zoom-operator",
        priority=10,
        shard="0/2",
        allowed_endpoints="https://zoom.us/, https://api.zoom.us/",
        metrics_port=8080,
        liveness="http://0.0.0.0:8081/healthz",
        s2s_privilege="ServerToServerOAuthApp:Edit",
        kube_workers=8,
        summary_interval=300,
        log_format="plain",
        verbose=False,
    )
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "zoom-operator starting: namespaces zoom, team-*; peering zoom-operator priority 10;"
    )
    for fact in (
        "shard 0/2",
        "endpoints allowed for ZoomApps: https://zoom.us/, https://api.zoom.us/",
        "metrics port 8080",
        "s2s privilege ServerToServerOAuthApp:Edit",
        "summary every 5m",
        "log plain",
    ):
        assert fact in line


def test_settings_line_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=True, log_format="json")
    log_settings(
        namespaces=[],
        standalone=True,
        peering=None,
        priority=None,
        shard=None,
        allowed_endpoints="https://zoom.us/",
        metrics_port=None,
        liveness=None,
        s2s_privilege="ServerToServerOAuthApp:Edit",
        kube_workers=8,
        summary_interval=0,
        log_format="json",
        verbose=True,
    )
    (line,) = capsys.readouterr().err.splitlines()
    settings = json.loads(line)["options"]
    assert settings["scope"] == "cluster-wide"
    assert settings["replicas"] == "standalone"
    assert settings["shard"] == "all"
    assert settings["metrics_port"] == "off"
    assert settings["summary"] == "off"
    assert settings["log"] == "json, verbose"


def test_summary_line() -> None:
    counts = SummaryCounts(
        apps=3000,
        ready_true=2998,
        ready_false=2,
        not_ready_reasons={"TokenRejected": 2},
        mints_interval=41,
    )
    assert Summary(lambda: counts).line(counts) == (
        "summary: 3000 apps served, 2998 Ready, 2 not Ready (TokenRejected: 2), 0 OwnerRoleChangeRequired, "
        "0 SecretRotationRequired, 41 mints and 0 Zoom errors in the last 5m"
    )


def test_summary_line_orders_reasons_and_names_the_interval() -> None:
    counts = SummaryCounts(
        apps=5,
        ready_true=1,
        ready_false=3,
        ready_unknown=1,
        not_ready_reasons={"ZoomUnreachable": 1, "InvalidClient": 2, "AppDisabled": 1},
        owner_role_change_required=1,
        secret_rotation_required=2,
        mints_interval=1,
        zoom_errors_interval=1,
    )
    assert Summary(lambda: counts, interval_seconds=90).line(counts) == (
        "summary: 5 apps served, 1 Ready, 4 not Ready "
        "(InvalidClient: 2, AppDisabled: 1, ZoomUnreachable: 1), 1 OwnerRoleChangeRequired, "
        "2 SecretRotationRequired, 1 mint and 1 Zoom error in the last 90s"
    )
    assert Summary(lambda: SummaryCounts()).line(SummaryCounts()) == (
        "summary: 0 apps served, 0 Ready, 0 not Ready, 0 OwnerRoleChangeRequired, 0 SecretRotationRequired, "
        "0 mints and 0 Zoom errors in the last 5m"
    )


def test_summary_run_logs_one_line_per_interval(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=False, log_format="json")
    calls: list[int] = []
    third = asyncio.Event()

    def counts() -> SummaryCounts:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("counting broke")
        if len(calls) == 3:
            third.set()
        return SummaryCounts(apps=len(calls), ready_true=len(calls))

    async def main() -> None:
        task = asyncio.create_task(Summary(counts).run(interval_seconds=0.05))
        # three intervals: cancelled as soon as the third count is taken, before the next interval ends
        # (a fixed 0.18 s sleep saw two on a loaded machine)
        async with asyncio.timeout(10):
            await third.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(records) == 3, records
    assert records[0]["message"].startswith("summary: 1 apps served, 1 Ready, 0 not Ready")
    assert records[0]["message"].endswith("in the last 0.05s")
    assert records[0]["summary"]["apps"] == 1
    assert records[1]["level"] == "WARNING"  # a failing count costs a line, not the loop
    assert records[2]["message"].startswith("summary: 3 apps served")


def test_summary_run_off_at_zero() -> None:
    asyncio.run(asyncio.wait_for(Summary(lambda: SummaryCounts()).run(interval_seconds=0), timeout=1))


def test_cli_options() -> None:
    parser = build_parser()
    args = parser.parse_args(["run"])
    assert (args.verbose, args.log_format, args.summary_interval) == (False, "plain", 300.0)
    args = parser.parse_args(["run", "-v", "--log-format", "json", "--summary-interval", "0"])
    assert (args.verbose, args.log_format, args.summary_interval) == (True, "json", 0.0)
    for bad in (["--log-format", "yaml"], ["--summary-interval", "-1"], ["--summary-interval", "soon"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["run", *bad])


def _diagnosis(ready: str, reason: str, *, owner: str = "False", rotation: str = "False") -> dx.Diagnosis:
    return dx.Diagnosis(
        ready=dx.Condition("Ready", ready, reason, "m"),
        secret_rotation_required=dx.Condition("SecretRotationRequired", rotation, "r", "m"),
        owner_role_change_required=dx.Condition("OwnerRoleChangeRequired", owner, "r", "m"),
    )


def test_fleet_counts_tally_the_apps_and_diff_the_running_totals() -> None:
    diagnoses: list[dx.Diagnosis | None] = [
        _diagnosis("True", "TokenVerified"),
        _diagnosis("False", "TokenRejected", owner="True"),
        _diagnosis("False", "TokenRejected", rotation="True"),
        None,  # served, not judged yet
    ]
    totals = [(5, 1)]
    counts = FleetCounts(lambda: diagnoses, lambda: totals[-1])
    first = counts()
    assert (first.apps, first.ready_true, first.ready_false, first.ready_unknown) == (4, 1, 2, 1)
    assert first.not_ready_reasons == {"TokenRejected": 2}
    assert (first.owner_role_change_required, first.secret_rotation_required) == (1, 1)
    assert (first.mints_interval, first.zoom_errors_interval) == (5, 1)
    totals.append((7, 1))
    second = counts()
    assert (second.mints_interval, second.zoom_errors_interval) == (2, 0), "since the previous line"
