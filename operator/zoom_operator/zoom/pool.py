"""The operator's HTTP client for Zoom: httpx's interface over aiohttp's connection pool.

httpcore 1.0's pool scans every pooled connection (a socket poll each) and every queued request each
time a request starts or ends (encode/httpcore#1035, encode/httpx#3215). On a loopback Zoom with 64
requests in flight that cost 3.1-3.3 ms of CPU per request against 0.9-1.0 ms through aiohttp's
connector (bench/RESULTS.md, "2026-12-01"): at 10,000 apps probing every 300 s, a tenth of a core.
So the operator's `httpx.AsyncClient` sends through httpx-aiohttp's `AiohttpTransport`, and
`ZoomClient` keeps speaking httpx (its tests, `diagnose` and users' code keep httpx's own transport).

httpx-aiohttp maps aiohttp's errors coarsely (a dropped connection becomes `ConnectTimeout`, a bad
answer escapes as an aiohttp error). `ZoomTransport` gives each failure the httpx error it is, so the
client's outcomes stay what they are over httpx's transport: timeouts are `timeout`, a connection
refused, reset or dropped is `connection`.
"""

from __future__ import annotations

import asyncio
import functools
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import NoReturn

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


def zoom_http_client(*, connections: int, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` whose requests share at most `connections` connections to Zoom; more wait
    for one in aiohttp's queue (FIFO, O(1) per request), within `timeout.pool`."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=timeout, transport=ZoomTransport(limits=limits))


_AIOHTTP_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError)


class ZoomTransport(AiohttpTransport):
    """`AiohttpTransport` with every aiohttp failure raised as the matching httpx error.

    Like httpx's own transport it honours `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (the chart's `env`
    is where a cluster's egress proxy goes) and verifies TLS against certifi's CA bundle.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # httpx-aiohttp sends every request through `self.proxy`, read before its first await, so
        # setting it here picks this origin's proxy without another request seeing it
        self.proxy = _environment_proxy(request.url.scheme, request.url.host)
        with _as_httpx_errors(request):
            response = await super().handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _MappedStream(stream, request)
        return response


class _MappedStream(httpx.AsyncByteStream):
    """The response body, with the same error mapping while it is read."""

    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


@functools.lru_cache(maxsize=64)
def _environment_proxy(scheme: str, host: str) -> httpx.Proxy | None:
    """What HTTPS_PROXY / HTTP_PROXY / NO_PROXY say for an origin, read once per origin (aiohttp's
    `trust_env` reads the environment on every request: twice the CPU per request)."""
    if urllib.request.proxy_bypass(host):
        return None
    url = urllib.request.getproxies().get(scheme)
    return httpx.Proxy(url) if url else None


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    """Raise aiohttp's failures, also those httpx-aiohttp mapped coarsely, as the httpx errors they are."""
    try:
        yield
    except httpx.HTTPError as error:
        if isinstance(error.__cause__, _AIOHTTP_FAILURES):
            _raise_as_httpx(error.__cause__, request)
        raise
    except _AIOHTTP_FAILURES as error:
        _raise_as_httpx(error, request)


def _raise_as_httpx(error: BaseException, request: httpx.Request) -> NoReturn:
    message = str(error) or type(error).__name__
    mapped: httpx.TransportError
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout(message, request=request)
    elif isinstance(error, asyncio.TimeoutError):  # aiohttp's socket and server timeouts are ones too
        mapped = httpx.ReadTimeout(message, request=request)
    elif isinstance(error, aiohttp.ClientConnectorError):
        mapped = httpx.ConnectError(message, request=request)
    elif isinstance(error, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        mapped = httpx.ReadError(message, request=request)  # reset, closed or dropped mid-answer
    elif isinstance(error, aiohttp.ClientResponseError):
        mapped = httpx.RemoteProtocolError(message, request=request)  # not an HTTP answer
    else:
        mapped = httpx.TransportError(message, request=request)
    raise mapped from error
