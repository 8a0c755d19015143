"""The process-wide scheduler: due order, wake-ups, never two steps of one app at once, bounded steps in
flight, removal while a step runs, and a failing step that does not stop the others."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import pytest

from zoom_operator.scheduler import Scheduler, due_time


def now() -> datetime:
    return datetime.now(UTC)


async def test_steps_run_in_due_order_and_again_when_they_ask() -> None:
    order: list[str] = []
    delays = {"a": 0.05, "b": 0.01}

    async def step(key: str) -> datetime | None:
        order.append(key)
        return now() + timedelta(seconds=delays[key]) if order.count(key) < 3 else None

    scheduler: Scheduler[str] = Scheduler(step, concurrency=1)
    scheduler.start()
    scheduler.add("a")
    scheduler.add("b")
    await asyncio.sleep(0.3)
    await scheduler.stop()
    assert order.count("a") == 3
    assert order.count("b") == 3
    assert order.index("b") < order.index("a", 1), "b asked to come back sooner"


async def test_wake_brings_a_step_forward_and_a_wake_while_running_is_kept() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs = 0

    async def step(key: str) -> datetime | None:
        nonlocal runs
        runs += 1
        if runs == 1:
            started.set()
            await release.wait()
        return now() + timedelta(hours=1)

    scheduler: Scheduler[str] = Scheduler(step)
    scheduler.start()
    scheduler.add("app")
    await started.wait()
    scheduler.wake("app")  # while running: served right after
    release.set()
    await asyncio.sleep(0.05)
    assert runs == 2
    scheduler.wake("app")
    await asyncio.sleep(0.05)
    assert runs == 3
    await scheduler.stop()


async def test_one_app_never_steps_twice_at_once_and_steps_in_flight_are_bounded() -> None:
    running: dict[str, int] = {}
    most = 0

    async def step(key: str) -> datetime | None:
        nonlocal most
        running[key] = running.get(key, 0) + 1
        assert running[key] == 1
        most = max(most, sum(running.values()))
        await asyncio.sleep(0.01)
        running[key] -= 1
        return now()

    scheduler: Scheduler[str] = Scheduler(step, concurrency=4)
    scheduler.start()
    for index in range(20):
        scheduler.add(f"app-{index}")
    for _ in range(50):
        scheduler.wake("app-0")
        await asyncio.sleep(0.002)
    await scheduler.stop()
    assert most == 4


async def test_remove_waits_for_the_step_in_flight_and_it_is_not_scheduled_again() -> None:
    release = asyncio.Event()
    runs = 0

    async def step(key: str) -> datetime | None:
        nonlocal runs
        runs += 1
        await release.wait()
        return now()

    scheduler: Scheduler[str] = Scheduler(step)
    scheduler.start()
    scheduler.add("app")
    await asyncio.sleep(0.01)
    removal = asyncio.create_task(scheduler.remove("app"))
    await asyncio.sleep(0.01)
    assert not removal.done(), "waits for the step in flight"
    release.set()
    await removal
    await asyncio.sleep(0.05)
    assert runs == 1
    assert "app" not in scheduler
    await scheduler.stop()


async def test_a_failing_step_is_retried_and_does_not_stop_the_others() -> None:
    calls: dict[str, int] = {"bad": 0, "good": 0}

    async def step(key: str) -> datetime | None:
        calls[key] += 1
        if key == "bad":
            raise RuntimeError("a bug")
        return now() + timedelta(seconds=0.01)

    scheduler: Scheduler[str] = Scheduler(step, on_error=lambda key, error: 0.02)
    scheduler.start()
    scheduler.add("bad")
    scheduler.add("good")
    await asyncio.sleep(0.2)
    await scheduler.stop()
    assert calls["bad"] >= 3
    assert calls["good"] >= 5


async def test_clear_stops_serving_every_app() -> None:
    async def step(key: str) -> datetime | None:
        return now()

    scheduler: Scheduler[str] = Scheduler(step)
    scheduler.start()
    for index in range(5):
        scheduler.add(str(index))
    assert sorted(scheduler.clear()) == ["0", "1", "2", "3", "4"]
    assert len(scheduler) == 0
    await scheduler.stop()


def test_concurrency_must_be_positive() -> None:
    async def step(key: str) -> datetime | None:
        return None

    with pytest.raises(ValueError, match="at least 1"):
        Scheduler(step, concurrency=0)


async def test_timed_steps_far_enough_away_run_together_on_the_grid_never_early() -> None:
    """With a grid of 0.1 s, two steps that ask for 0.07 s and 0.03 s before the same multiple of 0.1 s
    (1.5-1.6 s away) both wait for that multiple and run in one burst there."""
    loop = asyncio.get_running_loop()
    grid = 0.1
    tick = math.ceil((loop.time() + 1.5) / grid) * grid  # at least 10 grid steps away: on the grid
    early = {"a": 0.07, "b": 0.03}
    asked: dict[str, float] = {}
    ran: dict[str, list[float]] = {}

    async def step(key: str) -> datetime | None:
        ran.setdefault(key, []).append(loop.time())
        if len(ran[key]) > 1:
            return None
        asked[key] = tick - early[key]
        return now() + timedelta(seconds=asked[key] - loop.time())

    scheduler: Scheduler[str] = Scheduler(step, grid=grid)
    scheduler.start()
    for key in early:
        scheduler.add(key)
    await asyncio.sleep(tick - loop.time() + 0.2)
    while any(len(ran.get(key, [])) < 2 for key in early) and loop.time() < tick + 5:
        await asyncio.sleep(0.05)  # a loaded machine may be late: never early is what is checked
    await scheduler.stop()
    for key in early:
        assert ran[key][1] >= asked[key], "never before the time asked for"
        assert ran[key][1] >= tick - 0.001, "both waited for the grid"
    assert abs(ran["a"][1] - ran["b"][1]) < 0.5, "in one burst"


@pytest.mark.parametrize(
    ("now_s", "delay", "grid", "due"),
    [
        (100.25, 30.0, 1.0, 131.0),  # far enough: the next whole second
        (100.0, 30.0, 1.0, 130.0),  # already on the grid: not moved
        (100.25, 9.99, 1.0, 110.24),  # under 10 grids away: on time
        (100.25, 0.0, 1.0, 100.25),  # a wake-up: now
        (100.25, 30.0, 0.0, 130.25),  # no grid
    ],
)
def test_due_time_is_on_the_grid_only_when_far_enough_away_and_never_early(
    now_s: float, delay: float, grid: float, due: float
) -> None:
    assert due_time(now_s, delay, grid) == pytest.approx(due)
    assert due_time(now_s, delay, grid) >= now_s + delay - 1e-9


def test_a_negative_grid_is_refused() -> None:
    async def step(key: str) -> datetime | None:
        return None

    with pytest.raises(ValueError, match="grid"):
        Scheduler(step, grid=-1.0)
