"""A small async JSON gateway to the Kubernetes API, on the official `kubernetes` client.

The `kubernetes` client is synchronous, so every call runs in a bounded thread pool, never on the
event loop. Bodies are plain JSON (no generated models): less memory at thousands of objects, and
exactly the fields we send. Non-2xx answers become `KubeError` with the API server's own message.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from zoom_operator.kube.refs import KubeError as KubeError
from zoom_operator.kube.refs import ObjectRef as ObjectRef

GROUP: Final = "zoom-operator.io"
VERSION: Final = "v1alpha1"
PLURAL: Final = "zoomapps"
MERGE_PATCH: Final = "application/merge-patch+json"
JSON: Final = "application/json"
# Ask for an object's metadata only (its labels and ownerReferences, never a Secret's data).
METADATA_ONLY: Final = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


def load_api_client(kubeconfig: str | None = None, *, pool_size: int = 8) -> k8s_client.ApiClient:
    """In a pod use the ServiceAccount; elsewhere the kubeconfig named explicitly (or $KUBECONFIG)."""
    configuration = k8s_client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig or os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    configuration.connection_pool_maxsize = pool_size
    return k8s_client.ApiClient(configuration)


class KubeApi:
    """The handful of calls the operator makes, as coroutines returning plain dicts."""

    def __init__(
        self, api_client: k8s_client.ApiClient, *, max_workers: int = 8, timeout: float = 30.0
    ) -> None:
        self._client = api_client
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="kube-api")
        self._timeout = timeout
        self.requests_total = 0

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()  # type: ignore[no-untyped-call]

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        content_type: str = JSON,
        query: Mapping[str, str] | None = None,
        accept: str = JSON,
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._request_sync, method, path, body, content_type, query, accept
        )

    def _request_sync(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        content_type: str,
        query: Mapping[str, str] | None,
        accept: str = JSON,
    ) -> dict[str, Any]:
        self.requests_total += 1
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        _, url, header_params, _, _ = self._client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()) or None,
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._client.call_api(
                method,
                url,
                header_params=header_params,
                body=dict(body) if body is not None else None,
                _request_timeout=self._timeout,
            )
            raw: bytes = response.read()  # type: ignore[no-untyped-call]
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # The API server is unreachable (restarting, network): a KubeError like any refusal, so the
            # worker retries its step (keeping a token it minted but could not store yet) instead of
            # its daemon crashing and forgetting that token.
            raise KubeError(503, "Unavailable", f"API server unreachable: {type(error).__name__}") from error
        payload: Any = {}
        if raw:
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = {"message": raw[:200].decode("utf-8", "replace")}
        if not 200 <= response.status < 300:
            message = payload.get("message", "") if isinstance(payload, dict) else ""
            reason = payload.get("reason", "") if isinstance(payload, dict) else ""
            raise KubeError(response.status, reason or "Error", message or "no message")
        return payload if isinstance(payload, dict) else {}

    # Secrets ---------------------------------------------------------------------------------

    @staticmethod
    def _secret_path(namespace: str, name: str | None = None) -> str:
        base = f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets"
        return base if name is None else f"{base}/{quote(name, safe='')}"

    async def get_secret(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            return await self.request("GET", self._secret_path(ref.namespace, ref.name))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    async def get_secret_metadata(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The Secret's metadata only (PartialObjectMetadata): who owns it, how it is labelled."""
        try:
            return await self.request("GET", self._secret_path(ref.namespace, ref.name), accept=METADATA_ONLY)
        except KubeError as error:
            if error.status == 404:
                return None
            raise

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
        try:
            return await self.request("GET", self._zoomapp_path(ref.namespace, ref.name))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

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

    def list_secrets_sync(
        self, namespace: str | None, label_selector: str, *, continue_token: str | None = None
    ) -> dict[str, Any]:
        """One page (500) of the labelled Secrets, in one namespace or all (blocking: call in a thread)."""
        path = self._secret_path(namespace) if namespace else "/api/v1/secrets"
        query = {"labelSelector": label_selector, "limit": "500"}
        if continue_token:
            query["continue"] = continue_token
        return self._request_sync("GET", path, None, JSON, query)

    def watch_secrets_sync(
        self, namespace: str | None, label_selector: str, resource_version: str, *, timeout_seconds: int = 300
    ) -> Iterator[dict[str, Any]]:
        """The watch events ({type, object}) after `resource_version`, one at a time, until the server
        ends the watch (blocking: iterate in a thread). Bookmarks carry the newest resourceVersion."""
        path = self._secret_path(namespace) if namespace else "/api/v1/secrets"
        query = {
            "watch": "1",
            "labelSelector": label_selector,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        _, url, headers, _, _ = self._client.param_serialize(
            method="GET",
            resource_path=path,
            query_params=list(query.items()),
            header_params={"Accept": JSON},
            auth_settings=["BearerToken"],
        )
        try:
            response = self._client.call_api(
                "GET", url, header_params=headers, _request_timeout=timeout_seconds + 30
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise KubeError(503, "Unavailable", f"API server unreachable: {type(error).__name__}") from error
        raw = response.response
        try:
            if not 200 <= response.status < 300:
                payload = json.loads(response.read() or b"{}")  # type: ignore[no-untyped-call]
                raise KubeError(
                    response.status, str(payload.get("reason") or "Error"), str(payload.get("message") or "")
                )
            pending = b""
            for chunk in raw.stream(65536, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise KubeError(503, "Unavailable", f"watch ended: {type(error).__name__}") from error
        finally:
            raw.release_conn()
