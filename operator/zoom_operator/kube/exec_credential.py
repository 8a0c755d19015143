"""The credentials of one request, and kubeconfig `exec` credential plugins.

This module owns `Credentials` (a token, basic auth or a client certificate, and when they expire),
`KubeConfigError` (a problem with the user's connection settings, its message saying what to do),
and running a client.authentication.k8s.io exec plugin: the command found like kubectl finds it,
its args and env, KUBERNETES_EXEC_INFO, stdin closed and stderr shown as is, its ExecCredential
parsed (status.token, or status.clientCertificateData and clientKeyData, and expirationTimestamp).
No message here ever carries a token, a password, a key or a certificate.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

EXEC_TIMEOUT_SECONDS: Final = 60.0
EXEC_API_VERSION: Final = "client.authentication.k8s.io/v1beta1"


class KubeConfigError(Exception):
    """The connection settings cannot be used; the message says what happened and what to do."""


@dataclass(frozen=True)
class Credentials:
    """What authenticates one request: a scheme and token, a username and password, a client
    certificate (PEM, from an exec plugin), or nothing; `expiration` in UTC when it is known."""

    scheme: str | None = None
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    expiration: datetime.datetime | None = None

    def headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"{self.scheme or 'Bearer'} {self.token}"}
        if self.username is not None:
            pair = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        return {}


@dataclass(frozen=True)
class ExecPlugin:
    """A kubeconfig user's `exec` credential plugin."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = EXEC_API_VERSION
    install_hint: str = ""
    base_dir: Path = field(default_factory=Path.cwd)  # a relative command is relative to its kubeconfig


def _find_command(plugin: ExecPlugin, what: str) -> str:
    """The plugin's executable: a relative path is relative to its kubeconfig, a bare name on $PATH."""
    command = plugin.command
    if os.sep in command and not os.path.isabs(command):
        command = str(plugin.base_dir / command)
    found = command if os.sep in command else shutil.which(command)
    if found is None or not os.path.isfile(found):
        hint = f" ({plugin.install_hint.strip()[:300]})" if plugin.install_hint else ""
        raise KubeConfigError(
            f"{what} is not installed or not on $PATH{hint}; install it or fix users[].user.exec"
        )
    return found


async def run_exec_plugin(plugin: ExecPlugin, source: str) -> Credentials:
    """Run the plugin (stdin closed, stderr shown as is, like kubectl) and parse its ExecCredential."""
    what = f"the exec credential plugin {plugin.command!r} of {source}"
    found = _find_command(plugin, what)
    env = dict(os.environ)
    env.update(plugin.env)
    exec_info = {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(exec_info)
    try:
        process = await asyncio.create_subprocess_exec(
            found,
            *plugin.args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        raise KubeConfigError(
            f"{what} cannot be started ({error_reason(error)}); fix users[].user.exec"
        ) from None
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), EXEC_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise KubeConfigError(
            f"{what} did not answer within {EXEC_TIMEOUT_SECONDS:.0f}s; run it by hand to see why"
        ) from None
    if process.returncode != 0:
        raise KubeConfigError(
            f"{what} failed with exit code {process.returncode} (its own message is on stderr above); "
            f"run it by hand, e.g. to log in again, then start again"
        )
    return parse_exec_credential(stdout, what)


def parse_exec_credential(output: bytes, what: str) -> Credentials:
    try:
        credential: Any = json.loads(output)
    except ValueError:
        credential = None
    if not isinstance(credential, dict) or credential.get("kind") != "ExecCredential":
        raise KubeConfigError(f"{what} did not print an ExecCredential (JSON with kind: ExecCredential)")
    status = credential.get("status")
    status = status if isinstance(status, dict) else {}
    expiration: datetime.datetime | None = None
    stamp = status.get("expirationTimestamp")
    if stamp:
        try:
            expiration = datetime.datetime.fromisoformat(str(stamp))
        except ValueError:
            raise KubeConfigError(
                f"{what} printed a status.expirationTimestamp that is not RFC 3339"
            ) from None
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=datetime.UTC)
    token, cert, key = status.get("token"), status.get("clientCertificateData"), status.get("clientKeyData")
    if isinstance(token, str) and token:
        return Credentials(token=token, expiration=expiration)
    if isinstance(cert, str) and cert and isinstance(key, str) and key:
        return Credentials(cert_pem=cert.encode(), key_pem=key.encode(), expiration=expiration)
    raise KubeConfigError(
        f"{what} printed an ExecCredential without status.token or status.clientCertificateData and "
        f"clientKeyData"
    )


def error_reason(error: BaseException) -> str:
    """An exception's kind and OS reason, never its arguments (they could hold what was read)."""
    detail = getattr(error, "strerror", None) or getattr(error, "reason", None)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__
