"""The operator's own watch of the Secrets it reads or writes (list, then watch; relist on 410 Gone).

Secrets do not go through kopf: kopf keeps a per-object memory for everything it watches, and every app
has two Secrets. This watch keeps nothing per Secret; it hands each event to a callback on the event
loop, which wakes the apps that use that Secret and drops the rest. Each (namespace, selector) pair
runs in a thread of its own, since the `kubernetes` client is synchronous.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    ) -> None:
        self._kube = kube
        self._streams = [(ns, sel) for ns in (namespaces if namespaces else [None]) for sel in selectors]
        self._on_event = on_event
        self._on_relist = on_relist
        self._stopped = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=len(self._streams), thread_name_prefix="secret-watch")
        self._futures: list[asyncio.Future[None]] = []
        self.events_total = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for namespace, selector in self._streams:
            self._futures.append(
                loop.run_in_executor(self._executor, self._stream, loop, namespace, selector)
            )

    async def stop(self) -> None:
        self._stopped.set()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _stream(self, loop: asyncio.AbstractEventLoop, namespace: str | None, selector: str) -> None:
        where = f"Secrets labelled {selector} in {namespace or 'all namespaces'}"
        resource_version: str | None = None
        while not self._stopped.is_set():
            try:
                if resource_version is None:
                    resource_version = self._relist(loop, namespace, selector)
                for event in self._kube.watch_secrets_sync(namespace, selector, resource_version):
                    if self._stopped.is_set():
                        return
                    kind = str(event.get("type") or "")
                    obj = event.get("object") or {}
                    meta = obj.get("metadata") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:  # too old: list again
                            resource_version = None
                            break
                        raise KubeError(
                            int(obj.get("code") or 500), str(obj.get("reason")), str(obj.get("message"))
                        )
                    resource_version = str(meta.get("resourceVersion") or resource_version)
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        self.events_total += 1
                        loop.call_soon_threadsafe(self._on_event, kind, obj)
            except KubeError as error:
                if error.status == 410:
                    resource_version = None
                    continue
                log.warning("watch of %s failed, retrying in %.0fs: %s", where, RETRY_SECONDS, error)
                self._stopped.wait(RETRY_SECONDS)
            except Exception:  # a malformed event must not end the watch for good
                log.exception("watch of %s failed, relisting in %.0fs", where, RETRY_SECONDS)
                resource_version = None
                self._stopped.wait(RETRY_SECONDS)

    def _relist(self, loop: asyncio.AbstractEventLoop, namespace: str | None, selector: str) -> str:
        listed: set[tuple[str, str]] = set()
        continue_token: str | None = None
        while True:
            page = self._kube.list_secrets_sync(namespace, selector, continue_token=continue_token)
            for item in page.get("items") or []:
                meta = item.get("metadata") or {}
                listed.add((str(meta.get("namespace") or ""), str(meta.get("name") or "")))
                item.setdefault("apiVersion", "v1")
                item.setdefault("kind", "Secret")
                loop.call_soon_threadsafe(self._on_event, "ADDED", item)
            page_meta = page.get("metadata") or {}
            continue_token = page_meta.get("continue") or None
            if not continue_token:
                loop.call_soon_threadsafe(self._on_relist, namespace, selector, frozenset(listed))
                return str(page_meta.get("resourceVersion") or "")
