"""Workers step under one process-wide cap, so thousands of apps starting together queue here instead of
all holding a step in flight."""

from __future__ import annotations

from zoom_operator.worker import MAX_CONCURRENT_STEPS, step_slots


async def test_steps_share_one_cap_per_event_loop() -> None:
    slots = step_slots()
    assert slots is step_slots()
    async with slots:
        assert slots._value == MAX_CONCURRENT_STEPS - 1
