"""What every simulator answer looks like on the wire, as Zoom sends it.

- JSON bodies are compact, `{"code":124,"message":"Invalid access token."}`: no space after `:` or `,`
  (Zoom's answers in forum transcripts and client test fixtures are byte-for-byte compact [REPORTED]).
- `x-zm-trackingid: v=2.0;clid=<cluster>;rid=<request id>`, the form seen in real transcripts
  [REPORTED]; Zoom's error docs ask for this value when contacting support [DOC]. The cluster name
  (`us05` by default) is [INVENTED] and configurable (`PATCH /_sim/config {"tracking_cluster": ..}`);
  the request id is `WEB_` and 32 hex digits, unique per response [INVENTED form].
- Errors are `{"code": <Zoom code>, "message": ...}` with the HTTP status (`zoom_error`), and a
  field's bad value is `300 Validation Failed.` with an `errors` list (`validation_failed`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

TRACKING_HEADER = "x-zm-trackingid"


def compact_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON answer in Zoom's compact form."""
    return web.json_response(body, status=status, dumps=compact_dumps)


def tracking_id(cluster: str) -> str:
    return f"v=2.0;clid={cluster};rid=WEB_{uuid.uuid4().hex}"


def zoom_error(http_status: int, code: int, message: str, **extra: Any) -> web.Response:
    return json_response({"code": code, "message": message, **extra}, status=http_status)


def validation_failed(*fields: str) -> web.Response:
    errors = [{"field": name, "message": "Invalid field."} for name in fields]
    return zoom_error(400, 300, "Validation Failed.", errors=errors)
