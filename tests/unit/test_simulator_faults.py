"""Fault injection bookkeeping: which request suffers which fault, for how long (simulator/faults.py)."""

from __future__ import annotations

import asyncio

import pytest

from zoom_operator.simulator.faults import FaultBoard, parse_fault
from zoom_operator.simulator.fields import Invalid


def test_counted_fault_hits_exactly_the_next_n_requests_of_its_target() -> None:
    board = FaultBoard()
    board.add(parse_fault({"target": "token", "kind": "status", "status": 503, "count": 2}, now=0))

    assert board.take("api", now=1) is None
    hits = [board.take("token", now=1) for _ in range(3)]

    assert [fault.status if fault else None for fault in hits] == [503, 503, None]
    assert board.describe(now=1) == []


def test_timed_fault_applies_until_its_simulated_time_is_over() -> None:
    board = FaultBoard()
    board.add(parse_fault({"target": "api", "kind": "drop", "seconds": 10}, now=100))

    assert board.take("api", now=109.9) is not None
    assert board.take("api", now=110) is None


def test_fault_without_count_or_seconds_lasts_until_cleared() -> None:
    board = FaultBoard()
    board.add(parse_fault({"target": "api", "kind": "malformed"}, now=0))
    for moment in range(0, 10_000, 1000):
        assert board.take("api", now=moment) is not None

    board.clear()

    assert board.take("api", now=0) is None


def test_oldest_active_fault_wins() -> None:
    board = FaultBoard()
    board.add(parse_fault({"target": "api", "kind": "status", "status": 500, "count": 1}, now=0))
    board.add(parse_fault({"target": "api", "kind": "status", "status": 429, "count": 1}, now=0))

    statuses = [fault.status for fault in (board.take("api", 0), board.take("api", 0)) if fault]

    assert statuses == [500, 429]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be a mapping like"),
        ({"kind": "drop"}, "missing required field 'target'"),
        ({"target": "db", "kind": "drop"}, "'target' must be one of token, api"),
        ({"target": "api", "kind": "explode"}, "'kind' must be one of status, timeout, drop, malformed"),
        ({"target": "api", "kind": "status"}, "kind 'status' needs 'status'"),
        ({"target": "api", "kind": "status", "status": 700}, "between 100 and 599"),
        ({"target": "api", "kind": "drop", "status": 500}, "'status' only applies to kind 'status'"),
        ({"target": "api", "kind": "drop", "count": 0}, "'count' must be an integer >= 1"),
        ({"target": "api", "kind": "drop", "seconds": -1}, "'seconds' must be > 0"),
        ({"target": "api", "kind": "drop", "count": 1, "seconds": 1}, "not both"),
        ({"target": "api", "kind": "drop", "forever": True}, "unknown field(s) forever"),
    ],
)
def test_bad_fault_bodies_are_rejected_with_a_message(body: object, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_fault(body, now=0)

    assert message in str(caught.value)


async def test_held_requests_are_released_when_faults_are_cleared() -> None:
    board = FaultBoard()
    fault = parse_fault({"target": "api", "kind": "timeout"}, now=0)
    board.add(fault)
    held = asyncio.create_task(board.hold(fault, now=0))
    await asyncio.sleep(0.05)
    assert not held.done()

    board.clear()

    await asyncio.wait_for(held, timeout=1)


async def test_hold_ends_with_the_faults_time() -> None:
    board = FaultBoard()
    fault = parse_fault({"target": "api", "kind": "timeout", "seconds": 0.05}, now=0)

    await asyncio.wait_for(board.hold(fault, now=0), timeout=1)
