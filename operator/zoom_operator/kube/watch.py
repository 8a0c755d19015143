"""The operator's own watch of the Secrets it reads or writes (list, then watch; relist on 410 Gone).

Secrets do not go through kopf: kopf keeps a per-object memory for everything it watches, and every app
has two Secrets. This watch keeps nothing per Secret; it hands each event to a callback on the event
loop, which wakes the apps that use that Secret and drops the rest. Each (namespace, selector) pair
is an asyncio task of its own on the gateway's async list and watch (`kube/api.py`). With
`metadata_only` the API server sends PartialObjectMetadata: the Secrets' data never reaches here.

`prime()` starts every stream from the present instead of a listing: an operator that is about to read
each served app's Secrets by name on its first step needs no list of them first (with 4 shards, each
listed all 10,000 credentials Secrets at start). Only a watch that lost its place (410 Gone) lists,
so that Secrets deleted meanwhile are noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from zoom_operator.kube.api import KubeApi, KubeError

log = logging.getLogger("zoom_operator.watch")

# type ("ADDED" | "MODIFIED" | "DELETED"), the Secret
EventCallback = Callable[[str, Mapping[str, Any]], None]
# namespace (None: all), the label selector, the (namespace, name) pairs listed
RelistCallback = Callable[[str | None, str, frozenset[tuple[str, str]]], None]

RETRY_SECONDS = 5.0


class SecretWatch:
    """Watch labelled Secrets in each of `namespaces` (None: cluster-wide) for each label selector."""

    def __init__(
        self,
        kube: KubeApi,
        *,
        namespaces: Sequence[str] | None,
        selectors: Sequence[str],
        on_event: EventCallback,
        on_relist: RelistCallback,
        metadata_only: bool = False,
    ) -> None:
        self._kube = kube
        self._streams = [(ns, sel) for ns in (namespaces if namespaces else [None]) for sel in selectors]
        self._on_event = on_event
        self._on_relist = on_relist
        self._metadata_only = metadata_only
        self._tasks: list[asyncio.Task[None]] = []
        self._start_versions: dict[tuple[str | None, str], str] = {}  # prime(): where each stream starts
        self.events_total = 0

    async def prime(self) -> None:
        """Have each stream watch from the present, without listing first: a list of one Secret gives
        the collection's current resourceVersion. Call it before anything reads the Secrets this watch
        covers, so that every change after those reads is an event. A stream whose list fails lists
        in full when it starts, as an unprimed one does."""
        for namespace, selector in self._streams:
            try:
                page = await self._kube.list_secrets(
                    namespace, selector, limit=1, metadata_only=self._metadata_only
                )
            except KubeError as error:
                log.warning("could not start the watch of Secrets labelled %s from now: %s", selector, error)
                continue
            version = (page.get("metadata") or {}).get("resourceVersion")
            if version:
                self._start_versions[namespace, selector] = str(version)

    def start(self) -> None:
        for namespace, selector in self._streams:
            name = f"secret-watch {namespace or '*'} {selector}"
            self._tasks.append(asyncio.create_task(self._stream(namespace, selector), name=name))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stream(self, namespace: str | None, selector: str) -> None:
        where = f"Secrets labelled {selector} in {namespace or 'all namespaces'}"
        resource_version = self._start_versions.pop((namespace, selector), None)
        while True:
            try:
                if resource_version is None:
                    resource_version = await self._relist(namespace, selector)
                resource_version = await self._watch(namespace, selector, resource_version)
            except KubeError as error:
                if error.status == 410:
                    resource_version = None
                    continue
                log.warning("watch of %s failed, retrying in %.0fs: %s", where, RETRY_SECONDS, error)
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:  # a malformed event must not end the watch for good
                log.exception("watch of %s failed, relisting in %.0fs", where, RETRY_SECONDS)
                resource_version = None
                await asyncio.sleep(RETRY_SECONDS)

    async def _watch(self, namespace: str | None, selector: str, resource_version: str) -> str:
        """Follow one watch until the server ends it; the newest resourceVersion seen."""
        events = self._kube.watch_secrets(
            namespace, selector, resource_version, metadata_only=self._metadata_only
        )
        async with contextlib.aclosing(events):
            async for event in events:
                kind = str(event.get("type") or "")
                obj = event.get("object") or {}
                meta = obj.get("metadata") or {}
                if kind == "ERROR":  # 410 Gone (too old) is relisted like a 410 answer
                    code, reason, message = obj.get("code"), obj.get("reason"), obj.get("message")
                    raise KubeError(int(code or 500), str(reason), str(message))
                resource_version = str(meta.get("resourceVersion") or resource_version)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self.events_total += 1
                    self._on_event(kind, obj)
        return resource_version

    async def _relist(self, namespace: str | None, selector: str) -> str:
        listed: set[tuple[str, str]] = set()
        continue_token: str | None = None
        while True:
            page = await self._kube.list_secrets(
                namespace, selector, continue_token=continue_token, metadata_only=self._metadata_only
            )
            for item in page.get("items") or []:
                meta = item.get("metadata") or {}
                listed.add((str(meta.get("namespace") or ""), str(meta.get("name") or "")))
                item.setdefault("apiVersion", "v1")
                item.setdefault("kind", "Secret")
                self._on_event("ADDED", item)
            page_meta = page.get("metadata") or {}
            continue_token = page_meta.get("continue") or None
            if not continue_token:
                self._on_relist(namespace, selector, frozenset(listed))
                return str(page_meta.get("resourceVersion") or "")
