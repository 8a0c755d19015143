"""kopf wiring only: settings, the ZoomApp watch, peering, and one scheduler for all apps.

Business logic lives in `worker.py` (one step of one app) and `scheduler.py` (when each app steps);
this module connects them to kopf, the Kubernetes API, Zoom and the metrics. kopf watches ZoomApps
(with the shard selector and peering); the operator's own watch (`kube/watch.py`) follows
only the Secrets labelled `zoom-operator.io/credentials` (server-side selector), never all Secrets, and
keeps nothing per Secret. Each served app keeps a slim copy of its ZoomApp (metadata it needs, spec,
and status only until it has been restored), not kopf's body.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
from kopf._core.engines import posting
from kopf._core.engines.daemons import DaemonsMemory
from kopf._core.reactor.inventory import ResourceMemories

from zoom_operator import memory, slim_copy
from zoom_operator.kube.api import KubeApi, ObjectRef, connect
from zoom_operator.kube.connection import login as kube_login
from zoom_operator.kube.credentials import CREDENTIALS_LABEL_VALUE
from zoom_operator.kube.sharding import SHARD_LABEL, bucket_selector, shard_bucket
from zoom_operator.kube.status import Transition
from zoom_operator.kube.token_secret import SECRET_KIND_LABEL, SECRET_KIND_TOKEN
from zoom_operator.kube.watch import SecretWatch
from zoom_operator.logs import FleetCounts, Summary, log_transition
from zoom_operator.metrics import Metrics
from zoom_operator.scheduler import Scheduler
from zoom_operator.spec import (
    DEFAULT_S2S_PRIVILEGE,
    EndpointAllowlist,
    Endpoints,
)
from zoom_operator.worker import (
    AppWorker,
    ClientIdRegistry,
    WorkerConfig,
    WorkerView,
)
from zoom_operator.zoom.client import ZoomClient
from zoom_operator.zoom.outcomes import TokenOutcome
from zoom_operator.zoom.pool import ZoomPool
from zoom_operator.zoom.transport import DEFAULT_TIMEOUTS

log = logging.getLogger("zoom_operator")

# ZoomApps carry no finalizer: the operator has nothing to clean up (token Secrets go with their ZoomApp
# through owner references), so a deletion never waits for it, and never hangs once it is uninstalled.
# kopf removes this one, which versions before 2026-12-07 added, from the ZoomApps it serves.
FINALIZER = "zoom-operator.io/finalizer"
KOPF_WORKER_LIMIT = 128  # ZoomApps kopf processes at once (their watch events): see configure()
ZOOM_CONNECTIONS = 16  # Zoom requests in flight per process (10,000 apps probing every 300 s: 33/s)
KOPF_IDLE_SECONDS = 0.05  # how long kopf's per-object worker waits for the object's next event
# Timed steps (probes, renewals, owner checks) 10 s or more away run on whole seconds, in bursts: a step
# costs a third of the CPU in a burst that it costs alone (scheduler.py; bench/RESULTS.md).
STEP_GRID_SECONDS = 1.0
KOPF_LIST_PAGE = 500  # ZoomApps per page of kopf's listings
MALLOC_ARENAS = 2  # glibc's arenas (one per thread by default, each keeping its own free memory)


@dataclass
class OperatorOptions:
    """What `zoom-operator run` was asked for; set by the CLI before kopf starts."""

    metrics_port: int | None = 8080
    kubeconfig: str | None = None
    s2s_privilege: str = DEFAULT_S2S_PRIVILEGE
    shard_selector: str | None = None
    allowlist: EndpointAllowlist = field(default_factory=EndpointAllowlist)
    kube_workers: int = 8
    peering_name: str | None = None
    namespaces: list[str] = field(default_factory=list)  # empty: cluster-wide
    shard: tuple[int, int] | None = None  # (index, count) of --shard I/N
    max_concurrent_steps: int = 128
    summary_interval: float = 300.0  # seconds between summary log lines; 0: none
    log_format: str = "plain"


@dataclass
class Runtime:
    """Process-wide state: the scheduler, and per served app its worker and slim ZoomApp."""

    options: OperatorOptions
    kube: KubeApi
    http: ZoomPool
    metrics: Metrics
    scheduler: Scheduler[ObjectRef]
    registry: ClientIdRegistry = field(default_factory=ClientIdRegistry)
    workers: dict[ObjectRef, AppWorker] = field(default_factory=dict)
    bodies: dict[ObjectRef, dict[str, Any]] = field(default_factory=dict)  # slim ZoomApps
    zoom_clients: dict[Endpoints, ZoomClient] = field(default_factory=dict)
    # Secret -> the ZoomApps that use it (a tuple: almost always one, and a set costs 4 times as much)
    secret_users: dict[ObjectRef, tuple[ObjectRef, ...]] = field(default_factory=dict)
    # ZoomApp -> (its credentials Secret, its token Secret)
    app_secrets: dict[ObjectRef, slim_copy.SecretRefs] = field(default_factory=dict)
    secret_watch: SecretWatch | None = None
    selector_kinds: dict[str, frozenset[str]] = field(default_factory=dict)  # which Secrets each watch sees
    reporter: _Reporter | None = None
    config: WorkerConfig | None = None
    # kopf's Event queue, as its handlers see it: the scheduler's steps post Events through it too
    event_queue: tuple[Any, asyncio.AbstractEventLoop] | None = None
    summary_task: asyncio.Task[None] | None = None
    trim_task: asyncio.Task[None] | None = None

    def zoom(self, endpoints: Endpoints) -> ZoomClient:
        client = self.zoom_clients.get(endpoints)
        if client is None:
            client = ZoomClient(
                oauth_url=endpoints.oauth_url,
                api_url=endpoints.api_url,
                transport=self.http,
                timeout=DEFAULT_TIMEOUTS,  # connect 5 s, read 10 s, a pooled connection 5 s
                observer=self.reporter.zoom_request if self.reporter else self.metrics.zoom_request,
            )
            self.zoom_clients[endpoints] = client
        return client


OPTIONS = OperatorOptions()
_runtime: Runtime | None = None


class PauseAwareMemories(ResourceMemories):
    """kopf's per-object memories, which also tell the scheduler when kopf pauses this replica.

    kopf pauses a peered replica when a peer of higher priority is alive, by stopping its watch streams
    and its daemons: its daemon killer walks every daemon memory once a second while paused (kopf
    `_core/engines/daemons.py`, `daemon_killer`). This process has no daemons, so that walk is the
    moment to stop serving: the scheduler drops every app; kopf's fresh listing after a resume adds
    them back. (A token request already in flight is not doubled: mints are arbitrated by the API
    server, see `AppWorker._record_attempt`.)
    """

    def iter_all_daemon_memories(self) -> Iterator[DaemonsMemory]:
        if _runtime is not None and _runtime.workers:
            served = len(_runtime.workers)
            for ref in list(_runtime.workers):
                _drop(_runtime, ref)
            log.info("kopf paused this replica (or it is exiting): stopped serving %d ZoomApps", served)
        yield from super().iter_all_daemon_memories()


MEMORIES = PauseAwareMemories()


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff base: the operator has no create or update handlers, so kopf has no diffs to compute.

    kopf's default keeps a deep copy of each object's essence, rebuilt on every watch event, and writes
    it into an annotation after the first handling (a PATCH per ZoomApp, and a watch event back).
    Every object here has the same (empty) essence: kopf sees no change.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return cast(kopf.BodyEssence, {})

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def runtime() -> Runtime:
    assert _runtime is not None, "the operator has not started"
    return _runtime


class _Reporter:
    """Events through kopf's poster; metrics through prometheus_client."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.mints = 0  # token requests answered, for the summary line
        self.zoom_errors = 0  # Zoom answers that were no success (any endpoint)

    def zoom_request(self, endpoint: str, status: int | None, code: int | None) -> None:
        if status is None or not 200 <= status < 300:
            self.zoom_errors += 1
        self._metrics.zoom_request(endpoint, status, code)

    def transition(self, ref: ObjectRef, body: Mapping[str, Any], change: Transition) -> None:
        condition = change.condition
        _in_kopf_context()
        kopf.event(
            dict(body),  # type: ignore[arg-type]
            type="Warning" if change.is_warning else "Normal",
            reason=condition.reason,
            message=f"{condition.type}={condition.status}: {condition.message}"[:1024],
        )
        log_transition(
            str(ref), condition.type, condition.status, condition.reason, condition.message, change.is_warning
        )

    def warning(self, ref: ObjectRef, body: Mapping[str, Any], reason: str, message: str) -> None:
        _in_kopf_context()
        kopf.event(dict(body), type="Warning", reason=reason, message=message[:1024])  # type: ignore[arg-type]

    def minted(self, ref: ObjectRef, outcome: TokenOutcome) -> None:
        self.mints += 1
        self._metrics.minted(ref, outcome)

    def published(self, ref: ObjectRef, state: WorkerView) -> None:
        self._metrics.published(ref, state)

    def forget(self, ref: ObjectRef) -> None:
        self._metrics.forget(ref)


def _fleet_counts(rt: Runtime) -> FleetCounts:
    """The summary line's counts: the served apps' latest diagnoses, the reporter's running totals."""
    return FleetCounts(
        lambda: [worker.state.diagnosis for worker in list(rt.workers.values())],
        lambda: (rt.reporter.mints, rt.reporter.zoom_errors) if rt.reporter else (0, 0),
    )


def _in_kopf_context() -> None:
    """Give the current task kopf's Event queue (kopf sets it for its own handlers only)."""
    rt = _runtime
    if rt is not None and rt.event_queue is not None:
        posting.event_queue_var.set(rt.event_queue[0])
        posting.event_queue_loop_var.set(rt.event_queue[1])


@kopf.on.login()
async def login(**_: Any) -> kopf.ConnectionInfo:
    return await kube_login(OPTIONS.kubeconfig)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _runtime
    options = OPTIONS
    memory.limit_arenas(MALLOC_ARENAS)  # before the thread pools start: see memory.py
    # Silent watch death is kopf's most reported failure: pin every timeout.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.watching.inactivity_timeout = 70
    settings.networking.request_timeout = 60
    if options.shard_selector:
        settings.watching.shard_selectors["zoom-operator.io", "zoomapps"] = options.shard_selector
    settings.persistence.finalizer = FINALIZER  # no handler needs it: kopf removes an old one
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="zoom-operator.io")
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.level = logging.WARNING  # our own Events say what matters; kopf's INFO chatter is noise
    settings.peering.name = options.peering_name or "zoom-operator"
    # kopf handles each ZoomApp in a per-object worker of its own; unbounded, the first listing of
    # 10,000 apps started 10,000 at once (when each added a finalizer with a PATCH: thousands of TLS
    # connections, 1.4 GB, and an API server too busy to answer the steps): bench/RESULTS.md.
    settings.queueing.worker_limit = KOPF_WORKER_LIMIT
    # ... and a worker holds its slot while it waits for the object's next event; meanwhile the listed
    # objects wait whole in kopf's queue. The handler is quick (no API call), so a worker that has
    # nothing to do exits at once, and kopf lists in pages: the first listing's objects are handed on
    # about as fast as they arrive, instead of all 10,000 waiting at once. What is allocated beside
    # them stays: Python frees an arena only when all of it is free, so that peak set the RSS kept
    # after the ramp (bench/RESULTS.md, 2026-12-07).
    settings.queueing.idle_timeout = KOPF_IDLE_SECONDS
    settings.watching.chunk_size = KOPF_LIST_PAGE

    kube = await asyncio.to_thread(connect, options.kubeconfig, pool_size=options.kube_workers)
    metrics = Metrics()
    if options.metrics_port:
        metrics.serve(options.metrics_port)
    # Zoom requests go through one aiohttp connection pool (zoom/pool.py: a third of the CPU per request
    # of httpx's client); more than ZOOM_CONNECTIONS at once wait in its queue.
    http = ZoomPool(connections=ZOOM_CONNECTIONS)
    scheduler: Scheduler[ObjectRef] = Scheduler(
        _step, concurrency=options.max_concurrent_steps, grid=STEP_GRID_SECONDS
    )
    rt = _runtime = Runtime(options=options, kube=kube, http=http, metrics=metrics, scheduler=scheduler)
    scheduler.start()
    exact = [ns for ns in options.namespaces if not _is_pattern(ns)]
    rt.reporter = _Reporter(metrics)
    if options.summary_interval > 0:
        summary = Summary(_fleet_counts(rt), interval_seconds=options.summary_interval)
        rt.summary_task = asyncio.create_task(summary.run(options.summary_interval), name="summary")
    rt.trim_task = asyncio.create_task(memory.trim_forever(), name="release-free-heap")
    rt.config = WorkerConfig(
        s2s_privilege=options.s2s_privilege,
        allowlist=options.allowlist,
        shard_labels=lambda uid: {SHARD_LABEL: shard_bucket(uid)},
    )
    rt.selector_kinds = _secret_selectors(options.shard)
    rt.secret_watch = SecretWatch(
        kube,
        # a namespace pattern (kopf glob) needs a cluster-wide watch, filtered here
        namespaces=exact if exact and len(exact) == len(options.namespaces) else None,
        selectors=list(rt.selector_kinds),
        on_event=_secret_event,
        on_relist=_secrets_relisted,
        # metadata only: no Secret's data reaches this process through the watch (an app reads its own
        # credentials by name when told they changed), and a relist of 10,000 Secrets stays small
        metadata_only=True,
    )
    # from now, not from a listing: each app reads its own Secrets by name on its first step, and kopf
    # serves no app before the startup handlers have returned
    await rt.secret_watch.prime()
    rt.secret_watch.start()


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    if _runtime is not None:
        if _runtime.secret_watch is not None:
            await _runtime.secret_watch.stop()
        if _runtime.summary_task is not None:
            _runtime.summary_task.cancel()
        if _runtime.trim_task is not None:
            _runtime.trim_task.cancel()
        await _runtime.scheduler.stop()
        await _runtime.http.aclose()
        await _runtime.kube.close()


@kopf.on.probe(id="zoomapps")
def served_apps(**_: Any) -> int:
    return len(_runtime.workers) if _runtime else 0


async def _step(ref: ObjectRef) -> Any:
    rt = runtime()
    worker = rt.workers.get(ref)
    if worker is None:
        return None
    wakeup = await worker.run_step()
    body = rt.bodies.get(ref)
    if body is not None and worker.restored and "status" in body:
        body["status"] = slim_copy.slim_status(body["status"])  # restored: keep only what the next steps read
    return wakeup


@kopf.on.event("zoom-operator.io", "v1alpha1", "zoomapps")
async def zoomapp_changed(*, body: kopf.Body, name: str, namespace: str | None, type: str, **_: Any) -> None:
    """Serve a new ZoomApp; keep a served one's slim copy current, and wake it when its spec, Secrets or
    the renew-now annotation changed (not for status writes, which are its own); stop serving a deleted
    one (there is no finalizer: the DELETED event, or a deletionTimestamp, is the signal)."""
    rt = runtime()
    if rt.event_queue is None:
        rt.event_queue = (posting.event_queue_var.get(), posting.event_queue_loop_var.get())
    ref = ObjectRef(sys.intern(namespace or ""), name)  # one copy of each namespace's name, not one per app
    if type == "DELETED" or body.get("metadata", {}).get("deletionTimestamp"):
        await _stop_serving(rt, ref)
        return
    worker = rt.workers.get(ref)
    old = rt.bodies.get(ref)
    slim = slim_copy.slim(body, keep_status=worker is None or not worker.restored, old=old, config=rt.config)
    rt.bodies[ref] = slim
    if worker is None:
        worker = AppWorker(
            ref=ref,
            # the current slim copy (not the first one: a closure over it kept a whole status per app)
            body=lambda: rt.bodies[ref],
            kube=rt.kube,
            zoom=rt.zoom,
            reporter=rt.reporter or _Reporter(rt.metrics),
            registry=rt.registry,
            config=rt.config,
            waker=rt.scheduler.wake,
        )
        rt.workers[ref] = worker
        _index_secrets(rt, ref, body)
        rt.scheduler.add(ref)
        rt.metrics.apps.set(len(rt.workers))
        return
    before = None if old is None else slim_copy.wake_key(old, rt.app_secrets.get(ref))
    if before != slim_copy.wake_key(slim, slim_copy.secret_refs(ref, body)):
        _index_secrets(rt, ref, body)
        worker.wake("spec")


async def _stop_serving(rt: Runtime, ref: ObjectRef) -> None:
    """A ZoomApp was deleted (or is being deleted): no step starts for it any more, and a step in
    flight is waited for. Its token Secret goes with it (owner reference). A token request that the
    step had already recorded cannot be recalled; every later write for the app answers 404, and a
    token Secret created meanwhile names the deleted uid, so the garbage collector removes it."""
    if ref not in rt.scheduler and ref not in rt.workers:
        return
    await rt.scheduler.remove(ref)
    _drop(rt, ref)


def _drop(rt: Runtime, ref: ObjectRef) -> None:
    rt.scheduler.discard(ref)
    worker = rt.workers.pop(ref, None)
    rt.bodies.pop(ref, None)
    _unindex_secrets(rt, ref)
    if worker is not None:
        worker.stop()
    rt.metrics.apps.set(len(rt.workers))


def _secret_event(kind: str, secret: Mapping[str, Any]) -> None:
    """A labelled Secret changed: wake the ZoomApps that read it (credentials) or own it (token)."""
    rt = _runtime
    if rt is None:
        return
    meta = secret.get("metadata") or {}
    ref = ObjectRef(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    users = rt.secret_users.get(ref)
    if not users:
        return  # not a Secret of an app this process serves
    token = (meta.get("labels") or {}).get(SECRET_KIND_LABEL) == SECRET_KIND_TOKEN
    for app in list(users):
        worker = rt.workers.get(app)
        if worker is None:
            continue
        if token:
            worker.token_secret_event(None if kind == "DELETED" else secret)
        else:
            worker.credentials_event()


def _secrets_relisted(namespace: str | None, selector: str, listed: frozenset[tuple[str, str]]) -> None:
    """After a (re)list, a served app's Secret that this watch covers and that is not there was deleted
    (or lost its labels) while nobody watched: its app checks it."""
    rt = _runtime
    if rt is None:
        return
    kinds = rt.selector_kinds.get(selector, frozenset())
    for app, secrets in list(rt.app_secrets.items()):
        worker = rt.workers.get(app)
        if worker is None or (namespace is not None and app.namespace != namespace):
            continue
        credentials, token = secrets
        if (
            "credentials" in kinds
            and credentials is not None
            and (credentials.namespace, credentials.name) not in listed
        ):
            worker.credentials_event()
        if "token" in kinds and token is not None and (token.namespace, token.name) not in listed:
            worker.token_secret_event(None)


def _secret_selectors(shard: tuple[int, int] | None) -> dict[str, frozenset[str]]:
    """The label selectors of the Secret watch, and which of an app's Secrets each one covers.

    Unsharded: one watch on the label key both kinds carry. Sharded: the token Secrets the operator
    writes carry the owning app's shard bucket (`kube/sharding.py`), so a shard watches only its own;
    credentials Secrets are the users' (the operator never labels them), so every shard watches all
    of them and drops the events of apps it does not serve (they change on rotations only).
    """
    buckets = bucket_selector(*shard) if shard is not None else None
    if buckets is None:
        return {SECRET_KIND_LABEL: frozenset({"credentials", "token"})}
    return {
        f"{SECRET_KIND_LABEL}={CREDENTIALS_LABEL_VALUE}": frozenset({"credentials"}),
        f"{SECRET_KIND_LABEL}={SECRET_KIND_TOKEN},{buckets}": frozenset({"token"}),
    }


def _is_pattern(namespace: str) -> bool:
    return any(c in namespace for c in "*?[!")


def _index_secrets(rt: Runtime, app: ObjectRef, body: Mapping[str, Any]) -> None:
    _unindex_secrets(rt, app)
    rt.app_secrets[app] = secrets = slim_copy.secret_refs(app, body)
    for secret in secrets:
        if secret is not None:
            users = rt.secret_users.get(secret, ())
            if app not in users:
                rt.secret_users[secret] = (*users, app)


def _unindex_secrets(rt: Runtime, app: ObjectRef) -> None:
    for secret in rt.app_secrets.pop(app, (None, None)):
        if secret is None:
            continue
        others = tuple(user for user in rt.secret_users.get(secret, ()) if user != app)
        if others:
            rt.secret_users[secret] = others
        else:
            rt.secret_users.pop(secret, None)
