"""The process's heap: few glibc arenas, and free heap pages handed back to the system.

Measured at 3,000 ZoomApps (bench/RESULTS.md, 2026-12-01 night): glibc's heap held 70 MiB of which
20 MiB was in use. The rest was free but kept: the first listings (pages of 500 objects), the JSON of
every answer and the big strings in them (tokens, Secret data) are allocated and freed in bursts, and
glibc keeps freed memory for reuse, spread over one arena per thread that ever allocated. Two calls
bound that:

- `limit_arenas`: at most N malloc arenas (mallopt M_ARENA_MAX), set before the threads start;
- `release_free_heap`: malloc_trim(0), which returns the free pages inside the heap to the system
  (madvise), called periodically by the operator (`trim_forever`).

Neither changes what the operator does. Both are no-ops where libc is not glibc (the call is absent).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from functools import lru_cache
from typing import Final

log = logging.getLogger("zoom_operator.memory")

M_ARENA_MAX: Final = -8  # glibc's malloc.h
TRIM_INTERVAL_SECONDS: Final = 30.0


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None  # not glibc (musl has neither)
    return libc


def limit_arenas(arenas: int) -> bool:
    """Allow at most `arenas` malloc arenas; True when glibc took the setting."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas)))


def release_free_heap() -> bool:
    """Hand the heap's free pages back to the system; True when glibc released some."""
    libc = _libc()
    return libc is not None and bool(libc.malloc_trim(ctypes.c_size_t(0)))


async def trim_forever(interval_seconds: float = TRIM_INTERVAL_SECONDS) -> None:
    """Release the free heap every `interval_seconds` (a few milliseconds each time)."""
    if _libc() is None:
        log.debug("not glibc: the free heap is left to the allocator")
        return
    while True:
        await asyncio.sleep(interval_seconds)
        release_free_heap()
