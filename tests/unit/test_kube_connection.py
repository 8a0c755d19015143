"""kube/connection.py and kube/exec_credential.py: kubeconfigs (token, client certificate data, exec
plugins, merged $KUBECONFIG lists), the in-cluster ServiceAccount token re-read, the errors a user
can meet, kopf's login, and the gateway's one retry with fresh credentials after a 401 (against a
small aiohttp server on 127.0.0.1)."""

from __future__ import annotations

import base64
import datetime
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from control_plane import make_pki

from zoom_operator.kube import connection as conn
from zoom_operator.kube.api import KubeApi, KubeError
from zoom_operator.kube.connection import KubeConfigError, load_connection

TOKEN = "kc-token-do-not-log"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    make_pki(directory)
    return directory


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    path: Path,
    user: Mapping[str, Any] | None,
    *,
    cluster: Mapping[str, Any] | None = None,
    current: str | None = "ctx",
    extra: Mapping[str, Any] | None = None,
) -> Path:
    config: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    if cluster is not None:
        config["clusters"] = [{"name": "c", "cluster": dict(cluster)}]
    if user is not None:
        config["users"] = [{"name": "u", "user": dict(user)}]
        config["contexts"] = [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "team"}}]
    if current:
        config["current-context"] = current
    config.update(extra or {})
    path.write_text(yaml.safe_dump(config))
    return path


def _plugin(tmp_path: Path, status: Mapping[str, Any], *, exit_code: int = 0) -> Path:
    """A tiny exec credential plugin: counts its runs, prints an ExecCredential with `status` (and
    its argument and $PLUGIN_ENV folded into the token, when it prints a token)."""
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, os, sys\n"
        f"runs = {str(tmp_path / 'runs')!r}\n"
        "open(runs, 'a').write('x')\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert info['kind'] == 'ExecCredential'\n"
        f"status = {dict(status)!r}\n"
        "if 'token' in status:\n"
        "    status['token'] += '-' + sys.argv[1] + '-' + os.environ['PLUGIN_ENV'] + '-'"
        " + str(len(open(runs).read()))\n"
        "credential = {'apiVersion': info['apiVersion'], 'kind': 'ExecCredential', 'status': status}\n"
        "print(json.dumps(credential))\n"
        f"sys.exit({exit_code})\n"
    )
    return script


def _exec_user(script: Path) -> dict[str, Any]:
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(script), "arg1"],
            "env": [{"name": "PLUGIN_ENV", "value": "env1"}],
        }
    }


def _runs(tmp_path: Path) -> int:
    return len((tmp_path / "runs").read_text())


SERVER = {"server": "https://127.0.0.1:6443"}


# ---- kubeconfig files ---------------------------------------------------------------------------


async def test_a_kubeconfig_with_a_token(tmp_path: Path, pki: Path) -> None:
    path = kubeconfig(
        tmp_path / "config",
        {"token": TOKEN},
        cluster={**SERVER, "certificate-authority-data": _b64((pki / "ca.crt").read_bytes())},
    )
    connection = load_connection(str(path))
    assert connection.server == "https://127.0.0.1:6443"
    assert connection.default_namespace == "team"
    credentials = await connection.credentials()
    assert credentials.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert connection.ssl_context().verify_mode.name == "CERT_REQUIRED"
    assert TOKEN not in repr(connection) + repr(credentials)


async def test_a_kubeconfig_with_client_certificate_data(tmp_path: Path, pki: Path) -> None:
    path = kubeconfig(
        tmp_path / "config",
        {
            "client-certificate-data": _b64((pki / "admin.crt").read_bytes()),
            "client-key-data": _b64((pki / "admin.key").read_bytes()),
        },
        cluster={**SERVER, "certificate-authority": str(pki / "ca.crt")},
    )
    before = set(Path(tempfile.gettempdir()).glob("zoom-operator-tls-*"))
    connection = load_connection(str(path))
    context = connection.ssl_context(await connection.credentials())
    assert context.check_hostname
    assert (await connection.credentials()).headers() == {}
    assert set(Path(tempfile.gettempdir()).glob("zoom-operator-tls-*")) == before  # deleted again


def test_relative_paths_are_relative_to_the_kubeconfig(tmp_path: Path, pki: Path) -> None:
    (tmp_path / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    path = kubeconfig(
        tmp_path / "config", {"token": TOKEN}, cluster={**SERVER, "certificate-authority": "ca.crt"}
    )
    connection = load_connection(str(path))
    assert connection.ca_path == str(tmp_path / "ca.crt")
    connection.ssl_context()


def test_insecure_skip_tls_verify(tmp_path: Path) -> None:
    path = kubeconfig(
        tmp_path / "config", {"token": TOKEN}, cluster={**SERVER, "insecure-skip-tls-verify": True}
    )
    context = load_connection(str(path)).ssl_context()
    assert not context.check_hostname
    assert context.verify_mode.name == "CERT_NONE"


async def test_kubeconfig_lists_merge_like_kubectl_first_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "first"
    first.write_text(
        yaml.safe_dump(
            {
                "current-context": "ctx",
                "users": [{"name": "u", "user": {"token": "first-token"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    second = kubeconfig(
        tmp_path / "second",
        {"token": "second-token"},
        cluster={"server": "https://127.0.0.2:6443"},
        current="other",
    )
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(tmp_path / "absent"), str(second)]))
    connection = load_connection()
    assert connection.server == "https://127.0.0.2:6443"  # only the second names the cluster
    assert (await connection.credentials()).token == "first-token"  # both name the user: the first wins


def test_a_missing_current_context_says_what_to_do(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", {"token": TOKEN}, cluster=SERVER, current=None)
    with pytest.raises(KubeConfigError) as caught:
        load_connection(str(path))
    message = str(caught.value)
    assert message.startswith(f"kubeconfig {path} has no current-context")
    assert "kubectl config use-context NAME" in message
    assert caught.value.__cause__ is None  # a message, not a chained traceback


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"current-context": "nope"}, "current-context 'nope' names no context"),
        ({"clusters": []}, "names unknown cluster 'c'"),
        ({"users": []}, "names unknown user 'u'"),
    ],
)
def test_unknown_names_are_reported(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    path = kubeconfig(tmp_path / "config", {"token": TOKEN}, cluster=SERVER, extra=change)
    with pytest.raises(KubeConfigError, match=expected):
        load_connection(str(path))


def test_a_missing_kubeconfig_is_reported(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match=r"kubeconfig .*absent does not exist; pass --kubeconfig"):
        load_connection(str(tmp_path / "absent"))


async def test_an_auth_provider_token_is_used_else_an_exec_plugin_is_asked_for(tmp_path: Path) -> None:
    provider = {"auth-provider": {"name": "oidc", "config": {"id-token": "oidc-token"}}}
    path = kubeconfig(tmp_path / "config", provider, cluster=SERVER)
    assert (await load_connection(str(path)).credentials()).token == "oidc-token"
    path = kubeconfig(tmp_path / "config", {"auth-provider": {"name": "gcp", "config": {}}}, cluster=SERVER)
    with pytest.raises(KubeConfigError, match="use an exec credential plugin"):
        load_connection(str(path))


# ---- exec credential plugins --------------------------------------------------------------------


async def test_an_exec_plugin_token_is_cached_until_it_expires(tmp_path: Path) -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    script = _plugin(tmp_path, {"token": "exec", "expirationTimestamp": later.strftime("%Y-%m-%dT%H:%M:%SZ")})
    connection = load_connection(str(kubeconfig(tmp_path / "config", _exec_user(script), cluster=SERVER)))
    first = await connection.credentials()
    assert first.token == "exec-arg1-env1-1"  # its args and env reached it
    assert first.expiration == later.replace(microsecond=0)
    assert await connection.credentials() == first
    assert _runs(tmp_path) == 1
    connection.invalidate()  # a 401
    assert (await connection.credentials()).token == "exec-arg1-env1-2"


async def test_an_expired_exec_token_runs_the_plugin_again(tmp_path: Path) -> None:
    script = _plugin(tmp_path, {"token": "exec", "expirationTimestamp": "2020-01-01T00:00:00Z"})
    connection = load_connection(str(kubeconfig(tmp_path / "config", _exec_user(script), cluster=SERVER)))
    await connection.credentials()
    await connection.credentials()
    assert _runs(tmp_path) == 2


async def test_an_exec_plugin_client_certificate(tmp_path: Path, pki: Path) -> None:
    status = {
        "clientCertificateData": (pki / "admin.crt").read_text(),
        "clientKeyData": (pki / "admin.key").read_text(),
    }
    script = _plugin(tmp_path, status)
    cluster = {**SERVER, "certificate-authority": str(pki / "ca.crt")}
    connection = load_connection(str(kubeconfig(tmp_path / "config", _exec_user(script), cluster=cluster)))
    credentials = await connection.credentials()
    assert credentials.cert_pem == status["clientCertificateData"].encode()
    assert credentials.headers() == {}
    connection.ssl_context(credentials)  # loads the plugin's certificate


async def test_exec_plugin_problems_say_what_to_do(tmp_path: Path) -> None:
    user = {"exec": {"command": "no-such-credential-plugin", "installHint": "brew install it"}}
    connection = load_connection(str(kubeconfig(tmp_path / "config", user, cluster=SERVER)))
    with pytest.raises(KubeConfigError) as caught:
        await connection.credentials()
    assert "'no-such-credential-plugin'" in str(caught.value)
    assert "not installed or not on $PATH (brew install it)" in str(caught.value)

    script = _plugin(tmp_path, {"token": "printed-then-failed"}, exit_code=3)
    connection = load_connection(str(kubeconfig(tmp_path / "config", _exec_user(script), cluster=SERVER)))
    with pytest.raises(KubeConfigError) as caught:
        await connection.credentials()
    assert "failed with exit code 3" in str(caught.value)
    assert "printed-then-failed" not in str(caught.value)


# ---- in a pod -----------------------------------------------------------------------------------


async def test_the_in_cluster_token_is_read_again_every_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Path
) -> None:
    (tmp_path / "token").write_text("sa-token-1\n")
    (tmp_path / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    (tmp_path / "namespace").write_text("zoom-operator")
    monkeypatch.setattr(conn, "SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    now = [1000.0]
    connection = load_connection()
    connection.clock = lambda: now[0]
    assert connection.server == "https://10.0.0.1:6443"
    assert connection.ca_path == str(tmp_path / "ca.crt")
    assert connection.default_namespace == "zoom-operator"
    assert (await connection.credentials()).token == "sa-token-1"
    (tmp_path / "token").write_text("sa-token-2\n")  # the kubelet rotated it
    now[0] += 30
    assert (await connection.credentials()).token == "sa-token-1"
    now[0] += conn.TOKEN_REREAD_SECONDS
    assert (await connection.credentials()).token == "sa-token-2"


async def test_kopf_login_carries_the_exec_expiration(tmp_path: Path, pki: Path) -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    script = _plugin(tmp_path, {"token": "exec", "expirationTimestamp": later.isoformat()})
    cluster = {**SERVER, "certificate-authority-data": _b64((pki / "ca.crt").read_bytes())}
    info = await conn.login(str(kubeconfig(tmp_path / "config", _exec_user(script), cluster=cluster)))
    assert info.server == "https://127.0.0.1:6443"
    assert info.token == "exec-arg1-env1-1"
    assert info.scheme == "Bearer"
    assert info.expiration == later
    assert info.default_namespace == "team"
    info.as_ssl_context()  # kopf can build its TLS from it


# ---- the gateway's retry after a 401 ------------------------------------------------------------


@pytest.fixture
async def api_server() -> AsyncIterator[tuple[str, list[str]]]:
    """Answers 401 unless the bearer token ends in "-2"; records the Authorization headers."""
    seen: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        if not seen[-1].endswith("-2"):
            return web.json_response(
                {"kind": "Status", "reason": "Unauthorized", "message": "no"}, status=401
            )
        return web.json_response({"kind": "Secret", "metadata": {"name": request.match_info["name"]}})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{ns}/secrets/{name}", secret)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_a_401_runs_the_exec_plugin_again_and_retries_once(
    tmp_path: Path, api_server: tuple[str, list[str]]
) -> None:
    from zoom_operator.kube.refs import ObjectRef

    server, seen = api_server
    script = _plugin(tmp_path, {"token": "exec"})
    path = kubeconfig(tmp_path / "config", _exec_user(script), cluster={"server": server})
    kube = KubeApi(load_connection(str(path)), pool_size=1, timeout=5)
    try:
        secret = await kube.get_secret(ObjectRef("ns", "app-token"))
        assert secret == {"kind": "Secret", "metadata": {"name": "app-token"}}
        assert seen == ["Bearer exec-arg1-env1-1", "Bearer exec-arg1-env1-2"]
        (tmp_path / "runs").write_text("xx")  # the next run prints "-3": refused again, no third try
        kube._connection.invalidate()
        with pytest.raises(KubeError) as caught:
            await kube.get_secret(ObjectRef("ns", "app-token"))
        assert caught.value.status == 401
        assert "exec-arg1" not in str(caught.value)
        assert len(seen) == 4
    finally:
        await kube.close()


def test_the_credentials_never_show_in_a_repr() -> None:
    credentials = conn.Credentials(token=TOKEN, password="pw-secret", cert_pem=b"CERT", key_pem=b"KEY")
    text = repr(credentials) + json.dumps(str(conn.Connection(server="https://x", token=TOKEN)))
    assert TOKEN not in text
    assert "pw-secret" not in text
    assert "KEY" not in text
