"""What the operator logs, and how: what a human needs by default, the rest behind `--verbose`.

By default (`zoom-operator run`) the log holds the start-up line with the settings, one line per
condition transition (the same facts as the Kubernetes Event), warnings and errors (the operator's and
kopf's), kopf's peering lines (pausing, resuming) and one summary line per `--summary-interval`. It
does not hold a line per kopf handler run, per liveness probe or per Zoom request: those are debug
chatter, shown with `--verbose` only.

`--log-format json` prints one JSON object per line (kopf's JSON formatter): `message`, `timestamp`,
`level`, `severity`, `logger`, kopf's `object` (apiVersion, kind, namespace, name, uid) on kopf's
per-object lines and `zoomapp` ("namespace/name") on the operator's own per-app lines.

No line holds a credential or a token, verbose or not: the operator logs references (namespace/name,
client ids, fingerprints), never values, and the loggers that could print request or object bodies
are kept quiet (see `_ALWAYS_QUIET`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import types
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoom_operator.diagnosis import Diagnosis

PLAIN = "plain"
JSON = "json"
LOG_FORMATS = (PLAIN, JSON)

log = logging.getLogger("zoom_operator")

# kopf loggers whose INFO lines come once per object and handler run (`Handler 'x' succeeded.`,
# `... is processed: 1 succeeded; 0 failed.`, daemon starts and exits) or once per liveness probe
# (`Activity 'x' succeeded.`). Their warnings and errors always pass.
_KOPF_CHATTER = ("kopf.objects", "kopf.activities.probe")

# Loggers at WARNING unless verbose: httpx (diagnose's Zoom stack, and a user's) logs every request at
# INFO (`HTTP Request: POST ...`), aiohttp every request to the liveness endpoint. The operator's own
# line per Zoom request is `zoom_operator.zoom`'s, at DEBUG (`POST /oauth/token -> 200 TokenIssued ...`).
_QUIET_UNLESS_VERBOSE = ("httpx", "aiohttp.access")

# Loggers at WARNING unless verbose, and at INFO (never DEBUG) even then: httpcore's debug lines trace
# every connection step of every request and tell a human nothing httpx's request lines do not.
_ALWAYS_QUIET = ("httpcore", "hpack")


class _DropChatter(logging.Filter):
    """Drop the records of `_KOPF_CHATTER` below WARNING; installed on the log handler, not on the
    loggers, so kopf still sees every record (its Event poster hangs on `kopf.objects`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return not any(record.name == name or record.name.startswith(name + ".") for name in _KOPF_CHATTER)


class _JsonFields(logging.Filter):
    """Give JSON lines the level name and the logger name: kopf's JSON formatter prints a record's
    extra attributes but neither of these (only `severity`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.level = record.levelname
        record.logger = record.name
        return True


def configure_logging(*, verbose: bool, log_format: str) -> None:
    """Set up the root handler (through `kopf.configure`) and the levels described in the module doc.

    Call once, before `kopf.run`; calling again replaces the earlier set-up (kopf replaces its handler).
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    import kopf

    root = logging.getLogger()
    before = list(root.handlers)
    # Plain lines of kopf's per-object loggers start with "[namespace/name]"; JSON ones carry `object`.
    kopf.configure(
        verbose=verbose,
        log_format=kopf.LogFormat.JSON if log_format == JSON else kopf.LogFormat.PLAIN,
        log_prefix=log_format == PLAIN,
    )
    handler = next(h for h in root.handlers if h not in before)  # kopf's stream handler, just added
    if not verbose:
        handler.addFilter(_DropChatter())
    if log_format == JSON:
        handler.addFilter(_JsonFields())
    for name in _QUIET_UNLESS_VERBOSE:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    for name in _ALWAYS_QUIET:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("zoom_operator").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(True)  # Python warnings as log records: one JSON object per line stays true
    if log_format == JSON:
        # Uncaught exceptions as one record each, not as a multi-line traceback on stderr.
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: types.TracebackType | None
) -> None:
    log.critical("uncaught exception: %s", error, exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    thread = args.thread.name if args.thread is not None else "?"
    log.critical(
        "uncaught exception in thread %s: %s",
        thread,
        args.exc_value,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def log_settings(
    *,
    namespaces: Sequence[str],
    standalone: bool,
    peering: str | None,
    priority: int | None,
    shard: str | None,
    allowed_endpoints: str,
    metrics_port: int | None,
    liveness: str | None,
    s2s_privilege: str,
    kube_workers: int,
    summary_interval: float,
    log_format: str,
    verbose: bool,
    event_loop: str = "asyncio",
) -> None:
    """One start-up line with what `zoom-operator run` was asked for. Takes no credentials: there is
    nothing secret among the operator's settings (a kubeconfig is named by path, never read here)."""
    scope = "namespaces " + ", ".join(namespaces) if namespaces else "cluster-wide"
    replicas = "standalone" if standalone else f"peering {peering or 'zoom-operator'}"
    if not standalone and priority is not None:
        replicas += f" priority {priority}"
    summary = f"every {_duration(summary_interval)}" if summary_interval > 0 else "off"
    options = {
        "scope": scope,
        "replicas": replicas,
        "shard": shard or "all",
        "allowed_endpoints": allowed_endpoints,
        "metrics_port": str(metrics_port) if metrics_port else "off",
        "liveness": liveness or "off",
        "s2s_privilege": s2s_privilege,
        "kube_workers": str(kube_workers),
        "summary": summary,
        "log": f"{log_format}{', verbose' if verbose else ''}",
        "event_loop": event_loop,
    }
    log.info(
        "zoom-operator starting: %s; %s; shard %s; endpoints allowed for ZoomApps: %s; metrics port %s; "
        "liveness %s; s2s privilege %s; %s Kubernetes workers; summary %s; log %s; event loop %s",
        scope,
        replicas,
        options["shard"],
        allowed_endpoints,
        options["metrics_port"],
        options["liveness"],
        s2s_privilege,
        kube_workers,
        summary,
        options["log"],
        event_loop,
        extra={"options": options},
    )


def log_transition(
    ref: str, condition_type: str, status: str, reason: str, message: str, warning: bool
) -> None:
    """One line per condition transition: the facts of the Kubernetes Event kopf posts for it."""
    log.log(
        logging.WARNING if warning else logging.INFO,
        "%s: %s=%s %s: %s",
        ref,
        condition_type,
        status,
        reason,
        message,
        extra={
            "zoomapp": ref,
            "condition": {"type": condition_type, "status": status, "reason": reason},
        },
    )


@dataclass(frozen=True)
class SummaryCounts:
    """What one summary line reports; the `*_interval` counts cover the time since the last line."""

    apps: int = 0
    ready_true: int = 0
    ready_false: int = 0
    ready_unknown: int = 0
    not_ready_reasons: Mapping[str, int] = field(default_factory=dict)  # reason -> apps not Ready
    owner_role_change_required: int = 0
    secret_rotation_required: int = 0
    mints_interval: int = 0
    zoom_errors_interval: int = 0


class FleetCounts:
    """The counts behind the summary line, from the served apps' latest diagnoses (None: not judged
    yet) and the running totals of mints and Zoom errors, diffed against the previous line."""

    def __init__(
        self,
        diagnoses: Callable[[], Iterable[Diagnosis | None]],
        totals: Callable[[], tuple[int, int]],
    ) -> None:
        self._diagnoses = diagnoses
        self._totals = totals
        self._mints = 0
        self._errors = 0

    def __call__(self) -> SummaryCounts:
        ready: Counter[str] = Counter()
        not_ready: Counter[str] = Counter()
        owner = rotation = apps = 0
        for diagnosis in self._diagnoses():
            apps += 1
            if diagnosis is None:
                ready["Unknown"] += 1
                continue
            ready[diagnosis.ready.status] += 1
            if diagnosis.ready.status == "False":
                not_ready[diagnosis.ready.reason] += 1
            owner += diagnosis.owner_role_change_required.status == "True"
            rotation += diagnosis.secret_rotation_required.status == "True"
        mints, errors = self._totals()
        counts = SummaryCounts(
            apps=apps,
            ready_true=ready["True"],
            ready_false=ready["False"],
            ready_unknown=ready["Unknown"],
            not_ready_reasons=dict(not_ready),
            owner_role_change_required=owner,
            secret_rotation_required=rotation,
            mints_interval=mints - self._mints,
            zoom_errors_interval=errors - self._errors,
        )
        self._mints, self._errors = mints, errors
        return counts


class Summary:
    """One INFO line per interval that says how the fleet is doing, from `counts()`.

    `counts` is called once per line; it returns the state now and the mints and Zoom errors since
    its previous call (the caller keeps those counters and resets them, or diffs running totals).
    """

    def __init__(self, counts: Callable[[], SummaryCounts], *, interval_seconds: float = 300.0) -> None:
        self._counts = counts
        self._interval = interval_seconds

    def line(self, counts: SummaryCounts) -> str:
        not_ready = counts.ready_false + counts.ready_unknown
        text = f"summary: {counts.apps} apps served, {counts.ready_true} Ready, {not_ready} not Ready"
        reasons = sorted(counts.not_ready_reasons.items(), key=lambda item: (-item[1], item[0]))
        if reasons:
            text += " (" + ", ".join(f"{reason}: {n}" for reason, n in reasons) + ")"
        return (
            f"{text}, {counts.owner_role_change_required} OwnerRoleChangeRequired, "
            f"{counts.secret_rotation_required} SecretRotationRequired, {counts.mints_interval} "
            f"{'mint' if counts.mints_interval == 1 else 'mints'} and {counts.zoom_errors_interval} Zoom "
            f"{'error' if counts.zoom_errors_interval == 1 else 'errors'} in the last "
            f"{_duration(self._interval)}"
        )

    def emit(self) -> None:
        """Log one line now (a failing `counts()` costs a warning, never the operator)."""
        try:
            counts = self._counts()
        except Exception:
            log.warning("summary: counting failed", exc_info=True)
            return
        log.info(self.line(counts), extra={"summary": _summary_fields(counts)})

    async def run(self, interval_seconds: float = 300.0) -> None:
        """Log a line every `interval_seconds` until cancelled; returns at once when it is 0 or less."""
        if interval_seconds <= 0:
            return
        self._interval = interval_seconds
        while True:
            await asyncio.sleep(interval_seconds)
            self.emit()


def _summary_fields(counts: SummaryCounts) -> dict[str, object]:
    return {
        "apps": counts.apps,
        "ready": {"True": counts.ready_true, "False": counts.ready_false, "Unknown": counts.ready_unknown},
        "notReadyReasons": dict(counts.not_ready_reasons),
        "ownerRoleChangeRequired": counts.owner_role_change_required,
        "secretRotationRequired": counts.secret_rotation_required,
        "mints": counts.mints_interval,
        "zoomErrors": counts.zoom_errors_interval,
    }


def _duration(seconds: float) -> str:
    """300 -> '5m', 90 -> '90s', 3600 -> '1h', 0.5 -> '0.5s'."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
