"""The image `make image` builds (tools/image.sh: buildah, no daemon), run with podman as a user would
run it: its help, its user, a read-only root filesystem, and the operator inside it serving a ZoomApp
against the test control plane.

No container tools is a failure, not a skip: `make test` installs them (tools/get-container-tools.sh)
and builds the image before the suite starts; the fixture builds it if it is missing.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from control_plane import ControlPlane
from prometheus_client.parser import text_string_to_metric_families

from tests.support.operator import Cluster, credentials_secret, free_port, wait_for, zoomapp
from tests.support.real_parts import TOOLS, tool
from tests.support.simulator import SimulatorProcess

pytestmark = pytest.mark.e2e

UID = 65532
# podman's default ulimits need CAP_SYS_RESOURCE, which this kind of host lacks; the network is the
# host's so the container reaches the loopback API server and simulator (tools/image.sh).
RUN = ["run", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(TOOLS / "image.sh"), "podman", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def image() -> str:
    tool("get-container-tools.sh")
    name = tool("image.sh", "name")
    if podman("image", "exists", name, check=False).returncode != 0:
        tool("image.sh", "build")
    return name


def test_help_runs_in_the_image(image: str) -> None:
    result = podman(*RUN, "--rm", image, "--help")

    assert result.returncode == 0
    assert "usage: zoom-operator run" in result.stdout
    assert "--metrics-port" in result.stdout


def test_image_runs_as_uid_65532_without_pip_or_tests(image: str) -> None:
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["zoom-operator", "run"]

    script = (
        "import importlib.util, os, pathlib; "
        "env = pathlib.Path('/opt/zoom-operator'); "
        "print(os.getuid(), os.getgid()); "
        "unwanted = ('pip', 'setuptools', '__pycache__', 'tests'); "
        "print(sorted(str(p) for p in env.rglob('*') if p.name in unwanted))"
    )
    result = podman(*RUN, "--rm", "--entrypoint", "python", image, "-c", script)
    ids, leftovers = result.stdout.splitlines()
    assert ids == f"{UID} {UID}"
    assert leftovers == "[]"  # no pip, setuptools, byte-code caches or test suites in the layers


def test_root_filesystem_can_be_read_only(image: str) -> None:
    # No tmpfs either: Kubernetes' readOnlyRootFilesystem gives the container no writable /tmp.
    script = "import zoom_operator.cli, zoom_operator.handlers, kopf; open('/opt/zoom-operator/x', 'w')"
    result = podman(
        *RUN, "--rm", "--read-only", "--read-only-tmpfs=false", "--entrypoint", "python", image, "-c", script,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Read-only file system" in result.stderr  # the imports worked; the write did not


class ImageOperator:
    """`zoom-operator run` from the image in a podman container, as the chart's pod runs it: read-only
    root filesystem with a scratch /tmp (the chart's emptyDir), in-cluster configuration from a
    mounted ServiceAccount token and CA (no kubeconfig), on the host network."""

    def __init__(
        self, image: str, service_account_dir: Path, server: str, namespace: str, args: list[str]
    ) -> None:
        self.name = f"zoom-operator-test-{uuid.uuid4().hex[:8]}"
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        host, port = urllib.parse.urlsplit(server).hostname, urllib.parse.urlsplit(server).port
        self.argv = [
            *RUN, "--detach", "--name", self.name,
            "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=16m,mode=1777",
            "--volume", f"{service_account_dir}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
            "--env", f"KUBERNETES_SERVICE_HOST={host}", "--env", f"KUBERNETES_SERVICE_PORT={port}",
            image,
            "-n", namespace, "--standalone",
            "--metrics-port", str(self.metrics_port),
            "--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz",
            *args,
        ]  # fmt: skip

    def start(self) -> ImageOperator:
        podman(*self.argv)
        return self

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def stop(self) -> None:
        podman("rm", "--force", "--time", "10", self.name, check=False)

    def metrics(self) -> str:
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        except httpx.TransportError:
            return ""


@pytest.fixture
def image_operator(
    image: str, control_plane: ControlPlane, namespace: str, sim: SimulatorProcess, tmp_path: Path
) -> Iterator[ImageOperator]:
    # A ServiceAccount mounted the way the kubelet mounts one; its rights are the chart's concern
    # (tests/chart/test_install.py), so here it is bound to cluster-admin.
    binding = f"image-test-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "serviceaccount", "zoom-operator", "-n", namespace)
    control_plane.kubectl(
        "create", "clusterrolebinding", binding, "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:zoom-operator",
    )  # fmt: skip
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    (mount / "token").write_text(control_plane.create_token(namespace, "zoom-operator"))
    (mount / "ca.crt").write_bytes(control_plane.ca_file.read_bytes())
    (mount / "namespace").write_text(namespace)
    for path in (mount, *mount.iterdir()):  # readable by the container's user, 65532
        path.chmod(0o755 if path.is_dir() else 0o644)
    operator = ImageOperator(
        image, mount, control_plane.server, namespace, ["--allow-endpoint", sim.base_url]
    ).start()
    try:
        yield operator
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            print(f"--- podman logs {operator.name} ---\n{operator.logs()[-6000:]}")
        operator.stop()
        control_plane.kubectl("delete", "clusterrolebinding", binding, check=False)


def test_operator_from_the_image_takes_a_zoomapp_to_ready_and_serves_metrics(
    image_operator: ImageOperator, cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(
        [
            credentials_secret(
                "meetings-bot-zoom",
                account_id="acc-demo",
                client_id="demo-client",
                client_secret="demo-secret",
            ),
            zoomapp("meetings-bot", credentials="meetings-bot-zoom", base_url=sim.base_url),
        ]
    )

    cluster.wait_condition("meetings-bot", "Ready", "True", reason="TokenVerified", timeout=120)
    token = cluster.secret_data("meetings-bot-token")
    assert token is not None
    assert token["access_token"]
    app = {"namespace": cluster.namespace, "name": "meetings-bot"}
    scraped: list[str] = [""]

    def ready_on_metrics() -> bool:
        scraped[0] = image_operator.metrics()
        ready = {**app, "type": "Ready", "status": "True", "reason": "TokenVerified"}
        return series_value(scraped[0], "zoomapp_condition", ready) == 1.0

    wait_for(ready_on_metrics, timeout=30, what="Ready=True in the container's /metrics")
    metrics = scraped[0]
    assert series_value(metrics, "zoomapp_token_mints_total", {**app, "result": "issued"}) == 1.0
    assert token["access_token"] not in metrics
    assert token["access_token"] not in image_operator.logs()


def series_value(exposition: str, name: str, labels: dict[str, str]) -> float | None:
    """The value of the sample `name{labels}` in a Prometheus text exposition, None when absent."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None
