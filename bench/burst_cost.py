"""CPU per Zoom request, alone against in bursts: why the scheduler runs timed steps on whole seconds.

The operator's probe (`ZoomClient.get` over the operator's aiohttp pool, `zoom/pool.py`) against the
simulator on loopback, in this process, measured with getrusage (user + system CPU of this process
only; the simulator is another process). Three patterns of the same requests:

- back to back: the next request starts when the previous one ends (a tight loop: caches stay warm);
- alone: one request, then `--gap` seconds of nothing (33 requests a second, one at a time: what 10,000
  apps probing every 300 s look like when each step runs at its own time);
- bursts: `--burst` requests at once, then a pause to keep the same 33 a second (the same apps with
  their steps put on a 1 s grid).

    .venv/bin/python bench/burst_cost.py [--requests 660] [--gap 0.03] [--burst 33]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average, log, machine_info, markdown_table, simulator, write_json

from zoom_operator.runner import event_loop
from zoom_operator.secret import Secret
from zoom_operator.zoom.client import ZoomClient
from zoom_operator.zoom.outcomes import ApiOk, TokenIssued
from zoom_operator.zoom.pool import ZoomPool

UNLIMITED = {"per_second": 1_000_000}
STATE = {
    "accounts": [
        {"id": "acc", "plan": "pro", "rate_limits": {k: UNLIMITED for k in ("Light", "Medium", "Heavy")}}
    ],
    "roles": [
        {
            "id": "role-admin",
            "name": "Admin",
            "privileges": ["ServerToServerOAuthApp:Edit", "Account:Edit", "User:Read"],
        }
    ],
    "users": [
        {
            "id": "u-owner",
            "email": "owner@example.com",
            "account_id": "acc",
            "role_id": "role-admin",
            "status": "active",
        }
    ],
    "apps": [
        {
            "client_id": "bench",
            "client_secret": "bench-secret",
            "account_id": "acc",
            "owner_user_id": "u-owner",
            "scopes": ["user:read:admin"],
            "status": "active",
        }
    ],
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(base_url: str, requests: int, gap: float, burst: int) -> dict[str, float]:
    pool = ZoomPool(connections=64)
    zoom = ZoomClient(oauth_url=base_url, api_url=base_url, transport=pool)
    token = await zoom.mint("acc", "bench", Secret("bench-secret"))
    assert isinstance(token, TokenIssued), token

    async def probe() -> None:
        outcome = await zoom.get(token.access_token, "/v2/users/owner%40example.com")
        assert isinstance(outcome, ApiOk), outcome

    async def back_to_back() -> int:
        for _ in range(requests):
            await probe()
        return requests

    async def alone() -> int:
        for _ in range(requests):
            await probe()
            await asyncio.sleep(gap)
        return requests

    async def bursts() -> int:
        for _ in range(requests // burst):
            await asyncio.gather(*(probe() for _ in range(burst)))
            await asyncio.sleep(gap * burst)
        return requests // burst * burst

    async def run(pattern: Callable[[], Awaitable[int]]) -> float:
        """CPU µs per request of one pattern, with every pooled connection open before it starts."""
        for _ in range(burst):
            await asyncio.gather(*(probe() for _ in range(burst)))
        started = cpu_seconds()
        sent = await pattern()
        return 1e6 * (cpu_seconds() - started) / sent

    try:
        return {
            "back_to_back_us": round(await run(back_to_back)),
            "alone_us": round(await run(alone)),
            "bursts_us": round(await run(bursts)),
        }
    finally:
        await pool.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=660)
    parser.add_argument("--gap", type=float, default=0.03, help="seconds between requests sent alone")
    parser.add_argument("--burst", type=int, default=33, help="requests per burst")
    parser.add_argument("--json")
    args = parser.parse_args()
    with simulator(STATE) as sim:
        log(f"CPU per request, {args.requests} requests per pattern; load {load_average()}")
        with event_loop("uvloop") as loop:  # the operator's loop
            result = loop.run_until_complete(measure(sim.base_url, args.requests, args.gap, args.burst))
    print(
        markdown_table(
            ["pattern", "CPU per request (µs)"],
            [
                ("back to back", result["back_to_back_us"]),
                (f"alone, {args.gap} s apart", result["alone_us"]),
                (f"bursts of {args.burst}, {args.gap * args.burst:.2f} s apart", result["bursts_us"]),
            ],
        )
    )
    if args.json:
        write_json(Path(args.json), {"machine": machine_info(), "settings": vars(args), **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
