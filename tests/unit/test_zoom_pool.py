"""BoundedTransport: at most `limit` requests reach the connection pool; a slot frees when the body closes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from zoom_operator.zoom.pool import BoundedTransport


class _SlowTransport(httpx.AsyncBaseTransport):
    """Answers after a short pause and records how many requests it held at once."""

    def __init__(self, fail_first: int = 0) -> None:
        self.in_flight = 0
        self.peak = 0
        self.fail_first = fail_first
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise httpx.ConnectError("refused", request=request)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        transport = self

        class Body(httpx.AsyncByteStream):
            async def __aiter__(self):  # type: ignore[no-untyped-def]
                await asyncio.sleep(0.01)
                yield b'{"ok": true}'

            async def aclose(self) -> None:
                transport.in_flight -= 1

        return httpx.Response(200, stream=Body())


async def test_no_more_than_limit_requests_reach_the_pool_and_all_are_served() -> None:
    inner = _SlowTransport()
    async with httpx.AsyncClient(transport=BoundedTransport(inner, limit=4)) as client:
        responses = await asyncio.gather(*(client.get("http://zoom.test/v2/users/me") for _ in range(50)))
    assert [r.json() for r in responses] == [{"ok": True}] * 50
    assert inner.peak == 4
    assert inner.in_flight == 0


async def test_a_failed_request_gives_its_slot_back() -> None:
    inner = _SlowTransport(fail_first=3)
    async with httpx.AsyncClient(transport=BoundedTransport(inner, limit=1)) as client:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await client.get("http://zoom.test/oauth/token")
        response = await asyncio.wait_for(client.get("http://zoom.test/oauth/token"), timeout=2)
    assert response.status_code == 200


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BoundedTransport(_SlowTransport(), limit=0)
