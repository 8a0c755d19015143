"""Shared plumbing for the benchmarks: a private control plane, fast object creation, a ZoomApp watch,
API-server and process metrics, operator and simulator processes, and result files.

Every benchmark starts its own control plane (a throwaway folder) so the API server's request counters
belong to that benchmark alone, and its own simulator. Nothing here asserts a time: benchmarks print
and record numbers.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for extra in (REPO, REPO / "tools" / "control-plane"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx  # noqa: E402
import psutil  # noqa: E402
from control_plane import ControlPlane  # noqa: E402
from tests.support.operator import CRD_PATH, free_port  # noqa: E402
from tests.support.simulator import SimulatorProcess  # noqa: E402

OPERATOR_ENTRY = Path(__file__).resolve().parent / "operator_entry.py"
GROUP, VERSION, PLURAL = "zoom-operator.io", "v1alpha1", "zoomapps"
CREDENTIALS_LABEL = "zoom-operator.io/credentials"

PEERING_CRD = {
    # kopf's own CRD for namespaced peering (kopf docs, "Peering"); status holds each peer's keep-alive.
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "kopfpeerings.kopf.dev"},
    "spec": {
        "scope": "Namespaced",
        "group": "kopf.dev",
        "names": {"kind": "KopfPeering", "plural": "kopfpeerings", "singular": "kopfpeering"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                        },
                    }
                },
            }
        ],
    },
}


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------------
# machine


def machine_info() -> dict[str, Any]:
    from importlib.metadata import version

    import kopf  # noqa: F401 - version below

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kopf": version("kopf"),
        "kubernetes_client": version("kubernetes"),
        "httpx": version("httpx"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------------------------------
# control plane and API access


class Kube:
    """The bench's own admin access to the API server: pooled HTTPS clients, one per thread."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self._ssl = cp.ssl_context(admin=True)
        self._local = threading.local()

    def client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self.cp.server, verify=self._ssl, timeout=60.0)
            self._local.client = client
        return client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        ok: Iterable[int] = (),
    ) -> Any:
        headers = {"Content-Type": content_type} if content_type else {}
        response = self.client().request(method, path, json=body, headers=headers, params=params)
        if response.status_code >= 300 and response.status_code not in set(ok):
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        return (
            response.json()
            if response.content and response.headers.get("content-type", "").startswith("application/json")
            else response.text
        )

    def apply(self, manifest: Mapping[str, Any]) -> None:
        """Server-side apply of one object (any kind), as field manager `bench`."""
        api = manifest["apiVersion"]
        base = f"/api/{api}" if "/" not in api else f"/apis/{api}"
        plural = {
            "CustomResourceDefinition": "customresourcedefinitions",
            "Namespace": "namespaces",
            "KopfPeering": "kopfpeerings",
        }[manifest["kind"]]
        ns = manifest["metadata"].get("namespace")
        path = f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}"
        self.request(
            "PATCH",
            f"{path}/{manifest['metadata']['name']}",
            manifest,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": "bench", "force": "true"},
        )

    def create_many(self, items: Sequence[tuple[str, Mapping[str, Any]]], *, workers: int = 12) -> float:
        """POST (path, body) pairs with a thread pool; 409 AlreadyExists is fine. Returns seconds taken."""
        started = time.monotonic()

        def post(item: tuple[str, Mapping[str, Any]]) -> None:
            path, body = item
            for attempt in range(5):
                response = self.client().post(path, json=body)
                if response.status_code in (200, 201, 409):
                    return
                if response.status_code in (429, 500, 503, 504) and attempt < 4:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise RuntimeError(f"POST {path} -> {response.status_code}: {response.text[:300]}")

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(post, items))
        return time.monotonic() - started

    def apiserver_requests(self) -> Counter[tuple[str, str]]:
        """apiserver_request_total summed by (verb, resource[/subresource]); non-resource paths skipped."""
        text = self.request("GET", "/metrics")
        totals: Counter[tuple[str, str]] = Counter()
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
            resource = labels.get("resource", "")
            if not resource or resource == "leases":  # the API server's own identity lease, every 10 s
                continue
            if labels.get("subresource"):
                resource += "/" + labels["subresource"]
            totals[(labels.get("verb", ""), resource)] += int(float(line.rsplit(" ", 1)[1]))
        return totals


def start_control_plane(workdir: Path, *, profiling: bool = False) -> ControlPlane:
    # Without kube-controller-manager, as in the recorded runs (bench/RESULTS.md), so the figures stay
    # comparable: its garbage collector would watch every one of the 10,000 apps' objects too.
    # `profiling`: the API server serves /debug/pprof (apiserver_cpu_profile).
    cp = ControlPlane(
        workdir / "control-plane",
        controller_manager=False,
        extra_apiserver_args=["--profiling=true"] if profiling else [],
    )
    cp.start()
    kube = Kube(cp)
    cp.kubectl("apply", "--server-side", "-f", str(CRD_PATH))
    kube.apply(PEERING_CRD)
    cp.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/zoomapps.zoom-operator.io",
        "crd/kopfpeerings.kopf.dev",
        "--timeout=60s",
    )
    return cp


def apiserver_cpu_profile(cp: ControlPlane, out: Path, after: float, seconds: int) -> None:
    """After `after` seconds, a CPU profile of the API server over `seconds` (pprof format) to `out`, as the
    cluster admin; the API server must run with --profiling=true (start_control_plane(profiling=True))."""
    time.sleep(after)
    pki = cp.directory / "pki"
    subprocess.run(
        [
            "curl", "-sSf", "--cacert", str(pki / "ca.crt"),
            "--cert", str(pki / "admin.crt"), "--key", str(pki / "admin.key"),
            f"{cp.server}/debug/pprof/profile?seconds={seconds}", "-o", str(out),
        ],
        check=False, timeout=seconds + 60,
    )  # fmt: skip
    log(f"  API-server CPU profile written to {out}")


CHART = REPO / "charts" / "zoom-operator"
CHART_RELEASE = "bench"
CHART_NAMESPACE = "zoom-operator"


def chart_identity(cp: ControlPlane, workdir: Path, watch_namespaces: Sequence[str]) -> Path:
    """A kubeconfig for the identity the Helm chart gives the operator: its ServiceAccount (a bound
    token, as a pod's projected one) with the chart's Role in each of `watch_namespaces`, as
    `helm install --set watchNamespaces=...` creates it (no kubelet runs, so its Deployment stays idle).

    This is what the operator pays on a real cluster: token authentication (the API server caches
    it) and the chart's RBAC rules. As the cluster admin with a client certificate, as runs before
    2026-12-07 did, the API server verified the certificate's signature on every request (7 % of its CPU
    during a 3,000-app ramp)."""
    helm = subprocess.run(
        ["bash", str(REPO / "tools" / "get-helm.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    cp.create_namespace(CHART_NAMESPACE)
    values = workdir / "chart-values.json"
    values.write_text(json.dumps({"crds": {"install": False}, "watchNamespaces": list(watch_namespaces)}))
    subprocess.run(
        [
            helm, "install", CHART_RELEASE, str(CHART),
            "--namespace", CHART_NAMESPACE, "--kubeconfig", str(cp.kubeconfig), "-f", str(values),
        ],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    token = cp.create_token(CHART_NAMESPACE, f"{CHART_RELEASE}-zoom-operator", duration="12h")
    return cp.token_kubeconfig(workdir / "operator.kubeconfig", token)


def create_namespace(kube: Kube, name: str, *, peering: str | None = None) -> None:
    kube.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        ok=(409,),
    )
    if peering:
        kube.apply(
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "KopfPeering",
                "metadata": {"name": peering, "namespace": name},
            }
        )


def secret_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets"


def zoomapp_path(namespace: str | None = None) -> str:
    if namespace is None:
        return f"/apis/{GROUP}/{VERSION}/{PLURAL}"
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


def credentials_secret(name: str, account_id: str, client_id: str, client_secret: str) -> dict[str, Any]:
    """Labelled by its writer: the operator reads only credentials Secrets labelled for it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {CREDENTIALS_LABEL: "true"}},
        "type": "Opaque",
        "stringData": {"account_id": account_id, "client_id": client_id, "client_secret": client_secret},
    }


def zoomapp(name: str, *, credentials: str, base_url: str, owner_email: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ZoomApp",
        "metadata": {"name": name},
        "spec": {
            "credentialsSecretRef": {"name": credentials},
            "expectedOwner": {"email": owner_email},
            "endpoints": {"oauthUrl": base_url, "apiUrl": base_url},
            **spec,
        },
    }


# --------------------------------------------------------------------------------------------------
# watching ZoomApps


def condition_of(obj: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


@dataclass
class AppView:
    conditions: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (status, reason)
    status: dict[str, Any] = field(default_factory=dict)
    uid: str = ""


class ZoomAppWatch:
    """LIST then WATCH all ZoomApps in a thread; keeps each app's conditions and calls `on_change` with
    (monotonic time, namespace/name, AppView) whenever a condition changes. Raw JSON, no models: cheap
    enough for 10,000 objects."""

    def __init__(
        self,
        kube: Kube,
        on_change: Callable[[float, str, AppView], None] | None = None,
        namespace: str | None = None,
    ) -> None:
        self.kube = kube
        self.on_change = on_change
        self.path = zoomapp_path(namespace)
        self.apps: dict[str, AppView] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="zoomapp-watch")
        self.listed = threading.Event()
        self._client: httpx.Client | None = None

    def start(self) -> ZoomAppWatch:
        self._thread.start()
        self.listed.wait(60)
        return self

    def stop(self) -> None:
        """Stop and close the stream, so the bench's own requests end here."""
        self._stop.set()
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        self._thread.join(timeout=10)

    def _observe(self, obj: Mapping[str, Any], deleted: bool = False) -> None:
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        now = time.monotonic()
        with self.lock:
            if deleted:
                self.apps.pop(key, None)
                return
            view = self.apps.setdefault(key, AppView())
            view.uid = meta.get("uid", "")
            view.status = dict(obj.get("status") or {})
            new = {
                c["type"]: (c.get("status", ""), c.get("reason", ""))
                for c in (obj.get("status") or {}).get("conditions") or []
            }
            changed = new != view.conditions
            view.conditions = new
        if changed and self.on_change is not None:
            self.on_change(now, key, view)

    def _run(self) -> None:
        client = httpx.Client(
            base_url=self.kube.cp.server, verify=self.kube._ssl, timeout=httpx.Timeout(60.0, read=90.0)
        )
        self._client = client
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    cont = ""
                    while True:
                        params = {"limit": "500", **({"continue": cont} if cont else {})}
                        page = client.get(self.path, params=params).json()
                        for item in page.get("items") or []:
                            self._observe(item)
                        cont = page["metadata"].get("continue", "")
                        version = page["metadata"]["resourceVersion"]
                        if not cont:
                            break
                    self.listed.set()
                params = {
                    "watch": "1",
                    "resourceVersion": version,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": "60",
                }
                with client.stream("GET", self.path, params=params) as response:
                    for line in response.iter_lines():
                        if self._stop.is_set():
                            return
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            version = ""  # 410 Gone: list again
                            break
                        version = obj["metadata"].get("resourceVersion", version)
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self._observe(obj)
                        elif event["type"] == "DELETED":
                            self._observe(obj, deleted=True)
            except (httpx.HTTPError, ValueError, KeyError, RuntimeError) as error:
                if not self._stop.is_set():
                    log(f"zoomapp watch: {error!r}; resuming")
                    time.sleep(1)

    def count(self, kind: str, status: str, reason: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for view in self.apps.values()
                if (c := view.conditions.get(kind)) and c[0] == status and (reason is None or c[1] == reason)
            )

    def snapshot(self) -> dict[str, AppView]:
        with self.lock:
            return dict(self.apps)


# --------------------------------------------------------------------------------------------------
# processes


class Operator:
    """`zoom-operator run` through bench/operator_entry.py (which can shorten kopf's peering lifetime
    for time-compressed runs); its own process group, log file, metrics port."""

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        *,
        namespaces: Sequence[str] = (),
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        peering_lifetime: int | None = None,
        name: str = "operator",
        allow_endpoints: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.metrics_port = free_port()
        self.argv = [
            sys.executable,
            str(OPERATOR_ENTRY),
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--metrics-port",
            str(self.metrics_port),
            *[a for ns in namespaces for a in ("-n", ns)],
            *[a for url in allow_endpoints for a in ("--allow-endpoint", url)],  # the simulator, explicitly
            *args,
        ]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "KUBECONFIG": str(kubeconfig), **(env or {})}
        if peering_lifetime is not None:
            self.env["BENCH_PEERING_LIFETIME"] = str(peering_lifetime)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> Operator:
        self._log = self.log_path.open("ab")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if hasattr(self, "_log") and not self._log.closed:
            self._log.close()

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def metrics(self) -> str:
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=30).text
        except httpx.HTTPError:
            return ""


def simulator(
    state: dict[str, Any], *, ttl: int | None = None, extra: Sequence[str] = ()
) -> SimulatorProcess:
    args = list(extra)
    if ttl is not None:
        args += ["--token-ttl-seconds", str(ttl)]
    return SimulatorProcess(state=state, extra_args=args)


def sim_pid(sim: SimulatorProcess) -> int:
    process = sim._process
    assert process is not None
    return process.pid


@dataclass
class ProcSample:
    rss_mb: float
    cpu_seconds: float


def proc_sample(pid: int) -> ProcSample:
    """RSS and user+system CPU of a process and its children (py-spy-free, from /proc via psutil)."""
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    rss = cpu = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            rss += p.memory_info().rss
            times = p.cpu_times()
            cpu += times.user + times.system
    return ProcSample(rss / 2**20, cpu)


def py_spy_record(pid: int, seconds: int, out: Path, *, fmt: str = "raw") -> subprocess.Popen[bytes] | None:
    """Start `py-spy record` on a process (idle frames excluded); None when py-spy is not installed."""
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        return None
    return subprocess.Popen(
        [
            str(exe),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "50",
            "--format",
            fmt,
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarize_collapsed(path: Path, top: int = 15) -> list[tuple[str, float]]:
    """From py-spy's collapsed stacks: the share of samples in which each function appears (inclusive),
    for the functions that matter (project, kopf, clients, asyncio); and by leaf module."""
    if not path.exists():
        return []
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        samples = int(n)
        total += samples
        seen: set[str] = set()
        for frame in stack.split(";"):
            name = re.sub(r" \(.*?\)$", "", frame)
            where = re.search(r"\((.*?):\d+\)", frame)
            module = where.group(1) if where else ""
            if _generic(module, name):
                continue
            label = f"{name} ({_short_module(module)})"
            if label not in seen:
                seen.add(label)
                counts[label] += samples
    if not total:
        return []
    return [(label, 100.0 * n / total) for label, n in counts.most_common(top)]


def leaf_modules(path: Path, top: int = 12) -> list[tuple[str, float]]:
    """Self time by package (the leaf frame's file), from collapsed stacks."""
    if not path.exists():
        return []
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        leaf = stack.split(";")[-1]
        where = re.search(r"\((.*?):\d+\)", leaf)
        counts[_package(where.group(1) if where else leaf)] += int(n)
        total += int(n)
    return [(name, 100.0 * n / total) for name, n in counts.most_common(top)] if total else []


_GENERIC_MODULES = (
    "asyncio/",
    "threading.py",
    "concurrent/futures/",
    "operator_entry.py",
    "zoom_operator/cli.py",
    "zoom_operator/runner.py",
    "kopf/_core/reactor/running.py",
    "contextvars",
    "runpy.py",
)


def _generic(module: str, name: str) -> bool:
    """Frames every sample passes through (the loop, thread pools, entry points): they say nothing."""
    return name == "<module>" or any(part in module for part in _GENERIC_MODULES)


def _short_module(module: str) -> str:
    return module.split("site-packages/")[-1].split("lib/python3.11/")[-1]


def _package(module: str) -> str:
    short = _short_module(module)
    if "zoom_operator" in short:
        return "zoom_operator/" + short.split("zoom_operator/")[-1]
    return short.split("/")[0]


# --------------------------------------------------------------------------------------------------
# results


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def write_figures(results: Path) -> None:
    """PNG figures next to results.json (bench/plots.py; matplotlib is in the bench extra)."""
    from plots import plot  # bench/ is on sys.path for its scripts

    for path in plot(results):
        log(f"figure: {path}")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def workdir(name: str, base: str | None) -> Path:
    root = Path(base) if base else REPO / "bench" / "out"
    path = root / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{random.randint(0, 999):03d}"
    path.mkdir(parents=True)
    return path


@contextlib.contextmanager
def stopping(*things: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in things:
            with contextlib.suppress(Exception):
                thing.stop()
