"""Zoom's REST rate limits: per-account QPS and daily quotas by plan and endpoint label, and the
per-user meeting-create daily cap (reference §7). Pure: every call takes `now` (unix seconds).

QPS uses a sliding one-second window, so N+1 requests inside any second are refused however they
fall on the wall clock (a fixed window would make burst tests flaky). Daily quotas reset at 00:00 UTC,
which is what Zoom's `Retry-After` date says.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal


class Label(StrEnum):
    """An endpoint's "Rate Limit Label"."""

    LIGHT = "Light"
    MEDIUM = "Medium"
    HEAVY = "Heavy"


@dataclass(frozen=True)
class Limit:
    per_second: int
    per_day: int | None = None


PLANS = ("free", "pro", "business")

# Reference §7: pro and business from Zoom's archived table, free from a secondary copy [3P].
PLAN_LIMITS: dict[str, dict[Label, Limit]] = {
    "free": {
        Label.LIGHT: Limit(4, 6_000),
        Label.MEDIUM: Limit(2, 2_000),
        Label.HEAVY: Limit(1, 1_000),
    },
    "pro": {
        Label.LIGHT: Limit(30),
        Label.MEDIUM: Limit(20),
        Label.HEAVY: Limit(10, 30_000),
    },
    "business": {
        Label.LIGHT: Limit(80),
        Label.MEDIUM: Limit(60),
        Label.HEAVY: Limit(40, 60_000),
    },
}

MEETING_CREATES_PER_USER_PER_DAY = 100


def next_utc_midnight(now: float) -> datetime:
    day = datetime.fromtimestamp(now, UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def iso_z(moment: datetime) -> str:
    """`2026-11-30T00:00:00Z`: the form Zoom uses in `Retry-After`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Decision:
    """The limiter's answer for one request, and the `X-RateLimit-*` headers that describe it."""

    allowed: bool
    label: Label
    type: Literal["QPS", "Daily-limit"]
    limit: int
    remaining: int
    reset_at: float  # QPS: when the window frees a slot; daily: next 00:00 UTC

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Category": self.label.value,
            "X-RateLimit-Type": self.type,
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
        }
        if not self.allowed:
            if self.type == "QPS":
                headers["X-RateLimit-Reset"] = str(math.ceil(self.reset_at))
            else:
                headers["Retry-After"] = iso_z(datetime.fromtimestamp(self.reset_at, UTC))
        return headers


class DailyCounter:
    """Counts per key per UTC day; yesterday's counts are forgotten when a key is next touched."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[date, int]] = {}

    def used(self, key: str, now: float) -> int:
        today = datetime.fromtimestamp(now, UTC).date()
        day, count = self._counts.get(key, (today, 0))
        return count if day == today else 0

    def add(self, key: str, now: float) -> None:
        self._counts[key] = (datetime.fromtimestamp(now, UTC).date(), self.used(key, now) + 1)


class SlidingWindow:
    """At most `per_second` events per key in any one-second span."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        recent = self._recent.setdefault(key, deque())
        while recent and not now - 1.0 < recent[0] <= now:
            recent.popleft()
        return recent

    def used(self, key: str, now: float) -> int:
        return len(self._prune(key, now))

    def frees_at(self, key: str, now: float) -> float:
        """When the oldest event in the window leaves it."""
        recent = self._prune(key, now)
        return recent[0] + 1.0 if recent else now

    def try_take(self, key: str, per_second: int, now: float) -> bool:
        recent = self._prune(key, now)
        if len(recent) >= per_second:
            return False
        recent.append(now)
        return True


class RateLimiter:
    """Per-bucket QPS windows and daily quotas. A refused request consumes nothing."""

    def __init__(self) -> None:
        self._window = SlidingWindow()
        self._daily = DailyCounter()

    def acquire(self, bucket: str, label: Label, limit: Limit, now: float) -> Decision:
        key = f"{bucket}/{label.value}"
        day_reset = next_utc_midnight(now).timestamp()
        if limit.per_day is not None and self._daily.used(key, now) >= limit.per_day:
            return Decision(False, label, "Daily-limit", limit.per_day, 0, day_reset)
        if not self._window.try_take(key, limit.per_second, now):
            return Decision(False, label, "QPS", limit.per_second, 0, self._window.frees_at(key, now))
        self._daily.add(key, now)
        if limit.per_day is not None:
            remaining = limit.per_day - self._daily.used(key, now)
            return Decision(True, label, "Daily-limit", limit.per_day, remaining, day_reset)
        remaining = limit.per_second - self._window.used(key, now)
        return Decision(True, label, "QPS", limit.per_second, remaining, self._window.frees_at(key, now))
