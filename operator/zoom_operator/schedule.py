"""When to renew, when to probe, when to retry, and how many mints an hour allows (pure, clock injected).

Every function takes the current time from its caller (`now`, or the times it is given) and every
random choice as a number in [0, 1) (`jitter`, `rng_value`), so the whole schedule is deterministic
under test. All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

MINT_WINDOW: Final = timedelta(hours=1)
MAX_RENEW_JITTER_SECONDS: Final = 60.0
RENEW_JITTER_FRACTION: Final = 0.1
# 2**62 times any sane base already exceeds any sane cap; bounding the exponent avoids float overflow.
_MAX_BACKOFF_EXPONENT: Final = 62


def _require_unit_interval(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def renew_at(
    issued_at: datetime, expires_at: datetime, renew_before_seconds: int, *, jitter: float
) -> datetime:
    """When to mint the next token: `renew_before_seconds` plus a jittered margin before `expires_at`.

    The margin is `jitter` (a fraction in [0, 1)) of at most min(10 % of renew_before, 60 s), so the
    renewal always happens at least `renew_before_seconds` before expiry, and apps that minted at the
    same moment spread out instead of renewing in lockstep. It is never earlier than `issued_at`.
    A token that lives no longer than `renew_before_seconds` is renewed at half its lifetime.
    """
    _require_unit_interval("jitter", jitter)
    if renew_before_seconds < 0:
        raise ValueError(f"renew_before_seconds must not be negative, got {renew_before_seconds}")
    lifetime = (expires_at - issued_at).total_seconds()
    if lifetime <= renew_before_seconds:
        return issued_at + timedelta(seconds=max(lifetime, 0.0) / 2)
    max_jitter = min(RENEW_JITTER_FRACTION * renew_before_seconds, MAX_RENEW_JITTER_SECONDS)
    max_jitter = min(max_jitter, lifetime - renew_before_seconds)
    return expires_at - timedelta(seconds=renew_before_seconds + jitter * max_jitter)


class MintBudget:
    """A sliding one-hour window over token-request attempts, successful or not.

    An attempt at time `t` counts against the budget while `now - t < 1 h`. The window is rebuilt after
    a restart with `from_timestamps` (from `status.mints`), so restarting the operator does not reset
    the budget.
    """

    def __init__(self, limit_per_hour: int) -> None:
        if limit_per_hour < 1:
            raise ValueError(f"limit_per_hour must be at least 1, got {limit_per_hour}")
        self.limit_per_hour = limit_per_hour
        self._attempts: list[datetime] = []  # sorted ascending

    @classmethod
    def from_timestamps(cls, limit_per_hour: int, timestamps: Iterable[datetime]) -> MintBudget:
        """A budget that already holds the given attempt times (any order; old ones are harmless)."""
        budget = cls(limit_per_hour)
        for at in timestamps:
            budget.record(at)
        return budget

    def record(self, at: datetime) -> None:
        """Count one token request made at `at`."""
        bisect.insort(self._attempts, at)
        # Attempts a full window before the newest one can never count again.
        horizon = self._attempts[-1] - MINT_WINDOW
        del self._attempts[: bisect.bisect_right(self._attempts, horizon)]

    def in_window(self, now: datetime) -> tuple[datetime, ...]:
        """The attempts that count at `now`, oldest first: what to persist for the next restart."""
        return tuple(self._attempts[bisect.bisect_right(self._attempts, now - MINT_WINDOW) :])

    def used(self, now: datetime) -> int:
        return len(self.in_window(now))

    def allows(self, now: datetime) -> bool:
        return self.used(now) < self.limit_per_hour

    def next_allowed(self, now: datetime) -> datetime:
        """The earliest time at or after `now` when one more attempt fits in the budget."""
        window = self.in_window(now)
        if len(window) < self.limit_per_hour:
            return now
        # The oldest (len - limit + 1) attempts must leave the window; the last of them decides.
        return window[len(window) - self.limit_per_hour] + MINT_WINDOW


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits a uniform share of min(cap, base * 2**n)."""

    base_seconds: float = 5.0
    cap_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.base_seconds <= self.cap_seconds:
            raise ValueError(
                f"need 0 < base_seconds <= cap_seconds, got base={self.base_seconds} cap={self.cap_seconds}"
            )

    def next_delay(self, attempt: int, rng_value: float) -> float:
        """Seconds to wait before retry number `attempt` (0 for the first retry); `rng_value` in [0, 1)."""
        if attempt < 0:
            raise ValueError(f"attempt must not be negative, got {attempt}")
        _require_unit_interval("rng_value", rng_value)
        ceiling = min(self.cap_seconds, math.ldexp(self.base_seconds, min(attempt, _MAX_BACKOFF_EXPONENT)))
        return rng_value * ceiling

    def retry_at(
        self, now: datetime, attempt: int, rng_value: float, *, retry_after: datetime | None = None
    ) -> datetime:
        """When to retry: after the jittered delay, and never before the server's `retry_after`."""
        at = now + timedelta(seconds=self.next_delay(attempt, rng_value))
        if retry_after is not None and retry_after > at:
            return retry_after
        return at


def next_probe_at(last_probe_at: datetime, interval_seconds: int) -> datetime:
    """When the token is next proven against the API."""
    return last_probe_at + timedelta(seconds=interval_seconds)
