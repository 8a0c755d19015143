"""The Zoom REST API under `/v2`: the auth pipeline every request goes through, then the endpoints
the operator and its tests use (reference "Simulator spec / REST auth middleware" and "Endpoints"):
users, permissions and roles here, meetings in `simulator/meetings.py`.

Auth pipeline, first failure wins:
1. token in `?access_token=` → 401/124 "…not supported as query parameter string.";
2. missing, unparsable, unknown or revoked token → 401/124 "Invalid access token.";
3. expired (`now >= exp`) → 401/124 "Access token is expired.";
4. app deactivated or disabled → as 2;
5. owner deleted, not active, or whose role lacks the S2S privilege → as 2, even for a brand-new token;
6. none of the endpoint's accepted scopes in the token's effective scopes → 400/4711;
7. the account's rate limit for the endpoint's label → 429 with `X-RateLimit-*` headers.
Unknown `/v2` paths (and unknown methods on known paths) answer `404 {"code":404,"message":"Not Found"}`
after steps 1-5 [INVENTED: no public source shows Zoom's body for an unknown route; the status and the
text follow Zoom's documented status table, "404 Not Found", and its `{code, message}` error shape].
Users, roles and meetings are visible only within the token's account.

Scopes: each endpoint accepts Zoom's classic scope (the `:admin` form and, where one exists, the
user-level form; a classic `:write` scope also grants reading, as Zoom's classic scope table says
"view and manage") and the granular scopes (`<service>:<action>:<data>` and its `:admin` form).
User-level scopes are accepted for any user of the account: the simulator does not limit them to
the token owner's own resources. Rate-limit labels are in the endpoint table of the README; each can
be changed at run time (`PATCH /_sim/config {"rate_labels": {"GET /v2/users": "Heavy"}}`), since
those of the newer endpoints are not confirmed by a source here.

The owner checked in step 5 (and `me`) is the token's `uid`: a token minted before an
ownership transfer keeps acting as the previous owner.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from zoom_operator.simulator.meetings import MeetingEndpoints, personal_meeting_id
from zoom_operator.simulator.paging import INVALID_TOKEN_MESSAGE, Page, PagingError
from zoom_operator.simulator.ratelimit import Label
from zoom_operator.simulator.state import Account, User, iso
from zoom_operator.simulator.tokens import IssuedToken
from zoom_operator.simulator.wire import json_response, validation_failed, zoom_error
from zoom_operator.simulator.world import World

QUERY_TOKEN = "Invalid access token, this access token is not supported as query parameter string."
INVALID_TOKEN = "Invalid access token."
EXPIRED_TOKEN = "Access token is expired."
QPS_EXCEEDED = "You have reached the maximum per-second rate limit for this API. Try again later."
DAILY_EXCEEDED = (
    "You have reached the maximum daily rate limit for this API. "
    "Refer to the response header for details on when you can make another request."
)
USER_STATUSES = ("active", "inactive", "pending")

T = TypeVar("T")

# Why the simulator refused a request, for its log line (Zoom's answer itself never says).
REJECTION = web.RequestKey("rejection", str)


@dataclass(frozen=True)
class Caller:
    """Who a request that passed auth acts as: the token, its owner and the owner's account."""

    token: IssuedToken
    owner: User
    account: Account
    scopes: tuple[str, ...]


Handler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    label: Label
    scopes: tuple[str, ...]
    handler: Handler

    @property
    def key(self) -> str:
        """How `Config.rate_labels` names it, e.g. `GET /v2/users/{userId}`."""
        return f"{self.method} {self.path}"


class RestApi(MeetingEndpoints):
    def __init__(self, world: World) -> None:
        self.world = world

    def add_routes(self, app: web.Application) -> None:
        endpoints = [
            Endpoint(
                "GET",
                "/v2/users/{userId}",
                Label.LIGHT,
                ("user:read:admin", "user:read:user:admin", "user:read:user"),
                self.get_user,
            ),
            Endpoint(
                "GET",
                "/v2/users",
                Label.MEDIUM,
                ("user:read:admin", "user:write:admin", "user:read:list_users:admin"),
                self.list_users,
            ),
            Endpoint(
                "GET",
                "/v2/users/{userId}/permissions",
                Label.LIGHT,
                ("user:read:admin", "user:read:list_permissions:admin"),
                self.get_user_permissions,
            ),
            Endpoint(
                "POST",
                "/v2/users/{userId}/meetings",
                Label.MEDIUM,
                ("meeting:write:admin", "meeting:write:meeting:admin", "meeting:write:meeting"),
                self.create_meeting,
            ),
            Endpoint(
                "GET",
                "/v2/users/{userId}/meetings",
                Label.MEDIUM,
                (
                    "meeting:read:admin",
                    "meeting:write:admin",
                    "meeting:read:list_meetings:admin",
                    "meeting:read:list_meetings",
                    "meeting:read",
                    "meeting:write",
                ),
                self.list_meetings,
            ),
            Endpoint(
                "GET",
                "/v2/meetings/{meetingId}",
                Label.LIGHT,
                (
                    "meeting:read:admin",
                    "meeting:write:admin",
                    "meeting:read:meeting:admin",
                    "meeting:read:meeting",
                    "meeting:read",
                    "meeting:write",
                ),
                self.get_meeting,
            ),
            Endpoint(
                "PATCH",
                "/v2/meetings/{meetingId}",
                Label.LIGHT,
                (
                    "meeting:write:admin",
                    "meeting:update:meeting:admin",
                    "meeting:update:meeting",
                    "meeting:write",
                ),
                self.update_meeting,
            ),
            Endpoint(
                "DELETE",
                "/v2/meetings/{meetingId}",
                Label.LIGHT,
                ("meeting:write:admin", "meeting:delete:meeting:admin", "meeting:delete:meeting"),
                self.delete_meeting,
            ),
            Endpoint(
                "GET",
                "/v2/roles/{roleId}",
                Label.LIGHT,
                ("role:read:admin", "role:read:role:admin"),
                self.get_role,
            ),
        ]
        for endpoint in endpoints:
            app.router.add_route(endpoint.method, endpoint.path, self._guarded(endpoint))
        app.router.add_route("*", "/v2/{tail:.*}", self._guarded(None))

    def _guarded(self, endpoint: Endpoint | None) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            caller = self.authenticate(request)
            if isinstance(caller, web.Response):
                return caller
            if endpoint is None:
                return zoom_error(404, 404, "Not Found")
            if not set(endpoint.scopes) & set(caller.scopes):
                request[REJECTION] = f"token scopes: {' '.join(caller.scopes) or '(none)'}"
                accepted = ", ".join(endpoint.scopes)
                return zoom_error(400, 4711, f"Invalid access token, does not contain scopes:[{accepted}].")
            label = self.world.config.rate_labels.get(endpoint.key, endpoint.label)
            decision = self.world.rate_limits.acquire(
                caller.account.id, label, caller.account.limit(label), self.world.now()
            )
            if decision.allowed:
                response = await endpoint.handler(request, caller)
            else:
                response = zoom_error(429, 429, QPS_EXCEEDED if decision.type == "QPS" else DAILY_EXCEEDED)
            response.headers.update(decision.headers())
            return response

        return handle

    def authenticate(self, request: web.Request) -> Caller | web.Response:
        def reject(message: str, why: str) -> web.Response:
            request[REJECTION] = why
            return zoom_error(401, 124, message)

        if "access_token" in request.query:
            return reject(QUERY_TOKEN, "token in query string")
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        token = self.world.tokens.find(credential.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            return reject(INVALID_TOKEN, "missing or unknown token")
        if token.revoked:
            return reject(INVALID_TOKEN, "token revoked")
        if self.world.now() >= token.expires_at:
            return reject(EXPIRED_TOKEN, "token expired")
        app = self.world.state.apps.get(token.client_id)
        if app is None or app.status != "active":
            return reject(INVALID_TOKEN, f"app {app.status if app else 'deleted'}")
        owner_problem = self.world.owner_problem(token.owner_uid)
        if owner_problem is not None:
            return reject(INVALID_TOKEN, owner_problem)
        owner = self.world.state.users[token.owner_uid]
        account = self.world.state.accounts[token.account_id]
        return Caller(token, owner, account, self.world.effective_scopes(token.scopes, owner))

    def _user(self, request: web.Request, caller: Caller) -> User | web.Response:
        """The user the path names (`me`: the token's owner) in the caller's account, or Zoom's 404."""
        user_id = request.match_info["userId"]
        if user_id == "me":
            return caller.owner
        user = self.world.state.user_in_account(user_id, caller.account.id)
        return user if user is not None else zoom_error(404, 1001, f"User does not exist: {user_id}.")

    def _page(self, request: web.Request, items: list[T], query_key: str) -> Page[T] | web.Response:
        """One page of `items` as asked by `page_size` / `next_page_token` / `page_number`."""
        world, config = self.world, self.world.config
        try:
            wanted = world.page_tokens.request(request.query, query_key, world.now(), config.max_page_size)
        except PagingError as exc:
            if exc.field is None:
                return zoom_error(400, 300, INVALID_TOKEN_MESSAGE)
            return validation_failed(exc.field)
        return world.page_tokens.page(items, wanted, query_key, world.now(), config.page_token_ttl_seconds)

    async def get_user(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        user = self._user(request, caller)
        if isinstance(user, web.Response):
            return user
        return json_response(self._user_json(user, full=True))

    async def list_users(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        """`GET /users`: the account's users with one `status` (default `active`), optionally one
        `role_id`, in a stable order."""
        status = request.query.get("status") or "active"
        if status not in USER_STATUSES:
            return validation_failed("status")
        role_id = request.query.get("role_id") or None
        users = [
            u
            for u in self.world.state.users.values()
            if u.account_id == caller.account.id
            and u.status == status
            and (role_id is None or u.role_id == role_id)
        ]
        page = self._page(request, users, f"users/{caller.account.id}/{status}/{role_id or ''}")
        if isinstance(page, web.Response):
            return page
        return json_response(
            {**page.envelope(), "users": [self._user_json(u, full=False) for u in page.items]}
        )

    def _user_json(self, user: User, *, full: bool) -> dict[str, object]:
        """A user as `GET /users/{userId}` (`full`) or an entry of `GET /users` shows it."""
        pmi = personal_meeting_id(user.id)
        entry: dict[str, object] = {
            "id": user.id,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "display_name": f"{user.first_name} {user.last_name}".strip() or user.email,
            "email": user.email,
            "type": user.type,
            "pmi": pmi,
            "timezone": user.timezone,
            "verified": 1,
            "dept": user.dept,
            "created_at": "2024-01-01T00:00:00Z",
            "user_created_at": "2024-01-01T00:00:00Z",
            "last_login_time": iso(self.world.now() - 86400),
            "last_client_version": "6.2.0.46690(mac)",
            "language": "en-US",
            "phone_number": "",
            "status": user.status,
            "role_id": user.role_id,
        }
        if not full:
            return entry
        role = self.world.state.roles.get(user.role_id)
        return {
            **entry,
            "role_name": role.name if role else "",
            "use_pmi": False,
            "personal_meeting_url": f"https://zoom.us/j/{pmi}",
            "account_id": user.account_id,
            "account_number": 10**8 + zlib.crc32(user.account_id.encode()) % (9 * 10**8),
            "cluster": self.world.config.tracking_cluster,
            "job_title": "",
            "company": "",
            "location": "",
            "login_types": [100],
            "group_ids": [],
            "im_group_ids": [],
        }

    async def get_user_permissions(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        user = self._user(request, caller)
        if isinstance(user, web.Response):
            return user
        role = self.world.state.roles.get(user.role_id)
        return json_response({"permissions": list(role.privileges) if role else []})

    async def get_role(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        if caller.account.plan == "free":
            return zoom_error(400, 200, "Only available for Paid account.")
        role_id = request.match_info["roleId"]
        role = self.world.state.roles.get(role_id)
        if role is None or not role.visible_in(caller.account.id):
            return zoom_error(404, 1001, f"Role does not exist: {role_id}.")
        members = sum(
            1
            for u in self.world.state.users.values()
            if u.role_id == role.id and u.account_id == caller.account.id
        )
        return json_response(
            {
                "id": role.id,
                "name": role.name,
                "description": role.description,
                "type": "common",
                "total_members": members,
                "privileges": list(role.privileges),
            }
        )
