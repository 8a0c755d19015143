"""CPU per steady-state step of one app, without I/O: the worker over the unit tests' in-memory fakes.

Each step is a probe (the clock moves past the probe interval between steps), so this is the operator's
own share of a steady step: plan, diagnose, render and compare status, over the slim ZoomApp copy the
operator keeps (its spec parsed when the generation moves, not per step). At 10,000 apps
probing every 300 s there are 33 such steps per second. `--profile` prints cProfile's top functions
(which inflates the time per step about twofold).

    .venv/bin/python bench/step_cost.py [--steps 5000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit"))

from test_worker import Harness

from zoom_operator import slim_copy


async def measure(steps: int, profile: bool) -> float:
    harness = Harness(probe={"intervalSeconds": 60})
    await harness.step()  # the first step mints: not a steady one
    # what the operator's steps read: the slim copy its watch handler keeps (spec parsed once, status
    # cut down after the restore), not a whole ZoomApp
    slim = slim_copy.slim(harness.body(), keep_status=False)
    harness.worker._body = lambda: slim
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    for _ in range(steps):
        harness.clock.advance(61)
        await harness.step()
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return (time.process_time() - started) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    per_step = asyncio.run(measure(args.steps, args.profile))
    print(f"{per_step * 1e6:.0f} µs of CPU per steady step ({args.steps} steps, in-memory fakes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
