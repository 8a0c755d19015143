"""The Zoom side: typed outcomes, response mapping and the async client (no Kubernetes imports).

The pure parts (`outcomes`, `mapping`, `paths`, `transport`) load with the package; the client loads
only when one of its names is first used (`__getattr__` below). The client sends through a transport:
aiohttp's in the operator (`pool`), httpx's otherwise (`httpx_transport`, the only module that loads
httpx), so neither the pure core nor the operator process pulls in httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from zoom_operator.zoom.mapping import (
    decode_uid,
    map_api_response,
    map_token_response,
    parse_accepted_scopes,
    parse_permissions,
    parse_retry_after,
    parse_role,
    parse_user,
    sanitize_message,
)
from zoom_operator.zoom.outcomes import (
    ApiError,
    ApiOk,
    ApiOutcome,
    AppDisabled,
    ClientRejected,
    NotFound,
    OwnerMissing,
    RateLimited,
    ScopeMissing,
    TokenIssued,
    TokenOutcome,
    Transient,
    TransientKind,
    Unauthorized,
    ZoomRole,
    ZoomUser,
)
from zoom_operator.zoom.paths import path_segment

if TYPE_CHECKING:
    from zoom_operator.zoom.client import DEFAULT_TIMEOUT, RequestObserver, ZoomClient, endpoint_label

_CLIENT_NAMES = frozenset({"DEFAULT_TIMEOUT", "RequestObserver", "ZoomClient", "endpoint_label"})


def __getattr__(name: str) -> object:
    """The client's names, imported (with httpx) on first use."""
    if name in _CLIENT_NAMES:
        value: object = getattr(importlib.import_module("zoom_operator.zoom.client"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_TIMEOUT",
    "ApiError",
    "ApiOk",
    "ApiOutcome",
    "AppDisabled",
    "ClientRejected",
    "NotFound",
    "OwnerMissing",
    "RateLimited",
    "RequestObserver",
    "ScopeMissing",
    "TokenIssued",
    "TokenOutcome",
    "Transient",
    "TransientKind",
    "Unauthorized",
    "ZoomClient",
    "ZoomRole",
    "ZoomUser",
    "decode_uid",
    "endpoint_label",
    "map_api_response",
    "map_token_response",
    "parse_accepted_scopes",
    "parse_permissions",
    "parse_retry_after",
    "parse_role",
    "parse_user",
    "path_segment",
    "sanitize_message",
]
