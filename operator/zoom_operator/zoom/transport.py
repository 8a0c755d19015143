"""What `ZoomClient` needs from an HTTP stack: send one request, get the status, headers and body back,
or a failure already sorted into the kind the outcomes know (`timeout`, `connection`, `malformed`).

Two stacks implement it: httpx's (`zoom/httpx_transport.py`, for `diagnose`, the tests and users' code, which
may bring their own `httpx.AsyncClient`) and aiohttp's (`zoom/pool.py`, the operator's: a third of the
CPU per request). Neither is imported here, so the client loads neither unless it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from zoom_operator.zoom.outcomes import TransientKind


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to connect, to wait for each read and write, and to wait for a pooled connection (the
    names of httpx's `Timeout`, whose instances are accepted wherever these are)."""

    connect: float | None = 5.0
    read: float | None = 10.0
    write: float | None = 10.0
    pool: float | None = 5.0


DEFAULT_TIMEOUTS: Final = Timeouts()


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: any status, headers looked up case-insensitively, the whole (decoded) body."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class SendFailure(Exception):
    """No HTTP answer. `detail` names the failure (e.g. `ReadTimeout: ...`); it holds no request
    header, but may hold the URL, so the client redacts it before it becomes an outcome message."""

    def __init__(self, kind: TransientKind, detail: str) -> None:
        super().__init__(detail)
        self.kind: TransientKind = kind
        self.detail = detail


class Transport(Protocol):
    async def send(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None, timeouts: Timeouts
    ) -> Answer:
        """One request; raises `SendFailure` and nothing else for a failure of the network or the answer."""
        ...

    async def aclose(self) -> None: ...


def as_timeouts(value: object | None) -> Timeouts:
    """`Timeouts`, or an `httpx.Timeout` (same attribute names) turned into one."""
    if value is None:
        return DEFAULT_TIMEOUTS
    if isinstance(value, Timeouts):
        return value
    return Timeouts(
        connect=getattr(value, "connect", None),
        read=getattr(value, "read", None),
        write=getattr(value, "write", None),
        pool=getattr(value, "pool", None),
    )
