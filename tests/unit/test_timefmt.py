"""`rfc3339` writes what `RFC3339_FORMAT` says, for any aware moment; `parse_rfc3339` reads it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from zoom_operator.timefmt import RFC3339_FORMAT, parse_rfc3339, rfc3339

ZONES = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES))
def test_rfc3339_is_the_format_in_utc_to_the_second_and_reads_back(moment: datetime) -> None:
    text = rfc3339(moment)
    assert text == moment.astimezone(UTC).strftime(RFC3339_FORMAT)
    assert parse_rfc3339(text) == moment.astimezone(UTC).replace(microsecond=0)


def test_a_utc_moment_is_written_with_z() -> None:
    assert rfc3339(datetime(2026, 12, 2, 1, 2, 3, 999_999, tzinfo=UTC)) == "2026-12-02T01:02:03Z"
