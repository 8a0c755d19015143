"""Renewal times, the mint budget, backoff and probes: pure functions of the times they are given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zoom_operator.schedule import (
    MINT_WINDOW,
    Backoff,
    MintBudget,
    next_probe_at,
    renew_at,
)

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


# --- renew_at ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "renew_before", "jitter", "expected_after_issue"),
    [
        pytest.param(3599, 600, 0.0, 2999, id="no-jitter-renews-exactly-renew-before-ahead"),
        pytest.param(3599, 600, 0.5, 2999 - 30, id="jitter-is-a-fraction-of-60s"),
        pytest.param(3599, 100, 0.5, 3499 - 5, id="jitter-is-a-fraction-of-10pct-when-smaller"),
        pytest.param(3600, 3600, 0.9, 1800, id="lifetime-equal-to-renew-before-renews-at-half"),
        pytest.param(60, 600, 0.3, 30, id="short-lifetime-renews-at-half"),
        pytest.param(605, 600, 0.99, 5 - 0.99 * 5, id="jitter-never-moves-renewal-before-issue"),
    ],
)
def test_renew_at(lifetime: int, renew_before: int, jitter: float, expected_after_issue: float) -> None:
    at = renew_at(T0, T0 + s(lifetime), renew_before, jitter=jitter)
    assert at == T0 + s(expected_after_issue)


@given(
    lifetime=st.integers(min_value=1, max_value=86_400),
    renew_before=st.integers(min_value=10, max_value=7_200),
    jitter=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_renew_at_stays_within_jitter_bounds(lifetime: int, renew_before: int, jitter: float) -> None:
    expires = T0 + s(lifetime)
    at = renew_at(T0, expires, renew_before, jitter=jitter)
    assert T0 <= at < expires
    if lifetime > renew_before:
        assert at <= expires - s(renew_before)
        assert at >= expires - s(renew_before + min(0.1 * renew_before, 60.0)) - s(1e-6)
    else:
        assert at == T0 + s(lifetime / 2)


@pytest.mark.parametrize("jitter", [-0.1, 1.0, 1.5])
def test_renew_at_rejects_jitter_outside_unit_interval(jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        renew_at(T0, T0 + s(3600), 600, jitter=jitter)


def test_renew_at_rejects_negative_renew_before() -> None:
    with pytest.raises(ValueError, match="renew_before_seconds"):
        renew_at(T0, T0 + s(3600), -1, jitter=0.0)


# --- MintBudget -------------------------------------------------------------------------------------


def test_budget_allows_up_to_the_limit_and_not_one_more() -> None:
    budget = MintBudget(3)
    for i in range(2):
        budget.record(T0 + s(i))
    assert budget.allows(T0 + s(2))
    budget.record(T0 + s(2))
    assert budget.used(T0 + s(2)) == 3
    assert not budget.allows(T0 + s(2))


def test_budget_window_slides_exactly_one_hour_after_the_oldest_attempt() -> None:
    budget = MintBudget.from_timestamps(2, [T0, T0 + s(600)])
    assert not budget.allows(T0 + MINT_WINDOW - s(0.001))
    assert budget.allows(T0 + MINT_WINDOW)
    assert budget.used(T0 + MINT_WINDOW) == 1
    assert budget.used(T0 + s(600) + MINT_WINDOW) == 0


def test_budget_next_allowed_is_now_while_budget_remains() -> None:
    budget = MintBudget.from_timestamps(6, [T0])
    assert budget.next_allowed(T0 + s(5)) == T0 + s(5)


def test_budget_next_allowed_waits_for_enough_attempts_to_leave_the_window() -> None:
    attempts = [T0, T0 + s(100), T0 + s(200), T0 + s(300)]
    budget = MintBudget.from_timestamps(2, attempts)
    now = T0 + s(400)
    # 4 attempts, limit 2: the three oldest must leave before a fifth fits.
    assert budget.next_allowed(now) == T0 + s(200) + MINT_WINDOW
    assert budget.allows(budget.next_allowed(now))
    assert not budget.allows(budget.next_allowed(now) - s(0.001))


def test_budget_from_timestamps_survives_restart_in_any_order_and_ignores_old_attempts() -> None:
    now = T0 + s(3000)
    restored = MintBudget.from_timestamps(3, [T0 + s(2000), T0 - s(7200), T0 + s(1000)])
    assert restored.used(now) == 2
    assert restored.in_window(now) == (T0 + s(1000), T0 + s(2000))


def test_budget_counts_failed_attempts_the_same_as_successful_ones() -> None:
    # The budget has no notion of outcome: every recorded request counts.
    budget = MintBudget(1)
    budget.record(T0)
    assert not budget.allows(T0 + s(1))


def test_budget_forgets_attempts_a_full_window_before_the_newest() -> None:
    budget = MintBudget(10)
    budget.record(T0)
    budget.record(T0 + MINT_WINDOW + s(1))
    # Asked about an earlier time, only the newest attempt is left: the old one was dropped.
    assert budget.in_window(T0) == (T0 + MINT_WINDOW + s(1),)


def test_budget_rejects_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="limit_per_hour"):
        MintBudget(0)


@given(
    limit=st.integers(min_value=1, max_value=10),
    offsets=st.lists(st.integers(min_value=0, max_value=3 * 3600), max_size=30),
    query=st.integers(min_value=0, max_value=4 * 3600),
)
def test_budget_next_allowed_is_the_first_allowed_time(limit: int, offsets: list[int], query: int) -> None:
    budget = MintBudget.from_timestamps(limit, [T0 + s(o) for o in offsets])
    now = T0 + s(query)
    at = budget.next_allowed(now)
    assert at >= now
    assert budget.allows(at)
    if at > now:
        assert not budget.allows(at - s(0.001))


# --- Backoff ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "rng_value", "expected"),
    [
        pytest.param(0, 0.5, 2.5, id="first-retry-is-a-share-of-base"),
        pytest.param(3, 0.5, 20.0, id="doubles-per-attempt"),
        pytest.param(10, 0.5, 150.0, id="capped"),
        pytest.param(10_000, 0.5, 150.0, id="huge-attempt-does-not-overflow"),
        pytest.param(2, 0.0, 0.0, id="full-jitter-may-retry-at-once"),
    ],
)
def test_backoff_delay(attempt: int, rng_value: float, expected: float) -> None:
    assert Backoff().next_delay(attempt, rng_value) == pytest.approx(expected)


@given(
    attempt=st.integers(min_value=0, max_value=200),
    rng_value=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    base=st.floats(min_value=0.1, max_value=30.0),
)
def test_backoff_delay_is_within_full_jitter_bounds(attempt: int, rng_value: float, base: float) -> None:
    backoff = Backoff(base_seconds=base, cap_seconds=600.0)
    delay = backoff.next_delay(attempt, rng_value)
    assert 0.0 <= delay < min(600.0, base * 2.0 ** min(attempt, 62))


def test_backoff_retry_at_never_precedes_server_retry_after() -> None:
    retry_after = T0 + s(3600)
    assert Backoff().retry_at(T0, 0, 0.5, retry_after=retry_after) == retry_after


def test_backoff_retry_at_ignores_a_retry_after_that_already_passed() -> None:
    assert Backoff().retry_at(T0, 0, 0.5, retry_after=T0 - s(10)) == T0 + s(2.5)


@pytest.mark.parametrize(
    ("attempt", "rng_value"), [pytest.param(-1, 0.5, id="negative-attempt"), pytest.param(0, 1.0, id="rng-1")]
)
def test_backoff_rejects_invalid_arguments(attempt: int, rng_value: float) -> None:
    with pytest.raises(ValueError, match=r"attempt|rng_value"):
        Backoff().next_delay(attempt, rng_value)


@pytest.mark.parametrize(("base", "cap"), [(0.0, 300.0), (10.0, 5.0)])
def test_backoff_rejects_base_above_cap_or_not_positive(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="base_seconds"):
        Backoff(base_seconds=base, cap_seconds=cap)


# --- probes ----------------------------------------------------------------------------------------


def test_next_probe_is_one_interval_after_the_last() -> None:
    assert next_probe_at(T0, 300) == T0 + s(300)
