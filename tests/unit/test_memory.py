"""memory.py: glibc's arenas bounded, and the free heap handed back (the operator calls both)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import platform
import subprocess
import sys

import pytest

from zoom_operator import memory

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="the calls are glibc's; elsewhere they are no-ops")
def test_freed_memory_goes_back_to_the_system() -> None:
    # a child process, so the measure is not disturbed by the test run's own heap
    script = """
import ctypes
from zoom_operator import memory
def rss_kb():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 // 1024
blocks = [ctypes.create_string_buffer(4000) for _ in range(50_000)]  # ~200 MB in small blocks
keep = blocks[::97]  # a few survivors pin the heap's top: free() alone cannot shrink it
del blocks
before = rss_kb()
assert memory.release_free_heap()
print(before, rss_kb())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=dict(os.environ)
    ).stdout.split()
    before, after = int(out[0]), int(out[1])
    assert after < before - 100_000, f"RSS {before} kB -> {after} kB"


def test_the_arena_limit_is_taken_where_glibc_is() -> None:
    assert memory.limit_arenas(2) is GLIBC


async def test_the_periodic_trim_runs_until_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(memory, "release_free_heap", lambda: calls.append(True) or True)
    monkeypatch.setattr(memory, "_libc", lambda: ctypes.CDLL(None))
    task = asyncio.create_task(memory.trim_forever(0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 3
