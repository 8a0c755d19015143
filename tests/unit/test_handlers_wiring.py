"""The kopf wiring's pure parts: what a served app keeps of its ZoomApp, which Secrets each watch
selects (sharded or not), and the summary counts."""

from __future__ import annotations

from zoom_operator import handlers
from zoom_operator.kube.sharding import SHARD_LABEL


def _zoomapp() -> dict[str, object]:
    return {
        "apiVersion": "zoom-operator.io/v1alpha1",
        "kind": "ZoomApp",
        "metadata": {
            "name": "bot",
            "namespace": "team-a",
            "uid": "uid-1",
            "generation": 3,
            "resourceVersion": "42",
            "creationTimestamp": "2026-12-01T09:00:00Z",
            "annotations": {"zoom-operator.io/renew-now": "1", "kubectl.kubernetes.io/last-applied": "{big}"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "finalizers": [handlers.FINALIZER],
        },
        "spec": {"credentialsSecretRef": {"name": "bot-zoom"}},
        "status": {
            "mints": {"lastAt": "2026-12-01T09:01:00Z", "total": 1},
            "conditions": [{"type": "Ready"}],
        },
    }


def test_a_served_app_keeps_what_its_steps_read_and_nothing_else() -> None:
    slim = handlers._slim(_zoomapp(), keep_status=False)
    assert set(slim["metadata"]) == {
        "name",
        "namespace",
        "uid",
        "generation",
        "resourceVersion",
        "creationTimestamp",
        "annotations",
    }
    assert slim["metadata"]["annotations"] == {"zoom-operator.io/renew-now": "1"}
    assert slim["status"] == {"mints": {"lastAt": "2026-12-01T09:01:00Z"}}, "only the last mint attempt"
    assert handlers._slim(_zoomapp(), keep_status=True)["status"]["conditions"], "whole until restored"


def test_unsharded_one_watch_sees_both_kinds_of_secret() -> None:
    assert handlers._secret_selectors(None) == {
        "zoom-operator.io/credentials": frozenset({"credentials", "token"})
    }


def test_a_shard_watches_only_its_own_token_secrets() -> None:
    selectors = handlers._secret_selectors((0, 2))
    credentials, token = sorted(selectors, key=len)
    assert credentials == "zoom-operator.io/credentials=true"
    assert selectors[credentials] == frozenset({"credentials"})
    assert token.startswith("zoom-operator.io/credentials=token,")
    assert f"{SHARD_LABEL} in (00," in token
    assert "7f)" in token
    assert "80" not in token.split(" in ")[1]
    assert selectors[token] == frozenset({"token"})


def test_kopf_keeps_no_diff_base() -> None:
    storage = handlers.NoDiffBase()
    assert storage.build(body=_zoomapp()) == {}  # type: ignore[arg-type]
    assert storage.fetch(body=_zoomapp()) == {}  # type: ignore[arg-type]
