"""The Zoom REST API under `/v2`: the auth pipeline every request goes through, then the endpoints
the operator and its tests use (reference "Simulator spec / REST auth middleware" and "Endpoints").

Auth pipeline, first failure wins:
1. token in `?access_token=` → 401/124 "…not supported as query parameter string.";
2. missing, unparsable, unknown or revoked token → 401/124 "Invalid access token.";
3. expired (`now >= exp`) → 401/124 "Access token is expired.";
4. app deactivated or disabled → as 2;
5. owner deleted, not active, or whose role lacks the S2S privilege → as 2, even for a brand-new token;
6. none of the endpoint's accepted scopes in the token's effective scopes → 400/4711;
7. the account's rate limit for the endpoint's label → 429 with `X-RateLimit-*` headers.
Unknown `/v2` paths answer 404 after steps 1-5. Users, roles and meetings are visible only within the
token's account. The owner checked in step 5 (and `me`) is the token's `uid`: a token minted before an
ownership transfer keeps acting as the previous owner.
"""

from __future__ import annotations

import base64
import json
import secrets
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from zoom_operator.simulator.ratelimit import MEETING_CREATES_PER_USER_PER_DAY, Label
from zoom_operator.simulator.state import Account, Meeting, User, iso
from zoom_operator.simulator.tokens import IssuedToken
from zoom_operator.simulator.world import World

QUERY_TOKEN = "Invalid access token, this access token is not supported as query parameter string."
INVALID_TOKEN = "Invalid access token."
EXPIRED_TOKEN = "Access token is expired."
QPS_EXCEEDED = "You have reached the maximum per-second rate limit for this API. Try again later."
DAILY_EXCEEDED = (
    "You have reached the maximum daily rate limit for this API. "
    "Refer to the response header for details on when you can make another request."
)
MEETING_CREATES_EXCEEDED = (
    f"You have exceeded the daily rate limit ({MEETING_CREATES_PER_USER_PER_DAY}) of Meeting Create/Update "
    "API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."
)
MEETING_TYPES = (1, 2, 3, 8)

# Why the simulator refused a request, for its log line (Zoom's answer itself never says).
REJECTION = web.RequestKey("rejection", str)


def zoom_error(http_status: int, code: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"code": code, "message": message, **extra}, status=http_status)


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


class RestApi:
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
            decision = self.world.rate_limits.acquire(
                caller.account.id, endpoint.label, caller.account.limit(endpoint.label), self.world.now()
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

    def _user(self, request: web.Request, caller: Caller) -> User | None:
        user_id = request.match_info["userId"]
        if user_id == "me":
            return caller.owner
        return self.world.state.user_in_account(user_id, caller.account.id)

    async def get_user(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        user = self._user(request, caller)
        if user is None:
            return zoom_error(404, 1001, f"User does not exist: {request.match_info['userId']}.")
        return web.json_response(self._user_json(user))

    def _user_json(self, user: User) -> dict[str, object]:
        role = self.world.state.roles.get(user.role_id)
        return {
            "id": user.id,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "display_name": f"{user.first_name} {user.last_name}".strip() or user.email,
            "type": user.type,
            "role_name": role.name if role else "",
            "role_id": user.role_id,
            "status": user.status,
            "account_id": user.account_id,
            "pmi": _personal_meeting_id(user.id),
            "timezone": "UTC",
            "created_at": "2024-01-01T00:00:00Z",
            "last_login_time": iso(self.world.now() - 86400),
        }

    async def get_user_permissions(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        user = self._user(request, caller)
        if user is None:
            return zoom_error(404, 1001, f"User does not exist: {request.match_info['userId']}.")
        role = self.world.state.roles.get(user.role_id)
        return web.json_response({"permissions": list(role.privileges) if role else []})

    async def create_meeting(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        host = self._user(request, caller)
        if host is None:
            return zoom_error(404, 1001, f"User does not exist: {request.match_info['userId']}.")
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return zoom_error(400, 300, "Request Body should be a valid JSON object.")
        errors = _meeting_errors(body)
        if errors:
            return zoom_error(400, 300, "Validation Failed.", errors=errors)
        if host.status != "active":
            message = "Meeting hosting and scheduling capabilities are not allowed for your user account."
            return zoom_error(400, 3161, message)
        now = self.world.now()
        if self.world.meeting_creates.used(host.id, now) >= MEETING_CREATES_PER_USER_PER_DAY:
            return zoom_error(429, 429, MEETING_CREATES_EXCEEDED)
        self.world.meeting_creates.add(host.id, now)

        meeting_id = 10**10 + secrets.randbelow(9 * 10**10)
        meeting = Meeting(
            id=meeting_id,
            uuid=base64.b64encode(secrets.token_bytes(16)).decode("ascii"),
            account_id=caller.account.id,
            host_id=host.id,
            topic=body.get("topic", "Zoom Meeting"),
            type=body.get("type", 2),
            start_time=body.get("start_time", iso(now)),
            duration=body.get("duration", 60),
            timezone=body.get("timezone", "UTC"),
            created_at=iso(now),
            password=body.get("password", secrets.token_hex(3)),
        )
        self.world.state.meetings[meeting_id] = meeting
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "uuid": meeting.uuid,
                "id": meeting.id,
                "host_id": meeting.host_id,
                "host_email": host.email,
                "topic": meeting.topic,
                "type": meeting.type,
                "status": "waiting",
                "start_time": meeting.start_time,
                "duration": meeting.duration,
                "timezone": meeting.timezone,
                "created_at": meeting.created_at,
                "start_url": f"{base}/s/{meeting.id}",
                "join_url": f"{base}/j/{meeting.id}?pwd={meeting.password}",
                "password": meeting.password,
            },
            status=201,
        )

    async def delete_meeting(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        meeting_id = request.match_info["meetingId"]
        meeting = self.world.state.meetings.get(int(meeting_id)) if meeting_id.isdigit() else None
        if meeting is None or meeting.account_id != caller.account.id:
            return zoom_error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        if "occurrence_id" in request.query:  # simulated meetings never recur
            return zoom_error(400, 300, "Invalid parameter: occurrence_id.")
        del self.world.state.meetings[meeting.id]
        return web.Response(status=204)

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
        return web.json_response(
            {
                "id": role.id,
                "name": role.name,
                "description": role.description,
                "type": "common",
                "total_members": members,
                "privileges": list(role.privileges),
            }
        )


def _personal_meeting_id(user_id: str) -> int:
    """A stable 10-digit number per user."""
    return 10**9 + zlib.crc32(user_id.encode()) % (9 * 10**9)


def _meeting_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    """Zoom's `Validation Failed.` entries for the create-meeting fields the simulator understands."""
    checks: dict[str, Callable[[Any], bool]] = {
        "topic": lambda v: isinstance(v, str) and len(v) <= 200,
        "type": lambda v: v in MEETING_TYPES and not isinstance(v, bool),
        "start_time": lambda v: isinstance(v, str),
        "duration": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "timezone": lambda v: isinstance(v, str),
        "password": lambda v: isinstance(v, str) and len(v) <= 10,
    }
    return [
        {"field": name, "message": "Invalid field."}
        for name, valid in checks.items()
        if name in body and not valid(body[name])
    ]
