"""Names for Kubernetes objects and API refusals that the pure core may use (no kubernetes import).

`ObjectRef` names a namespaced object (`namespace/name`); `KubeError` is how the API gateway
(`kube.api`, which re-exports both) reports a non-2xx answer, with opaque runs that could be a token
cut out of the API server's message. `as_mapping` and `resource_version` read fields of the JSON the
API server sends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_OPAQUE_RUN: Final = re.compile(r"[A-Za-z0-9+/=_.\\-]{32,}")


def _redact_opaque(match: re.Match[str]) -> str:
    """Cut long runs that could be a token or an echoed body; keep Kubernetes names (DNS-1123 labels)."""
    run = match.group(0)
    dns_name = all(c.islower() or c.isdigit() or c in "-." for c in run)
    hex_dump = all(c in "0123456789abcdef" for c in run)
    return "[redacted]" if hex_dump or not dns_name else run


class KubeError(Exception):
    """The API server refused a request. `status` is the HTTP status; `reason` its `reason` field.

    The API server may quote the request body in its message (e.g. on decoding errors), and a request
    body can hold a token: long opaque runs are cut out before the message is kept.
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        message = _OPAQUE_RUN.sub(_redact_opaque, message)[:300]
        super().__init__(f"Kubernetes API answered {status} {reason}: {message}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ObjectRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def as_mapping(value: object) -> Mapping[str, Any]:
    """A JSON object read from the API server (status, metadata), or an empty one when it is not one."""
    return value if isinstance(value, Mapping) else {}


def resource_version(obj: object) -> str | None:
    """An object's `metadata.resourceVersion` (a watch event's, a write's answer), None without one."""
    value = as_mapping(as_mapping(obj).get("metadata")).get("resourceVersion")
    return value if isinstance(value, str) and value else None
