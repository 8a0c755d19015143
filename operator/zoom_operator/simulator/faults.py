"""Injected faults: what the next requests to the token endpoint or the REST API suffer instead of
Zoom's normal answer.

A fault applies to the next `count` requests of its target, or for `seconds` of simulated time, or,
with neither, until `DELETE /_sim/faults`. Kinds:

- `status`: answer with the given HTTP status (e.g. 500, 503, 429) and a Zoom-shaped error body, or
  with `body` (any JSON, e.g. a token answer without `expires_in`) instead; `headers` (a mapping of
  strings, e.g. `Retry-After`, `X-RateLimit-Type`) are added to the answer;
- `timeout`: hold the request (up to `HOLD_SECONDS`, until the fault's time runs out, or until faults
  are cleared), then answer normally, like a slow network: the client's own timeout fires first;
- `drop`: close the connection without any response;
- `malformed`: `200` with a body that is not JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from zoom_operator.simulator.fields import Fields

TARGETS = ("token", "api")
KINDS = ("status", "timeout", "drop", "malformed")
HOLD_SECONDS = 30.0


@dataclass
class Fault:
    target: str
    kind: str
    status: int | None
    remaining: int | None  # requests still to hit; None = not counted
    until: float | None  # simulated unix time the fault ends; None = no deadline
    headers: dict[str, str] = field(default_factory=dict)  # added to a `status` answer
    body: Any = None  # a `status` answer's JSON body instead of a Zoom-shaped error; None = the error

    def in_time(self, now: float) -> bool:
        return self.until is None or now < self.until

    def active(self, now: float) -> bool:
        """Whether it still applies to new requests (its count not used up, its time not over)."""
        return (self.remaining is None or self.remaining > 0) and self.in_time(now)

    def describe(self, now: float) -> dict[str, object]:
        return {
            "target": self.target,
            "kind": self.kind,
            "status": self.status,
            "remaining": self.remaining,
            "seconds_left": None if self.until is None else max(0.0, round(self.until - now, 3)),
            "headers": dict(self.headers),
            "body": self.body,
        }


def parse_fault(body: object, now: float) -> Fault:
    fields = Fields(body, "", '{"target": "api", "kind": "status", "status": 503, "count": 2}')
    target = fields.choice("target", TARGETS)
    kind = fields.choice("kind", KINDS)
    status = fields.optional_int("status", minimum=100)
    count = fields.optional_int("count", minimum=1)
    seconds = fields.optional_number("seconds")
    headers = fields.nested("headers")
    body_given = fields.present("body")
    answer = fields.nested("body")
    fields.done()
    if kind == "status" and (status is None or status > 599):
        fields.fail("kind 'status' needs 'status': an HTTP status between 100 and 599, e.g. 503")
    if kind != "status" and status is not None:
        fields.fail(f"'status' only applies to kind 'status', not '{kind}'")
    if count is not None and seconds is not None:
        fields.fail("give either 'count' (next N requests) or 'seconds' (a duration), not both")
    if seconds is not None and seconds <= 0:
        fields.fail(f"'seconds' must be > 0, got {seconds}")
    if kind != "status" and (headers is not None or body_given):
        fields.fail(f"'headers' and 'body' only apply to kind 'status', not '{kind}'")
    if headers is not None and not (
        isinstance(headers, dict)
        and all(isinstance(k, str) and k and isinstance(v, str) for k, v in headers.items())
    ):
        fields.fail('\'headers\' must map header names to strings, e.g. {"Retry-After": "5"}')
    if body_given and answer is None:
        fields.fail('\'body\' must be a JSON value other than null, e.g. {"access_token": "x"}')
    return Fault(
        target, kind, status, count, None if seconds is None else now + seconds, dict(headers or {}), answer
    )


class FaultBoard:
    """The injected faults, oldest first; the first active one for a target is the one that applies."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._cleared = asyncio.Event()  # set (and replaced) by clear(): releases held requests

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()
        self._cleared.set()
        self._cleared = asyncio.Event()

    async def hold(self, fault: Fault, now: float) -> None:
        """Keep a request waiting like a hung upstream: for HOLD_SECONDS, or until the fault's time
        runs out, or until faults are cleared (which also happens on shutdown)."""
        seconds = HOLD_SECONDS if fault.until is None else min(HOLD_SECONDS, max(0.0, fault.until - now))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._cleared.wait(), seconds)

    def take(self, target: str, now: float) -> Fault | None:
        """The fault the next request to `target` suffers, counting it against that fault."""
        self._faults = [fault for fault in self._faults if fault.active(now)]
        for fault in self._faults:
            if fault.target == target:
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    def describe(self, now: float) -> list[dict[str, object]]:
        return [fault.describe(now) for fault in self._faults if fault.active(now)]
