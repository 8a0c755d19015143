"""kube/sharding.py: the API server's uid hash, shard ranges, token Secret buckets, and the check that
the API server honours a shard selector (against a stand-in gateway: every answer the server can give)."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from zoom_operator.kube import sharding
from zoom_operator.kube.api import KubeApi
from zoom_operator.kube.connection import Connection
from zoom_operator.kube.sharding import (
    SHARD_LABEL,
    bucket_selector,
    check_shard_support,
    in_shard,
    shard_bucket,
    shard_buckets,
    shard_hash,
    shard_range,
    shard_selector,
    verify_shard_selector,
)

# FNV-1a 64 as Go's hash/fnv computes it (`fnv.New64a()`, `fmt.Sprintf("%016x", h.Sum64())`, which is
# k8s.io/apimachinery/pkg/sharding.HashField), printed by a `go run` of that code.
GO_VECTORS = {
    "": 0xCBF29CE484222325,
    "a": 0xAF63DC4C8601EC8C,
    "abc": 0xE71FA2190541574B,
    "test-uid-12345": 0xD4C53B72F9287C28,
    "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee": 0x93754B7248A00EB9,
    "3f0c6f5e-2d6b-4c1a-9a57-0b1f7d2c9e11": 0xC568F1EE068CE211,
    "00000000-0000-0000-0000-000000000000": 0x7C384C6218F299F1,
}


@pytest.mark.parametrize(("uid", "expected"), sorted(GO_VECTORS.items()))
def test_shard_hash_is_go_fnv1a_64(uid: str, expected: int) -> None:
    assert shard_hash(uid) == expected


def test_shard_bucket_is_the_top_byte_of_the_hash_in_lowercase_hex() -> None:
    assert shard_bucket("abc") == "e7"
    assert shard_bucket("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee") == "93"
    assert shard_bucket("00000000-0000-0000-0000-000000000000") == "7c"
    assert shard_bucket("3f0c6f5e-2d6b-4c1a-9a57-0b1f7d2c9e11") == "c5"


def test_shard_selector_is_the_servers_shard_range_syntax() -> None:
    assert shard_selector("0/1") == (
        "shardRange(object.metadata.uid, '0x0000000000000000', '0x10000000000000000')"
    )
    assert shard_selector("1/2") == (
        "shardRange(object.metadata.uid, '0x8000000000000000', '0x10000000000000000')"
    )
    assert shard_selector("0/3") == (
        "shardRange(object.metadata.uid, '0x0000000000000000', '0x5555555555555555')"
    )


@pytest.mark.parametrize("bad", ["", "1", "a/b", "2/2", "-1/2", "0/0", "0/2/3"])
def test_bad_shard_is_refused_with_the_option_named(bad: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        shard_selector(bad)


@pytest.mark.parametrize(("index", "count"), [(2, 2), (-1, 2), (0, 0)])
def test_bad_index_is_refused_by_the_bucket_helpers(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="need 0 <= index < count"):
        bucket_selector(index, count)


def test_in_shard_puts_every_uid_in_exactly_one_shard() -> None:
    for count in (1, 2, 3, 4, 7):
        for uid in GO_VECTORS:
            assert sum(in_shard(uid, index, count) for index in range(count)) == 1


def test_one_shard_selects_every_secret() -> None:
    assert bucket_selector(0, 1) is None


def test_two_shards_split_the_buckets_in_halves() -> None:
    low = ",".join(f"{b:02x}" for b in range(0x00, 0x80))
    high = ",".join(f"{b:02x}" for b in range(0x80, 0x100))
    assert bucket_selector(0, 2) == f"zoom-operator.io/shard in ({low})"
    assert bucket_selector(1, 2) == f"zoom-operator.io/shard in ({high})"


def test_four_shards_split_the_buckets_in_quarters() -> None:
    assert [shard_buckets(i, 4)[0] + ".." + shard_buckets(i, 4)[-1] for i in range(4)] == [
        "00..3f",
        "40..7f",
        "80..bf",
        "c0..ff",
    ]
    assert all(len(shard_buckets(i, 4)) == 64 for i in range(4))
    assert bucket_selector(3, 4) == f"{SHARD_LABEL} in ({','.join(f'{b:02x}' for b in range(0xC0, 0x100))})"


def test_three_shards_share_their_boundary_buckets() -> None:
    """2^64/3 and 2*2^64/3 fall inside buckets 55 and aa: each belongs to both neighbours."""
    ranges = [shard_buckets(i, 3) for i in range(3)]
    assert [(r[0], r[-1]) for r in ranges] == [("00", "55"), ("55", "aa"), ("aa", "ff")]
    uses = Counter(bucket for r in ranges for bucket in r)
    assert set(uses) == {f"{b:02x}" for b in range(256)}
    assert {bucket for bucket, n in uses.items() if n > 1} == {"55", "aa"}
    assert max(uses.values()) == 2
    assert bucket_selector(1, 3) == f"{SHARD_LABEL} in ({','.join(f'{b:02x}' for b in range(0x55, 0xAB))})"


@pytest.mark.parametrize("count", [2, 4, 8, 16, 64, 256])
def test_power_of_two_shards_cover_every_bucket_exactly_once(count: int) -> None:
    uses = Counter(bucket for index in range(count) for bucket in shard_buckets(index, count))
    assert sorted(uses) == [f"{b:02x}" for b in range(256)]
    assert set(uses.values()) == {1}


@pytest.mark.parametrize("count", [3, 5, 6, 7, 300])
def test_any_shard_count_covers_every_bucket(count: int) -> None:
    uses = Counter(bucket for index in range(count) for bucket in shard_buckets(index, count))
    assert sorted(uses) == [f"{b:02x}" for b in range(256)]


def test_a_uids_bucket_is_in_its_shards_selector() -> None:
    for count in (2, 3, 4, 5):
        for uid in GO_VECTORS:
            (index,) = [i for i in range(count) if in_shard(uid, i, count)]
            assert shard_bucket(uid) in shard_buckets(index, count)


def test_shard_ranges_tile_the_hash_space() -> None:
    for count in (1, 2, 3, 5, 256, 1000):
        ranges = [shard_range(i, count) for i in range(count)]
        assert ranges[0][0] == 0
        assert ranges[-1][1] == 1 << 64
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


# ---- the check against the API server --------------------------------------------------------


SELECTOR = shard_selector("0/2")


Answer = tuple[int, Any]
APPLIED: Answer = (200, {"kind": "List", "metadata": {"shardInfo": {"selector": SELECTOR}}})
# What Kubernetes 1.37 answers for a custom resource list, gate on or off: no shardInfo.
UNREPORTED: Answer = (200, {"kind": "ZoomAppList", "metadata": {"resourceVersion": "7"}, "items": []})
IGNORED: Answer = (200, {"kind": "SecretList", "metadata": {"resourceVersion": "7"}, "items": []})


class FakeApiClient(KubeApi):
    """The gateway with canned answers to the ZoomApp list and the Secret list; records the URLs."""

    def __init__(self, zoomapps: Answer = UNREPORTED, secrets: Answer = APPLIED) -> None:
        super().__init__(Connection(server="https://127.0.0.1:6443"), pool_size=1)
        self.answers = {"/zoomapps?": zoomapps, "/secrets?": secrets}
        self.urls: list[str] = []

    async def fetch(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        content_type: str = "application/json",
        query: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        accept: str = "application/json",
        request_timeout: float | None = None,
    ) -> tuple[int, bytes]:
        assert method == "GET"
        pairs = list(query.items()) if isinstance(query, Mapping) else list(query or [])
        url = f"{self.server}{path}?{urllib.parse.urlencode(pairs)}"
        self.urls.append(url)
        (status, answer) = next(answer for key, answer in self.answers.items() if key in url)
        return status, answer if isinstance(answer, bytes) else json.dumps(answer).encode()


def _verify(api: KubeApi, namespaces: tuple[str, ...] = (), **kwargs: Any) -> str | None:
    async def verify() -> str | None:
        try:
            return await verify_shard_selector(api, SELECTOR, namespaces, **kwargs)
        finally:
            await api.close()

    return asyncio.run(verify())


def _query(url: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)


def test_an_applied_selector_on_the_secret_list_passes() -> None:
    api = FakeApiClient()
    assert _verify(api) is None
    zoomapps, secrets = api.urls
    assert zoomapps.startswith("https://127.0.0.1:6443/apis/zoom-operator.io/v1alpha1/zoomapps?")
    assert _query(zoomapps) == {"shardSelector": [SELECTOR], "limit": ["1"]}
    assert secrets.startswith("https://127.0.0.1:6443/api/v1/secrets?")
    assert _query(secrets) == {
        "shardSelector": [SELECTOR],
        "labelSelector": ["zoom-operator.io/shard-check,!zoom-operator.io/shard-check"],  # never matches
        "limit": ["1"],
    }


def test_a_shard_info_on_the_zoomapp_list_is_enough() -> None:
    api = FakeApiClient(zoomapps=APPLIED, secrets=(500, b"never asked"))
    assert _verify(api) is None
    assert len(api.urls) == 1


def test_the_check_lists_in_the_first_namespace_served_by_name() -> None:
    api = FakeApiClient()
    assert _verify(api, ("team-*", "!kube-system", "payments", "other")) is None
    assert "/apis/zoom-operator.io/v1alpha1/namespaces/payments/zoomapps?" in api.urls[0]
    assert "/api/v1/namespaces/payments/secrets?" in api.urls[1]
    assert _verify(api, ("team-*",)) is None
    assert "/apis/zoom-operator.io/v1alpha1/zoomapps?" in api.urls[2]
    assert "/api/v1/secrets?" in api.urls[3]


def test_an_ignored_selector_names_the_feature_gate() -> None:
    message = _verify(FakeApiClient(secrets=IGNORED))
    assert message is not None
    assert message.startswith("the API server ignored the shard selector (GET /api/v1/secrets with it")
    assert "--feature-gates=ShardedListAndWatch=true" in message
    assert "every shard would serve every ZoomApp" in message
    assert "run one replica without --shard" in message


def test_a_different_selector_in_the_answer_is_refused() -> None:
    other = (200, {"metadata": {"shardInfo": {"selector": "shardRange(x, '0', '1')"}}})
    for api in (FakeApiClient(zoomapps=other), FakeApiClient(secrets=other)):
        message = _verify(api)
        assert message is not None
        assert "different shard selector" in message
        assert "without --shard" in message


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "rejected the operator's credentials"),
        (403, "forbade listing zoomapps.zoom-operator.io"),
        (404, "Apply crds/zoomapps.zoom-operator.io.yaml"),
        (400, "ShardedListAndWatch"),
        (500, "answered 500"),
    ],
)
def test_zoomapp_list_refusals_say_what_happened_and_what_to_do(status: int, expected: str) -> None:
    body = {"kind": "Status", "message": f"the server says {status}", "reason": "Whatever"}
    api = FakeApiClient(zoomapps=(status, body))
    message = _verify(api)
    assert message is not None
    assert expected in message
    assert f"the server says {status}" in message
    assert "start again" in message or "without --shard" in message
    assert len(api.urls) == 1


def test_a_forbidden_secret_list_says_what_to_grant() -> None:
    message = _verify(FakeApiClient(secrets=(403, {"message": "secrets is forbidden: no"})))
    assert message is not None
    assert "forbade listing secrets" in message
    assert "Grant the operator's account `list` on secrets" in message


def test_a_non_json_answer_is_reported() -> None:
    message = _verify(FakeApiClient(zoomapps=(200, b"<html>proxy</html>")))
    assert message is not None
    assert "not a JSON list" in message


def test_an_unreachable_server_is_reported_without_a_traceback() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = KubeApi(Connection(server=f"https://127.0.0.1:{port}"), pool_size=1)
    message = _verify(api, request_timeout=3)
    assert message is not None
    assert message.startswith(f"cannot reach the API server at https://127.0.0.1:{port}")
    assert "then start again" in message


def test_a_missing_kubeconfig_is_reported(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    message = check_shard_support(str(broken), SELECTOR)
    assert message is not None
    assert message.startswith("cannot load the Kubernetes client configuration")
    assert "--kubeconfig" in message


def test_the_runner_keeps_exporting_shard_selector() -> None:
    from zoom_operator.runner import shard_selector as runner_selector

    assert runner_selector is sharding.shard_selector
