"""The operator's HTTP stack for Zoom: `Transport` over one aiohttp connection pool.

Measured on loopback (bench/RESULTS.md, 2026-12-02): a request costs about 300 µs of CPU through
aiohttp's session, 920 µs through httpx's client over the same aiohttp pool (httpx-aiohttp), and
3.1-3.3 ms through httpcore's pool with 64 in flight (encode/httpcore#1035). At 10,000 apps probing
every 300 s that is the difference between a twentieth and a third of a core. So the operator speaks
aiohttp directly; `diagnose`, the tests and users' code keep httpx (`zoom/httpx_transport.py`).

Each aiohttp failure is named as the httpx error it corresponds to (`ConnectTimeout`, `ReadTimeout`,
`ConnectError`, `ReadError`, `RemoteProtocolError`), so outcomes read the same over either stack:
timeouts are `timeout`; a connection refused, reset or dropped, or an answer that is not HTTP, is
`connection`.
"""

from __future__ import annotations

import functools
import ssl
import urllib.parse
import urllib.request
from collections.abc import Mapping

import aiohttp

from zoom_operator.zoom.outcomes import TransientKind
from zoom_operator.zoom.transport import Answer, SendFailure, Timeouts


class ZoomPool:
    """At most `connections` requests to Zoom at once; more wait for a connection (aiohttp's FIFO queue)
    within `timeouts.pool`. Like httpx it honours `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (the chart's
    `env` is where a cluster's egress proxy goes) and verifies TLS against certifi's CA bundle when
    certifi is installed (the system's otherwise). The session is made on first use, on the running loop.
    """

    def __init__(self, *, connections: int) -> None:
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._connections, limit_per_host=0, ssl=_tls_context(), enable_cleanup_closed=False
            )
            # auto_decompress as httpx; no cookies (Zoom's answers carry none the operator needs to keep)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
        return self._session

    async def send(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None, timeouts: Timeouts
    ) -> Answer:
        session = self._open()
        parts = urllib.parse.urlsplit(url)
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's `connect` covers the wait for a pooled connection and the connecting itself
            connect=_sum(timeouts.pool, timeouts.connect),
            sock_connect=timeouts.connect,
            sock_read=timeouts.read,
        )
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                data=body,
                proxy=_environment_proxy(parts.scheme, parts.hostname or ""),
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                content = await response.read()
                return Answer(response.status, response.headers, content)
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            kind, name = _classify(error)
            raise SendFailure(kind, f"{name}: {error}".rstrip(": ")) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _classify(error: BaseException) -> tuple[TransientKind, str]:
    """The kind of a failure, and the name of the httpx error it corresponds to."""
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return "timeout", "ConnectTimeout"
    if isinstance(error, TimeoutError):  # aiohttp's socket and server timeouts are ones too
        return "timeout", "ReadTimeout"
    if isinstance(error, aiohttp.ClientConnectorError):
        return "connection", "ConnectError"
    if isinstance(error, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return "connection", "ReadError"  # reset, closed or dropped mid-answer
    if isinstance(error, aiohttp.ClientResponseError):
        return "connection", "RemoteProtocolError"  # not an HTTP answer
    if isinstance(error, ValueError):  # aiohttp's InvalidURL is one, and so is a bad proxy URL
        return "connection", "InvalidURL"
    return "connection", "TransportError"


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx, which the package depends on
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


@functools.lru_cache(maxsize=64)
def _environment_proxy(scheme: str, host: str) -> str | None:
    """What HTTPS_PROXY / HTTP_PROXY / NO_PROXY say for an origin, read once per origin (aiohttp's
    `trust_env` reads the environment on every request: twice the CPU per request)."""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(scheme) or None
