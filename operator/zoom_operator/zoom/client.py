"""The async Zoom client: mints S2S tokens and makes the REST calls the operator needs (probe, owner,
role and permission lookups), over a `Transport` (`zoom/transport.py`): httpx's by default or an
injected `httpx.AsyncClient`, aiohttp's in the operator (`zoom/pool.py`).

It owns the wire format (form body + Basic auth for `/oauth/token`, Bearer header for `/v2/...`,
quoted path segments) and turns every network failure into a `Transient` outcome; reading Zoom's
answers is `mapping`'s job. Only construction raises, on bad configuration. Tokens and secrets
never reach logs, outcome messages or reprs.
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

from zoom_operator import __version__
from zoom_operator.secret import Secret
from zoom_operator.spec import endpoint_url_problem
from zoom_operator.zoom.mapping import (
    is_header_safe,
    map_api_response,
    map_token_response,
    parse_permissions,
    parse_role,
    parse_user,
    sanitize_message,
)
from zoom_operator.zoom.outcomes import (
    ApiOk,
    ApiOutcome,
    TokenOutcome,
    Transient,
    ZoomRole,
    ZoomUser,
)
from zoom_operator.zoom.outcomes import zoom_code as outcome_zoom_code
from zoom_operator.zoom.paths import path_segment as path_segment  # re-exported: its home is zoom.paths
from zoom_operator.zoom.transport import DEFAULT_TIMEOUTS, SendFailure, Timeouts, Transport, as_timeouts

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("zoom_operator.zoom")

DEFAULT_TIMEOUT: Final = DEFAULT_TIMEOUTS
TOKEN_PATH: Final = "/oauth/token"
TOKEN_ENDPOINT: Final = "oauth_token"
# Path segments that are followed by an id; replaced by `{id}` in endpoint labels so metrics stay bounded.
_ID_COLLECTIONS: Final = frozenset({"users", "roles", "meetings"})

RequestObserver = Callable[[str, int | None, int | None], None]
"""Called after each request with (endpoint label, HTTP status or None, Zoom error code or None)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ZoomClient:
    """Talks to one Zoom deployment: `oauth_url` (e.g. https://zoom.us, https://zoomgov.com) and
    `api_url` (e.g. https://api.zoom.us, https://api.zoomgov.com).

    Pass `transport` (e.g. the operator's aiohttp pool) or `http` (an `httpx.AsyncClient`, e.g. one with
    a mock transport) to share a connection pool; it is then used as is and left open by `aclose()`.
    Otherwise the client makes an httpx one, with TLS verification on. `timeout` (`Timeouts` or an
    `httpx.Timeout`) defaults to the `http` client's own, else to `DEFAULT_TIMEOUT`.
    """

    def __init__(
        self,
        *,
        oauth_url: str,
        api_url: str,
        http: httpx.AsyncClient | None = None,
        transport: Transport | None = None,
        timeout: Timeouts | httpx.Timeout | None = None,
        clock: Callable[[], datetime] = _utc_now,
        user_agent: str = f"zoom-operator/{__version__}",
        observer: RequestObserver | None = None,
    ) -> None:
        self.oauth_url = _base_url("oauth_url", oauth_url)
        self.api_url = _base_url("api_url", api_url)
        if transport is None:
            # loads httpx, which the operator's path (a transport given) never does
            from zoom_operator.zoom.httpx_transport import HttpxTransport

            self._owns_transport = http is None
            transport = HttpxTransport(http)
            if timeout is None and http is not None:
                timeout = http.timeout
        else:
            self._owns_transport = False
        self._transport: Transport = transport
        self._timeouts = as_timeouts(timeout)
        self._clock = clock
        self._user_agent = user_agent
        self._observer = observer

    def __repr__(self) -> str:
        return f"ZoomClient(oauth_url={self.oauth_url!r}, api_url={self.api_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool if this client made it."""
        if self._owns_transport:
            await self._transport.aclose()

    # -----------------------------------------------------------------------------------------------
    # Token endpoint

    async def mint(self, account_id: str, client_id: str, client_secret: Secret) -> TokenOutcome:
        """`POST {oauth_url}/oauth/token` with `grant_type=account_credentials` in a form body and the
        client credentials as HTTP Basic auth."""
        sent_at = self._clock()
        basic = base64.b64encode(f"{client_id}:{client_secret.reveal()}".encode()).decode("ascii")
        try:
            answer = await self._transport.send(
                "POST",
                self.oauth_url + TOKEN_PATH,
                headers={
                    "Authorization": f"Basic {basic}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": self._user_agent,
                    "Accept": "application/json",
                },
                body=urllib.parse.urlencode(
                    {"grant_type": "account_credentials", "account_id": account_id}
                ).encode(),
                timeouts=self._timeouts,
            )
        except SendFailure as failed:
            failure = _transient(failed, (client_secret,))
            self._record("POST", TOKEN_PATH, TOKEN_ENDPOINT, failure, None)
            return failure
        outcome = map_token_response(
            answer.status, answer.headers, answer.content, now=sent_at, redact=(client_secret,)
        )
        self._record("POST", TOKEN_PATH, TOKEN_ENDPOINT, outcome, answer.status)
        return outcome

    # -----------------------------------------------------------------------------------------------
    # REST API

    async def get(self, token: Secret, path: str, *, api_url: str | None = None) -> ApiOutcome:
        """`GET {api_url}{path}` with the token as a Bearer header (never in the query string).

        `path` starts with `/v2/`; ids inside it must already be quoted (the typed helpers below do
        that). `api_url` overrides the configured base, e.g. with a token's own `api_url`; a plain-http
        override of an https base is refused, since it would send the token in clear text.
        """
        base = self.api_url if api_url is None else api_url.rstrip("/")
        # Without a leading slash, `path` would extend the host name ("api.zoom.us" + "@elsewhere").
        path = path if path.startswith("/") else "/" + path
        endpoint = endpoint_label(path)
        refusal = _refusal(token, base, self.api_url)
        if refusal is not None:
            self._record("GET", path, endpoint, refusal, None)
            return refusal
        sent_at = self._clock()
        try:
            answer = await self._transport.send(
                "GET",
                base + path,
                headers={
                    "Authorization": f"Bearer {token.reveal()}",
                    "User-Agent": self._user_agent,
                    "Accept": "application/json",
                },
                body=None,
                timeouts=self._timeouts,
            )
        except SendFailure as failed:
            failure = _transient(failed, (token,))
            self._record("GET", path, endpoint, failure, None)
            return failure
        outcome = map_api_response(
            answer.status, answer.headers, answer.content, now=sent_at, redact=(token,)
        )
        self._record("GET", path, endpoint, outcome, answer.status)
        return outcome

    async def get_user(
        self, token: Secret, user_id: str, *, api_url: str | None = None
    ) -> ZoomUser | ApiOutcome:
        """`GET /v2/users/{user_id}` (an id, an email, or `me`) as a `ZoomUser`, or the failure."""
        outcome = await self.get(token, f"/v2/users/{path_segment(user_id)}", api_url=api_url)
        if not isinstance(outcome, ApiOk):
            return outcome
        return parse_user(outcome.body) or _malformed(outcome, "user lacks id, email or status")

    async def get_role(
        self, token: Secret, role_id: str, *, api_url: str | None = None
    ) -> ZoomRole | ApiOutcome:
        """`GET /v2/roles/{role_id}` as a `ZoomRole`, or the failure."""
        outcome = await self.get(token, f"/v2/roles/{path_segment(role_id)}", api_url=api_url)
        if not isinstance(outcome, ApiOk):
            return outcome
        return parse_role(outcome.body) or _malformed(outcome, "role lacks id, name or privileges")

    async def get_permissions(
        self, token: Secret, user_id: str, *, api_url: str | None = None
    ) -> frozenset[str] | ApiOutcome:
        """`GET /v2/users/{user_id}/permissions` as a set of `Resource:Read|Edit` strings, or the failure."""
        outcome = await self.get(token, f"/v2/users/{path_segment(user_id)}/permissions", api_url=api_url)
        if not isinstance(outcome, ApiOk):
            return outcome
        permissions = parse_permissions(outcome.body)
        return permissions if permissions is not None else _malformed(outcome, "permissions list missing")

    # -----------------------------------------------------------------------------------------------

    def _record(
        self,
        method: str,
        path: str,
        endpoint: str,
        outcome: TokenOutcome | ApiOutcome,
        http_status: int | None,
    ) -> None:
        zoom_code = outcome_zoom_code(outcome)
        logger.debug(
            "%s %s -> %s %s code=%s tracking_id=%s",
            method,
            path.partition("?")[0],
            http_status if http_status is not None else "no answer",
            type(outcome).__name__,
            zoom_code,
            outcome.tracking_id,
        )
        if self._observer is None:
            return
        try:
            self._observer(endpoint, http_status, zoom_code)
        except Exception:
            # Counting requests must never turn a Zoom answer into an exception.
            logger.warning("request observer failed for %s", endpoint, exc_info=True)


def endpoint_label(path: str) -> str:
    """A bounded metrics label: `/v2/users/jo@x.com/permissions` -> `api:/v2/users/{id}/permissions`."""
    segments = path.partition("?")[0].split("/")
    labelled = [
        "{id}" if index > 0 and segments[index - 1] in _ID_COLLECTIONS and segment else segment
        for index, segment in enumerate(segments)
    ]
    return "api:" + "/".join(labelled)


def _base_url(name: str, value: str) -> str:
    problem = endpoint_url_problem(value)
    if problem is not None:
        shown = "(withheld: it contains '@')" if "@" in value else repr(value[:80])
        raise ValueError(f"{name} {shown} {problem}; use an http(s) base URL such as https://zoom.us")
    return value.rstrip("/")


def _refusal(token: Secret, base: str, configured_base: str) -> Transient | None:
    """Why this token must not be sent to `base` at all, if it must not."""
    if not is_header_safe(token.reveal()):
        return Transient("malformed", "the access token has characters an HTTP header cannot carry")
    if base.startswith("http://") and configured_base.startswith("https://"):
        return Transient("connection", "refused to send the token over plain http (api_url override)")
    return None


def _transient(failed: SendFailure, redact: tuple[Secret, ...]) -> Transient:
    return Transient(failed.kind, sanitize_message(failed.detail, redact))


def _malformed(ok: ApiOk, what: str) -> Transient:
    return Transient(
        "malformed", f"API answer {what}", http_status=ok.http_status, tracking_id=ok.tracking_id
    )
