"""The operator's own Kubernetes gateway (kube/api.py on aiohttp) against a real kube-apiserver: an
unreachable server is a `KubeError` the worker retries, not a daemon crash; the admin kubeconfig's
client certificate works; the API server's refusals keep its own message; the Secret list and watch
with `metadata_only` carry no Secret data, through the gateway and through `SecretWatch`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from control_plane import ControlPlane

from tests.support.fixtures import Kubectl
from tests.support.operator import free_port
from zoom_operator.kube.api import KubeApi, KubeError, KubeUnreachable, ObjectRef, connect
from zoom_operator.kube.connection import Connection
from zoom_operator.kube.watch import SecretWatch

LABEL = "zoom-operator.io/gateway-test"


def test_connection_refused_is_a_kube_error_with_status_503() -> None:
    api = KubeApi(Connection(server=f"https://127.0.0.1:{free_port()}"), pool_size=1, timeout=5)

    async def get() -> None:
        try:
            await api.get_secret(ObjectRef("default", "meetings-bot-token"))
        finally:
            await api.close()

    with pytest.raises(KubeError) as caught:
        asyncio.run(get())
    assert isinstance(caught.value, KubeUnreachable)
    assert caught.value.status == 503
    assert "unreachable" in str(caught.value)


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeApi]:
    api = connect(str(control_plane.kubeconfig), pool_size=2, timeout=10)
    try:
        yield api
    finally:
        await api.close()


def _secret(kubectl: Kubectl, namespace: str, name: str, value: str) -> None:
    kubectl("create", "secret", "generic", name, "-n", namespace, f"--from-literal=token={value}")
    kubectl("label", "secret", name, "-n", namespace, f"{LABEL}=yes")


@pytest.mark.e2e
async def test_requests_with_the_admin_client_certificate(kube: KubeApi, namespace: str) -> None:
    ref = ObjectRef(namespace, "gateway-made")
    created = await kube.create_secret(
        namespace, {"metadata": {"name": ref.name}, "stringData": {"token": "not-a-real-token"}}
    )
    assert created["metadata"]["name"] == ref.name
    patched = await kube.patch_secret(ref, {"metadata": {"labels": {LABEL: "yes"}}})
    assert patched["metadata"]["labels"][LABEL] == "yes"
    assert await kube.get_labelled_secret(ref, f"{LABEL}=yes") is not None
    assert await kube.get_labelled_secret(ref, f"{LABEL}=no") is None
    assert await kube.get_secret(ObjectRef(namespace, "missing")) is None
    metadata = await kube.get_secret_metadata(ref)
    assert metadata is not None
    assert "data" not in metadata
    with pytest.raises(KubeError) as caught:  # a conflict, with the server's own message
        await kube.create_secret(namespace, {"metadata": {"name": ref.name}})
    assert caught.value.status == 409
    assert "already exists" in str(caught.value)
    assert kube.requests_total == 7


@pytest.mark.e2e
async def test_list_and_watch_with_metadata_only_carry_no_secret_data(
    kube: KubeApi, kubectl: Kubectl, namespace: str
) -> None:
    _secret(kubectl, namespace, "listed", "listed-value")
    page = await kube.list_secrets(namespace, f"{LABEL}=yes", metadata_only=True)
    assert [item["metadata"]["name"] for item in page["items"]] == ["listed"]
    assert all("data" not in item for item in page["items"])
    full = await kube.list_secrets(namespace, f"{LABEL}=yes")
    assert "token" in full["items"][0]["data"]  # the default still reads the data

    events: list[dict[str, Any]] = []

    async def follow() -> None:
        watch = kube.watch_secrets(
            namespace,
            f"{LABEL}=yes",
            page["metadata"]["resourceVersion"],
            timeout_seconds=30,
            metadata_only=True,
        )
        async for event in watch:
            events.append(event)
            if event["type"] == "ADDED":
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    _secret(kubectl, namespace, "watched", "watched-value")
    await asyncio.wait_for(task, 30)
    added = next(event for event in events if event["type"] == "ADDED")
    assert added["object"]["metadata"]["name"] == "watched"
    assert added["object"]["kind"] == "PartialObjectMetadata"
    assert "data" not in added["object"]


@pytest.mark.e2e
async def test_secret_watch_with_metadata_only_hands_on_metadata(
    kube: KubeApi, kubectl: Kubectl, namespace: str
) -> None:
    _secret(kubectl, namespace, "before", "before-value")
    seen: list[tuple[str, Mapping[str, Any]]] = []
    relists: list[frozenset[tuple[str, str]]] = []
    watch = SecretWatch(
        kube,
        namespaces=[namespace],
        selectors=[f"{LABEL}=yes"],
        on_event=lambda kind, obj: seen.append((kind, obj)),
        on_relist=lambda ns, sel, names: relists.append(names),
        metadata_only=True,
    )
    watch.start()
    try:
        deadline = time.monotonic() + 30
        while not relists and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert relists == [frozenset({(namespace, "before")})]
        _secret(kubectl, namespace, "after", "after-value")
        kubectl("delete", "secret", "before", "-n", namespace)
        while watch.events_total < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await watch.stop()
    kinds = [(kind, obj["metadata"]["name"]) for kind, obj in seen]
    assert ("ADDED", "before") in kinds  # from the list
    assert ("ADDED", "after") in kinds
    assert ("DELETED", "before") in kinds
    assert all("data" not in obj for _, obj in seen)
    assert watch.events_total == 2
