"""An httpx transport that lets at most `limit` requests into the connection pool at once.

httpcore 1.0's pool re-scans every queued request against every connection each time a request
starts or a connection frees up (encode/httpcore#1035, encode/httpx#3215): with thousands of requests
queued for 64 connections, that scan is quadratic and took over half of the operator's CPU when
1,000 ZoomApps started at once (bench/RESULTS.md). Waiting here, on an asyncio.Semaphore, costs O(1)
per request and keeps httpcore's queue no longer than the pool. A waiting request has not yet started
its pool timeout, so a burst is served in order instead of failing with PoolTimeout.

A slot is held until the response body is closed (httpx reads it before returning a non-streamed
response), not just until the headers arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx


class BoundedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._inner = inner
        self._slots = asyncio.Semaphore(limit)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._slots.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _ReleasingStream(stream, self._slots.release)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()
