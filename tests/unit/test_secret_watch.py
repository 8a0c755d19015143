"""The Secret watch starts from the present when primed, and lists again when the API server says its
resourceVersion is too old (410 Gone)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import pytest

from zoom_operator.kube.refs import KubeError
from zoom_operator.kube.watch import SecretWatch


class FakeKube:
    def __init__(self, *, gone_as: str = "", fail_limited_list: bool = False) -> None:
        self.gone_as = gone_as  # "event": an ERROR event in the stream; "answer": a 410 answer; "": none
        self.fail_limited_list = fail_limited_list
        self.lists = 0
        self.limited_lists: list[str | None] = []  # prime(): the namespace of each list of one Secret
        self.watches: list[str] = []

    async def list_secrets(
        self, namespace: str | None, selector: str, *, limit: int = 500, **_: Any
    ) -> dict[str, Any]:
        if limit == 1:
            self.limited_lists.append(namespace)
            if self.fail_limited_list:
                raise KubeError(503, "ServiceUnavailable", "the API server is starting")
            return {"metadata": {"resourceVersion": f"now-{namespace}"}, "items": [{"metadata": {}}]}
        self.lists += 1
        item = {"metadata": {"namespace": "ns", "name": f"s{self.lists}", "resourceVersion": str(self.lists)}}
        return {"metadata": {"resourceVersion": f"list-{self.lists}"}, "items": [item]}

    async def watch_secrets(
        self, namespace: str | None, selector: str, resource_version: str, **_: Any
    ) -> AsyncGenerator[dict[str, Any], None]:
        self.watches.append(resource_version)
        if len(self.watches) == 1 and self.gone_as:
            if self.gone_as == "answer":
                raise KubeError(410, "Expired", "too old resource version")
            yield {"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "too old"}}
            return
        await asyncio.sleep(3600)
        yield {}


@pytest.mark.parametrize("gone_as", ["event", "answer"])
async def test_a_410_lists_again_at_once_and_watches_from_the_new_list(gone_as: str) -> None:
    kube = FakeKube(gone_as=gone_as)
    relisted: list[frozenset[tuple[str, str]]] = []
    events: list[tuple[str, Mapping[str, Any]]] = []
    watch = SecretWatch(
        kube,  # type: ignore[arg-type]
        namespaces=["ns"],
        selectors=["zoom-operator.io/kind"],
        on_event=lambda kind, obj: events.append((kind, obj)),
        on_relist=lambda ns, sel, listed: relisted.append(listed),
    )
    watch.start()
    for _ in range(100):
        if len(kube.watches) >= 2:
            break
        await asyncio.sleep(0.01)
    await watch.stop()
    assert kube.lists == 2, "listed again, without the 5 s wait of an error"
    assert kube.watches == ["list-1", "list-2"]
    assert relisted == [frozenset({("ns", "s1")}), frozenset({("ns", "s2")})]
    assert [kind for kind, _ in events] == ["ADDED", "ADDED"]


def _watch(kube: FakeKube, events: list[tuple[str, Mapping[str, Any]]], relisted: list[Any]) -> SecretWatch:
    return SecretWatch(
        kube,  # type: ignore[arg-type]
        namespaces=["a", "b"],
        selectors=["zoom-operator.io/kind"],
        on_event=lambda kind, obj: events.append((kind, obj)),
        on_relist=lambda ns, sel, listed: relisted.append(listed),
    )


async def _until_watching(kube: FakeKube, streams: int) -> None:
    for _ in range(100):
        if len(kube.watches) >= streams:
            return
        await asyncio.sleep(0.01)


async def test_a_primed_watch_starts_from_the_present_without_listing_the_secrets() -> None:
    kube = FakeKube()
    events: list[tuple[str, Mapping[str, Any]]] = []
    relisted: list[Any] = []
    watch = _watch(kube, events, relisted)
    await watch.prime()
    watch.start()
    await _until_watching(kube, 2)
    await watch.stop()
    assert kube.limited_lists == ["a", "b"], "one list of one Secret per stream, for its resourceVersion"
    assert kube.lists == 0, "no full listing"
    assert sorted(kube.watches) == ["now-a", "now-b"]
    assert events == [], "the one listed Secret is not handed on: each app reads its own Secrets"
    assert relisted == []


async def test_a_stream_that_could_not_be_primed_lists_in_full_when_it_starts() -> None:
    kube = FakeKube(fail_limited_list=True)
    events: list[tuple[str, Mapping[str, Any]]] = []
    relisted: list[Any] = []
    watch = _watch(kube, events, relisted)
    await watch.prime()  # the failure is logged, not raised
    watch.start()
    await _until_watching(kube, 2)
    await watch.stop()
    assert kube.lists == 2
    assert sorted(kube.watches) == ["list-1", "list-2"]
    assert len(relisted) == 2
