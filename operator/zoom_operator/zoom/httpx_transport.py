"""`Transport` over httpx: what `diagnose`, the tests and users' own `httpx.AsyncClient` send through.

Only this module of the Zoom client loads httpx; the operator sends through aiohttp (`zoom/pool.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from zoom_operator.zoom.outcomes import TransientKind
from zoom_operator.zoom.transport import Answer, SendFailure, Timeouts


class HttpxTransport:
    """Sends through `http` (then left open by `aclose()`), or through a client of its own."""

    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        self._owned = http is None
        self._http = http if http is not None else httpx.AsyncClient(follow_redirects=False)

    async def send(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None, timeouts: Timeouts
    ) -> Answer:
        timeout = httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
        )
        try:
            response = await self._http.request(method, url, headers=headers, content=body, timeout=timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SendFailure(_kind(exc), f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        return Answer(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()


def _kind(exc: Exception) -> TransientKind:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.DecodingError):
        return "malformed"
    return "connection"
