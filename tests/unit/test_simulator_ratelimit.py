"""Rate-limit windows: sliding QPS, daily quotas that reset at 00:00 UTC, and their headers
(simulator/ratelimit.py). Time is passed in, so nothing here sleeps."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from zoom_operator.simulator.ratelimit import (
    PLAN_LIMITS,
    DailyCounter,
    Label,
    Limit,
    RateLimiter,
    SlidingWindow,
    iso_z,
    next_utc_midnight,
)

NOON = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC).timestamp()


def test_plan_table_matches_the_reference() -> None:
    assert PLAN_LIMITS["pro"][Label.LIGHT] == Limit(30)
    assert PLAN_LIMITS["pro"][Label.MEDIUM] == Limit(20)
    assert PLAN_LIMITS["pro"][Label.HEAVY] == Limit(10, 30_000)
    assert PLAN_LIMITS["business"][Label.LIGHT] == Limit(80)
    assert PLAN_LIMITS["business"][Label.HEAVY] == Limit(40, 60_000)
    assert PLAN_LIMITS["free"][Label.LIGHT] == Limit(4, 6_000)
    assert PLAN_LIMITS["free"][Label.MEDIUM] == Limit(2, 2_000)


def test_qps_allows_the_limit_within_a_second_then_refuses_with_reset_headers() -> None:
    limiter = RateLimiter()

    decisions = [limiter.acquire("acc", Label.LIGHT, Limit(3), NOON + i * 0.1) for i in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[3].headers() == {
        "X-RateLimit-Category": "Light",
        "X-RateLimit-Type": "QPS",
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(NOON) + 1),
    }


def test_qps_window_slides_rather_than_resetting_on_the_wall_clock_second() -> None:
    limiter = RateLimiter()
    limit = Limit(2)
    assert limiter.acquire("acc", Label.LIGHT, limit, NOON + 0.9).allowed
    assert limiter.acquire("acc", Label.LIGHT, limit, NOON + 1.1).allowed

    assert not limiter.acquire("acc", Label.LIGHT, limit, NOON + 1.5).allowed  # two in (0.5, 1.5]
    assert limiter.acquire("acc", Label.LIGHT, limit, NOON + 1.95).allowed  # 0.9 left the window


def test_buckets_and_labels_are_counted_separately() -> None:
    limiter = RateLimiter()
    limit = Limit(1)

    assert limiter.acquire("acc-1", Label.LIGHT, limit, NOON).allowed
    assert limiter.acquire("acc-2", Label.LIGHT, limit, NOON).allowed
    assert limiter.acquire("acc-1", Label.MEDIUM, limit, NOON).allowed
    assert not limiter.acquire("acc-1", Label.LIGHT, limit, NOON).allowed


def test_daily_quota_refuses_until_the_next_utc_midnight_with_iso_retry_after() -> None:
    limiter = RateLimiter()
    limit = Limit(per_second=100, per_day=2)

    first = limiter.acquire("acc", Label.HEAVY, limit, NOON)
    limiter.acquire("acc", Label.HEAVY, limit, NOON + 10)
    refused = limiter.acquire("acc", Label.HEAVY, limit, NOON + 20)
    tomorrow = limiter.acquire("acc", Label.HEAVY, limit, NOON + 12 * 3600)

    assert (first.type, first.limit, first.remaining) == ("Daily-limit", 2, 1)
    assert not refused.allowed
    assert refused.headers()["X-RateLimit-Type"] == "Daily-limit"
    assert refused.headers()["Retry-After"] == "2026-11-30T00:00:00Z"
    assert "X-RateLimit-Reset" not in refused.headers()
    assert tomorrow.allowed


def test_refused_requests_consume_nothing() -> None:
    limiter = RateLimiter()
    limit = Limit(per_second=1, per_day=5)
    limiter.acquire("acc", Label.LIGHT, limit, NOON)
    for _ in range(10):
        assert not limiter.acquire("acc", Label.LIGHT, limit, NOON + 0.5).allowed

    assert limiter.acquire("acc", Label.LIGHT, limit, NOON + 1.5).remaining == 3


@given(
    per_second=st.integers(min_value=1, max_value=5),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.7), max_size=40),
)
def test_no_one_second_span_ever_admits_more_than_the_limit(per_second: int, gaps: list[float]) -> None:
    window = SlidingWindow()
    now, admitted = NOON, []
    for gap in gaps:
        now += gap
        if window.try_take("k", per_second, now):
            admitted.append(now)

    for index, start in enumerate(admitted):
        assert sum(1 for t in admitted[index:] if t - start < 1.0) <= per_second


def test_daily_counter_forgets_yesterday() -> None:
    counter = DailyCounter()
    counter.add("u", NOON)
    counter.add("u", NOON)

    assert counter.used("u", NOON) == 2
    assert counter.used("u", NOON + 12 * 3600) == 0
    assert counter.used("other", NOON) == 0


def test_next_utc_midnight_and_iso_z() -> None:
    assert iso_z(next_utc_midnight(NOON)) == "2026-11-30T00:00:00Z"
    assert iso_z(next_utc_midnight(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())) == (
        "2027-01-01T00:00:00Z"
    )
