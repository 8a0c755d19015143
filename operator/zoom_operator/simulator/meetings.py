"""The Zoom meetings endpoints of the simulator's REST API: create, get, update, list and delete, with
Zoom's validation answers and its per-user daily cap on creates and updates (reference "Endpoints").

A mixin of `RestApi` (`simulator/rest.py`), which routes the requests here after its auth pipeline
(token, owner, scopes, rate limit) has passed; meetings are visible only within the token's account.
"""

from __future__ import annotations

import base64
import json
import secrets
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from zoom_operator.simulator.paging import Page
from zoom_operator.simulator.ratelimit import MEETING_CREATES_PER_USER_PER_DAY
from zoom_operator.simulator.state import Meeting, User, iso
from zoom_operator.simulator.wire import json_response, validation_failed, zoom_error
from zoom_operator.simulator.world import World

if TYPE_CHECKING:
    from zoom_operator.simulator.rest import Caller

T = TypeVar("T")

MEETING_CREATES_EXCEEDED = (
    f"You have exceeded the daily rate limit ({MEETING_CREATES_PER_USER_PER_DAY}) of Meeting Create/Update "
    "API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."
)
MEETING_TYPES = (1, 2, 3, 8)
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


class MeetingEndpoints:
    """The meetings half of `RestApi`; `world`, `_user` and `_page` are `RestApi`'s."""

    world: World

    def _user(self, request: web.Request, caller: Caller) -> User | web.Response:
        raise NotImplementedError

    def _page(self, request: web.Request, items: list[T], query_key: str) -> Page[T] | web.Response:
        raise NotImplementedError

    def _meeting(
        self, request: web.Request, caller: Caller, *, refuse_occurrence: bool = False
    ) -> Meeting | web.Response:
        """The meeting the path names in the caller's account, or Zoom's 404. With `refuse_occurrence`
        (an update or a delete), an `occurrence_id` is refused: simulated meetings never recur."""
        meeting_id = request.match_info["meetingId"]
        numeric = meeting_id.isascii() and meeting_id.isdigit() and len(meeting_id) <= 20
        meeting = self.world.state.meetings.get(int(meeting_id)) if numeric else None
        if meeting is None or meeting.account_id != caller.account.id:
            return zoom_error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        if refuse_occurrence and "occurrence_id" in request.query:
            return zoom_error(400, 300, "Invalid parameter: occurrence_id.")
        return meeting

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
        if isinstance(host, web.Response):
            return host
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
        if isinstance(meeting, web.Response):
            return meeting
        return json_response(self._meeting_json(request, meeting))

    async def update_meeting(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        """`PATCH /meetings/{meetingId}`: the given fields change, `settings` merge key by key; 204."""
        meeting = self._meeting(request, caller, refuse_occurrence=True)
        if isinstance(meeting, web.Response):
            return meeting
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
        if isinstance(host, web.Response):
            return host
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
        meeting = self._meeting(request, caller, refuse_occurrence=True)
        if isinstance(meeting, web.Response):
            return meeting
        del self.world.state.meetings[meeting.id]
        return web.Response(status=204)


def personal_meeting_id(user_id: str) -> int:
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
