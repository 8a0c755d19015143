"""Zoom's list pagination (simulator/paging.py): page_size, next_page_token, page_number, the cap,
token expiry. Time is passed in, so nothing here sleeps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zoom_operator.simulator.paging import DEFAULT_PAGE_SIZE, PageTokens, PagingError
from zoom_operator.simulator.wire import compact_dumps, tracking_id

NOW = 1_800_000_000.0
TTL = 900.0


def walk(tokens: PageTokens, items: list[int], page_size: int, key: str = "k") -> list[list[int]]:
    pages: list[list[int]] = []
    query: dict[str, str] = {"page_size": str(page_size)}
    for _ in range(len(items) + 2):
        page = tokens.page(items, tokens.request(query, key, NOW, 300), key, NOW, TTL)
        pages.append(page.items)
        if not page.next_page_token:
            return pages
        query = {"page_size": str(page_size), "next_page_token": page.next_page_token}
    raise AssertionError("pagination never ended")


@given(st.integers(min_value=0, max_value=40), st.integers(min_value=1, max_value=12))
def test_walking_the_tokens_yields_every_item_once_in_order(count: int, page_size: int) -> None:
    items = list(range(count))

    pages = walk(PageTokens(), items, page_size)

    assert [i for page in pages for i in page] == items
    assert all(len(page) == page_size for page in pages[:-1])


def test_defaults_envelope_and_empty_last_token() -> None:
    tokens = PageTokens()

    page = tokens.page(list(range(31)), tokens.request({}, "k", NOW, 300), "k", NOW, TTL)

    assert page.page_size == DEFAULT_PAGE_SIZE
    assert page.envelope() == {
        "page_count": 2,
        "page_number": 1,
        "page_size": 30,
        "total_records": 31,
        "next_page_token": page.next_page_token,
    }
    assert re.fullmatch(r"[A-Za-z0-9]{35}", page.next_page_token)
    last = tokens.page(
        list(range(31)),
        tokens.request({"next_page_token": page.next_page_token}, "k", NOW, 300),
        "k",
        NOW,
        TTL,
    )
    assert (last.items, last.next_page_token, last.page_number) == ([30], "", 2)


def test_page_number_is_the_legacy_way_to_the_same_pages() -> None:
    tokens = PageTokens()

    page = tokens.page(
        list(range(10)), tokens.request({"page_size": "4", "page_number": "3"}, "k", NOW, 300), "k", NOW, TTL
    )

    assert (page.items, page.page_number, page.page_count, page.next_page_token) == ([8, 9], 3, 3, "")


def test_page_size_above_the_maximum_is_capped() -> None:
    assert PageTokens().request({"page_size": "1000"}, "k", NOW, 300).page_size == 300
    assert PageTokens().request({"page_size": "1000"}, "k", NOW, 50).page_size == 50
    assert PageTokens().request({"page_size": "9" * 5000}, "k", NOW, 300).page_size == 300
    assert PageTokens().request({"page_size": "007"}, "k", NOW, 300).page_size == 7


def test_a_page_number_past_the_end_is_an_empty_page() -> None:
    tokens = PageTokens()
    wanted = tokens.request({"page_number": "9" * 5000}, "k", NOW, 300)

    page = tokens.page([1, 2, 3], wanted, "k", NOW, TTL)

    assert (page.items, page.next_page_token, page.total_records) == ([], "", 3)


@pytest.mark.parametrize("value", ["0", "000", "-1", "x", "1.5", "٣"])
@pytest.mark.parametrize("name", ["page_size", "page_number"])
def test_bad_numbers_name_their_field(name: str, value: str) -> None:
    with pytest.raises(PagingError) as raised:
        PageTokens().request({name: value}, "k", NOW, 300)

    assert raised.value.field == name


def test_a_token_is_refused_when_unknown_expired_or_for_another_listing() -> None:
    tokens = PageTokens()
    token = tokens.page(list(range(5)), tokens.request({"page_size": "2"}, "k", NOW, 300), "k", NOW, TTL)
    resume = {"next_page_token": token.next_page_token}

    assert tokens.request(resume, "k", NOW + TTL - 1, 300).offset == 2
    for query, key, now in (
        ({"next_page_token": "nope"}, "k", NOW),
        (resume, "other", NOW),
        (resume, "k", NOW + TTL),
    ):
        with pytest.raises(PagingError) as raised:
            tokens.request(query, key, now, 300)
        assert raised.value.field is None


def test_wire_helpers_are_compact_and_in_zoom_tracking_form() -> None:
    assert compact_dumps({"code": 124, "message": "a, b: c"}) == '{"code":124,"message":"a, b: c"}'
    assert re.fullmatch(r"v=2\.0;clid=us05;rid=WEB_[0-9a-f]{32}", tracking_id("us05"))
