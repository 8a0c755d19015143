"""The Secret watch lists again when the API server says its resourceVersion is too old (410 Gone)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import pytest

from zoom_operator.kube.refs import KubeError
from zoom_operator.kube.watch import SecretWatch


class FakeKube:
    def __init__(self, *, gone_as: str) -> None:
        self.gone_as = gone_as  # "event": an ERROR event in the stream; "answer": a 410 answer
        self.lists = 0
        self.watches: list[str] = []

    async def list_secrets(self, namespace: str | None, selector: str, **_: Any) -> dict[str, Any]:
        self.lists += 1
        item = {"metadata": {"namespace": "ns", "name": f"s{self.lists}", "resourceVersion": str(self.lists)}}
        return {"metadata": {"resourceVersion": f"list-{self.lists}"}, "items": [item]}

    async def watch_secrets(
        self, namespace: str | None, selector: str, resource_version: str, **_: Any
    ) -> AsyncGenerator[dict[str, Any], None]:
        self.watches.append(resource_version)
        if len(self.watches) == 1:
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
