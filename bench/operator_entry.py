"""`zoom-operator run` for benchmarks: the same command, plus one kopf setting a time-compressed run needs.

kopf's peering lifetime (60 s by default) decides how long standby replicas wait before they take over
from a replica that died without saying goodbye (kill -9). A benchmark that compresses an hour-long
token into 60 s must compress that wait too, or one failover would stand for an hour. With
BENCH_PEERING_LIFETIME=N this adds a kopf startup handler that sets `settings.peering.lifetime = N`
(kopf then sends keep-alives every max(1, N - 5..10) s). Nothing else differs from `zoom-operator run`.

With BENCH_TRACEMALLOC=FILE, allocations are traced (25 frames) and SIGUSR1 writes the top allocation
sites to FILE (slow: for small runs). With BENCH_MEMDUMP=FILE, SIGUSR1 writes a census of live objects
by type (count, shallow bytes), asyncio tasks and threads to FILE: cheap enough for 10,000 apps.

BENCH_KOPF_WORKER_LIMIT=N (an experiment) caps kopf's concurrently running per-object workers at N.

$KUBECONFIG must be set by the caller (the operator's connection loader reads it at start).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import Any


def _trace_memory(path: str) -> None:
    """Trace allocations from now on (10 frames); SIGUSR1 (on kopf's loop) writes the top sites."""
    import asyncio
    import signal
    import traceback
    import tracemalloc

    import kopf

    tracemalloc.start(10)

    def dump() -> None:
        try:
            snapshot = tracemalloc.take_snapshot()
            lines = [f"traced: {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB"]
            for group in ("filename", "traceback"):
                lines.append(f"--- top by {group} ---")
                for stat in snapshot.statistics(group)[:30]:
                    lines.append(f"{stat.size / 2**20:8.2f} MiB {stat.count:8d} blocks")
                    frames = stat.traceback.format() if group == "traceback" else [str(stat.traceback[0])]
                    lines.extend("      " + frame for frame in frames[-20:])
        except Exception:
            lines = [traceback.format_exc()]
        with open(path, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    @kopf.on.startup()
    async def bench_tracemalloc(**_: Any) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
            *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
        )
    ]


def _malloc_summary() -> str:
    """glibc's heap (mallinfo2): what malloc holds from the OS, how much of it is in use and how much
    is free but not returned (fragmentation), plus the separately mmap'd blocks."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return "malloc: mallinfo2 not available"
    mib = 2**20
    return (
        f"malloc: heap {info.arena / mib:.1f} MiB (in use {info.uordblks / mib:.1f}, "
        f"free {info.fordblks / mib:.1f}), mmap'd {info.hblkhd / mib:.1f} MiB in {info.hblks} blocks"
    )


def _memdump(path: str) -> None:
    """On SIGUSR1 (handled on kopf's event loop, between callbacks): a census of live objects."""
    import asyncio
    import gc
    import signal
    import threading
    import traceback
    from collections import Counter

    import kopf

    def dump() -> None:
        try:
            counts: Counter[str] = Counter()
            sizes: Counter[str] = Counter()
            for obj in gc.get_objects():
                kind = type(obj)
                name = f"{kind.__module__}.{kind.__qualname__}"
                counts[name] += 1
                with contextlib.suppress(Exception):
                    sizes[name] += sys.getsizeof(obj)
            tasks = asyncio.all_tasks()
            coros: Counter[str] = Counter(getattr(t.get_coro(), "__qualname__", "?") for t in tasks)
            lines = [
                f"gc objects: {sum(counts.values())}, shallow {sum(sizes.values()) / 2**20:.1f} MiB; "
                f"asyncio tasks {len(tasks)}; threads {threading.active_count()}",
                _malloc_summary(),
                "--- by shallow size ---",
                *(f"{sizes[n] / 2**20:8.2f} MiB {counts[n]:9d}  {n}" for n, _ in sizes.most_common(30)),
                "--- by count ---",
                *(f"{c:9d}  {n}" for n, c in counts.most_common(30)),
                "--- tasks by coroutine ---",
                *(f"{c:9d}  {n}" for n, c in coros.most_common(15)),
            ]
        except Exception:
            lines = [traceback.format_exc()]
        with open(path, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    @kopf.on.startup()
    async def bench_memdump(**_: Any) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)


def main() -> int:
    # as `zoom-operator run` does before kopf is imported: kopf imports the `kubernetes` client when it
    # is installed (the bench's venv has it, for the tests; the image has not), and with it pydantic,
    # 20 MB that the operator never uses. Before 2026-12-07 this entry point imported kopf first, so
    # every recorded RSS up to then includes them.
    from zoom_operator.runner import block_kubernetes_client

    block_kubernetes_client()
    from zoom_operator import handlers  # noqa: F401 - registers the operator's handlers first

    if os.environ.get("BENCH_TRACEMALLOC"):
        _trace_memory(os.environ["BENCH_TRACEMALLOC"])
    elif os.environ.get("BENCH_MEMDUMP"):
        _memdump(os.environ["BENCH_MEMDUMP"])
    worker_limit = os.environ.get("BENCH_KOPF_WORKER_LIMIT")
    if worker_limit:
        import kopf

        @kopf.on.startup()
        async def bench_worker_limit(settings: kopf.OperatorSettings, **_: Any) -> None:
            # An experiment, not the operator's setting: cap kopf's concurrent per-object workers.
            settings.queueing.worker_limit = int(worker_limit)
            settings.queueing.idle_timeout = 0.5

    lifetime = os.environ.get("BENCH_PEERING_LIFETIME")
    if lifetime:
        import kopf

        @kopf.on.startup()
        async def bench_peering_lifetime(settings: kopf.OperatorSettings, **_: Any) -> None:
            settings.peering.lifetime = int(lifetime)

    from zoom_operator.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
