"""The chart, rendered offline: lint, Kubernetes schema validation, values schema, RBAC, security.

Every value set in conftest.VALUE_SETS is linted with `helm lint --strict` and its objects are
validated with kubernetes-validate (strict: unknown fields fail) for the oldest and the newest
Kubernetes the chart supports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.chart.conftest import (
    ALERTS,
    CHART,
    REPO_ROOT,
    VALUE_SETS,
    Helm,
    Render,
    by_kind,
    one,
    values_file,
)

CRD_SOURCE = REPO_ROOT / "crds" / "zoomapps.zoom-operator.io.yaml"
OLDEST, NEWEST = "1.30.0", "1.37.0"  # Chart.yaml kubeVersion: >=1.30.0-0
# Kinds that kubernetes-validate has no schema for; checked by the tests below instead.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "KopfPeering", "ClusterKopfPeering"}
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
# kopf's peering CRDs: the chart's crds/ folder (helm installs it as is, without templating).
PEERING_CRDS = {
    doc["metadata"]["name"]: doc
    for doc in yaml.safe_load_all((CHART / "crds" / "kopf-peerings.yaml").read_text())
}


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def rules_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for o in objects if o["kind"] in ("Role", "ClusterRole") for rule in o["rules"]]


# ---- lint and Kubernetes schemas -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_lint_strict(helm: Helm, tmp_path: Path, name: str) -> None:
    result = helm("lint", "--strict", str(CHART), "-f", str(values_file(tmp_path, name, VALUE_SETS[name])))
    assert "0 chart(s) failed" in result.stdout, result.stdout


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_objects_validate_against_kubernetes(render: Render, name: str, version: str) -> None:
    objects = render(VALUE_SETS[name])
    assert objects
    custom = []
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            custom.append(obj)
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(
                f"{obj['kind']}/{obj['metadata']['name']} is invalid for Kubernetes {version}: {error}"
            )
    for obj in custom:
        assert obj["apiVersion"] in ("monitoring.coreos.com/v1", "kopf.dev/v1"), obj["apiVersion"]


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_chart_crds_folder_validates_against_kubernetes(version: str) -> None:
    """The crds/ folder holds only kopf's peering CRDs (the ZoomApp CRD is templated, so it upgrades)."""
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == ["kopf-peerings.yaml"]
    assert set(PEERING_CRDS) == {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
    for crd in PEERING_CRDS.values():
        kubernetes_validate.validate(crd, version, strict=True)


def test_kube_version_constraint(helm: Helm) -> None:
    """The chart renders for the oldest supported Kubernetes and refuses an older one."""
    helm("template", "zo", str(CHART), "--kube-version", OLDEST)
    result = helm("template", "zo", str(CHART), "--kube-version", "1.29.0", check=False)
    assert result.returncode != 0
    assert "kubeVersion" in result.stderr or "incompatible" in result.stderr


# ---- values.schema.json --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "replica=2"], "replica"),  # typo of `replicas`
        (["--set", "image.registry=example.com"], "registry"),  # unknown nested key
        (["--set", "serviceMonitor.enable=true"], "enable"),
        (["--set-string", "replicas=two"], "replicas"),  # wrong type
        (["--set", "watchNamespaces=team-a"], "watchNamespaces"),  # string, not a list
        (["--set", "crds.keep=yes-please"], "keep"),
        (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (["--set", "watchNamespaces={Team_A}"], "watchNamespaces"),  # not a namespace name
        (["--set", "logFormat=yaml"], "logFormat"),
    ],
)
def test_values_schema_rejects_unknown_keys_and_wrong_types(
    helm: Helm, args: list[str], message: str
) -> None:
    result = helm("template", "zo", str(CHART), *args, check=False)
    assert result.returncode != 0, f"helm accepted {args}"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    assert message in result.stderr, result.stderr


def test_values_schema_closes_every_object() -> None:
    """`additionalProperties: false` on every object the chart defines (Kubernetes pass-through
    objects such as affinity and securityContext are typed, and checked by the API server)."""
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    open_objects: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if (
            node.get("type") == "object"
            and "properties" in node
            and node.get("additionalProperties") is not False
        ):
            open_objects.append(path)
        for key, child in (node.get("properties") or {}).items():
            walk(child, f"{path}.{key}")

    walk(schema, "values")
    assert open_objects == []
    # Every key in values.yaml is declared by the schema (and the defaults satisfy it).
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(values, schema)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 2}, "replicas > 1 needs peering.enabled=true"),
        ({"shards": 2, "peering": {"enabled": True}}, "shards > 1 cannot be combined with peering"),
        ({"extraArgs": ["--namespace=other"]}, "extraArgs must not contain --namespace"),
        ({"extraArgs": ["--standalone"]}, "extraArgs must not contain --standalone"),
        ({"serviceAccount": {"create": False}}, "serviceAccount.name is required"),
    ],
)
def test_values_that_would_break_the_one_minter_rule_fail(
    helm: Helm, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    result = helm("template", "zo", str(CHART), "-f", str(values_file(tmp_path, "bad", values)), check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


# ---- the CRD: one source -------------------------------------------------------------------------


def test_chart_crd_is_the_crds_folder_file() -> None:
    link = CHART / "files" / "crds" / CRD_SOURCE.name
    assert link.is_symlink(), "the chart must link to crds/, not keep a copy"
    assert link.resolve() == CRD_SOURCE.resolve()


def test_rendered_crd_is_the_source_crd_with_keep_policy(render: Render) -> None:
    source = yaml.safe_load(CRD_SOURCE.read_text())
    crd = one(render(), "CustomResourceDefinition")
    assert crd["spec"] == source["spec"]  # nothing lost or reformatted into something else
    assert crd["metadata"]["name"] == source["metadata"]["name"]
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    for key, value in source["metadata"]["labels"].items():
        assert crd["metadata"]["labels"][key] == value
    unkept = one(render({"crds": {"keep": False}}), "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in (unkept["metadata"].get("annotations") or {})
    assert by_kind(render({"crds": {"install": False}}), "CustomResourceDefinition") == []


# ---- workloads -----------------------------------------------------------------------------------


def test_default_is_one_cluster_wide_standalone_replica_recreated(render: Render) -> None:
    objects = render()
    (deployment,) = workloads(objects)
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    c = container(deployment)
    assert c["image"] == "zoom-operator:0.1.0"  # appVersion
    assert c["args"] == [
        "--all-namespaces",
        "--standalone",
        "--metrics-port=8080",
        "--liveness=http://0.0.0.0:8081/healthz",
        "--kube-workers=8",
    ]
    assert "command" not in c  # the image's ENTRYPOINT is `zoom-operator run`
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert c["resources"]["requests"]
    assert c["resources"]["limits"]["memory"]
    service = one(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_scheduling_and_image_values_reach_the_pod(render: Render) -> None:
    (deployment,) = workloads(
        render(
            {
                "image": {"repository": "registry.example/zoom-operator", "digest": "sha256:" + "a" * 64},
                "podAnnotations": {"example.com/a": "b"},
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {}},
                "priorityClassName": "system-cluster-critical",
                "extraArgs": ["--verbose"],
                "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
            }
        )
    )
    pod = deployment["spec"]["template"]
    c = container(deployment)
    assert c["image"] == "registry.example/zoom-operator@sha256:" + "a" * 64
    assert pod["metadata"]["annotations"]["example.com/a"] == "b"
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"][0]["key"] == "infra"
    assert pod["spec"]["affinity"] == {"nodeAffinity": {}}
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    assert c["args"][-1] == "--verbose"
    assert {"name": "HTTPS_PROXY", "value": "http://proxy:3128"} in c["env"]


def test_log_values_reach_the_args(render: Render) -> None:
    (deployment,) = workloads(render({"logFormat": "json", "verbose": True}))
    args = container(deployment)["args"]
    assert args[-2:] == ["--verbose", "--log-format=json"]
    (deployment,) = workloads(render({"logFormat": "plain"}))
    assert not [a for a in container(deployment)["args"] if a.startswith(("--log-format", "--verbose"))]


def test_namespaced_mode_watches_and_grants_only_the_listed_namespaces(render: Render) -> None:
    objects = render(VALUE_SETS["namespaced"])
    (deployment,) = workloads(objects)
    args = container(deployment)["args"]
    assert "--namespace=team-a" in args
    assert "--namespace=team-b" in args
    assert "--all-namespaces" not in args
    # At cluster scope only kopf's read-only scanning: no Secrets, no ZoomApps.
    (cluster_role,) = by_kind(objects, "ClusterRole")
    assert cluster_role["metadata"]["name"] == "zo-zoom-operator-scanning"
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
        "customresourcedefinitions",
        "namespaces",
    }
    assert {v for rule in cluster_role["rules"] for v in rule["verbs"]} == {"list", "watch"}
    roles = {r["metadata"]["namespace"]: r for r in by_kind(objects, "Role")}
    bindings = {b["metadata"]["namespace"]: b for b in by_kind(objects, "RoleBinding")}
    assert set(roles) == set(bindings) == {"team-a", "team-b"}
    for binding in bindings.values():
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "zo-zoom-operator", "namespace": "zoom-operator"}
        ]
        assert binding["roleRef"]["kind"] == "Role"


def test_peering_runs_standbys_with_distinct_priorities(render: Render) -> None:
    objects = render(VALUE_SETS["peering"])
    (statefulset,) = workloads(objects)
    assert statefulset["kind"] == "StatefulSet"
    assert statefulset["spec"]["replicas"] == 2
    c = container(statefulset)
    assert "--peering=zoom-operator" in c["args"]
    assert "--standalone" not in c["args"]
    # kopf pauses every replica that sees a peer of equal priority: each pod's ordinal is its priority.
    assert "--priority=$(POD_INDEX)" in c["args"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['apps.kubernetes.io/pod-index']"
    )
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    peering = one(objects, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "zoom-operator"
    # The object fits its CRD (in the chart's crds/ folder, installed by helm before the templates).
    crd = PEERING_CRDS["clusterkopfpeerings.kopf.dev"]
    assert (crd["spec"]["scope"], crd["spec"]["names"]["kind"]) == ("Cluster", "ClusterKopfPeering")
    jsonschema.validate(peering, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    assert {c["metadata"]["name"] for c in by_kind(objects, "CustomResourceDefinition")} == {
        "zoomapps.zoom-operator.io"
    }


def test_namespaced_peering_uses_kopfpeerings_in_each_namespace(render: Render) -> None:
    objects = render(VALUE_SETS["peering-namespaced"])
    (peering,) = by_kind(objects, "KopfPeering")
    assert peering["metadata"]["namespace"] == "team-a"
    assert by_kind(objects, "ClusterKopfPeering") == []
    crd = PEERING_CRDS["kopfpeerings.kopf.dev"]
    assert (crd["spec"]["scope"], crd["spec"]["names"]["kind"]) == ("Namespaced", "KopfPeering")
    jsonschema.validate(peering, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    role = one(objects, "Role")
    peering_rules = [r for r in role["rules"] if r["apiGroups"] == ["kopf.dev"]]
    assert {tuple(r["resources"]) for r in peering_rules} == {("kopfpeerings",)}


def test_shards_split_the_apps_across_single_replica_deployments(render: Render) -> None:
    objects = render(VALUE_SETS["shards"])
    deployments = sorted(workloads(objects), key=lambda d: d["metadata"]["name"])
    assert [d["metadata"]["name"] for d in deployments] == [
        "zo-zoom-operator-shard-0",
        "zo-zoom-operator-shard-1",
    ]
    selectors = []
    for index, deployment in enumerate(deployments):
        assert deployment["kind"] == "Deployment"
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        args = container(deployment)["args"]
        assert f"--shard={index}/2" in args
        assert "--standalone" in args
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["zoom-operator.io/shard"] == str(index)
        selectors.append(deployment["spec"]["selector"]["matchLabels"])
    assert selectors[0] != selectors[1]  # each Deployment owns only its own pods
    # One Service scrapes all shards.
    service = one(objects, "Service")
    for selector in selectors:
        assert set(service["spec"]["selector"].items()) <= set(selector.items())


def test_shard_selectors_cover_the_uid_space_without_gaps() -> None:
    """The `--shard i/N` the chart passes turns into shardRange selectors that tile [0, 2^64)."""
    from zoom_operator.runner import shard_selector

    for count in (2, 3, 7):
        bounds = []
        for index in range(count):
            start, end = re.findall(r"'0x([0-9a-f]+)'", shard_selector(f"{index}/{count}"))
            bounds.append((int(start, 16), int(end, 16)))
        assert bounds[0][0] == 0
        assert bounds[-1][1] == 1 << 64
        assert all(bounds[i][1] == bounds[i + 1][0] for i in range(count - 1))


# ---- Pod Security "restricted" -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["defaults", "peering", "shards"])
def test_pods_meet_pod_security_restricted(render: Render, name: str) -> None:
    """The checks of the Pod Security Standards' "restricted" profile that a pod spec can fail."""
    for workload in workloads(render(VALUE_SETS[name])):
        pod = workload["spec"]["template"]["spec"]
        pod_sc = pod.get("securityContext") or {}
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod_sc["runAsNonRoot"] is True
        assert pod_sc.get("runAsUser", 1) != 0
        assert not pod.get("hostNetwork")
        assert not pod.get("hostPID")
        assert not pod.get("hostIPC")
        for volume in pod.get("volumes") or []:
            allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                       "projected", "secret"}  # fmt: skip
            assert set(volume) - {"name"} <= allowed, volume
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["runAsNonRoot"] is True
            assert sc.get("privileged") is not True
            assert not any(p.get("hostPort") for p in c.get("ports") or [])


# ---- RBAC ----------------------------------------------------------------------------------------

# Exactly what the operator uses (tests/chart/test_install.py proves it suffices on a real API server).
EXPECTED_RULES = {
    ("zoom-operator.io", "zoomapps", None): {"get", "list", "watch", "patch"},
    ("zoom-operator.io", "zoomapps/status", None): {"patch"},
    ("", "secrets", None): {"get", "list", "watch", "create", "update", "patch"},
    ("", "events", None): {"create"},
}
CRD_SCANNING = {("apiextensions.k8s.io", "customresourcedefinitions", None): {"list", "watch"}}
NAMESPACE_SCANNING = {("", "namespaces", None): {"list", "watch"}}
PEERING_RULES = {
    ("kopf.dev", "{plural}", None): {"list", "watch"},
    ("kopf.dev", "{plural}", "zoom-operator"): {"patch"},
}
FORBIDDEN_VERBS = {"delete", "deletecollection", "escalate", "bind", "impersonate", "*"}


def _flatten(rules: list[dict[str, Any]]) -> dict[tuple[str, str, str | None], set[str]]:
    flat: dict[tuple[str, str, str | None], set[str]] = {}
    for rule in rules:
        assert "nonResourceURLs" not in rule
        names = rule.get("resourceNames") or [None]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for name in names:
                    flat.setdefault((group, resource, name), set()).update(rule["verbs"])
    return flat


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rbac_grants_exactly_what_the_operator_uses(render: Render, name: str) -> None:
    values = VALUE_SETS[name]
    objects = render(values)
    roles = by_kind(objects, "Role") + by_kind(objects, "ClusterRole")
    if name == "everything-off":
        assert roles == []
        return
    clusterwide = not values.get("watchNamespaces")
    expected = dict(EXPECTED_RULES)
    if values.get("peering", {}).get("enabled"):
        plural = "clusterkopfpeerings" if clusterwide else "kopfpeerings"
        expected |= {(g, r.format(plural=plural), n): v for (g, r, n), v in PEERING_RULES.items()}
    if clusterwide:
        expected |= CRD_SCANNING
    for role in roles:
        flat = _flatten(role["rules"])
        if role["metadata"]["name"].endswith("-scanning"):
            assert not clusterwide
            assert flat == CRD_SCANNING | NAMESPACE_SCANNING
        else:
            assert flat == expected, f"{role['kind']} {role['metadata']['name']}"
        for (group, resource, _), verbs in flat.items():
            assert "*" not in resource
            assert "*" not in group
            assert not verbs & FORBIDDEN_VERBS
    bindings = by_kind(objects, "RoleBinding") + by_kind(objects, "ClusterRoleBinding")
    assert len(bindings) == len(roles)
    for binding in bindings:
        assert [s["name"] for s in binding["subjects"]] == ["zo-zoom-operator"]


def test_rbac_without_scanning_has_no_cluster_scope_in_namespaced_mode(render: Render) -> None:
    objects = render({"watchNamespaces": ["team-a"], "rbac": {"scanning": False}})
    assert by_kind(objects, "ClusterRole") == []
    assert by_kind(objects, "ClusterRoleBinding") == []
    assert _flatten(one(objects, "Role")["rules"]) == EXPECTED_RULES
    cluster_role = one(render({"rbac": {"scanning": False}}), "ClusterRole")
    assert _flatten(cluster_role["rules"]) == EXPECTED_RULES


# ---- monitoring ----------------------------------------------------------------------------------


def test_service_monitor_keeps_the_zoomapp_labels_and_sets_the_job(render: Render) -> None:
    objects = render(VALUE_SETS["monitoring"])
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["honorLabels"] is True  # else `namespace` becomes `exported_namespace`
    # The alerts select job="zoom-operator": the ServiceMonitor takes the job from this Service label.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "zoom-operator"
    assert 'job="zoom-operator"' in ALERTS.read_text()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_prometheus_rule_is_the_alerts_file(render: Render) -> None:
    source = yaml.safe_load(ALERTS.read_text())
    rule = one(render(VALUE_SETS["monitoring"]), "PrometheusRule")
    rendered = rule["spec"]["groups"]
    assert [g["name"] for g in rendered] == [g["name"] for g in source["groups"]]
    for got, want in zip(rendered, source["groups"], strict=True):
        for got_rule, want_rule in zip(got["rules"], want["rules"], strict=True):
            assert got_rule["labels"] == {**want_rule["labels"], "team": "platform"}
            assert {k: v for k, v in got_rule.items() if k != "labels"} == {
                k: v for k, v in want_rule.items() if k != "labels"
            }
    alerts = {r["alert"] for g in rendered for r in g["rules"]}
    assert alerts == {
        "ZoomAppOwnerRoleChangeRequired",
        "ZoomAppSecretRotationRequired",
        "ZoomAppNotReady",
        "ZoomAppTokenExpiresSoon",
        "ZoomAppMintBudgetExhausted",
        "ZoomOperatorAbsent",
    }
    fewer = one(
        render({"prometheusRule": {"enabled": True, "disabledAlerts": ["ZoomAppMintBudgetExhausted"]}}),
        "PrometheusRule",
    )
    assert "ZoomAppMintBudgetExhausted" not in {
        r["alert"] for g in fewer["spec"]["groups"] for r in g["rules"]
    }
    assert by_kind(render(), "PrometheusRule") == []
    assert by_kind(render(), "ServiceMonitor") == []


def _schema_has(schema: dict[str, Any], path: list[str]) -> bool:
    node = schema
    for key in path:
        if node.get("type") == "array":
            node = node["items"]
        properties = node.get("properties") or {}
        if key not in properties:
            return False
        node = properties[key]
    return True


def test_kube_state_metrics_config_reads_real_status_fields(render: Render) -> None:
    objects = render(VALUE_SETS["monitoring"])
    config_map = next(
        o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("kube-state-metrics")
    )
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    assert config["kind"] == "CustomResourceStateMetrics"
    (resource,) = config["spec"]["resources"]
    crd = yaml.safe_load(CRD_SOURCE.read_text())
    gvk = resource["groupVersionKind"]
    assert (gvk["group"], gvk["kind"]) == (crd["spec"]["group"], crd["spec"]["names"]["kind"])
    version = next(v for v in crd["spec"]["versions"] if v["name"] == gvk["version"])
    schema = version["schema"]["openAPIV3Schema"]
    names = set()
    for metric in resource["metrics"]:
        names.add(metric["name"])
        gauge = metric["each"]["gauge"]
        assert _schema_has(schema, gauge["path"]), f"{metric['name']}: no {gauge['path']} in the CRD"
        item_schema = schema
        for key in gauge["path"]:
            item_schema = item_schema["properties"][key]
        if item_schema.get("type") == "array":
            item_schema = item_schema["items"]
            for label_path in [*gauge.get("labelsFromPath", {}).values(), gauge.get("valueFrom", [])]:
                assert _schema_has(item_schema, label_path), label_path
    assert "zoomapp_status_condition" in names


def test_network_policy_allows_metrics_in_and_dns_api_zoom_out(render: Render) -> None:
    objects = render(VALUE_SETS["network-policy"])
    policy = one(objects, "NetworkPolicy")
    (deployment,) = workloads(objects)
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert ingress["from"] == VALUE_SETS["network-policy"]["networkPolicy"]["metricsFrom"]
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP")}
    assert by_kind(render(), "NetworkPolicy") == []


# ---- security: the endpoint allowlist and the example ---------------------------------------------


def test_allow_endpoints_render_as_allow_endpoint_flags(helm: Helm, tmp_path: Path) -> None:
    urls = ["https://zoom.us", "https://api.zoom.us", "https://zoom-proxy.internal:8443"]
    values = values_file(tmp_path, "allow", {"allowEndpoints": urls})
    rendered = helm("template", "zo", str(CHART), "-f", str(values)).stdout
    deployment = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--allow-endpoint=")] == [f"--allow-endpoint={u}" for u in urls]
    default = next(
        d
        for d in yaml.safe_load_all(helm("template", "zo", str(CHART)).stdout)
        if d and d["kind"] == "Deployment"
    )
    default_args = default["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [a for a in default_args if a.startswith("--allow-endpoint")], "the default: Zoom's hosts"


@pytest.mark.parametrize("url", ["https://user:pw@zoom.us", "https://zoom.us/?q=1", "zoom.us"])
def test_an_allow_endpoint_the_operator_would_refuse_fails_the_install(
    helm: Helm, tmp_path: Path, url: str
) -> None:
    values = values_file(tmp_path, "bad-allow", {"allowEndpoints": [url]})
    result = helm("template", "zo", str(CHART), "-f", str(values), check=False)
    assert result.returncode != 0
    assert "allowEndpoints" in result.stderr


def test_the_example_is_a_valid_zoomapp_with_a_labelled_credentials_secret() -> None:
    secret, app = list(yaml.safe_load_all((REPO_ROOT / "examples" / "meetings-bot.yaml").read_text()))
    assert secret["metadata"]["labels"] == {"zoom-operator.io/credentials": "true"}
    assert app["spec"]["credentialsSecretRef"]["name"] == secret["metadata"]["name"]
    crd = yaml.safe_load(CRD_SOURCE.read_text())
    jsonschema.validate(app, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    kubernetes_validate.validate(secret, NEWEST, strict=True)
