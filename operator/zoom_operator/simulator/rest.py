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

import base64
import json
import secrets
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from zoom_operator.simulator.paging import INVALID_TOKEN_MESSAGE, Page, PagingError
from zoom_operator.simulator.ratelimit import MEETING_CREATES_PER_USER_PER_DAY, Label
from zoom_operator.simulator.state import Account, Meeting, User, iso
from zoom_operator.simulator.tokens import IssuedToken
from zoom_operator.simulator.wire import json_response
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
USER_STATUSES = ("active", "inactive", "pending")
# `GET /users/{userId}/meetings?type=`: which ones list the simulator's meetings (none is ever started
# or over, so `live` and `previous_meetings` list nothing) [INFERENCE from Zoom's parameter docs].
MEETING_LIST_TYPES = {
    "scheduled": True,
    "upcoming": True,
    "upcoming_meetings": True,
    "live": False,
    "previous_meetings": False,
}
# Zoom's defaults for a new meeting's `settings`, as its API reference example shows them [DOC-derived].
DEFAULT_MEETING_SETTINGS: dict[str, Any] = {
    "host_video": False,
    "participant_video": False,
    "cn_meeting": False,
    "in_meeting": False,
    "join_before_host": False,
    "jbh_time": 0,
    "mute_upon_entry": False,
    "watermark": False,
    "use_pmi": False,
    "approval_type": 2,
    "audio": "voip",
    "auto_recording": "none",
    "enforce_login": False,
    "enforce_login_domains": "",
    "alternative_hosts": "",
    "waiting_room": False,
    "meeting_authentication": False,
    "registrants_email_notification": True,
    "private_meeting": False,
    "email_notification": True,
    "host_save_video_order": False,
}

T = TypeVar("T")

# Why the simulator refused a request, for its log line (Zoom's answer itself never says).
REJECTION = web.RequestKey("rejection", str)


def zoom_error(http_status: int, code: int, message: str, **extra: Any) -> web.Response:
    return json_response({"code": code, "message": message, **extra}, status=http_status)


def validation_failed(*fields: str) -> web.Response:
    errors = [{"field": name, "message": "Invalid field."} for name in fields]
    return zoom_error(400, 300, "Validation Failed.", errors=errors)


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

    def _user(self, request: web.Request, caller: Caller) -> User | None:
        user_id = request.match_info["userId"]
        if user_id == "me":
            return caller.owner
        return self.world.state.user_in_account(user_id, caller.account.id)

    def _meeting(self, request: web.Request, caller: Caller) -> Meeting | None:
        meeting_id = request.match_info["meetingId"]
        numeric = meeting_id.isascii() and meeting_id.isdigit() and len(meeting_id) <= 20
        meeting = self.world.state.meetings.get(int(meeting_id)) if numeric else None
        return meeting if meeting is not None and meeting.account_id == caller.account.id else None

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
        if user is None:
            return zoom_error(404, 1001, f"User does not exist: {request.match_info['userId']}.")
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
        pmi = _personal_meeting_id(user.id)
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
        if user is None:
            return zoom_error(404, 1001, f"User does not exist: {request.match_info['userId']}.")
        role = self.world.state.roles.get(user.role_id)
        return json_response({"permissions": list(role.privileges) if role else []})

    async def _meeting_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return zoom_error(400, 300, "Request Body should be a valid JSON object.")
        errors = _meeting_errors(body)
        if errors:
            return zoom_error(400, 300, "Validation Failed.", errors=errors)
        return body

    def _count_create_or_update(self, host_id: str) -> web.Response | None:
        """Zoom's per-user daily cap on meeting creates and updates together [ZOOM-STAFF]."""
        now = self.world.now()
        if self.world.meeting_creates.used(host_id, now) >= MEETING_CREATES_PER_USER_PER_DAY:
            return zoom_error(429, 429, MEETING_CREATES_EXCEEDED)
        self.world.meeting_creates.add(host_id, now)
        return None

    async def create_meeting(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        host = self._user(request, caller)
        if host is None:
            return zoom_error(404, 1001, f"User does not exist: {request.match_info['userId']}.")
        body = await self._meeting_body(request)
        if isinstance(body, web.Response):
            return body
        if host.status != "active":
            message = "Meeting hosting and scheduling capabilities are not allowed for your user account."
            return zoom_error(400, 3161, message)
        capped = self._count_create_or_update(host.id)
        if capped is not None:
            return capped

        now = self.world.now()
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
            timezone=body.get("timezone", host.timezone),
            created_at=iso(now),
            password=body.get("password", secrets.token_hex(3)),
            agenda=body.get("agenda", ""),
            settings={**DEFAULT_MEETING_SETTINGS, **body.get("settings", {})},
            pre_schedule=body.get("pre_schedule", False),
            pstn_password=str(100000 + secrets.randbelow(900000)),
        )
        self.world.state.meetings[meeting_id] = meeting
        return json_response(self._meeting_json(request, meeting), status=201)

    def _meeting_json(self, request: web.Request, meeting: Meeting) -> dict[str, object]:
        """A meeting as `POST /users/{userId}/meetings` and `GET /meetings/{meetingId}` show it."""
        host = self.world.state.users.get(meeting.host_id)
        base = f"{request.scheme}://{request.host}"
        return {
            "uuid": meeting.uuid,
            "id": meeting.id,
            "host_id": meeting.host_id,
            "host_email": host.email if host else "",
            "assistant_id": "",
            "topic": meeting.topic,
            "type": meeting.type,
            "status": "waiting",
            "start_time": meeting.start_time,
            "duration": meeting.duration,
            "timezone": meeting.timezone,
            "agenda": meeting.agenda,
            "created_at": meeting.created_at,
            "start_url": f"{base}/s/{meeting.id}?zak=sim",
            "join_url": f"{base}/j/{meeting.id}?pwd={meeting.password}",
            "password": meeting.password,
            "h323_password": meeting.pstn_password,
            "pstn_password": meeting.pstn_password,
            "encrypted_password": base64.urlsafe_b64encode(meeting.password.encode()).decode("ascii"),
            "pre_schedule": meeting.pre_schedule,
            "settings": dict(meeting.settings),
        }

    async def get_meeting(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        meeting = self._meeting(request, caller)
        if meeting is None:
            return zoom_error(404, 3001, f"Meeting does not exist: {request.match_info['meetingId']}.")
        return json_response(self._meeting_json(request, meeting))

    async def update_meeting(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        """`PATCH /meetings/{meetingId}`: the given fields change, `settings` merge key by key; 204."""
        meeting = self._meeting(request, caller)
        if meeting is None:
            return zoom_error(404, 3001, f"Meeting does not exist: {request.match_info['meetingId']}.")
        if "occurrence_id" in request.query:  # simulated meetings never recur
            return zoom_error(400, 300, "Invalid parameter: occurrence_id.")
        body = await self._meeting_body(request)
        if isinstance(body, web.Response):
            return body
        capped = self._count_create_or_update(meeting.host_id)
        if capped is not None:
            return capped
        for name in (
            "topic",
            "type",
            "start_time",
            "duration",
            "timezone",
            "password",
            "agenda",
            "pre_schedule",
        ):
            if name in body:
                setattr(meeting, name, body[name])
        if "settings" in body:
            meeting.settings = {**meeting.settings, **body["settings"]}
        return web.Response(status=204)

    async def list_meetings(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        """`GET /users/{userId}/meetings`: the host's meetings, oldest first, in Zoom's list shape."""
        host = self._user(request, caller)
        if host is None:
            return zoom_error(404, 1001, f"User does not exist: {request.match_info['userId']}.")
        kind = request.query.get("type") or "scheduled"
        if kind not in MEETING_LIST_TYPES:
            return validation_failed("type")
        meetings = [
            m
            for m in self.world.state.meetings.values()
            if m.host_id == host.id and m.account_id == caller.account.id and MEETING_LIST_TYPES[kind]
        ]
        page = self._page(request, meetings, f"meetings/{caller.account.id}/{host.id}/{kind}")
        if isinstance(page, web.Response):
            return page
        base = f"{request.scheme}://{request.host}"
        entries = [
            {
                "uuid": m.uuid,
                "id": m.id,
                "host_id": m.host_id,
                "topic": m.topic,
                "type": m.type,
                "start_time": m.start_time,
                "duration": m.duration,
                "timezone": m.timezone,
                "agenda": m.agenda,
                "created_at": m.created_at,
                "join_url": f"{base}/j/{m.id}?pwd={m.password}",
            }
            for m in page.items
        ]
        return json_response({**page.envelope(), "meetings": entries})

    async def delete_meeting(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        meeting = self._meeting(request, caller)
        if meeting is None:
            return zoom_error(404, 3001, f"Meeting does not exist: {request.match_info['meetingId']}.")
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
        "agenda": lambda v: isinstance(v, str) and len(v) <= 2000,
        "settings": lambda v: isinstance(v, dict),
        "pre_schedule": lambda v: isinstance(v, bool),
    }
    return [
        {"field": name, "message": "Invalid field."}
        for name, valid in checks.items()
        if name in body and not valid(body[name])
    ]
