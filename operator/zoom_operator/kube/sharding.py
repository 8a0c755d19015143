"""Sharding the ZoomApps over `zoom-operator run --shard I/N` processes.

Shard I of N serves the ZoomApps whose uid hashes into [I*2^64//N, (I+1)*2^64//N). The hash is the
API server's own (FNV-1a 64 of the uid's text, `HashField` in k8s.io/apimachinery/pkg/sharding), so
the server filters lists and watches with a `shardSelector` and every process sees only its apps.

That filtering needs the alpha feature gate `ShardedListAndWatch` on every kube-apiserver of the
cluster; without it the server silently ignores the selector and every shard would serve (and mint
for) every app. `verify_shard_selector` asks the server, before kopf starts, whether it applied the
selector, and the run refuses to start when it did not.

The pure helpers at the end label the operator's token Secrets by their owning ZoomApp's uid
(`SHARD_LABEL`, `shard_bucket`) so a shard can watch only the Secrets of its own range with an
ordinary label selector (`bucket_selector`).

The check goes through the operator's own gateway (`kube/api.py`, aiohttp), imported only when
`check_shard_support` runs, so `zoom-operator run` without --shard pays nothing for it here.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from zoom_operator.kube.api import KubeApi

GROUP: Final = "zoom-operator.io"
VERSION: Final = "v1alpha1"
PLURAL: Final = "zoomapps"
FEATURE_GATE: Final = "ShardedListAndWatch"
SHARD_SPACE: Final = 1 << 64
SHARD_LABEL: Final = "zoom-operator.io/shard"
BUCKETS: Final = 256
_BUCKET_SHIFT: Final = 56  # the top 8 bits of the 64-bit hash name the bucket
_FNV_OFFSET: Final = 0xCBF29CE484222325
_FNV_PRIME: Final = 0x100000001B3
_MASK: Final = SHARD_SPACE - 1
# A namespace name as kopf takes it literally (no glob such as `team-*`, no `!` exclusion).
_LITERAL_NAMESPACE: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

GATE_OFF_ADVICE: Final = (
    f"--shard needs kube-apiserver (and every API server of the cluster) started with "
    f"--feature-gates={FEATURE_GATE}=true (alpha in Kubernetes 1.36+); without it every shard would "
    f"serve every ZoomApp. Enable the gate or run one replica without --shard."
)


# ---- shard ranges ------------------------------------------------------------------------------


def parse_shard(shard: str) -> tuple[int, int]:
    """`"I/N"` -> (I, N); raises ValueError with a message naming the option."""
    try:
        index_text, count_text = shard.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise ValueError(f"--shard {shard!r}: expected I/N such as 0/2") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {shard!r}: need 0 <= I < N")
    return index, count


def shard_range(index: int, count: int) -> tuple[int, int]:
    """The half-open range [start, end) of 64-bit uid hashes that shard `index` of `count` serves."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: need 0 <= index < count")
    return index * SHARD_SPACE // count, (index + 1) * SHARD_SPACE // count


def shard_selector(shard: str) -> str:
    """`I/N` -> kopf's shardRange over ZoomApp uids; raises ValueError with a usable message."""
    start, end = shard_range(*parse_shard(shard))
    return f"shardRange(object.metadata.uid, '0x{start:016x}', '0x{end:016x}')"


def shard_hash(uid: str) -> int:
    """FNV-1a 64 of `uid`'s UTF-8 bytes: the API server's `HashField`, as an int in [0, 2^64)."""
    value = _FNV_OFFSET
    for byte in uid.encode("utf-8"):
        value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return value


def in_shard(uid: str, index: int, count: int) -> bool:
    """Whether the API server's shard selector for `index`/`count` returns the object with `uid`."""
    start, end = shard_range(index, count)
    return start <= shard_hash(uid) < end


# ---- token Secret buckets ----------------------------------------------------------------------


def shard_bucket(uid: str) -> str:
    """The `SHARD_LABEL` value for objects owned by the ZoomApp `uid`: the top 8 bits of its hash as
    two lowercase hex digits, "00".."ff"."""
    return f"{shard_hash(uid) >> _BUCKET_SHIFT:02x}"


def shard_buckets(index: int, count: int) -> list[str]:
    """Every bucket that overlaps shard `index`/`count`'s hash range, in order."""
    start, end = shard_range(index, count)
    return [f"{bucket:02x}" for bucket in range(start >> _BUCKET_SHIFT, ((end - 1) >> _BUCKET_SHIFT) + 1)]


def bucket_selector(index: int, count: int) -> str | None:
    """A set-based label selector for the Secrets of shard `index`/`count`'s apps, e.g.
    `zoom-operator.io/shard in (00,01,...,7f)`; None when there is only one shard (select them all).

    It names every bucket that overlaps the shard's uid range. For a power-of-two count up to 256 the
    buckets split exactly, each in one shard. Otherwise a shard boundary can fall inside a bucket, and
    that boundary bucket belongs to both neighbouring shards: each then also sees the Secrets of a
    few apps it does not serve. That is harmless, because the operator ignores Secret events of apps
    it does not serve (the ZoomApp watch is the one filtered exactly by the API server).
    """
    if count == 1:
        shard_range(index, count)  # still reject a bad index
        return None
    return f"{SHARD_LABEL} in ({','.join(shard_buckets(index, count))})"


# ---- asking the API server ---------------------------------------------------------------------


def _namespace(namespaces: Sequence[str]) -> str | None:
    """The first namespace served by name (a namespaced operator may only be allowed there); None for
    cluster-wide (no namespaces, or only globs)."""
    return next((ns for ns in namespaces if _LITERAL_NAMESPACE.match(ns)), None)


def zoomapps_path(namespaces: Sequence[str] = ()) -> str:
    """Where the check lists ZoomApps: in the first namespace served by name, else cluster-wide."""
    namespace = _namespace(namespaces)
    base = f"/apis/{GROUP}/{VERSION}"
    return f"{base}/namespaces/{namespace}/{PLURAL}" if namespace else f"{base}/{PLURAL}"


def secrets_path(namespaces: Sequence[str] = ()) -> str:
    """Where the check lists Secrets (never matching one): the same scope as `zoomapps_path`."""
    namespace = _namespace(namespaces)
    return f"/api/v1/namespaces/{namespace}/secrets" if namespace else "/api/v1/secrets"


def _server_message(raw: bytes) -> str:
    try:
        payload: Any = json.loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        message: str = payload["message"]
    else:
        message = raw[:200].decode("utf-8", "replace").strip() or "no message"
    return message[:300]


def _refusal(status: int, message: str, path: str, resource: str) -> str:
    where = f"GET {path}"
    if status == 401:
        return (
            f"the API server rejected the operator's credentials while checking that it honours the shard "
            f"selector ({where}: 401 {message}). Check the kubeconfig (--kubeconfig or $KUBECONFIG) or "
            f"the pod's ServiceAccount token, then start again."
        )
    if status == 403:
        return (
            f"the API server forbade listing {resource}, which --shard needs to check that the server "
            f"honours the shard selector ({where}: 403 {message}). Grant the operator's account "
            f"`list` on {resource} there (the Helm chart's Role or ClusterRole does), then start again."
        )
    if status == 404 and resource == ZOOMAPPS:
        return (
            f"the API server does not serve ZoomApps ({where}: 404 {message}): the ZoomApp "
            f"CustomResourceDefinition is not installed. Apply crds/zoomapps.zoom-operator.io.yaml "
            f"(the Helm chart installs it), then start again."
        )
    if status == 400:
        return f"the API server rejected the shard selector ({where}: 400 {message}). " + GATE_OFF_ADVICE
    return (
        f"the API server answered {status} while checking that it honours the shard selector "
        f"({where}: {message}). Make sure it is healthy, then start again."
    )


ZOOMAPPS: Final = "zoomapps.zoom-operator.io"
SECRETS: Final = "secrets"
# A label selector no object can match (the label both present and absent): the Secret list of the
# check is always empty, so no Secret's data reaches this process.
NO_OBJECT: Final = "zoom-operator.io/shard-check,!zoom-operator.io/shard-check"


async def _list(
    kube: KubeApi, path: str, query: Sequence[tuple[str, str]], resource: str, request_timeout: float
) -> dict[str, Any] | str:
    """GET a list: its JSON, or a message for the user when that failed."""
    from zoom_operator.kube.api import KubeError, KubeUnreachable

    host = kube.server
    try:
        status, raw = await kube.fetch("GET", path, query=list(query), request_timeout=request_timeout)
    except KubeUnreachable as error:
        reason = error.__cause__ or error
        return (
            f"cannot reach the API server at {host} to check that it honours the shard selector "
            f"({type(reason).__name__}: {str(reason)[:200]}). Make sure it is up and that the "
            f"kubeconfig (--kubeconfig or $KUBECONFIG) points at it, then start again."
        )
    except KubeError as error:  # no credentials (an exec plugin failing, a token file missing)
        return (
            f"cannot authenticate to the API server at {host} to check the shard selector "
            f"({str(error)[:300]}). Fix the kubeconfig or the pod's ServiceAccount, then start again."
        )
    if not 200 <= status < 300:
        return _refusal(status, _server_message(raw), path, resource)
    try:
        answer: Any = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return (
            f"the API server's answer to GET {path} is not a JSON list ({raw[:100]!r}); cannot tell "
            f"whether it honours the shard selector. Check that {host} is a Kubernetes API server."
        )
    return answer


def _applied_selector(answer: dict[str, Any]) -> str | None:
    metadata = answer.get("metadata")
    shard_info = metadata.get("shardInfo") if isinstance(metadata, dict) else None
    selector = shard_info.get("selector") if isinstance(shard_info, dict) else None
    return selector if isinstance(selector, str) else None


async def verify_shard_selector(
    kube: KubeApi, selector: str, namespaces: Sequence[str] = (), *, request_timeout: float = 10.0
) -> str | None:
    """Check that the API server filters lists by `selector`, in the scope the operator serves.

    Returns None when it does, else a message for the user saying what happened and what to do
    (gate off, forbidden, CRD missing, server unreachable). Never raises for an API or connection
    failure.

    A list answered with a shard selector carries `metadata.shardInfo.selector` when the server
    applied it (`ShardedListAndWatch` on). Kubernetes 1.37 filters custom resource lists too but
    does not report it on them (an unstructured list has no shardInfo), so the check makes two
    requests: at most one ZoomApp with the selector (the operator may list them, the CRD is
    installed; a shardInfo there, should a later release add it, settles the question), then the
    Secrets of the same scope with the selector and a label selector no object matches, whose
    built-in list reports shardInfo without any Secret's data reaching this process.
    """
    shard = ("shardSelector", selector)
    path = zoomapps_path(namespaces)
    answer = await _list(kube, path, [shard, ("limit", "1")], ZOOMAPPS, request_timeout)
    if isinstance(answer, str):
        return answer
    applied = _applied_selector(answer)
    if applied is None:
        path = secrets_path(namespaces)
        answer = await _list(
            kube, path, [shard, ("labelSelector", NO_OBJECT), ("limit", "1")], SECRETS, request_timeout
        )
        if isinstance(answer, str):
            return answer
        applied = _applied_selector(answer)
    if applied == selector:
        return None
    if applied is None:
        return (
            f"the API server ignored the shard selector (GET {path} with it came back without "
            f"metadata.shardInfo, the mark of a list it filtered): " + GATE_OFF_ADVICE
        )
    return (
        f"the API server filtered by a different shard selector than asked ({applied!r} instead of "
        f"{selector!r}); the shards could overlap or leave apps unserved. Run one replica without "
        f"--shard, and report this with the server's version."
    )


def check_shard_support(
    kubeconfig: str | None, selector: str, namespaces: Sequence[str] = (), *, timeout: float = 10.0
) -> str | None:
    """`verify_shard_selector` with a gateway loaded like the operator's (in a pod: its
    ServiceAccount; elsewhere `kubeconfig` or $KUBECONFIG), on an event loop of its own (it runs
    before kopf starts). None when the selector is honoured."""
    from zoom_operator.kube.api import KubeApi
    from zoom_operator.kube.connection import KubeConfigError, load_connection

    try:
        connection = load_connection(kubeconfig)
    except KubeConfigError as error:
        return (
            f"cannot load the Kubernetes client configuration to check the shard selector "
            f"({error}). Pass a valid --kubeconfig or set $KUBECONFIG (outside a cluster), then "
            f"start again."
        )

    async def check() -> str | None:
        kube = KubeApi(connection, pool_size=1, timeout=timeout)
        try:
            return await verify_shard_selector(kube, selector, namespaces, request_timeout=timeout)
        finally:
            await kube.close()

    return asyncio.run(check())
