"""The operator's Zoom transport: aiohttp's failures as the httpx errors the client classifies, and no
more connections than asked for (a real aiohttp server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from aiohttp import web

from zoom_operator.secret import Secret
from zoom_operator.zoom import Transient, ZoomClient
from zoom_operator.zoom.pool import _environment_proxy, _raise_as_httpx, zoom_http_client

REQUEST = httpx.Request("GET", "http://zoom.test/v2/users/me")
NOT_HTTP = aiohttp.ClientResponseError(aiohttp.RequestInfo(REQUEST.url, "GET", {}), ())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (TimeoutError(), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.ReadError),
        (aiohttp.ClientPayloadError("cut short"), httpx.ReadError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (NOT_HTTP, httpx.RemoteProtocolError),
        (aiohttp.ClientError("other"), httpx.TransportError),
    ],
)
def test_each_aiohttp_failure_is_the_httpx_error_it_is(error: BaseException, expected: type) -> None:
    with pytest.raises(httpx.TransportError) as raised:
        _raise_as_httpx(error, REQUEST)
    assert type(raised.value) is expected
    assert raised.value.__cause__ is error


@pytest.fixture
async def slow_server() -> AsyncIterator[tuple[str, list[int]]]:
    """Answers after 50 ms; records how many requests it held at once."""
    held = [0, 0]  # now, peak

    async def handler(request: web.Request) -> web.Response:
        held[0] += 1
        held[1] = max(held[1], held[0])
        await asyncio.sleep(0.05)
        held[0] -= 1
        return web.json_response({"id": "u-1"})

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v2/users/me", handler)
    app.router.add_get("/v2/users/slow", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", held
    finally:
        await runner.cleanup()


async def test_no_more_requests_in_flight_than_connections_and_all_are_served(
    slow_server: tuple[str, list[int]],
) -> None:
    base, held = slow_server
    async with zoom_http_client(connections=4, timeout=httpx.Timeout(10.0)) as http:
        answers = await asyncio.gather(*(http.get(f"{base}/v2/users/me") for _ in range(40)))
    assert [a.json() for a in answers] == [{"id": "u-1"}] * 40
    assert held[1] == 4


async def test_a_read_timeout_is_a_transient_timeout(slow_server: tuple[str, list[int]]) -> None:
    base, _ = slow_server
    async with zoom_http_client(connections=2, timeout=httpx.Timeout(10.0)) as http:
        zoom = ZoomClient(oauth_url=base, api_url=base, http=http, timeout=httpx.Timeout(0.3))
        outcome = await zoom.get(Secret("t"), "/v2/users/slow")
    assert isinstance(outcome, Transient)
    assert outcome.kind == "timeout"


async def test_the_proxy_in_the_environment_is_used(
    slow_server: tuple[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, held = slow_server
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    _environment_proxy.cache_clear()  # read once per origin
    async with zoom_http_client(connections=2, timeout=httpx.Timeout(5.0)) as http:
        answer = await http.get("http://zoom.invalid/v2/users/me")  # reachable only through the proxy
    assert answer.json() == {"id": "u-1"}
    assert held[1] == 1
    _environment_proxy.cache_clear()


def test_no_proxy_exempts_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "zoom-sim.staging.svc")
    _environment_proxy.cache_clear()
    try:
        proxy = _environment_proxy("https", "api.zoom.us")
        assert proxy is not None
        assert str(proxy.url) == "http://proxy.internal:3128"
        assert _environment_proxy("https", "zoom-sim.staging.svc") is None
    finally:
        _environment_proxy.cache_clear()
