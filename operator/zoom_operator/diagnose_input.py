"""`zoom-operator diagnose`'s input: its options, and the credentials they name (files, stdin, or a
Kubernetes Secret). Every value is a `Secret` from the moment it is read; bad input is a `UsageError`
that says what happened and what to do, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from zoom_operator import diagnosis as dx
from zoom_operator.secret import Secret
from zoom_operator.spec import (
    CredentialsSecretRef,
    ExpectedOwner,
)
from zoom_operator.zoom.mapping import sanitize_message

if TYPE_CHECKING:
    from zoom_operator.kube.api import KubeApi

# Names the diagnosis messages use for the things a ZoomApp would have; the report explains them.
APP_NAME: Final = "diagnose"
CREDENTIALS_PLACEHOLDER: Final = "diagnose-credentials"
TOKEN_PLACEHOLDER: Final = "diagnose-token"
AUDITOR_PLACEHOLDER: Final = "diagnose-auditor"
UNKNOWN_OWNER: Final = "(unknown)"

DEFAULT_ATTEMPTS: Final = 3  # the operator's default unauthorizedThreshold
MAX_ATTEMPTS: Final = 10
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
MAX_TIMEOUT_SECONDS: Final = 300.0
RETRY_PAUSE_SECONDS: Final = 1.0  # between a rejection and the fresh token that re-checks it
MAX_VALUE_BYTES: Final = 4096
DEFAULT_KEYS: Final = CredentialsSecretRef(name=CREDENTIALS_PLACEHOLDER)


class UsageError(Exception):
    """Input diagnose cannot work with: one line saying what happened and what to do (exit 2)."""


# --- options (pure) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileCredentials:
    """Account and client id from flags, the client secret from a file (`-`: stdin)."""

    account_id: str
    client_id: str
    secret_file: str
    flag: str  # the flag that named the file, for messages


@dataclass(frozen=True)
class SecretRef:
    """A Kubernetes Secret, `NAMESPACE/NAME`."""

    namespace: str
    name: str
    flag: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


CredentialsSource = FileCredentials | SecretRef


@dataclass(frozen=True)
class Options:
    """The validated command line."""

    app: CredentialsSource
    auditor: CredentialsSource | None
    keys: CredentialsSecretRef  # key names inside --secret / --auditor-secret
    kubeconfig: str | None
    owner: ExpectedOwner | None
    required_scopes: frozenset[str]
    probe_path: str | None
    oauth_url: str
    api_url: str
    attempts: int
    timeout: float
    json: bool
    s2s_privilege: str


def parse_options(args: argparse.Namespace) -> Options:
    """Check the flags together; raise UsageError naming the flags and the fix."""
    app = _app_source(args)
    auditor = _auditor_source(args, app)
    uses_secret = isinstance(app, SecretRef) or isinstance(auditor, SecretRef)
    key_flags = {
        "--account-id-key": args.account_id_key,
        "--client-id-key": args.client_id_key,
        "--client-secret-key": args.client_secret_key,
    }
    for flag, value in key_flags.items():
        if value is not None and not uses_secret:
            raise UsageError(f"{flag} only applies with --secret or --auditor-secret")
        if value is not None and not _is_secret_key(value):
            raise UsageError(
                f"{flag} {value[:64]!r} is not a Secret data key (letters, digits, '-', '_', '.')"
            )
    if args.kubeconfig is not None and not uses_secret:
        raise UsageError("--kubeconfig only applies with --secret or --auditor-secret")
    files = [s.secret_file for s in (app, auditor) if isinstance(s, FileCredentials)]
    if files.count("-") > 1:
        raise UsageError("only one secret can be read from stdin ('-'); put the other in a file")
    if not 1 <= args.attempts <= MAX_ATTEMPTS:
        raise UsageError(f"--attempts must be between 1 and {MAX_ATTEMPTS}, got {args.attempts}")
    if not 0 < args.timeout <= MAX_TIMEOUT_SECONDS:
        raise UsageError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds")
    if args.probe_path is not None and not args.probe_path.startswith("/"):
        raise UsageError(f"--probe-path {args.probe_path[:64]!r} must start with '/', e.g. /v2/users/me")
    for scope in args.required_scope:
        _check_value("--required-scope", scope)
    _check_value("--s2s-privilege", args.s2s_privilege)
    return Options(
        app=app,
        auditor=auditor,
        keys=CredentialsSecretRef(
            name=CREDENTIALS_PLACEHOLDER,
            account_id_key=args.account_id_key or DEFAULT_KEYS.account_id_key,
            client_id_key=args.client_id_key or DEFAULT_KEYS.client_id_key,
            client_secret_key=args.client_secret_key or DEFAULT_KEYS.client_secret_key,
        ),
        kubeconfig=args.kubeconfig,
        owner=_owner(args.owner),
        required_scopes=frozenset(args.required_scope),
        probe_path=args.probe_path,
        oauth_url=args.oauth_url,
        api_url=args.api_url,
        attempts=args.attempts,
        timeout=args.timeout,
        json=args.json,
        s2s_privilege=args.s2s_privilege,
    )


def _app_source(args: argparse.Namespace) -> CredentialsSource:
    direct = {
        "--account-id": args.account_id,
        "--client-id": args.client_id,
        "--client-secret-file": args.client_secret_file,
    }
    given = [flag for flag, value in direct.items() if value is not None]
    if args.secret is not None:
        if given:
            raise UsageError(
                f"--secret conflicts with {', '.join(given)}: take all three values from the Secret, or "
                "pass --account-id, --client-id and --client-secret-file without --secret"
            )
        return _secret_ref("--secret", args.secret)
    missing = [flag for flag, value in direct.items() if value is None]
    if len(missing) == len(direct):
        raise UsageError(
            "no credentials: pass --account-id, --client-id and --client-secret-file, "
            "or --secret NAMESPACE/NAME"
        )
    if missing:
        raise UsageError(f"missing {', '.join(missing)}: give all three of " + ", ".join(direct))
    _check_value("--account-id", args.account_id)
    _check_value("--client-id", args.client_id)
    return FileCredentials(args.account_id, args.client_id, args.client_secret_file, "--client-secret-file")


def _auditor_source(args: argparse.Namespace, app: CredentialsSource) -> CredentialsSource | None:
    direct = {
        "--auditor-account-id": args.auditor_account_id,
        "--auditor-client-id": args.auditor_client_id,
        "--auditor-client-secret-file": args.auditor_client_secret_file,
    }
    given = [flag for flag, value in direct.items() if value is not None]
    if args.auditor_secret is not None:
        if given:
            raise UsageError(f"--auditor-secret conflicts with {', '.join(given)}: use one or the other")
        return _secret_ref("--auditor-secret", args.auditor_secret)
    if not given:
        return None
    if args.auditor_client_id is None or args.auditor_client_secret_file is None:
        raise UsageError(
            "an auditor needs --auditor-client-id and --auditor-client-secret-file "
            "(--auditor-account-id defaults to the app's account id), or --auditor-secret NAMESPACE/NAME"
        )
    account_id = args.auditor_account_id
    if account_id is None:
        if not isinstance(app, FileCredentials):
            raise UsageError("with --secret, also pass --auditor-account-id (or use --auditor-secret)")
        account_id = app.account_id
    _check_value("--auditor-account-id", account_id)
    _check_value("--auditor-client-id", args.auditor_client_id)
    return FileCredentials(
        account_id, args.auditor_client_id, args.auditor_client_secret_file, "--auditor-client-secret-file"
    )


def _secret_ref(flag: str, value: str) -> SecretRef:
    namespace, slash, name = value.partition("/")
    if not slash or not namespace or not name or "/" in name:
        raise UsageError(f"{flag} must be NAMESPACE/NAME, e.g. {flag} zoom/meetings-bot-zoom; got {value!r}")
    for part in (namespace, name):
        if not _is_dns_name(part):
            raise UsageError(
                f"{flag}: {part[:64]!r} is not a valid Kubernetes name (lower case, digits, '-', '.')"
            )
    return SecretRef(namespace, name, flag)


def _owner(value: str | None) -> ExpectedOwner | None:
    if value is None:
        return None
    _check_value("--owner", value)
    return ExpectedOwner(email=value) if "@" in value else ExpectedOwner(user_id=value)


def _check_value(flag: str, value: str) -> None:
    if not value:
        raise UsageError(f"{flag} is empty")
    if len(value.encode()) > MAX_VALUE_BYTES or any(c.isspace() or not c.isprintable() for c in value):
        raise UsageError(f"{flag} must be a single word without spaces or control characters")


def _is_secret_key(value: str) -> bool:
    return bool(value) and len(value) <= 253 and all(c.isalnum() or c in "-._" for c in value)


def _is_dns_name(value: str) -> bool:
    return (
        len(value) <= 253
        and value[0] not in "-."
        and value[-1] not in "-."
        and all(c.islower() or c.isdigit() or c in "-." for c in value)
    )


# --- credentials -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientCredentials:
    account_id: str
    client_id: str
    client_secret: Secret = field(repr=False)
    secret_ref: SecretRef | None = None  # the Kubernetes Secret they came from, if any

    @property
    def source(self) -> str:
        """Where they came from, for the report."""
        return f"Secret {self.secret_ref}" if self.secret_ref else "the command line"


def client_secret_from_bytes(raw: bytes, where: str) -> Secret:
    """A client secret read from a file: UTF-8, trailing newlines stripped, one word."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text; save the client secret as plain text") from None
    text = text.rstrip("\r\n")
    if not text:
        raise UsageError(f"{where} is empty; put the app's client secret from the App Credentials page in it")
    if len(text.encode()) > MAX_VALUE_BYTES or any(c.isspace() or not c.isprintable() for c in text):
        raise UsageError(
            f"{where} must hold only the client secret (one line, no spaces or control characters)"
        )
    return Secret(text)


def read_file_credentials(source: FileCredentials) -> ClientCredentials:
    where = f"{source.flag} {'(stdin)' if source.secret_file == '-' else source.secret_file}"
    try:
        raw = sys.stdin.buffer.read() if source.secret_file == "-" else Path(source.secret_file).read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UsageError(f"cannot read {where}: {reason}; check the path and its permissions") from None
    secret = client_secret_from_bytes(raw, where)
    return ClientCredentials(source.account_id, source.client_id, secret)


def default_kubeconfig() -> str:
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def _load_kube(kubeconfig: str | None, request_seconds: float) -> tuple[KubeApi, str]:
    """The Kubernetes API gateway (kubeconfig, or in-cluster) and how to name it in messages."""
    from zoom_operator.kube.api import connect
    from zoom_operator.kube.connection import KubeConfigError

    in_cluster = kubeconfig is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    config_file = None if in_cluster else (kubeconfig or default_kubeconfig())
    where = "the in-cluster service account" if in_cluster else f"kubeconfig {config_file}"
    if config_file is not None and os.pathsep not in config_file and not Path(config_file).is_file():
        raise UsageError(f"{where} does not exist; pass --kubeconfig FILE or set KUBECONFIG")
    try:
        return connect(config_file, pool_size=1, timeout=request_seconds), where
    except KubeConfigError as error:  # its message says what is wrong and holds no credential
        raise UsageError(f"cannot load {where}: {error}; pass a working --kubeconfig") from None


async def read_kube_credentials(
    refs: Sequence[SecretRef], keys: CredentialsSecretRef, kubeconfig: str | None, request_seconds: float
) -> list[ClientCredentials]:
    """Read each Secret's three values through the Kubernetes API."""
    # Imported here: the Kubernetes gateway is only needed (and only paid for) with --secret.
    from zoom_operator.kube.api import KubeError, ObjectRef
    from zoom_operator.kube.credentials import read_credentials

    kube, where = await asyncio.to_thread(_load_kube, kubeconfig, request_seconds)
    found: list[ClientCredentials] = []
    try:
        for ref in refs:
            try:
                secret = await kube.get_secret(ObjectRef(ref.namespace, ref.name))
            except KubeError as error:
                hint = (
                    "; ask for 'get' on secrets in that namespace, or pass the values with "
                    "--client-secret-file"
                    if error.status in (401, 403)
                    else ""
                )
                raise UsageError(
                    f"cannot read Secret {ref} ({ref.flag}): {_safe_error(error)}{hint}"
                ) from None
            except Exception as error:
                raise UsageError(
                    f"cannot reach the Kubernetes API server with {where} to read Secret {ref} "
                    f"({_safe_error(error)}); check that the cluster is up and the kubeconfig's server"
                ) from None
            if secret is None:
                raise UsageError(
                    f"Secret {ref} ({ref.flag}) does not exist (per {where}); check the namespace and name"
                )
            _check_keys(secret, ref, keys)
            credentials = read_credentials(secret, replace(keys, name=ref.name), ref.namespace)
            if isinstance(credentials, dx.CredentialsProblem):
                raise UsageError(credentials.message)
            found.append(
                ClientCredentials(
                    credentials.account_id, credentials.client_id, credentials.client_secret, ref
                )
            )
    finally:
        await kube.close()
    return found


def _check_keys(secret: dict[str, Any], ref: SecretRef, keys: CredentialsSecretRef) -> None:
    data = secret.get("data") or {}
    present = sorted(str(k) for k in data) if isinstance(data, dict) else []
    flags = {
        keys.account_id_key: "--account-id-key",
        keys.client_id_key: "--client-id-key",
        keys.client_secret_key: "--client-secret-key",
    }
    for key, flag in flags.items():
        if key not in present:
            raise UsageError(
                f"Secret {ref} has no key {key!r} (keys present: {', '.join(present) or 'none'}); add it, "
                f"or pass {flag} if the value is stored under another key"
            )


def _safe_error(error: BaseException) -> str:
    return sanitize_message(f"{type(error).__name__}: {error}".rstrip(": "))
