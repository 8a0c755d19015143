"""`zoom-operator run` never imports the `kubernetes` client (about 20 MB of generated models per
process; kopf imports it when it is installed, to register a login fallback): in a fresh interpreter,
the run path up to importing kopf and the handlers leaves it out, kopf has only our login handler,
and the process stays small."""

from __future__ import annotations

import json
import subprocess
import sys

# What `zoom-operator run` does before kopf.run(): the CLI, the runner's block, kopf, the handlers.
SCRIPT = """
import json, sys
import zoom_operator.cli
from zoom_operator.runner import block_kubernetes_client
block_kubernetes_client()
import kopf
from zoom_operator import handlers
from kopf._core.intents import causes, registries
logins = [
    handler.id
    for handler in registries.get_default_registry()._activities.get_all_handlers()
    if handler.activity == causes.Activity.AUTHENTICATION
]
rss_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(json.dumps({
    "modules": sorted(name for name, module in sys.modules.items() if module is not None),
    "logins": logins,
    "rss_mib": rss_kib / 1024,
}))
"""

# Measured on the 2-core CI box (2026-12): 69 MB with the kubernetes client, 50 MB without it, 47 MB
# without httpx; kopf with aiohttp alone is 42 MB.
RSS_LIMIT_MIB = 53


def _run() -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_run_path_imports_no_kubernetes_client_and_stays_small() -> None:
    result = _run()
    modules = result["modules"]
    assert isinstance(modules, list)
    assert not [name for name in modules if name == "kubernetes" or name.startswith("kubernetes.")]
    assert "kubernetes_asyncio" not in modules
    # nor httpx: the operator's Zoom requests go through aiohttp (zoom/pool.py); diagnose keeps httpx
    assert not [name for name in modules if name.split(".")[0] in {"httpx", "httpcore", "pygments"}]
    assert result["logins"] == ["login"]  # ours only: kopf registered no client fallback
    rss = result["rss_mib"]
    assert isinstance(rss, float)
    assert rss < RSS_LIMIT_MIB, f"{rss:.1f} MiB after the imports of `zoom-operator run`"


def test_the_block_leaves_a_host_process_that_already_imported_kubernetes_alone() -> None:
    script = (
        "import sys, kubernetes\n"
        "from zoom_operator.runner import block_kubernetes_client\n"
        "block_kubernetes_client()\n"
        "import kubernetes.client\n"
        "print(sys.modules['kubernetes'] is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
