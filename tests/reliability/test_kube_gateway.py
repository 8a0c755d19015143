"""Regression: an unreachable API server is a `KubeError` the worker retries, not a daemon crash."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes import client as k8s_client

from tests.support.operator import free_port
from zoom_operator.kube.api import KubeApi, KubeError, ObjectRef


def test_connection_refused_is_a_kube_error_with_status_503() -> None:
    configuration = k8s_client.Configuration()
    configuration.host = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    configuration.retries = 0
    api = KubeApi(k8s_client.ApiClient(configuration), max_workers=1, timeout=5)
    try:
        with pytest.raises(KubeError) as caught:
            asyncio.run(api.get_secret(ObjectRef("default", "meetings-bot-token")))
    finally:
        api.close()
    assert caught.value.status == 503
    assert "unreachable" in str(caught.value)
