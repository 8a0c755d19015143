"""A small async JSON gateway to the Kubernetes API, on aiohttp (no `kubernetes` client).

This module owns the operator's own requests to the API server: the calls it makes (Secrets,
ZoomApps, the Secret list and watch) as coroutines on plain JSON dicts, one aiohttp session with a
bounded connection pool for requests and one for long-running watches (so watches never starve the
requests), a total timeout per request, and one retry with fresh credentials after a 401 when the
credentials can change (exec plugin, token file). Non-2xx answers become `KubeError` with the API
server's own message; an unreachable server is `KubeUnreachable` (a `KubeError` 503). Where the
server is and who we are comes from `kube/connection.py`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from zoom_operator.kube.connection import Connection, Credentials, KubeConfigError, load_connection
from zoom_operator.kube.refs import KubeError as KubeError
from zoom_operator.kube.refs import ObjectRef as ObjectRef

GROUP: Final = "zoom-operator.io"
VERSION: Final = "v1alpha1"
PLURAL: Final = "zoomapps"
MERGE_PATCH: Final = "application/merge-patch+json"
JSON: Final = "application/json"
# Ask for an object's metadata only (its labels and ownerReferences, never a Secret's data).
METADATA_ONLY: Final = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
METADATA_ONLY_LIST: Final = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
LIST_PAGE: Final = 500
# aiohttp's own line iteration fails above 128 KiB, and a Secret reaches 1 MiB: split lines here
MAX_EVENT_BYTES: Final = 16 * 1024 * 1024

Query = Mapping[str, str] | Sequence[tuple[str, str]]


class KubeUnreachable(KubeError):
    """The API server could not be reached or stopped answering (status 503, reason Unavailable)."""


def _unreachable(error: BaseException, what: str = "API server unreachable") -> KubeUnreachable:
    return KubeUnreachable(503, "Unavailable", f"{what}: {type(error).__name__}")


def _refusal(status: int, raw: bytes) -> KubeError:
    """A non-2xx answer as a KubeError with the server's own reason and message."""
    try:
        payload: Any = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"message": raw[:200].decode("utf-8", "replace")}
    message = payload.get("message", "") if isinstance(payload, dict) else ""
    reason = payload.get("reason", "") if isinstance(payload, dict) else ""
    return KubeError(status, str(reason or "Error"), str(message or "no message"))


def connect(kubeconfig: str | None = None, *, pool_size: int = 8, timeout: float = 30.0) -> KubeApi:
    """The gateway for the operator's settings (in a pod its ServiceAccount; elsewhere `kubeconfig`,
    $KUBECONFIG or ~/.kube/config). Raises `KubeConfigError` with a message for the user."""
    return KubeApi(load_connection(kubeconfig), pool_size=pool_size, timeout=timeout)


class KubeApi:
    """The handful of calls the operator makes, as coroutines returning plain dicts."""

    def __init__(self, connection: Connection, *, pool_size: int = 8, timeout: float = 30.0) -> None:
        self._connection = connection
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connect_timeout = timeout
        self._sessions: dict[bool, aiohttp.ClientSession] = {}  # watch? -> session
        self._tls_identity: tuple[bytes | None, bytes | None] = (None, None)
        self.requests_total = 0

    @property
    def server(self) -> str:
        return self._connection.server

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def _session(self, credentials: Credentials, *, watch: bool) -> aiohttp.ClientSession:
        """The session for requests (pool of `pool_size`) or for watches (unbounded: one per stream),
        made on first use on the running loop; made again when an exec plugin's certificate changes."""
        identity = (credentials.cert_pem, credentials.key_pem)
        if identity != self._tls_identity:
            await self.close()
            self._tls_identity = identity
        session = self._sessions.get(watch)
        if session is None or session.closed:
            try:
                context = self._connection.ssl_context(credentials)
            except KubeConfigError as error:
                raise KubeError(401, "Unauthorized", str(error)) from None
            connector = aiohttp.TCPConnector(limit=0 if watch else self._pool_size, ssl=context)
            session = self._sessions[watch] = aiohttp.ClientSession(connector=connector)
        return session

    async def _credentials(self) -> Credentials:
        try:
            return await self._connection.credentials()
        except KubeConfigError as error:  # exec plugin failing, token file gone: the worker retries
            raise KubeError(401, "Unauthorized", f"cannot get credentials: {error}") from None

    @contextlib.asynccontextmanager
    async def _response(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
        watch: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response to one request, after one retry with fresh credentials on a 401 (when they
        can change). Connection failures are `KubeUnreachable`; the caller reads the status."""
        url = self._connection.server + path
        for attempt in (1, 2):
            credentials = await self._credentials()
            session = await self._session(credentials, watch=watch)
            try:
                response = await session.request(
                    method,
                    url,
                    params=query,
                    data=body,
                    headers={**(headers or {}), **credentials.headers()},
                    timeout=client_timeout or self._timeout,
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                raise _unreachable(error) from error
            if response.status == 401 and attempt == 1 and self._connection.refreshable:
                response.release()
                self._connection.invalidate()
                continue
            try:
                yield response
            finally:
                response.release()
            return

    async def fetch(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        content_type: str = JSON,
        query: Query | None = None,
        accept: str = JSON,
        request_timeout: float | None = None,
    ) -> tuple[int, bytes]:
        """One request's status and raw body, whatever the status; `KubeUnreachable` when the API
        server cannot be reached or the answer did not arrive in time."""
        self.requests_total += 1
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        data = json.dumps(body).encode() if body is not None else None
        limit = aiohttp.ClientTimeout(total=request_timeout) if request_timeout is not None else None
        async with self._response(
            method, path, query=query, body=data, headers=headers, client_timeout=limit
        ) as response:
            try:
                return response.status, await response.read()
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                raise _unreachable(error) from error

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        content_type: str = JSON,
        query: Query | None = None,
        accept: str = JSON,
    ) -> dict[str, Any]:
        """The JSON answer of a 2xx, else `KubeError` with the API server's reason and message. An
        unreachable server is a KubeError too (503), so the worker retries its step (keeping a token it
        minted but could not store yet) instead of its daemon crashing and forgetting that token."""
        status, raw = await self.fetch(
            method, path, body, content_type=content_type, query=query, accept=accept
        )
        if not 200 <= status < 300:
            raise _refusal(status, raw)
        try:
            payload: Any = json.loads(raw) if raw else {}
        except ValueError:
            payload = {}
        return payload if isinstance(payload, dict) else {}

    # Secrets ---------------------------------------------------------------------------------

    @staticmethod
    def _secret_path(namespace: str | None, name: str | None = None) -> str:
        if namespace is None:
            return "/api/v1/secrets"
        base = f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets"
        return base if name is None else f"{base}/{quote(name, safe='')}"

    async def _get_or_none(self, path: str, *, accept: str = JSON) -> dict[str, Any] | None:
        """The object at `path`, or None when it does not exist (404)."""
        try:
            return await self.request("GET", path, accept=accept)
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    async def get_secret(self, ref: ObjectRef) -> dict[str, Any] | None:
        return await self._get_or_none(self._secret_path(ref.namespace, ref.name))

    async def get_secret_metadata(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The Secret's metadata only (PartialObjectMetadata): who owns it, how it is labelled."""
        return await self._get_or_none(self._secret_path(ref.namespace, ref.name), accept=METADATA_ONLY)

    async def get_labelled_secret(self, ref: ObjectRef, selector: str) -> dict[str, Any] | None:
        """The Secret if it carries `selector`'s labels, else None: the API server filters, so the
        data of a Secret without them never reaches this process."""
        listed = await self.request(
            "GET",
            self._secret_path(ref.namespace),
            query={"fieldSelector": f"metadata.name={ref.name}", "labelSelector": selector},
        )
        items = listed.get("items") or []
        if not items:
            return None
        secret = dict(items[0])
        secret.setdefault("apiVersion", "v1")
        secret.setdefault("kind", "Secret")
        return secret

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", self._secret_path(namespace), body)

    async def replace_secret(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT with the body's resourceVersion: a concurrent writer makes this fail with 409."""
        return await self.request("PUT", self._secret_path(ref.namespace, ref.name), body)

    async def patch_secret(self, ref: ObjectRef, patch: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request(
            "PATCH", self._secret_path(ref.namespace, ref.name), patch, content_type=MERGE_PATCH
        )

    # ZoomApps --------------------------------------------------------------------------------

    @staticmethod
    def _zoomapp_path(namespace: str, name: str | None = None) -> str:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(namespace, safe='')}/{PLURAL}"
        return base if name is None else f"{base}/{quote(name, safe='')}"

    async def get_zoomapp(self, ref: ObjectRef) -> dict[str, Any] | None:
        return await self._get_or_none(self._zoomapp_path(ref.namespace, ref.name))

    async def patch_zoomapp_status(
        self, ref: ObjectRef, status: Mapping[str, Any], *, resource_version: str | None = None
    ) -> dict[str, Any]:
        """Merge-patch status; with `resource_version`, only if the ZoomApp is still at that version
        (else KubeError 409): the API server's optimistic concurrency decides between two writers."""
        body: dict[str, Any] = {"status": status}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        return await self.request(
            "PATCH",
            self._zoomapp_path(ref.namespace, ref.name) + "/status",
            body,
            content_type=MERGE_PATCH,
        )

    # Watching --------------------------------------------------------------------------------

    async def list_secrets(
        self,
        namespace: str | None,
        label_selector: str,
        *,
        continue_token: str | None = None,
        metadata_only: bool = False,
        limit: int = LIST_PAGE,
    ) -> dict[str, Any]:
        """One page (`limit`, 500) of the labelled Secrets, in one namespace or all (None). With
        `metadata_only` the items are PartialObjectMetadata: no Secret data reaches this process."""
        query = {"labelSelector": label_selector, "limit": str(limit)}
        if continue_token:
            query["continue"] = continue_token
        accept = METADATA_ONLY_LIST if metadata_only else JSON
        return await self.request("GET", self._secret_path(namespace), query=query, accept=accept)

    async def watch_secrets(
        self,
        namespace: str | None,
        label_selector: str,
        resource_version: str,
        *,
        timeout_seconds: int = 300,
        metadata_only: bool = False,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The watch events ({type, object}) after `resource_version`, one at a time, until the server
        ends the watch. Bookmarks carry the newest resourceVersion. With `metadata_only` the objects
        are PartialObjectMetadata. A broken or silent stream ends with `KubeUnreachable`."""
        query = {
            "watch": "1",
            "labelSelector": label_selector,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        headers = {"Accept": METADATA_ONLY if metadata_only else JSON}
        # no total: the server ends the watch; a stream silent for longer than that is dead
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._connect_timeout, sock_read=timeout_seconds + 30
        )
        path = self._secret_path(namespace)
        async with self._response(
            "GET", path, query=query, headers=headers, client_timeout=timeout, watch=True
        ) as response:
            if not 200 <= response.status < 300:
                try:
                    raw = await response.read()
                except (aiohttp.ClientError, OSError, TimeoutError) as error:
                    raise _unreachable(error, "watch ended") from error
                raise _refusal(response.status, raw)
            pending = b""
            while True:
                try:
                    chunk = await response.content.readany()
                except (aiohttp.ClientError, OSError, TimeoutError) as error:
                    raise _unreachable(error, "watch ended") from error
                if not chunk:
                    break
                pending += chunk
                if b"\n" not in chunk:
                    if len(pending) > MAX_EVENT_BYTES:
                        raise KubeError(500, "InternalError", "a watch event larger than 16 MiB")
                    continue
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
            if pending.strip():
                yield json.loads(pending)
