"""The copy of a ZoomApp the operator keeps per served app, and what about it wakes the app (pure).

A step reads its ZoomApp from this slim copy, not from a kept watch body: identity, generation,
resourceVersion, the renew-now annotation, the spec parsed once per generation, and (once the app's
state is restored) only the last mint attempt of its status. Keeping whole bodies cost about 4 KB per
app (bench/RESULTS.md). `wake_key` is what, when it changes between two watch events, wakes the app:
its generation, the renew-now annotation and the Secrets it names; its own status writes do not.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from zoom_operator.kube.refs import ObjectRef
from zoom_operator.spec import default_token_secret_name
from zoom_operator.worker import PARSED_SPEC, RENEW_NOW_ANNOTATION, WorkerConfig, parse_body_spec

SecretRefs = tuple[ObjectRef | None, ObjectRef | None]  # a ZoomApp's (credentials Secret, token Secret)


def slim(
    body: Mapping[str, Any],
    *,
    keep_status: bool,
    old: Mapping[str, Any] | None = None,
    config: WorkerConfig | None = None,
) -> dict[str, Any]:
    """What a step reads of its ZoomApp: identity, generation, resourceVersion, the renew-now annotation,
    the spec already parsed (`PARSED_SPEC`: parsed again only when the generation moves; half the bytes
    of the spec's JSON and no parsing per step), and status (whole only until restored; then just the
    last mint attempt)."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    slim_meta: dict[str, Any] = {
        key: meta[key]
        for key in ("name", "namespace", "uid", "generation", "creationTimestamp", "resourceVersion")
        if key in meta
    }
    if RENEW_NOW_ANNOTATION in annotations:
        slim_meta["annotations"] = {RENEW_NOW_ANNOTATION: annotations[RENEW_NOW_ANNOTATION]}
    status = body.get("status") or {}
    old_meta = (old or {}).get("metadata") or {}
    if old is not None and PARSED_SPEC in old and old_meta.get("generation") == meta.get("generation"):
        parsed = old[PARSED_SPEC]  # the spec moves the generation: unchanged
    else:
        parsed = parse_body_spec(body, config.allowlist if config else None)
    if "namespace" in slim_meta:
        slim_meta["namespace"] = sys.intern(str(slim_meta["namespace"]))
    return {
        "apiVersion": sys.intern(str(body.get("apiVersion") or "zoom-operator.io/v1alpha1")),
        "kind": sys.intern(str(body.get("kind") or "ZoomApp")),
        "metadata": slim_meta,
        PARSED_SPEC: parsed,
        "status": dict(status) if keep_status else slim_status(status),
    }


def slim_status(status: Mapping[str, Any]) -> dict[str, Any]:
    last = ((status.get("mints") or {}) if isinstance(status.get("mints"), Mapping) else {}).get("lastAt")
    return {"mints": {"lastAt": last}} if last else {}


WakeKey = tuple[int, str | None, SecretRefs | None]


def wake_key(slim: Mapping[str, Any], secrets: SecretRefs | None) -> WakeKey:
    """What, when it changes, wakes a served app: its generation, the renew-now annotation, its Secrets."""
    meta = slim.get("metadata") or {}
    generation = int(meta.get("generation") or 0)
    renew = (meta.get("annotations") or {}).get(RENEW_NOW_ANNOTATION)
    return generation, renew, secrets


def secret_refs(app: ObjectRef, body: Mapping[str, Any]) -> SecretRefs:
    """The ZoomApp's (credentials Secret, token Secret), None for a name its spec lacks."""
    spec = body.get("spec") or {}
    credentials = str((spec.get("credentialsSecretRef") or {}).get("name") or "")
    token = str((spec.get("tokenSecret") or {}).get("name") or default_token_secret_name(app.name))
    return (
        ObjectRef(app.namespace, credentials) if credentials else None,
        ObjectRef(app.namespace, token) if token else None,
    )
