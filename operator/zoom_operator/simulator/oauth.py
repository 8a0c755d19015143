"""`POST /oauth/token` with `grant_type=account_credentials`: reference "Simulator spec / POST
/oauth/token", rules 1-10 evaluated in order, first failure wins.

`grant_type` and `account_id` may come in an `application/x-www-form-urlencoded` body or in the query
string: Zoom's S2S OAuth documentation shows them as query parameters of `POST /oauth/token` and
Zoom's own SDK (Rivet) sends a form body [DOC / CODE]; a body parameter wins over the same one in the
query. `strict_body` (off by default; `--strict-body` or `PATCH /_sim/config`) models one forum
report of `400 Bad Request` for query-string parameters that went away once they moved into a form
body [REPORTED, a single thread]: with it on, the query string is ignored and a request whose
parameters are only there is refused. A JSON body cannot carry the grant, so it is answered
`unsupported_grant_type`, as Zoom does [REPORTED].
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import parse_qsl

from aiohttp import web

from zoom_operator.simulator.rest import REJECTION
from zoom_operator.simulator.state import App, ClientSecret
from zoom_operator.simulator.wire import json_response
from zoom_operator.simulator.world import World

GRANT_TYPE = "account_credentials"


def oauth_error(http_status: int, error: str, reason: str) -> web.Response:
    return json_response({"reason": reason, "error": error}, status=http_status)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Authorization: Basic …`, or None when absent or garbled."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, client_secret = decoded.partition(":")
    return (client_id, client_secret) if colon and client_id and client_secret else None


def _matching_secret(app: App, presented: str, now: float) -> ClientSecret | None:
    for secret in app.secrets:
        if secret.usable(now) and hmac.compare_digest(secret.value.encode(), presented.encode()):
            return secret
    return None


class TokenEndpoint:
    def __init__(self, world: World) -> None:
        self.world = world

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/oauth/token", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        world, config, now = self.world, self.world.config, self.world.now()

        def refuse(http_status: int, error: str, reason: str, why: str | None = None) -> web.Response:
            request[REJECTION] = why or reason
            return oauth_error(http_status, error, reason)

        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is not None:
            world.stats.token_requests[credentials[0]] += 1

        json_body = request.content_type == "application/json"
        raw_body = (await request.read()).decode("utf-8", "replace")
        form = {} if json_body else dict(parse_qsl(raw_body, keep_blank_values=True))
        query = request.query

        def param(name: str) -> str | None:
            if name in form:
                return form[name]
            return None if config.strict_body else query.get(name)

        # 1. credentials and grant present
        grant_anywhere = form.get("grant_type") or query.get("grant_type")
        if credentials is None or (grant_anywhere is None and not json_body):
            return refuse(400, "invalid_request", "Client ID or client secret is missing.")
        # 2. parameters only in the query string, when that is refused
        if (
            config.strict_body
            and "grant_type" not in form
            and ("grant_type" in query or "account_id" in query)
        ):
            return refuse(400, "invalid_request", "Bad Request")
        # 3. the S2S grant
        if param("grant_type") != GRANT_TYPE:
            return refuse(400, "unsupported_grant_type", "unsupported grant type")
        # 4. a known client with a secret that is not revoked
        client_id, presented_secret = credentials
        app = world.state.apps.get(client_id)
        secret = _matching_secret(app, presented_secret, now) if app is not None else None
        if app is None or secret is None:
            why = "unknown client_id" if app is None else "secret matches no usable client secret"
            return refuse(400, "invalid_client", "Invalid client_id or client_secret", why)
        # 5. the app's account
        if param("account_id") != app.account_id:
            return refuse(400, "invalid_request", "Invalid account_id")
        # 6. disabled by Zoom
        if app.status == "disabled":
            return refuse(400, "invalid_client", "The app has been disabled")
        # 7. deactivated (its tokens were revoked when that happened)
        if app.status == "deactivated":
            return refuse(400, "invalid_client", "Invalid client_id or client_secret", "app deactivated")
        # 8. owner deleted, when that fails the mint rather than the API calls
        owner = world.state.users.get(app.owner_user_id)
        if owner is None and app.owner_failure_mode == "token_4735":
            return refuse(400, "invalid_request", "The owner of the token does not exist.")
        # 9. optional token rate limit
        if config.token_rps is not None and not world.token_requests.try_take(
            client_id, config.token_rps, now
        ):
            return refuse(429, "rate_limited", "Too many requests")
        # 10. success: scopes as far as the owner's role allows, the app's token cap applied
        scopes = world.effective_scopes(app.scopes, owner)
        token = world.tokens.mint(
            app,
            owner_uid=app.owner_user_id,
            scopes=scopes,
            now=int(now),
            ttl_seconds=world.token_ttl(app),
            secret_used=secret.value,
            slot=self._slot(app, param("index")),
        )
        world.stats.tokens_issued[client_id] += 1
        return json_response(
            {
                "access_token": token.jwt,
                "token_type": "bearer",
                "expires_in": token.expires_at - token.issued_at,
                "scope": " ".join(scopes),
                "api_url": f"{request.scheme}://{request.host}",
            }
        )

    @staticmethod
    def _slot(app: App, index: str | None) -> int | None:
        """The legacy `index` parameter picks a slot in `tolerance:N` mode; elsewhere Zoom ignores it."""
        keep = app.token_mode.keep
        if not app.token_mode.is_tolerance or keep is None or index is None or not index.isdigit():
            return None
        return int(index) if int(index) < keep else None
