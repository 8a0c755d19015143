"""Bad input: malformed ZoomApps, names at the length limits, unusable credentials Secrets.

Every manifest is either refused by the API server with a message that names the problem (asserted),
or accepted and then reported on the ZoomApp's status with a reason and a message; deleting it always
completes. Throughout, a good ZoomApp in the same namespace keeps being
served by the same operator process, which must never log a crashed handler.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.reliability.helpers import APP, TOKEN_SECRET, deploy, renew_now, token_works
from tests.support.operator import Cluster, OperatorProcess, wait_for
from tests.support.simulator import SimulatorProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

BASE_URL = "http://127.0.0.1:9"  # never contacted: these apps fail before minting or are refused


def _app(name: str = "bad", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "credentialsSecretRef": {"name": "bad-creds"},
        "expectedOwner": {"email": "dev-lead@example.com"},
        "endpoints": {"oauthUrl": BASE_URL, "apiUrl": BASE_URL},
    }
    body.update(spec)
    return {
        "apiVersion": "zoom-operator.io/v1alpha1",
        "kind": "ZoomApp",
        "metadata": {"name": name},
        "spec": body,
    }


def _without(path: str) -> dict[str, Any]:
    manifest = _app()
    parent = manifest
    *head, last = path.split(".")
    for key in head:
        parent = parent[key]
    del parent[last]
    return manifest


def _with(path: str, value: Any, name: str = "bad") -> dict[str, Any]:
    manifest = _app(name)
    parent = manifest
    *head, last = path.split(".")
    for key in head:
        parent = parent.setdefault(key, {})
    parent[last] = value
    return manifest


LONG = "a" * 254
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    # missing required fields
    ("no-spec", _without("spec"), "spec: Required value"),
    (
        "no-credentials-ref",
        _without("spec.credentialsSecretRef"),
        "spec.credentialsSecretRef: Required value",
    ),
    ("no-expected-owner", _without("spec.expectedOwner"), "spec.expectedOwner: Required value"),
    (
        "no-credentials-name",
        _with("spec.credentialsSecretRef", {}),
        "spec.credentialsSecretRef.name: Required value",
    ),
    ("owner-empty", _with("spec.expectedOwner", {}), "set expectedOwner.email or expectedOwner.userId"),
    ("auditor-without-name", _with("spec.auditorRef", {}), "spec.auditorRef.name: Required value"),
    # wrong types
    ("credentials-ref-string", _with("spec.credentialsSecretRef", "creds"), "must be of type object"),
    ("email-number", _with("spec.expectedOwner.email", 5), "must be of type string"),
    ("renew-before-duration", _with("spec.renewBeforeSeconds", "10m"), "must be of type integer"),
    ("renew-before-float", _with("spec.renewBeforeSeconds", 30.5), "must be of type integer"),
    ("renew-before-bool", _with("spec.renewBeforeSeconds", True), "must be of type integer"),
    ("interval-duration", _with("spec.probe.intervalSeconds", "5m"), "must be of type integer"),
    ("budget-word", _with("spec.mintBudgetPerHour", "six"), "must be of type integer"),
    ("scopes-string", _with("spec.requiredScopes", "meeting:write:admin"), "must be of type array"),
    ("labels-list", _with("spec.tokenSecret.labels", ["a"]), "must be of type object"),
    ("label-value-number", _with("spec.tokenSecret.labels", {"team": 7}), "must be of type string"),
    ("probe-string", _with("spec.probe", "/v2/users/me"), "must be of type object"),
    # bad numbers and durations
    ("renew-before-negative", _with("spec.renewBeforeSeconds", -5), "should be greater than or equal to 10"),
    ("renew-before-9", _with("spec.renewBeforeSeconds", 9), "should be greater than or equal to 10"),
    ("renew-before-hour", _with("spec.renewBeforeSeconds", 3600), "should be less than or equal to 3599"),
    ("interval-4", _with("spec.probe.intervalSeconds", 4), "should be greater than or equal to 5"),
    (
        "interval-day-plus",
        _with("spec.probe.intervalSeconds", 86401),
        "should be less than or equal to 86400",
    ),
    ("threshold-0", _with("spec.unauthorizedThreshold", 0), "should be greater than or equal to 1"),
    ("threshold-21", _with("spec.unauthorizedThreshold", 21), "should be less than or equal to 20"),
    ("budget-0", _with("spec.mintBudgetPerHour", 0), "should be greater than or equal to 1"),
    ("budget-huge", _with("spec.mintBudgetPerHour", 3601), "should be less than or equal to 3600"),
    # bad strings
    (
        "credentials-name-empty",
        _with("spec.credentialsSecretRef.name", ""),
        "should be at least 1 chars long",
    ),
    ("credentials-name-upper", _with("spec.credentialsSecretRef.name", "Bad_Name"), "should match"),
    ("credentials-name-254", _with("spec.credentialsSecretRef.name", LONG), "may not be more than 253"),
    ("client-key-slash", _with("spec.credentialsSecretRef.clientIdKey", "a/b"), "should match"),
    ("email-no-at", _with("spec.expectedOwner.email", "dev-lead.example.com"), "should match"),
    ("email-321", _with("spec.expectedOwner.email", "a" * 310 + "@example.com"), "may not be more than 320"),
    ("user-id-space", _with("spec.expectedOwner.userId", "u owner"), "should match"),
    ("user-id-65", _with("spec.expectedOwner.userId", "u" * 65), "may not be more than 64"),
    ("probe-path-relative", _with("spec.probe.path", "v2/users/me"), "should match '^/v2/"),
    ("probe-path-513", _with("spec.probe.path", "/" + "p" * 512), "may not be more than 512"),
    ("scope-empty", _with("spec.requiredScopes", [""]), "should be at least 1 chars long"),
    ("scope-space", _with("spec.requiredScopes", ["meeting write"]), "should match"),
    ("scopes-duplicate", _with("spec.requiredScopes", ["a:b", "a:b"]), "Duplicate value"),
    ("oauth-url-ftp", _with("spec.endpoints.oauthUrl", "ftp://zoom.us"), "should match"),
    ("api-url-no-host", _with("spec.endpoints.apiUrl", "https://"), "should match"),
    ("api-url-space", _with("spec.endpoints.apiUrl", "https://api zoom.us"), "should match"),
    # oversized values
    (
        "scopes-101",
        _with("spec.requiredScopes", [f"s:{i}" for i in range(101)]),
        "must have at most 100 items",
    ),
    ("label-value-64", _with("spec.tokenSecret.labels", {"team": "t" * 64}), "may not be more than 63"),
    (
        "annotations-65",
        _with("spec.tokenSecret.annotations", {f"k{i}": "v" for i in range(65)}),
        "must have at most 64 items",
    ),
    (
        "annotation-value-4097",
        _with("spec.tokenSecret.annotations", {"note": "n" * 4097}),
        "may not be more than 4096",
    ),
    (
        "metadata-annotations-oversized",
        {**_app(), "metadata": {"name": "bad", "annotations": {"big": "x" * 300_000}}},
        "metadata.annotations: Too long",
    ),
    # unknown fields (kubectl's strict field validation)
    ("unknown-renew-before", _with("spec.renewBefore", "10m"), 'unknown field "spec.renewBefore"'),
    (
        "unknown-probe-timeout",
        _with("spec.probe.timeoutSeconds", 5),
        'unknown field "spec.probe.timeoutSeconds"',
    ),
    # cross-field rules
    ("token-is-credentials", _with("spec.tokenSecret.name", "bad-creds"), "tokenSecret.name must differ"),
    (
        "default-token-is-credentials",
        _with("spec.credentialsSecretRef.name", "bad-token"),
        "would overwrite the credentials Secret",
    ),
    ("auditor-is-self", _with("spec.auditorRef.name", "bad"), "must name another ZoomApp"),
    # names at and past the limits
    ("name-254", _app("n" * 254), "must be no more than 253 characters"),
    ("name-upper", _app("Bad-App"), "RFC 1123 subdomain"),
    ("name-253-default-token", _app("n" * 253), "set spec.tokenSecret.name"),
    ("name-248-default-token", _app("n" * 248), "set spec.tokenSecret.name"),
]


def _create(cluster: Cluster, manifest: dict[str, Any]) -> tuple[int, str]:
    import yaml

    result = cluster.kubectl("create", "-f", "-", check=False, stdin=yaml.safe_dump(manifest))
    return result.returncode, result.stderr


def _still_serving(cluster: Cluster) -> None:
    ready = cluster.condition(APP, "Ready")
    assert ready is not None
    assert ready["status"] == "True", f"the good ZoomApp stopped being served: {ready}"


def _delete_completes(cluster: Cluster, name: str) -> None:
    cluster.kubectl("delete", "zapp", name, "--wait=false")
    wait_for(lambda: cluster.get("zoomapp", name) is None, timeout=30, what=f"ZoomApp {name} deleted")


def test_malformed_zoomapps_are_refused_with_a_clear_message(
    cluster: Cluster, sim: SimulatorProcess, start_operator: Callable[..., OperatorProcess]
) -> None:
    operator = start_operator()
    deploy(cluster, sim, probe={"intervalSeconds": 5})
    cluster.wait_condition(APP, "Ready", "True")

    problems = []
    for label, manifest, message in REFUSED:
        code, stderr = _create(cluster, copy.deepcopy(manifest))
        if code == 0:
            problems.append(f"{label}: accepted by the API server")
            _delete_completes(cluster, manifest["metadata"]["name"])
        elif message not in stderr:
            problems.append(f"{label}: message {stderr.strip()[:300]!r} lacks {message!r}")
    assert not problems, "\n".join(problems)
    print(f"{len(REFUSED)} malformed manifests refused by the API server")

    _still_serving(cluster)
    assert operator.process is not None
    assert operator.process.poll() is None


def _credentials(name: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {"zoom-operator.io/credentials": "true"}},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


GOOD_CREDENTIALS = {
    b"account_id": b"acc-demo",
    b"client_id": b"other-client",
    b"client_secret": b"s3cr3t-value",
}


def _creds(**override: bytes) -> dict[str, bytes]:
    data = {k.decode(): v for k, v in GOOD_CREDENTIALS.items()}
    data.update(override)
    return {k: v for k, v in data.items() if v != b"<absent>"}


# Accepted by the API server; the operator reports them on Ready with a reason and a message fragment.
REPORTED: list[tuple[str, dict[str, bytes] | None, dict[str, Any], str, str]] = [
    ("creds-missing", None, {}, "CredentialsSecretMissing", "does not exist"),
    ("creds-non-utf8", _creds(client_secret=b"\xff\xfe-secret"), {}, "CredentialsSecretInvalid", "not UTF-8"),
    ("creds-key-absent", _creds(client_secret=b"<absent>"), {}, "CredentialsSecretInvalid", "has no key"),
    ("creds-empty", _creds(client_id=b""), {}, "CredentialsSecretInvalid", "is empty"),
    ("creds-spaces", _creds(client_id=b"two words"), {}, "CredentialsSecretInvalid", "spaces or control"),
    ("creds-control", _creds(account_id=b"acc\x07demo"), {}, "CredentialsSecretInvalid", "spaces or control"),
    ("creds-oversized", _creds(client_secret=b"x" * 5000), {}, "CredentialsSecretInvalid", "5000 bytes"),
    (
        "creds-custom-key-absent",
        _creds(),
        {"credentialsSecretRef": {"name": "{creds}", "clientSecretKey": "secret"}},
        "CredentialsSecretInvalid",
        "has no key 'secret'",
    ),
]


@pytest.mark.parametrize("case", REPORTED, ids=[c[0] for c in REPORTED])
def test_unusable_credentials_are_reported_on_status_and_deletion_completes(
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    case: tuple[str, dict[str, bytes] | None, dict[str, Any], str, str],
) -> None:
    label, data, spec, reason, fragment = case
    # BASE_URL is allowed so that the credentials, not the endpoint, are what is judged (it is never
    # contacted: these apps fail before minting)
    operator = start_operator(allow=[sim.base_url, BASE_URL])
    deploy(cluster, sim, probe={"intervalSeconds": 5})
    cluster.wait_condition(APP, "Ready", "True")
    creds = f"{label}-zoom"
    if data is not None:
        cluster.apply(_credentials(creds, data))
    if "credentialsSecretRef" in spec:
        spec = {"credentialsSecretRef": {**spec["credentialsSecretRef"], "name": creds}}
    cluster.apply(_app(label, **{"credentialsSecretRef": {"name": creds}, **spec}))

    ready = cluster.wait_condition(label, "Ready", "False", reason=reason, timeout=30)
    assert fragment in ready["message"]
    assert creds in ready["message"]
    for value in (data or {}).values():
        if len(value) >= 8 and value != b"acc-demo":
            assert value.decode("utf-8", "replace") not in ready["message"], "a credential value on status"
    _delete_completes(cluster, label)
    _still_serving(cluster)
    renew_now(cluster, f"after-{label}")  # the operator still acts on the good app
    wait_for(
        lambda: (
            (cluster.zoomapp(APP)["status"].get("token") or {}).get("renewRequestHandled") == f"after-{label}"
        ),
        timeout=30,
        what="the good app renewed after the bad one",
    )
    token = cluster.secret_data(TOKEN_SECRET)
    assert token is not None
    assert token_works(sim, token["access_token"])
    assert "failed with an exception" not in operator.logs()


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("n" * 247, {}),  # the longest name whose default token Secret (<name>-token) is a valid name
        ("n" * 253, {"tokenSecret": {"name": "long-app-token"}}),  # the longest name, token name set
        ("a" * 62 + "-" + "b" * 10, {}),  # its 63-character label value would end in '-' if cut naively
        ("a", {}),  # the shortest
    ],
    ids=["247-default-token", "253-named-token", "label-cut-at-dash", "one-char"],
)
def test_names_at_the_length_limits_are_served(
    cluster: Cluster,
    sim: SimulatorProcess,
    start_operator: Callable[..., OperatorProcess],
    name: str,
    spec: dict[str, Any],
) -> None:
    operator = start_operator()
    deploy(cluster, sim, name=name, probe={"intervalSeconds": 5}, **spec)
    cluster.wait_condition(name, "Ready", "True", timeout=40)
    token_name = (spec.get("tokenSecret") or {}).get("name") or f"{name}-token"
    secret = cluster.get("secret", token_name)
    assert secret is not None
    assert len(secret["metadata"]["labels"]["zoom-operator.io/zoomapp"]) <= 63
    _delete_completes(cluster, name)
    assert "failed with an exception" not in operator.logs()
