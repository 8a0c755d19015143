"""The operator's Zoom stack (`ZoomPool`, aiohttp): each failure is the kind the client's outcomes know,
named as the httpx error it corresponds to, and no more connections than asked for (a real aiohttp
server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from zoom_operator.secret import Secret
from zoom_operator.zoom import Transient, ZoomClient
from zoom_operator.zoom.pool import ZoomPool, _classify, _environment_proxy
from zoom_operator.zoom.transport import DEFAULT_TIMEOUTS, SendFailure, Timeouts

NOT_HTTP = aiohttp.ClientResponseError(
    aiohttp.RequestInfo(URL("http://zoom.test/v2/users/me"), "GET", {}),  # type: ignore[arg-type]
    (),
)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), ("timeout", "ConnectTimeout")),
        (aiohttp.SocketTimeoutError("read"), ("timeout", "ReadTimeout")),
        (TimeoutError(), ("timeout", "ReadTimeout")),
        (aiohttp.ServerDisconnectedError(), ("connection", "ReadError")),
        (aiohttp.ClientPayloadError("cut short"), ("connection", "ReadError")),
        (aiohttp.ClientOSError(104, "reset"), ("connection", "ReadError")),
        (NOT_HTTP, ("connection", "RemoteProtocolError")),
        (aiohttp.InvalidURL("http://["), ("connection", "InvalidURL")),
        (aiohttp.ClientError("other"), ("connection", "TransportError")),
    ],
)
def test_each_aiohttp_failure_is_the_kind_and_httpx_name_it_is(
    error: BaseException, expected: tuple[str, str]
) -> None:
    assert _classify(error) == expected


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

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {"body": (await request.read()).decode(), "type": request.headers.get("Content-Type")},
            headers={"X-Zm-Trackingid": "t-1"},
        )

    app = web.Application()
    app.router.add_get("/v2/users/me", handler)
    app.router.add_get("/v2/users/slow", hang)
    app.router.add_post("/echo", echo)
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
    pool = ZoomPool(connections=4)
    try:
        answers = await asyncio.gather(
            *(
                pool.send("GET", f"{base}/v2/users/me", headers={}, body=None, timeouts=DEFAULT_TIMEOUTS)
                for _ in range(40)
            )
        )
    finally:
        await pool.aclose()
    assert [(a.status, a.content) for a in answers] == [(200, b'{"id": "u-1"}')] * 40
    assert held[1] == 4


async def test_the_body_and_headers_go_out_and_answer_headers_are_case_insensitive(
    slow_server: tuple[str, list[int]],
) -> None:
    base, _ = slow_server
    pool = ZoomPool(connections=1)
    try:
        answer = await pool.send(
            "POST",
            f"{base}/echo",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=b"grant_type=account_credentials",
            timeouts=DEFAULT_TIMEOUTS,
        )
    finally:
        await pool.aclose()
    assert answer.status == 200
    assert answer.headers.get("x-zm-trackingid") == "t-1"
    assert b'"grant_type=account_credentials"' in answer.content
    assert b"application/x-www-form-urlencoded" in answer.content


async def test_a_read_timeout_is_a_transient_timeout(slow_server: tuple[str, list[int]]) -> None:
    base, _ = slow_server
    pool = ZoomPool(connections=2)
    try:
        zoom = ZoomClient(oauth_url=base, api_url=base, transport=pool, timeout=Timeouts(read=0.3))
        outcome = await zoom.get(Secret("a-token-value"), "/v2/users/slow")
    finally:
        await pool.aclose()
    assert isinstance(outcome, Transient)
    assert outcome.kind == "timeout"
    assert outcome.detail.startswith("ReadTimeout")


async def test_a_refused_connection_is_a_send_failure_of_kind_connection() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens on the port any more
    pool = ZoomPool(connections=1)
    url = f"http://127.0.0.1:{port}/v2/users/me"
    try:
        with pytest.raises(SendFailure) as failed:
            await pool.send("GET", url, headers={}, body=None, timeouts=DEFAULT_TIMEOUTS)
    finally:
        await pool.aclose()
    assert failed.value.kind == "connection"
    assert failed.value.detail.startswith("ConnectError")


async def test_the_proxy_in_the_environment_is_used(
    slow_server: tuple[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, held = slow_server
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    _environment_proxy.cache_clear()  # read once per origin
    pool = ZoomPool(connections=2)
    try:
        # reachable only through the proxy
        answer = await pool.send(
            "GET", "http://zoom.invalid/v2/users/me", headers={}, body=None, timeouts=DEFAULT_TIMEOUTS
        )
    finally:
        await pool.aclose()
        _environment_proxy.cache_clear()
    assert answer.content == b'{"id": "u-1"}'
    assert held[1] == 1


def test_no_proxy_exempts_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "zoom-sim.staging.svc")
    _environment_proxy.cache_clear()
    try:
        assert _environment_proxy("https", "api.zoom.us") == "http://proxy.internal:3128"
        assert _environment_proxy("https", "zoom-sim.staging.svc") is None
    finally:
        _environment_proxy.cache_clear()
