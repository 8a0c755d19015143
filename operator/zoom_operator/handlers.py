"""kopf wiring only: settings, one daemon per ZoomApp, and the watch events that wake it.

Business logic lives in `worker.py`; this module connects it to kopf, the Kubernetes API, Zoom and
the metrics. The operator watches ZoomApps and only those Secrets labelled
`zoom-operator.io/credentials` (server-side selector), never all Secrets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import kopf

from zoom_operator.kube.api import KubeApi, ObjectRef, load_api_client
from zoom_operator.kube.status import Transition
from zoom_operator.kube.token_secret import SECRET_KIND_LABEL
from zoom_operator.metrics import Metrics
from zoom_operator.spec import EndpointAllowlist, Endpoints
from zoom_operator.worker import RENEW_NOW_ANNOTATION, AppWorker, ClientIdRegistry, WorkerConfig, WorkerView
from zoom_operator.zoom.client import ZoomClient
from zoom_operator.zoom.outcomes import TokenOutcome
from zoom_operator.zoom.pool import BoundedTransport

log = logging.getLogger("zoom_operator")

# A peered replica serves an app only once kopf's resume has held this long (at most; half the peering
# lifetime when that is shorter). See serve_zoomapp.
PEERING_SETTLE_SECONDS = 5.0


@dataclass
class OperatorOptions:
    """What `zoom-operator run` was asked for; set by the CLI before kopf starts."""

    metrics_port: int | None = 8080
    kubeconfig: str | None = None
    s2s_privilege: str = "ServerToServerOAuthApp:Edit"
    shard_selector: str | None = None
    allowlist: EndpointAllowlist = field(default_factory=EndpointAllowlist)
    kube_workers: int = 8
    peering_name: str | None = None


@dataclass
class Runtime:
    """Process-wide state shared by all ZoomApp daemons."""

    options: OperatorOptions
    kube: KubeApi
    http: httpx.AsyncClient
    metrics: Metrics
    registry: ClientIdRegistry = field(default_factory=ClientIdRegistry)
    workers: dict[ObjectRef, AppWorker] = field(default_factory=dict)
    zoom_clients: dict[Endpoints, ZoomClient] = field(default_factory=dict)
    secret_users: dict[ObjectRef, set[ObjectRef]] = field(default_factory=dict)  # Secret -> ZoomApps
    app_secrets: dict[ObjectRef, tuple[ObjectRef, ...]] = field(default_factory=dict)  # ZoomApp -> Secrets
    seen: dict[ObjectRef, tuple[int, str | None, tuple[str, str]]] = field(default_factory=dict)
    settings: kopf.OperatorSettings | None = None

    def peering_settle(self) -> float:
        """How long a daemon waits before serving: 0 standalone, else see PEERING_SETTLE_SECONDS."""
        peering = self.settings.peering if self.settings is not None else None
        if peering is None or peering.standalone:
            return 0.0
        return min(PEERING_SETTLE_SECONDS, peering.lifetime / 2)

    def zoom(self, endpoints: Endpoints) -> ZoomClient:
        client = self.zoom_clients.get(endpoints)
        if client is None:
            client = ZoomClient(
                oauth_url=endpoints.oauth_url,
                api_url=endpoints.api_url,
                http=self.http,
                observer=self.metrics.zoom_request,
            )
            self.zoom_clients[endpoints] = client
        return client


OPTIONS = OperatorOptions()
_runtime: Runtime | None = None


def runtime() -> Runtime:
    assert _runtime is not None, "the operator has not started"
    return _runtime


class _Reporter:
    """Events through kopf's poster; metrics through prometheus_client."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def transition(self, ref: ObjectRef, body: Mapping[str, Any], change: Transition) -> None:
        condition = change.condition
        kopf.event(
            dict(body),  # type: ignore[arg-type]
            type="Warning" if change.is_warning else "Normal",
            reason=condition.reason,
            message=f"{condition.type}={condition.status}: {condition.message}"[:1024],
        )

    def warning(self, ref: ObjectRef, body: Mapping[str, Any], reason: str, message: str) -> None:
        kopf.event(dict(body), type="Warning", reason=reason, message=message[:1024])  # type: ignore[arg-type]

    def minted(self, ref: ObjectRef, outcome: TokenOutcome) -> None:
        self._metrics.minted(ref, outcome)

    def published(self, ref: ObjectRef, state: WorkerView) -> None:
        self._metrics.published(ref, state)

    def forget(self, ref: ObjectRef) -> None:
        self._metrics.forget(ref)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _runtime
    options = OPTIONS
    # Silent watch death is kopf's most reported failure: pin every timeout.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.watching.inactivity_timeout = 70
    settings.networking.request_timeout = 60
    settings.watching.label_selectors["v1", "secrets"] = SECRET_KIND_LABEL
    if options.shard_selector:
        settings.watching.shard_selectors["zoom-operator.io", "zoomapps"] = options.shard_selector
    settings.persistence.finalizer = "zoom-operator.io/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="zoom-operator.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="zoom-operator.io", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events say what matters; kopf's INFO chatter is noise
    settings.peering.name = options.peering_name or "zoom-operator"

    api_client = await asyncio.to_thread(load_api_client, options.kubeconfig, pool_size=options.kube_workers)
    metrics = Metrics()
    if options.metrics_port:
        metrics.serve(options.metrics_port)
    # Requests wait for a pool slot in BoundedTransport, not in httpcore's queue (quadratic there).
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0),
        transport=BoundedTransport(
            httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=64, max_keepalive_connections=32)),
            limit=64,
        ),
    )
    _runtime = Runtime(
        options=options,
        kube=KubeApi(api_client, max_workers=options.kube_workers),
        http=http,
        metrics=metrics,
        settings=settings,
    )


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    if _runtime is not None:
        await _runtime.http.aclose()
        _runtime.kube.close()


@kopf.on.probe(id="zoomapps")
def served_apps(**_: Any) -> int:
    return len(_runtime.workers) if _runtime else 0


@kopf.daemon("zoom-operator.io", "v1alpha1", "zoomapps", cancellation_timeout=10.0, backoff=10.0)
async def serve_zoomapp(
    *, body: kopf.Body, name: str, namespace: str | None, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    rt = runtime()
    ref = ObjectRef(namespace or "", name)
    # kopf resumes a peered replica whenever its latest peering event shows no live peer of a higher
    # priority (kopf/_core/engines/peering.py, process_peering_event), and that can last a moment only:
    # of replicas started together, the first one up sees a KopfPeering without the others' entries
    # until their first keep-alives land; and a peer's entry deleted as dead (its keep-alive late) is
    # back at its next keep-alive. kopf then pauses this replica and stops this daemon
    # (OPERATOR_PAUSING), but a worker started at once may already have a token request out: two
    # minters. So a peered replica mints only after the resume has held for the settle time.
    settle = rt.peering_settle()
    if settle > 0:
        await stopped.wait(settle)
        if stopped:
            log.info("%s: not served: kopf paused this replica within %.0fs of resuming", ref, settle)
            return
    worker = AppWorker(
        ref=ref,
        body=lambda: body,
        kube=rt.kube,
        zoom=rt.zoom,
        reporter=_Reporter(rt.metrics),
        registry=rt.registry,
        config=WorkerConfig(s2s_privilege=rt.options.s2s_privilege, allowlist=rt.options.allowlist),
    )
    rt.workers[ref] = worker
    rt.metrics.apps.set(len(rt.workers))
    _index_secrets(rt, ref, body)

    async def wake_when_stopped() -> None:
        await stopped.wait()
        worker.wake("stopped")

    stop_watch = asyncio.create_task(wake_when_stopped())
    try:
        await worker.run(lambda: bool(stopped))
    finally:
        stop_watch.cancel()
        if rt.workers.get(ref) is worker:
            del rt.workers[ref]
        _unindex_secrets(rt, ref)
        rt.metrics.apps.set(len(rt.workers))


@kopf.on.event("zoom-operator.io", "v1alpha1", "zoomapps")
def zoomapp_changed(*, body: kopf.Body, name: str, namespace: str | None, type: str, **_: Any) -> None:
    """Wake the app's worker when its spec or the renew-now annotation changed (not for status writes)."""
    rt = runtime()
    ref = ObjectRef(namespace or "", name)
    if type == "DELETED":
        rt.seen.pop(ref, None)
        return
    generation = int(body.get("metadata", {}).get("generation") or 0)
    renew = body.get("metadata", {}).get("annotations", {}).get(RENEW_NOW_ANNOTATION)
    secrets = _secret_names(name, body)
    key = (generation, renew, secrets)
    if rt.seen.get(ref) == key:
        return
    rt.seen[ref] = key
    _index_secrets(rt, ref, body)
    worker = rt.workers.get(ref)
    if worker is not None:
        worker.wake("spec")


@kopf.on.event("v1", "secrets")
def secret_changed(*, body: kopf.Body, name: str, namespace: str | None, type: str, **_: Any) -> None:
    """A labelled Secret changed: wake the ZoomApps that read it (credentials) or own it (token)."""
    rt = runtime()
    ref = ObjectRef(namespace or "", name)
    kind = body.get("metadata", {}).get("labels", {}).get(SECRET_KIND_LABEL)
    for app in rt.secret_users.get(ref, ()):
        worker = rt.workers.get(app)
        if worker is None:
            continue
        if kind == "token":
            worker.token_secret_event(None if type == "DELETED" else dict(body))
        else:
            worker.credentials_event(None if type == "DELETED" else dict(body))


def _secret_names(name: str, body: Mapping[str, Any]) -> tuple[str, str]:
    spec = body.get("spec") or {}
    credentials = str((spec.get("credentialsSecretRef") or {}).get("name") or "")
    token = str((spec.get("tokenSecret") or {}).get("name") or f"{name}-token")
    return credentials, token


def _index_secrets(rt: Runtime, app: ObjectRef, body: Mapping[str, Any]) -> None:
    _unindex_secrets(rt, app)
    secrets = tuple(ObjectRef(app.namespace, n) for n in _secret_names(app.name, body) if n)
    rt.app_secrets[app] = secrets
    for secret in secrets:
        rt.secret_users.setdefault(secret, set()).add(app)


def _unindex_secrets(rt: Runtime, app: ObjectRef) -> None:
    for secret in rt.app_secrets.pop(app, ()):
        apps = rt.secret_users.get(secret)
        if apps is not None:
            apps.discard(app)
            if not apps:
                del rt.secret_users[secret]
