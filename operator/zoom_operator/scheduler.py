"""One scheduler per process: a priority queue of (due time, app) over every served ZoomApp.

There is no task per app. A dispatcher moves apps whose time has come to a ready queue, and a fixed
pool of runners takes them from there, so at most `concurrency` steps are in flight however many apps
are served. A step returns when the app wants to run next; `wake(key)` brings that forward to now (a
watch event, a spec change). An app is never stepped twice at once: a wake-up that arrives while it
runs is kept and served right after.

The scheduler knows nothing of Kubernetes or Zoom: a step is any coroutine function of the key that
returns the next due time (timezone-aware) or None for "only when woken".

Timed steps run in bursts: with a `grid` of G seconds, a step that wants to run 10 G or more from now
runs at the first multiple of G on the loop's clock at or after its time (never before it), so the
steps due within the same G run together. In a burst a step costs about a third of the CPU it costs
alone, most likely because its code and data are still in the CPU's caches (bench/RESULTS.md, "steps
in bursts"). Nearer wishes (retries, backoff) and wake-ups are served on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Generic, TypeVar

log = logging.getLogger("zoom_operator.scheduler")

K = TypeVar("K", bound=Hashable)

# At most this many steps in flight per process. When thousands of ZoomApps start together (an operator
# restart, a new shard), each one's first step would otherwise be in flight at once, every one of them
# waiting in the Kubernetes client's thread pool while holding its intermediate state (bench/RESULTS.md).
DEFAULT_CONCURRENCY = 128
ERROR_RETRY_SECONDS = 10.0
# A timed step is put on the grid only when it is at least this many grid steps away: rounding a delay
# up by at most a tenth of it never matters to what the delay is for.
GRID_MIN_STEPS = 10


class _Entry:
    __slots__ = ("done", "due", "removed", "running", "woken")

    def __init__(self, due: float) -> None:
        self.due = due
        self.running = False
        self.woken = False  # woken while running: step again as soon as this step ends
        self.removed = False
        self.done: asyncio.Event | None = None  # set when a running step ends, for `remove`


class Scheduler(Generic[K]):
    """Steps each key when it is due; see the module docstring."""

    def __init__(
        self,
        step: Callable[[K], Awaitable[datetime | None]],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_error: Callable[[K, BaseException], float] | None = None,
        grid: float = 0.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if grid < 0:
            raise ValueError(f"grid must be 0 (off) or a positive number of seconds, got {grid}")
        self._grid = grid
        self._step = step
        self._concurrency = concurrency
        self._clock = clock
        self._on_error = on_error
        self._entries: dict[K, _Entry] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.steps_total = 0

    # Membership ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> list[K]:
        return list(self._entries)

    def add(self, key: K) -> None:
        """Serve `key`; its first step is due now. Adding a served key wakes it."""
        if key in self._entries:
            self.wake(key)
            return
        entry = self._entries[key] = _Entry(self._loop_time())
        self._push(key, entry)

    def wake(self, key: K) -> None:
        """Step `key` as soon as a runner is free (after its current step, if one is running)."""
        entry = self._entries.get(key)
        if entry is None:
            return
        if entry.running:
            entry.woken = True
            return
        now = self._loop_time()
        if entry.due > now:
            entry.due = now
            self._push(key, entry)

    async def remove(self, key: K, *, wait_seconds: float = 30.0) -> None:
        """Stop serving `key`, waiting (up to `wait_seconds`) for a step in flight to end."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        entry.removed = True
        if entry.running:
            entry.done = entry.done or asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.done.wait(), wait_seconds)

    def discard(self, key: K) -> None:
        """Stop serving `key` without waiting (a step in flight ends, and is not scheduled again)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.removed = True

    def clear(self) -> list[K]:
        """Stop serving every key (steps in flight finish, but are not scheduled again)."""
        keys = list(self._entries)
        for entry in self._entries.values():
            entry.removed = True
        self._entries.clear()
        self._heap.clear()
        return keys

    def due_in(self, key: K) -> float | None:
        """Seconds until `key` is next due (negative: overdue), None when not served or running."""
        entry = self._entries.get(key)
        if entry is None or entry.running:
            return None
        return entry.due - self._loop_time()

    # Running -----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._dispatch(), name="scheduler dispatcher"))
        for index in range(self._concurrency):
            self._tasks.append(asyncio.create_task(self._run(), name=f"scheduler runner {index}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _dispatch(self) -> None:
        while True:
            now = self._loop_time()
            while self._heap and self._heap[0][0] <= now:
                due, _, key = heapq.heappop(self._heap)
                entry = self._entries.get(key)
                if entry is None or entry.running or entry.due != due:
                    continue  # removed, running, or rescheduled since this heap item was pushed
                entry.running = True
                self._ready.put_nowait(key)
            delay = self._heap[0][0] - now if self._heap else 3600.0
            self._changed.clear()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the task's cancellation
            # when the wait ends at the same moment (gh-86296), and stop() then waited forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0.0)):
                    await self._changed.wait()

    async def _run(self) -> None:
        while True:
            key = await self._ready.get()
            entry = self._entries.get(key)
            if entry is None or entry.removed:
                self._finished(entry)
                continue
            entry.woken = False
            try:
                wakeup = await self._step(key)
                delay = None if wakeup is None else (wakeup - self._clock()).total_seconds()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug in one app's step must not stop every other app
                delay = self._on_error(key, error) if self._on_error else ERROR_RETRY_SECONDS
                if self._on_error is None:
                    log.exception("step of %s failed; retrying in %.0fs", key, delay)
            self.steps_total += 1
            self._finished(entry)
            if entry.removed:
                continue
            entry.running = False
            entry.due = self._due_after(0.0 if entry.woken else _bounded(delay))
            entry.woken = False
            self._push(key, entry)

    def _due_after(self, delay: float) -> float:
        return due_time(self._loop_time(), delay, self._grid)

    def _finished(self, entry: _Entry | None) -> None:
        if entry is not None and entry.done is not None:
            entry.done.set()

    def _push(self, key: K, entry: _Entry) -> None:
        heapq.heappush(self._heap, (entry.due, next(self._seq), key))
        if self._heap[0][0] == entry.due:
            self._changed.set()  # the dispatcher may be sleeping towards a later time
        if len(self._heap) > 2 * len(self._entries) + 1024:
            self._compact()

    def _compact(self) -> None:
        """Drop heap items left behind by wake-ups (each wake pushes; the old item is skipped on pop)."""
        self._heap = [
            (due, seq, key)
            for due, seq, key in self._heap
            if (entry := self._entries.get(key)) is not None and entry.due == due
        ]
        heapq.heapify(self._heap)

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()


def due_time(now: float, delay: float, grid: float) -> float:
    """`now + delay`, put on the grid (the next multiple of `grid`, never earlier) when `delay` is at
    least `GRID_MIN_STEPS` grids; `grid` 0 is no grid."""
    due = now + delay
    if grid and delay >= GRID_MIN_STEPS * grid:
        due = math.ceil(due / grid) * grid
    return due


def _bounded(delay: float | None) -> float:
    """A step's wish as a delay: never negative, None means a day (woken by events before that)."""
    if delay is None:
        return 86400.0
    return min(max(delay, 0.0), 86400.0)
