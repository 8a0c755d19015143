"""A real, local Kubernetes control plane for tests and the demo: etcd + kube-apiserver +
kube-controller-manager, no Docker.

The processes listen on 127.0.0.1 only (free ports), keep their data, certificates and logs in one
folder, and run in their own process groups, which are stopped with SIGTERM then SIGKILL.

    with ControlPlane() as cp:                # a throwaway folder, removed on exit
        cp.create_namespace("demo")
        cp.kubectl("get", "namespaces")

    python tools/control-plane/control_plane.py up --dir .cluster    # stays up; pids in .cluster/
    python tools/control-plane/control_plane.py status --dir .cluster
    python tools/control-plane/control_plane.py down --dir .cluster

What runs: an API server with RBAC authorization, x509 client-cert authentication (the admin is in
`system:masters`), service-account tokens (TokenRequest, so `kubectl create token` works), Pod
Security admission and the `ShardedListAndWatch` feature gate on; and kube-controller-manager as
`system:kube-controller-manager` with one service account per controller, as clusters run it: owned
objects are garbage-collected, deleted namespaces finish terminating, new namespaces get their
`default` ServiceAccount, Deployments get ReplicaSets and Pods (`controller_manager=False`, or
`up --no-controller-manager`, leaves it out). What does not run: a scheduler or a kubelet, so Pods
stay Pending and never run — tests assert on API objects.

Standard library only (plus the `openssl` command for the certificates), so it also runs outside
the project's virtualenv.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

KUBERNETES_VERSION = "v1.37.2"  # keep in step with go.mod and build.sh
HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build.sh"
DEFAULT_FEATURE_GATES: Mapping[str, bool] = {"ShardedListAndWatch": True}
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_USER = "zoom-operator-admin"
STATE_FILE = "state.json"
LOG_TAIL_LINES = 40
# What one run leaves in its folder; wiped before the next start.
PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager")  # start order; stopped in reverse
RUN_FILES = (
    "etcd-data", "pki", "kubeconfig", "controller-manager.kubeconfig", "kubectl-cache", STATE_FILE,
    *(f"{name}.log" for name in PROCESSES),
)  # fmt: skip


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or reached."""


class KubectlError(ControlPlaneError):
    """kubectl exited non-zero; `stderr` holds what it said."""

    def __init__(self, args: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(f"kubectl {' '.join(args)} exited {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


# --------------------------------------------------------------------------------------------------
# binaries


def cache_root() -> Path:
    return Path(os.environ.get("ZOOM_OPERATOR_CACHE") or Path.home() / ".cache" / "zoom-operator")


def ensure_binaries() -> Path:
    """Run build.sh (a no-op once cached, or with KUBEBUILDER_ASSETS) and return the bin folder."""
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True, check=False
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode} (output above)")
    return Path(lines[-1])


def find_binary(bin_dir: Path, name: str) -> Path:
    """`name` beside the API server, else the project's cached build, else PATH (for KUBEBUILDER_ASSETS
    folders, which hold only kube-apiserver and etcd)."""
    for candidate in (bin_dir / name, cache_root() / "control-plane" / KUBERNETES_VERSION / name):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is None:
        raise ControlPlaneError(f"no {name} in {bin_dir}, the cache or PATH; run {BUILD_SCRIPT}")
    return Path(found)


def find_kubectl(bin_dir: Path) -> Path:
    return find_binary(bin_dir, "kubectl")


# --------------------------------------------------------------------------------------------------
# processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """preexec_fn: SIGKILL the child if the (test) process that started it dies without calling stop()."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _group_members(pgid: int) -> list[int]:
    """Live processes in process group `pgid` (from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def stop_group(pgid: int, grace: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM process group `pgid`, wait up to `grace` seconds, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc is not None:
                proc.poll()  # reap our own child so it does not linger as a zombie
            if not _group_members(pgid):
                break
            time.sleep(0.05)
        else:
            continue
        break
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------
# certificates (openssl CLI)


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


def _ec_key(name: str, pki: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name, cwd=pki)


def _signed_cert(name: str, subject: str, extensions: str, pki: Path) -> None:
    _ec_key(f"{name}.key", pki)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=pki)
    (pki / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "3650", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=pki,
    )  # fmt: skip


def make_pki(pki: Path) -> None:
    """A throwaway CA, the API server's serving cert, the admin's client cert, the SA signing key."""
    pki.mkdir(parents=True, exist_ok=True)
    _ec_key("ca.key", pki)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=zoom-operator-test-ca", "-days", "3650",
        "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt", cwd=pki,
    )  # fmt: skip
    _signed_cert(
        "apiserver",
        "/CN=kube-apiserver",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n",
        pki,
    )
    _signed_cert(
        "admin",
        f"/O=system:masters/CN={ADMIN_USER}",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n",
        pki,
    )
    _signed_cert(
        "controller-manager",
        "/CN=system:kube-controller-manager",  # the user the bootstrap RBAC policy grants its role to
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n",
        pki,
    )
    _ec_key("sa.key", pki)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for leftover in pki.glob("*.csr"):
        leftover.unlink()
    for key in pki.glob("*.key"):
        key.chmod(0o600)


def write_kubeconfig(path: Path, server: str, ca_pem: bytes, user: Mapping[str, str]) -> None:
    """A one-context kubeconfig with everything inline (JSON is valid YAML; kubectl and clients read it)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "zoom-operator-local",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": "user", "user": dict(user)}],
        "contexts": [
            {"name": "zoom-operator-local", "context": {"cluster": "zoom-operator-local", "user": "user"}}
        ],
        "current-context": "zoom-operator-local",
        "preferences": {},
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------------
# the control plane


class ControlPlane:
    """etcd + kube-apiserver on loopback. Use as a context manager, or `start()` / `stop()`.

    `controller_manager=False` runs only etcd and the API server (nothing garbage-collects, namespaces
    stay Terminating). `directory=None` uses a temporary folder removed by `stop()`; a given folder is
    kept (its logs stay for inspection; the etcd data is wiped on the next start). `detach=True` lets
    the processes outlive this Python process (the CLI's `up`); otherwise the kernel also SIGKILLs
    them if this process dies without calling `stop()`.
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        feature_gates: Mapping[str, bool] | None = None,
        extra_apiserver_args: Sequence[str] = (),
        startup_timeout: float = 180.0,
        bin_dir: Path | None = None,
        detach: bool = False,
        controller_manager: bool = True,
    ) -> None:
        self._owns_dir = directory is None
        self.dir = Path(directory).resolve() if directory is not None else None
        self.feature_gates: dict[str, bool] = {**DEFAULT_FEATURE_GATES, **(feature_gates or {})}
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.startup_timeout = startup_timeout
        self._bin_dir = bin_dir
        self.detach = detach
        self.controller_manager = controller_manager
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._pgids: dict[str, int] = {}
        self._argv: dict[str, list[str]] = {}  # how each process was started, for restart_process()
        self._server: str | None = None
        self._kubectl_path: Path | None = None
        self._owns_processes = False
        self._admin_token: str | None = None

    # ---- attributes ---------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        if self.dir is None:
            raise ControlPlaneError("control plane not started")
        return self.dir

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = ensure_binaries()
        return self._bin_dir

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def server(self) -> str:
        if self._server is None:
            raise ControlPlaneError("control plane not started")
        return self._server

    @property
    def ca_file(self) -> Path:
        return self.directory / "pki" / "ca.crt"

    @property
    def kubectl_path(self) -> Path:
        if self._kubectl_path is None:
            self._kubectl_path = find_kubectl(self.bin_dir)
        return self._kubectl_path

    @property
    def pids(self) -> dict[str, int]:
        return dict(self._pgids)

    # ---- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        bin_dir = self.bin_dir  # build (or find) before taking any port
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="zoom-operator-cp-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        stale = read_state(self.dir)
        if stale is not None and any(_ours(pid, self.dir) for pid in stale.get("pgids", {}).values()):
            raise ControlPlaneError(f"a control plane is already running in {self.dir}; run `down` first")
        for name in RUN_FILES:
            target = self.dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        make_pki(self.dir / "pki")
        self._owns_processes = True
        if not self.detach:
            atexit.register(self.stop)
        try:
            for attempt in range(3):
                try:
                    self._start_processes(bin_dir)
                    break
                except _PortTaken:
                    self._stop_processes()
                    if attempt == 2:
                        raise ControlPlaneError("ports kept being taken by other processes") from None
            self._write_admin_kubeconfig()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_processes(self, bin_dir: Path) -> None:
        d = self.directory
        pki = d / "pki"
        etcd_port, peer_port, api_port = _free_port(), _free_port(), _free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                str(bin_dir / "etcd"),
                "--name=default",
                f"--data-dir={d / 'etcd-data'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync=true",  # throwaway data: skip fsync, much faster on slow disks
                "--log-level=warn",
            ],
        )
        self._wait_until(lambda: _http_ok(f"{etcd_url}/health"), "etcd /health", "etcd")

        gates = ",".join(f"{name}={str(on).lower()}" for name, on in sorted(self.feature_gates.items()))
        self._server = f"https://127.0.0.1:{api_port}"
        self._spawn(
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",  # loopback cannot be an Endpoints address
                f"--secure-port={api_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=false",
                "--profiling=false",
                f"--feature-gates={gates}",
                *self.extra_apiserver_args,
            ],
        )
        self._write_state()
        ctx = self.ssl_context()
        self._wait_until(
            lambda: _http_ok(f"{self.server}/readyz", ctx), "kube-apiserver /readyz", "kube-apiserver"
        )
        if self.controller_manager:
            self._start_controller_manager(d)

    def _start_controller_manager(self, d: Path) -> None:
        pki = d / "pki"
        write_kubeconfig(
            d / "controller-manager.kubeconfig",
            self.server,
            (pki / "ca.crt").read_bytes(),
            {
                "client-certificate": str(pki / "controller-manager.crt"),
                "client-key": str(pki / "controller-manager.key"),
            },
        )
        kubeconfig = d / "controller-manager.kubeconfig"
        port = _free_port()
        gates = ",".join(f"{name}={str(on).lower()}" for name, on in sorted(self.feature_gates.items()))
        self._spawn(
            "kube-controller-manager",
            [
                str(find_binary(self.bin_dir, "kube-controller-manager")),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--use-service-account-credentials=true",  # each controller with its own RBAC role
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",  # the kube-root-ca.crt ConfigMap in each namespace
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={pki / 'controller-manager-serving'}",
                "--profiling=false",
                f"--feature-gates={gates}",
            ],
        )
        # /healthz is served to anyone (--authorization-always-allow-paths); its cert is self-signed.
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        self._wait_until(
            lambda: _http_ok(f"https://127.0.0.1:{port}/healthz", insecure),
            "kube-controller-manager /healthz",
            "kube-controller-manager",
        )

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.directory / f"{name}.log").open("ab")
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,  # own process group: stopped as a unit, immune to Ctrl-C
                preexec_fn=None if self.detach else _die_with_parent,
            )
        finally:
            log.close()
        self._procs[name] = proc
        self._pgids[name] = proc.pid  # session leader: pgid == pid
        self._argv[name] = list(argv)
        self._write_state()

    def _wait_until(self, ready: Callable[[], bool], what: str, proc_name: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        proc = self._procs[proc_name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = self.directory / f"{proc_name}.log"
                text = _tail(log)
                if "address already in use" in text:
                    raise _PortTaken(text)
                raise ControlPlaneError(
                    f"{proc_name} exited with code {proc.returncode} before {what} answered.\n" + self._logs()
                )
            if ready():
                return
            time.sleep(0.1)
        raise ControlPlaneError(
            f"{what} did not answer 200 within {self.startup_timeout:.0f} s.\n" + self._logs()
        )

    def _logs(self) -> str:
        parts = []
        for name in PROCESSES:
            log = self.directory / f"{name}.log"
            if name == "kube-controller-manager" and not log.exists():
                continue
            parts.append(f"--- last {LOG_TAIL_LINES} lines of {log} ---\n{_tail(log)}")
        return "\n".join(parts)

    def _write_state(self) -> None:
        state = {
            "server": self._server,
            "kubeconfig": str(self.kubeconfig),
            "bin_dir": str(self.bin_dir),
            "pgids": self._pgids,
            "feature_gates": self.feature_gates,
        }
        tmp = self.directory / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.directory / STATE_FILE)
        for name, pid in self._pgids.items():
            (self.directory / f"{name}.pid").write_text(f"{pid}\n")

    def _write_admin_kubeconfig(self) -> None:
        pki = self.directory / "pki"
        write_kubeconfig(
            self.kubeconfig,
            self.server,
            (pki / "ca.crt").read_bytes(),
            {
                "client-certificate-data": base64.b64encode((pki / "admin.crt").read_bytes()).decode(),
                "client-key-data": base64.b64encode((pki / "admin.key").read_bytes()).decode(),
            },
        )

    def _stop_processes(self) -> None:
        for name in reversed(PROCESSES):  # etcd last, so the others do not log etcd errors
            pgid = self._pgids.pop(name, None)
            if pgid is not None:
                stop_group(pgid, proc=self._procs.pop(name, None))
        if self.dir is not None and self.dir.exists():
            for name in PROCESSES:
                (self.dir / f"{name}.pid").unlink(missing_ok=True)
            (self.dir / STATE_FILE).unlink(missing_ok=True)

    def restart_process(self, name: str, *, downtime: float = 0.0, hard: bool = False) -> None:
        """Stop one process ("etcd" or "kube-apiserver"), wait `downtime` seconds, start it again with
        the same arguments (same ports, same etcd data) and wait until the API server answers /readyz.
        `hard` kills with SIGKILL at once (a crash); otherwise SIGTERM then SIGKILL as in `stop()`.
        For fault tests; a control plane from `attach()` has no processes to restart."""
        if name not in self._argv:
            raise ControlPlaneError(f"no {name} process started by this control plane")
        pgid = self._pgids.pop(name)
        proc = self._procs.pop(name)
        if hard:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        stop_group(pgid, proc=proc)
        time.sleep(downtime)
        self._spawn(name, self._argv[name])
        ctx = self.ssl_context()
        self._wait_until(lambda: _http_ok(f"{self.server}/readyz", ctx), "kube-apiserver /readyz", name)

    def stop(self) -> None:
        """Stop both processes (idempotent); remove the folder if it was a temporary one."""
        atexit.unregister(self.stop)
        if self._owns_processes:
            self._stop_processes()
            self._owns_processes = False
            if self.dir is not None and not self._owns_dir:
                shutil.rmtree(self.dir / "etcd-data", ignore_errors=True)
        if self._owns_dir and self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    @classmethod
    def attach(cls, kubeconfig: Path) -> ControlPlane:
        """Use an already running cluster (e.g. `make cluster`) instead of starting one.

        The kubeconfig's current context must give admin rights; its server, CA and credentials are
        copied into a temporary folder that `stop()` removes. No process is started or stopped.
        """
        kubectl = find_kubectl(cache_root() / "control-plane" / KUBERNETES_VERSION)
        proc = subprocess.run(
            [str(kubectl), f"--kubeconfig={kubeconfig}", "config", "view", "--raw", "--minify", "--flatten",
             "-o", "json"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise ControlPlaneError(f"cannot read kubeconfig {kubeconfig}: {proc.stderr.strip()}")
        config = json.loads(proc.stdout)
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        cp = cls(None)
        cp._kubectl_path = kubectl
        cp.dir = Path(tempfile.mkdtemp(prefix="zoom-operator-attached-"))
        cp._server = str(cluster["server"])
        pki = cp.dir / "pki"
        pki.mkdir()
        if "certificate-authority-data" not in cluster:
            raise ControlPlaneError(f"kubeconfig {kubeconfig}: the cluster has no certificate-authority-data")
        (pki / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        if "client-certificate-data" in user and "client-key-data" in user:
            (pki / "admin.crt").write_bytes(base64.b64decode(user["client-certificate-data"]))
            (pki / "admin.key").write_bytes(base64.b64decode(user["client-key-data"]))
        cp._admin_token = user.get("token")
        cp.kubeconfig.write_text(json.dumps(config))
        cp.kubeconfig.chmod(0o600)
        return cp

    # ---- clients ------------------------------------------------------------------------------

    def ssl_context(self, *, admin: bool = True) -> ssl.SSLContext:
        """Trusts the cluster CA; with `admin=True` also presents the admin's client certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if admin and self._admin_token is None:
            pki = self.directory / "pki"
            ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def request(
        self, path: str, *, token: str | None = None, method: str = "GET", body: bytes | None = None
    ) -> tuple[int, bytes]:
        """One HTTPS call to the API server: as the admin, or with `token` as a bearer token only."""
        headers = {"Accept": "application/json"}
        if token is None and self._admin_token is not None:
            headers["Authorization"] = f"Bearer {self._admin_token}"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = self.server + path  # always https://127.0.0.1:<port>/...
        req = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
        ctx = self.ssl_context(admin=token is None)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:  # noqa: S310
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as err:
            return int(err.code), err.read()

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster as the admin; raise KubectlError on failure if `check`."""
        argv = [
            str(self.kubectl_path),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.directory / 'kubectl-cache'}",  # keep ~/.kube/cache clean
            *args,
        ]
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise KubectlError(args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def create_namespace(self, name: str) -> None:
        self.kubectl("create", "namespace", name)

    def create_token(self, namespace: str, service_account: str, duration: str = "1h") -> str:
        """A bound token for a ServiceAccount (TokenRequest API), as `kubectl create token` gives."""
        out = self.kubectl("create", "token", service_account, "-n", namespace, f"--duration={duration}")
        return out.stdout.strip()

    def token_kubeconfig(self, path: Path, token: str) -> Path:
        """Write a kubeconfig that authenticates with `token` only (e.g. a ServiceAccount's)."""
        write_kubeconfig(path, self.server, self.ca_file.read_bytes(), {"token": token})
        return path


class _PortTaken(ControlPlaneError):
    """A port picked as free was taken before the process bound it; retried with new ports."""


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:  # noqa: S310 - loopback health URLs
            return int(resp.status) == 200
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------------------------------
# state of a detached control plane (for `down` / `status` from another process)


def read_state(directory: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _ours(pid: int, directory: Path) -> bool:
    """The pid still belongs to a process of this control plane (guards against pid reuse)."""
    return _alive(pid) and str(directory) in _cmdline(pid)


def down(directory: Path, grace: float = 10.0) -> list[int]:
    """Stop the control plane recorded in `directory`; return the process groups signalled."""
    directory = directory.resolve()
    state = read_state(directory) or {}
    pgids: dict[str, int] = dict(state.get("pgids", {}))
    for name in reversed(PROCESSES):
        with contextlib.suppress(OSError, ValueError):
            pgids.setdefault(name, int((directory / f"{name}.pid").read_text()))
    stopped = []
    for name in reversed(PROCESSES):
        pgid = pgids.get(name)
        if pgid is not None and _ours(pgid, directory):
            stop_group(pgid, grace)
            stopped.append(pgid)
        (directory / f"{name}.pid").unlink(missing_ok=True)
    (directory / STATE_FILE).unlink(missing_ok=True)
    shutil.rmtree(directory / "etcd-data", ignore_errors=True)
    return stopped


def status(directory: Path) -> tuple[bool, str]:
    directory = directory.resolve()
    state = read_state(directory)
    if state is None:
        return False, f"no control plane in {directory}"
    alive = {name: _ours(pid, directory) for name, pid in state.get("pgids", {}).items()}
    ready = False
    if all(alive.values()) and state.get("server"):
        ctx = ssl.create_default_context(cafile=str(directory / "pki" / "ca.crt"))
        ready = _http_ok(f"{state['server']}/readyz", ctx)
    procs = ", ".join(f"{n} pid {state['pgids'][n]} {'running' if a else 'GONE'}" for n, a in alive.items())
    verdict = "ready" if ready else "NOT ready"
    return ready, f"{verdict}: {state.get('server')} ({procs})\nexport KUBECONFIG={state.get('kubeconfig')}"


# --------------------------------------------------------------------------------------------------
# CLI


def _parse_gates(text: str) -> dict[str, bool]:
    gates = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if value.lower() not in ("true", "false"):
            raise argparse.ArgumentTypeError(f"feature gate {item!r}: expected Name=true|false")
        gates[name] = value.lower() == "true"
    return gates


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="control_plane.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up_p = sub.add_parser("up", help="start etcd, kube-apiserver, kube-controller-manager in the background")
    up_p.add_argument("--dir", type=Path, default=Path(".cluster"))
    up_p.add_argument(
        "--feature-gates", type=_parse_gates, default={}, help="extra gates, e.g. Foo=true,Bar=false"
    )
    up_p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for /readyz")
    up_p.add_argument(
        "--no-controller-manager", action="store_true", help="run only etcd and kube-apiserver"
    )
    for name, text in (("down", "stop the control plane in --dir"), ("status", "is it up and ready?")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--dir", type=Path, default=Path(".cluster"))
    sub.add_parser("build", help="ensure the binaries; print their folder")
    args = parser.parse_args(argv)

    if args.command == "build":
        print(ensure_binaries())
        return 0
    if args.command == "status":
        ok, text = status(args.dir)
        print(text)
        return 0 if ok else 1
    if args.command == "down":
        stopped = down(args.dir)
        print(f"stopped process groups {stopped}" if stopped else f"nothing running in {args.dir.resolve()}")
        return 0
    ok, text = status(args.dir)
    if ok:
        print(f"already running. {text}")
        return 0
    down(args.dir)  # a half-dead previous run
    try:
        cp = ControlPlane(
            args.dir,
            feature_gates=args.feature_gates,
            startup_timeout=args.timeout,
            detach=True,
            controller_manager=not args.no_controller_manager,
        )
        cp.start()
    except ControlPlaneError as err:
        print(f"control plane failed to start: {err}", file=sys.stderr)
        return 1
    print(f"control plane {KUBERNETES_VERSION} ready at {cp.server} (logs and pids in {cp.directory})")
    print(f"export KUBECONFIG={cp.kubeconfig}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
