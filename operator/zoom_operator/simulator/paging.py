"""Zoom's list pagination: `page_size` and `next_page_token` (pure; every call takes `now`).

Zoom's pagination docs [DOC]: a list answer carries `page_size`, `total_records` and `next_page_token`,
which is non-empty while more records remain and "expires after 15 minutes"; the caller passes it back
as `next_page_token` with the same query to get the next page. `page_size` defaults to 30, maximum
300. The legacy `page_number` (1-based) still works on the endpoints that had it, and answers carry
`page_count` and `page_number` as well [DOC, deprecated fields still sent].

Not found in any source, so [INVENTED] and configurable where it is a number
(`Config.page_token_ttl_seconds`, `Config.max_page_size`):
- a `page_size` above the maximum is capped to it rather than refused;
- a `page_size` or `page_number` that is not a positive integer answers 400
  `{"code":300,"message":"Validation Failed.","errors":[{"field":"page_size","message":"Invalid field."}]}`
  (Zoom's documented validation shape);
- an unknown or expired token, or one issued for another query, answers 400
  `{"code":300,"message":"The next page token is invalid or expired."}`.
Tokens are opaque random strings, like Zoom's (e.g. `IAfJX3jsOLW7w3dokmFl84zOa0MAVGyMEB2`).
"""

from __future__ import annotations

import math
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

DEFAULT_PAGE_SIZE = 30
_TOKEN_ALPHABET = string.ascii_letters + string.digits
_TOKEN_LENGTH = 35
_HUGE = 10**12  # any larger count means the same: past the end (and Python refuses very long int strings)
INVALID_TOKEN_MESSAGE = "The next page token is invalid or expired."

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    page_size: int
    offset: int
    page_number: int


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page_size: int
    page_number: int
    page_count: int
    total_records: int
    next_page_token: str

    def envelope(self) -> dict[str, object]:
        """The fields every Zoom list answer carries besides its list."""
        return {
            "page_count": self.page_count,
            "page_number": self.page_number,
            "page_size": self.page_size,
            "total_records": self.total_records,
            "next_page_token": self.next_page_token,
        }


class PagingError(ValueError):
    """A pagination parameter Zoom would refuse: `field` is None for a bad `next_page_token`."""

    def __init__(self, field: str | None) -> None:
        super().__init__(field or "next_page_token")
        self.field = field


@dataclass
class _Cursor:
    query: str
    offset: int
    page_size: int
    expires_at: float


def _positive_int(query: Mapping[str, str], name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    digits = text.lstrip("0")
    if not text.isascii() or not text.isdigit() or not digits:
        raise PagingError(name)
    return _HUGE if len(digits) > 12 else min(int(digits), _HUGE)


class PageTokens:
    """Issued `next_page_token`s and where each one resumes."""

    def __init__(self) -> None:
        self._cursors: dict[str, _Cursor] = {}

    def request(
        self, query: Mapping[str, str], query_key: str, now: float, max_page_size: int
    ) -> PageRequest:
        """Where the page asked for by `query` starts. `query_key` names the list and its filters: a
        token only resumes the listing it was issued for."""
        token = query.get("next_page_token") or None
        page_size = _positive_int(query, "page_size")
        page_number = _positive_int(query, "page_number")
        if token is not None:
            cursor = self._cursors.get(token)
            if cursor is None or cursor.query != query_key or now >= cursor.expires_at:
                raise PagingError(None)
            size = min(page_size or cursor.page_size, max_page_size)
            return PageRequest(size, cursor.offset, cursor.offset // max(1, size) + 1)
        size = min(page_size or DEFAULT_PAGE_SIZE, max_page_size)
        number = page_number or 1
        return PageRequest(size, (number - 1) * size, number)

    def page(
        self, items: Sequence[T], wanted: PageRequest, query_key: str, now: float, ttl_seconds: float
    ) -> Page[T]:
        self._cursors = {k: c for k, c in self._cursors.items() if now < c.expires_at}
        end = wanted.offset + wanted.page_size
        token = ""
        if end < len(items):
            token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(_TOKEN_LENGTH))
            self._cursors[token] = _Cursor(query_key, end, wanted.page_size, now + ttl_seconds)
        return Page(
            items=list(items[wanted.offset : end]),
            page_size=wanted.page_size,
            page_number=wanted.page_number,
            page_count=math.ceil(len(items) / wanted.page_size) if items else 0,
            total_records=len(items),
            next_page_token=token,
        )
