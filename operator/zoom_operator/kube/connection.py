"""Where the Kubernetes API server is and how to authenticate to it, without the `kubernetes` client.

This module owns reading the connection settings (`load_connection`): in a pod (no explicit
kubeconfig and $KUBERNETES_SERVICE_HOST set) the ServiceAccount's token, CA and the service address;
elsewhere the kubeconfig named explicitly, else $KUBECONFIG (a list merged like kubectl: the first
file that names a thing wins), else ~/.kube/config, at its current-context. A `Connection` gives the
server URL, an `ssl.SSLContext` (CA, client certificate, insecure-skip-tls-verify) and `Credentials`:
a bearer token (inline, from a file re-read at least every `TOKEN_REREAD_SECONDS`, or from a legacy
auth-provider's cached token), basic auth, or a client.authentication.k8s.io exec plugin's
ExecCredential (`kube/exec_credential.py`; cached until its expirationTimestamp, re-run after it
or after a 401).

`login` turns the same settings into the `kopf.ConnectionInfo` of kopf's own login handler.

Every problem a user can meet with their configuration is a `KubeConfigError` whose message says
what happened and what to do; no message ever carries a token, a password, a key or a certificate.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import json
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from zoom_operator.kube.exec_credential import (
    EXEC_API_VERSION,
    Credentials,
    ExecPlugin,
    KubeConfigError,
    error_reason,
    run_exec_plugin,
)

if TYPE_CHECKING:
    import kopf

__all__ = ["Connection", "Credentials", "KubeConfigError", "load_connection", "login"]

SERVICE_ACCOUNT_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS: Final = 60.0  # bound ServiceAccount tokens rotate: read the file again this often
EXEC_EXPIRY_MARGIN: Final = datetime.timedelta(seconds=10)  # run the plugin again this long before expiry


@dataclass
class Connection:
    """One API server and one identity. `source` names the settings in messages."""

    server: str
    source: str = "the connection settings"
    ca_path: str | None = None
    ca_pem: bytes | None = field(default=None, repr=False)
    insecure: bool = False
    cert_path: str | None = None
    key_path: str | None = None
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    exec_plugin: ExecPlugin | None = None
    default_namespace: str | None = None
    clock: Callable[[], float] = time.monotonic
    _cached: Credentials | None = field(default=None, init=False, repr=False)
    _cached_at: float = field(default=0.0, init=False, repr=False)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict, init=False, repr=False)

    @property
    def refreshable(self) -> bool:
        """Whether asking again can give other credentials (a 401 is then worth one retry)."""
        return self.exec_plugin is not None or self.token_file is not None

    def invalidate(self) -> None:
        """Forget the cached credentials (after a 401): the next request reads or runs them again."""
        self._cached = None

    async def credentials(self) -> Credentials:
        if self.exec_plugin is None and self.token_file is None:
            return Credentials(token=self.token, username=self.username, password=self.password)
        loop_id = id(asyncio.get_running_loop())
        lock = self._locks.setdefault(loop_id, asyncio.Lock())
        async with lock:  # concurrent requests run the plugin (or read the file) once
            if self._cached is None or not self._fresh(self._cached):
                self._cached = await self._fetch()
                self._cached_at = self.clock()
            return self._cached

    def _fresh(self, cached: Credentials) -> bool:
        if self.exec_plugin is not None:
            if cached.expiration is None:
                return True
            return datetime.datetime.now(datetime.UTC) < cached.expiration - EXEC_EXPIRY_MARGIN
        return self.clock() - self._cached_at < TOKEN_REREAD_SECONDS

    async def _fetch(self) -> Credentials:
        if self.exec_plugin is not None:
            return await run_exec_plugin(self.exec_plugin, self.source)
        assert self.token_file is not None
        token = read_token_file(self.token_file, self.source)
        return Credentials(token=token, expiration=jwt_expiration(token))

    def ssl_context(self, credentials: Credentials | None = None) -> ssl.SSLContext:
        """The CA to trust (the system's when none is configured) and the client certificate: the exec
        plugin's when it gave one, else the kubeconfig's. Data that `ssl` can only load from a path
        goes to a private temporary folder for the moment it is read."""
        try:
            context = ssl.create_default_context(
                cafile=self.ca_path, cadata=self.ca_pem.decode("ascii") if self.ca_pem else None
            )
        except (ssl.SSLError, OSError, UnicodeDecodeError, ValueError) as error:
            raise KubeConfigError(
                f"cannot load the certificate authority of {self.source} ({error_reason(error)}); fix "
                f"certificate-authority or certificate-authority-data"
            ) from None
        cert_pem, key_pem = self.cert_pem, self.key_pem
        cert_path, key_path = self.cert_path, self.key_path
        if credentials is not None and credentials.cert_pem and credentials.key_pem:
            cert_pem, key_pem, cert_path, key_path = credentials.cert_pem, credentials.key_pem, None, None
        if (cert_path or cert_pem) and (key_path or key_pem):
            try:
                with tempfile.TemporaryDirectory(prefix="zoom-operator-tls-") as private:  # mode 0700
                    if cert_path is None:
                        cert_path = _private_file(Path(private) / "client.crt", cert_pem or b"")
                    if key_path is None:
                        key_path = _private_file(Path(private) / "client.key", key_pem or b"")
                    context.load_cert_chain(certfile=cert_path, keyfile=key_path)
            except (ssl.SSLError, OSError) as error:
                raise KubeConfigError(
                    f"cannot load the client certificate and key of {self.source} ({error_reason(error)}); "
                    f"fix client-certificate(-data) and client-key(-data)"
                ) from None
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _private_file(path: Path, data: bytes) -> str:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return str(path)


def read_token_file(path: Path, source: str) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise KubeConfigError(
            f"cannot read the token file {path} of {source} ({error_reason(error)}); check that it exists "
            f"and is readable (in a pod: that the ServiceAccount token is mounted)"
        ) from None
    if not token:
        raise KubeConfigError(f"the token file {path} of {source} is empty")
    return token


def jwt_expiration(token: str) -> datetime.datetime | None:
    """The `exp` claim of a JWT (unverified: only to know when to read it again), else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims: Any = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return datetime.datetime.fromtimestamp(int(claims["exp"]), datetime.UTC)
    except (ValueError, TypeError, KeyError, binascii.Error, OverflowError):
        return None


# ---- loading the settings -----------------------------------------------------------------------


def load_connection(kubeconfig: str | None = None) -> Connection:
    """In a pod (no `kubeconfig`, $KUBERNETES_SERVICE_HOST set): its ServiceAccount. Elsewhere the
    kubeconfig named, else $KUBECONFIG (colon-separated, merged), else ~/.kube/config."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster_connection()
    text = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    paths = [Path(os.path.expanduser(part.strip())) for part in text.split(os.pathsep) if part.strip()]
    if not paths:
        raise KubeConfigError("no kubeconfig named; pass --kubeconfig FILE or set $KUBECONFIG")
    return kubeconfig_connection(paths)


def in_cluster_connection() -> Connection:
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT") or "443"
    token_file = SERVICE_ACCOUNT_DIR / "token"
    source = "the pod's ServiceAccount"
    if not host:
        raise KubeConfigError(
            f"{source}: $KUBERNETES_SERVICE_HOST is not set; pass --kubeconfig outside a pod"
        )
    if not token_file.is_file():
        raise KubeConfigError(
            f"{source}: no token at {token_file}; mount the ServiceAccount token "
            f"(automountServiceAccountToken) or pass --kubeconfig"
        )
    ca = SERVICE_ACCOUNT_DIR / "ca.crt"
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else None
    return Connection(
        server=f"https://{f'[{host}]' if ':' in host else host}:{port}",
        source=source,
        ca_path=str(ca) if ca.is_file() else None,
        token_file=token_file,
        default_namespace=namespace or None,
    )


def _named(items: Any, path: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise KubeConfigError(f"kubeconfig {path}: {kind} is not a list; fix the file")
    found: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            body = item.get(kind[:-1]) or {}
            found.append((item["name"], {"__dir__": path.parent, **(body if isinstance(body, dict) else {})}))
    return found


def kubeconfig_connection(paths: Sequence[Path]) -> Connection:
    """Merge the kubeconfig files like kubectl (the first to set current-context or name a context,
    cluster or user wins) and connect as its current context says."""
    current: str | None = None
    merged: dict[str, dict[str, dict[str, Any]]] = {"contexts": {}, "clusters": {}, "users": {}}
    names = ", ".join(str(path) for path in paths)
    for path in paths:
        if not path.is_file():
            if len(paths) == 1:
                raise KubeConfigError(
                    f"kubeconfig {path} does not exist; pass --kubeconfig FILE or set $KUBECONFIG"
                )
            continue  # kubectl skips the missing files of a list
        try:
            config: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise KubeConfigError(
                f"cannot read kubeconfig {path} ({error_reason(error)}); fix the file"
            ) from None
        if not isinstance(config, dict):
            raise KubeConfigError(f"kubeconfig {path} is not a YAML mapping; fix the file")
        current = current or config.get("current-context") or None
        for kind, items in merged.items():
            for name, body in _named(config.get(kind), path, kind):
                items.setdefault(name, body)
    if not any(path.is_file() for path in paths):
        raise KubeConfigError(f"none of the kubeconfig files {names} exists; pass --kubeconfig FILE")
    if current is None:
        raise KubeConfigError(
            f"kubeconfig {names} has no current-context; run `kubectl config use-context NAME` "
            f"(or set current-context in the file)"
        )
    context = merged["contexts"].get(str(current))
    if context is None:
        raise KubeConfigError(
            f"kubeconfig {names}: current-context {current!r} names no context; run "
            f"`kubectl config get-contexts` and `kubectl config use-context NAME`"
        )
    cluster_name, user_name = str(context.get("cluster") or ""), str(context.get("user") or "")
    cluster = merged["clusters"].get(cluster_name)
    if cluster is None:
        raise KubeConfigError(
            f"kubeconfig {names}: context {current!r} names unknown cluster {cluster_name!r}"
        )
    user = merged["users"].get(user_name) if user_name else {"__dir__": cluster["__dir__"]}
    if user is None:
        raise KubeConfigError(f"kubeconfig {names}: context {current!r} names unknown user {user_name!r}")
    source = f"kubeconfig {names} (context {current!r})"
    for section, key in (
        (cluster, "certificate-authority"),
        (user, "client-certificate"),
        (user, "client-key"),
    ):
        if section.get(key) and section.get(f"{key}-data"):
            raise KubeConfigError(f"{source}: both {key} and {key}-data are set; keep one")
    server = str(cluster.get("server") or "")
    if not server.startswith(("https://", "http://")):
        raise KubeConfigError(f"{source}: cluster {cluster_name!r} has no https:// server; fix the file")
    connection = Connection(
        server=server.rstrip("/"),
        source=source,
        ca_path=_path(cluster, "certificate-authority"),
        ca_pem=_data(cluster, "certificate-authority-data", source),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_path=_path(user, "client-certificate"),
        key_path=_path(user, "client-key"),
        cert_pem=_data(user, "client-certificate-data", source),
        key_pem=_data(user, "client-key-data", source),
        username=user.get("username") or None,
        password=user.get("password") or None,
        default_namespace=context.get("namespace") or None,
    )
    token, token_file = user.get("token"), _path(user, "tokenFile")
    if token:
        connection.token = str(token)
    elif token_file:
        connection.token_file = Path(token_file)
    elif isinstance(user.get("exec"), dict):
        connection.exec_plugin = _exec_plugin(user["exec"], user["__dir__"], source)
    elif isinstance(user.get("auth-provider"), dict):
        connection.token = _auth_provider_token(user["auth-provider"], source)
    return connection


def _path(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    if not value:
        return None
    path = Path(os.path.expanduser(str(value)))
    return str(path if path.is_absolute() else Path(section["__dir__"]) / path)


def _data(section: Mapping[str, Any], key: str, source: str) -> bytes | None:
    value = section.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise KubeConfigError(f"{source}: {key} is not base64; fix the file") from None


def _exec_plugin(spec: Mapping[str, Any], base_dir: Path, source: str) -> ExecPlugin:
    command = spec.get("command")
    if not isinstance(command, str) or not command:
        raise KubeConfigError(f"{source}: the user's exec has no command; fix the file")
    env = spec.get("env") or []
    pairs = tuple(
        (str(item.get("name")), str(item.get("value") or ""))
        for item in (env if isinstance(env, list) else [])
        if isinstance(item, dict) and item.get("name")
    )
    return ExecPlugin(
        command=command,
        args=tuple(str(arg) for arg in spec.get("args") or []),
        env=pairs,
        api_version=str(spec.get("apiVersion") or EXEC_API_VERSION),
        install_hint=str(spec.get("installHint") or ""),
        base_dir=base_dir,
    )


def _auth_provider_token(provider: Mapping[str, Any], source: str) -> str:
    config = provider.get("config")
    token = (config.get("access-token") or config.get("id-token")) if isinstance(config, dict) else None
    if not token:
        raise KubeConfigError(
            f"{source}: the user's auth-provider {provider.get('name')!r} has no cached access-token or "
            f"id-token, and legacy auth-providers are not supported; use an exec credential plugin "
            f"(e.g. gke-gcloud-auth-plugin or kubelogin) instead"
        )
    return str(token)


# ---- kopf's login -------------------------------------------------------------------------------


async def login(kubeconfig: str | None = None) -> kopf.ConnectionInfo:
    """kopf's login handler: the same server and identity as the operator's own requests. Exec
    tokens carry their expiration (kopf logs in again then); file tokens the JWT's `exp`."""
    import kopf

    connection = load_connection(kubeconfig)
    credentials = await connection.credentials()
    cert_path, key_path = connection.cert_path, connection.key_path
    cert_pem, key_pem = connection.cert_pem, connection.key_pem
    if credentials.cert_pem and credentials.key_pem:
        cert_path, key_path, cert_pem, key_pem = None, None, credentials.cert_pem, credentials.key_pem
    return kopf.ConnectionInfo(
        server=connection.server,
        ca_path=connection.ca_path,
        ca_data=connection.ca_pem,
        insecure=connection.insecure or None,
        scheme="Bearer" if credentials.token else None,
        token=credentials.token,
        username=credentials.username,
        password=credentials.password,
        certificate_path=cert_path,
        certificate_data=cert_pem,
        private_key_path=key_path,
        private_key_data=key_pem,
        default_namespace=connection.default_namespace,
        expiration=credentials.expiration,
    )
