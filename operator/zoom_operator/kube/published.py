"""What an app last published to its ZoomApp status, kept as little as the next step needs (pure).

The next step asks three things of it: whether a newly rendered status differs (`changed`: a write is
worth it), which conditions stood and since when (`render_conditions` keeps `lastTransitionTime`,
`transitions` posts Events), and which optional fields were there (a merge patch must null those
that no longer hold). Keeping the whole status for that cost about 4 KB per app (40 MB at 10,000
apps: bench/RESULTS.md); a digest per top-level field and the conditions' status, reason and time
cost about a fifth of it.

What every probe renews does not count as a change: the time and Zoom tracking id of the last probe,
the time of the owner check, and the times quoted in condition messages ("Zoom accepted at ...").
Counting those wrote status once per app per probe interval (a PATCH, and a watch event back into
kopf, for every probe: at 1,000 apps all of the operator's steady-state API traffic).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_TIMESTAMP: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")
# one encoder for every digest (json.dumps with options builds a new one per call)
_ENCODE: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode
# (type, status, reason, lastTransitionTime) of one condition
ConditionFacts = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Published:
    """Per top-level status field (present, not null) a digest of its comparable form; the conditions."""

    digests: tuple[tuple[str, bytes], ...]
    conditions: tuple[ConditionFacts, ...]

    @classmethod
    def of(cls, status: Mapping[str, Any]) -> Published:
        """A whole status, as written or read."""
        return cls((), ()).with_fields(status)

    def has(self, key: str) -> bool:
        return any(name == key for name, _ in self.digests)

    def condition_maps(self) -> list[dict[str, str]]:
        """The conditions in the shape `render_conditions` and `transitions` read."""
        return [
            {"type": kind, "status": status, "reason": reason, "lastTransitionTime": since}
            for kind, status, reason, since in self.conditions
        ]

    def with_fields(self, fields: Mapping[str, Any]) -> Published:
        """As if `fields` had been merge-patched into what was published (None drops a field): a
        partial write such as the mint record, or a whole status."""
        digests = dict(self.digests)
        for key, value in fields.items():
            if value is None:
                digests.pop(key, None)
            else:
                digests[key] = _digest(key, value)
        conditions = self.conditions
        if "conditions" in fields:
            conditions = tuple(
                (
                    str(c.get("type")),
                    str(c.get("status")),
                    str(c.get("reason")),
                    str(c.get("lastTransitionTime") or ""),
                )
                for c in fields.get("conditions") or ()
                if isinstance(c, Mapping)
            )
        return Published(tuple(sorted(digests.items())), conditions)


def changed(old: Published | None, new: Published) -> bool:
    return old is None or old.digests != new.digests


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether status `new` differs from `old` in anything but what every probe renews."""
    return changed(None if old is None else Published.of(old), Published.of(new))


def _digest(key: str, value: Any) -> bytes:
    comparable = _comparable(key, value)
    text = _ENCODE(comparable)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _comparable(key: str, value: Any) -> Any:
    if key == "lastProbe" and isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k not in ("at", "trackingId")}
    if key == "owner" and isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k != "checkedAt"}
    if key == "conditions" and isinstance(value, list):
        return [
            {**c, "message": _TIMESTAMP.sub("<time>", str(c.get("message", "")))}
            if isinstance(c, Mapping)
            else c
            for c in value
        ]
    return value
