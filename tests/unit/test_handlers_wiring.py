"""The kopf wiring's pure parts: what a served app keeps of its ZoomApp, which Secrets each watch
selects (sharded or not), and the summary counts."""

from __future__ import annotations

from zoom_operator import handlers, slim_copy
from zoom_operator.kube.refs import ObjectRef
from zoom_operator.kube.sharding import SHARD_LABEL
from zoom_operator.spec import SpecError, ZoomAppSpec
from zoom_operator.worker import PARSED_SPEC


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
    slim = slim_copy.slim(_zoomapp(), keep_status=False)
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
    assert "spec" not in slim, "the spec is kept parsed, not as JSON"
    assert slim_copy.slim(_zoomapp(), keep_status=True)["status"]["conditions"], "whole until restored"


def test_the_spec_is_parsed_once_per_generation_and_a_bad_one_is_kept_as_its_error() -> None:
    first = slim_copy.slim(_zoomapp(), keep_status=False)
    parsed = first[PARSED_SPEC]
    assert isinstance(parsed, SpecError), "the test ZoomApp lacks expectedOwner"
    assert parsed.__traceback__ is None
    fixed = _zoomapp()
    fixed["spec"] = {"credentialsSecretRef": {"name": "bot-zoom"}, "expectedOwner": {"email": "o@x.io"}}
    same_generation = slim_copy.slim(fixed, keep_status=False, old=first)
    assert same_generation[PARSED_SPEC] is parsed, "the generation did not move: not parsed again"
    fixed["metadata"]["generation"] = 4  # type: ignore[index]
    next_generation = slim_copy.slim(fixed, keep_status=False, old=first)[PARSED_SPEC]
    assert isinstance(next_generation, ZoomAppSpec)
    assert next_generation.credentials.name == "bot-zoom"
    assert next_generation.token_secret.name == "bot-token"


def test_an_app_wakes_for_its_generation_its_renew_request_and_its_secrets_only() -> None:
    app = ObjectRef("team-a", "bot")
    slim = slim_copy.slim(_zoomapp(), keep_status=False)
    secrets = slim_copy.secret_refs(app, _zoomapp())
    assert secrets == (ObjectRef("team-a", "bot-zoom"), ObjectRef("team-a", "bot-token"))
    key = slim_copy.wake_key(slim, secrets)
    renamed = _zoomapp()
    renamed["spec"] = {"credentialsSecretRef": {"name": "bot-zoom-2"}}
    assert slim_copy.wake_key(slim, slim_copy.secret_refs(app, renamed)) != key
    renewed = _zoomapp()
    renewed["metadata"]["annotations"]["zoom-operator.io/renew-now"] = "2"  # type: ignore[index]
    assert slim_copy.wake_key(slim_copy.slim(renewed, keep_status=False), secrets) != key
    status_only = _zoomapp()
    status_only["metadata"]["resourceVersion"] = "43"  # type: ignore[index]
    assert slim_copy.wake_key(slim_copy.slim(status_only, keep_status=False), secrets) == key


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
