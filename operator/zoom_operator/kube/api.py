"""A small async JSON gateway to the Kubernetes API, on the official `kubernetes` client.

The `kubernetes` client is synchronous, so every call runs in a bounded thread pool, never on the
event loop. Bodies are plain JSON (no generated models): less memory at thousands of objects, and
exactly the fields we send. Non-2xx answers become `KubeError` with the API server's own message.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
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

    async def patch_zoomapp_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request(
            "PATCH",
            self._zoomapp_path(ref.namespace, ref.name) + "/status",
            {"status": status},
            content_type=MERGE_PATCH,
        )
