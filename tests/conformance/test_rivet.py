"""Zoom's own Node SDK, @zoom/rivet 0.4.0 (pinned by tests/conformance/node/package-lock.json), against
the simulator: a whole meetings integration as users write it. The clients are unpatched: the API base
URL goes through Rivet's `baseUrl` option, and the one hard-coded OAuth URL (`https://zoom.us/oauth/token`)
is rewritten by an axios interceptor; tests/conformance/node/driver.mjs explains both.

Each test states what real Zoom answers, citing ../shared/zoom-s2s-reference.md ("ref §N").
Rivet reports a failed API call as `ApiResponseError('[<http status>/<zoom code>]: "<message>"')`.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.simulator import SimulatorProcess

from .conftest import NodeDriver

TRACKING_ID = re.compile(r"v=2\.0;clid=[A-Za-z0-9_-]+;rid=\S+")
INVALID_TOKEN = '[401/124]: "Invalid access token."'


def call(client: str, endpoint: str, name: str | None = None, **args: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"op": "call", "client": client, "endpoint": endpoint, "args": args}
    if name is not None:
        step["name"] = name
    return step


def test_token_then_users_me_by_email_and_the_paged_list(
    simulator: SimulatorProcess, rivet: NodeDriver
) -> None:
    # Real Zoom (ref §1): 200 {"access_token", "token_type":"bearer", "expires_in":3599, "scope":"a b"}; Rivet
    # checks those three types. Ref §5 / "Endpoints": GET /users/me is the token's owner, a user is found by
    # id or email, an unknown one is 404 {"code":1001,"message":"User does not exist: <id>."}; GET /users
    # lists `status=active` users by default with `page_size` and `next_page_token` pagination (Zoom's
    # pagination docs), and every answer carries x-zm-trackingid (ref §2).
    out = rivet.run(
        simulator,
        [
            {"op": "token", "client": "users", "name": "token"},
            call("users", "users.getUser", "me", path={"userId": "me"}),
            call("users", "users.getUser", "byEmail", path={"userId": "second-admin@example.com"}),
            call("users", "users.listUsers", "page1", query={"status": "active", "page_size": 2}),
            call(
                "users",
                "users.listUsers",
                "page2",
                query={"page_size": 2, "next_page_token": "${page1.data.next_page_token}"},
            ),
            call("users", "users.getUser", "nobody", path={"userId": "nobody@example.com"}),
        ],
    )

    assert out["token"]["ok"]
    assert out["token"]["data"].count(".") == 2
    me = out["me"]
    assert me["ok"], me
    assert (me["data"]["id"], me["data"]["email"], me["data"]["status"]) == (
        "u-owner",
        "dev-lead@example.com",
        "active",
    )
    assert {"type", "role_id", "dept", "timezone", "pmi", "created_at"} <= me["data"].keys()
    assert TRACKING_ID.fullmatch(me["trackingId"])
    assert out["byEmail"]["data"]["id"] == "u-admin2"
    page1, page2 = out["page1"]["data"], out["page2"]["data"]
    assert ([u["id"] for u in page1["users"]], page1["total_records"]) == (["u-owner", "u-admin2"], 3)
    assert page1["next_page_token"]
    assert ([u["id"] for u in page2["users"]], page2["next_page_token"]) == (["u-auditor"], "")
    assert out["nobody"]["ok"] is False
    assert out["nobody"]["message"] == '[404/1001]: "User does not exist: nobody@example.com."'


def test_meeting_create_get_update_list_delete_then_delete_again(
    simulator: SimulatorProcess, rivet: NodeDriver
) -> None:
    # Real Zoom (ref "Endpoints"; Zoom's Meetings API): create answers 201 with the meeting (id, join_url,
    # start_url, password, settings, ...); GET /meetings/{id} answers it; PATCH answers 204 with no body; the
    # host's list has it; DELETE answers 204; a second DELETE, like a GET, answers
    # 404 {"code":3001,"message":"Meeting does not exist: <id>."} (ref §3).
    out = rivet.run(
        simulator,
        [
            call(
                "meetings",
                "meetings.createMeeting",
                "create",
                path={"userId": "me"},
                body={
                    "topic": "Standup",
                    "type": 2,
                    "duration": 30,
                    "agenda": "Daily",
                    "settings": {"waiting_room": True},
                },
            ),
            call("meetings", "meetings.getMeeting", "get", path={"meetingId": "${create.data.id}"}),
            call(
                "meetings",
                "meetings.updateMeeting",
                "update",
                path={"meetingId": "${create.data.id}"},
                body={"topic": "Retro", "duration": 45},
            ),
            call("meetings", "meetings.getMeeting", "after", path={"meetingId": "${create.data.id}"}),
            call("meetings", "meetings.listMeetings", "list", path={"userId": "me"}, query={"page_size": 30}),
            call("meetings", "meetings.deleteMeeting", "delete", path={"meetingId": "${create.data.id}"}),
            call("meetings", "meetings.deleteMeeting", "again", path={"meetingId": "${create.data.id}"}),
            call("meetings", "meetings.getMeeting", "gone", path={"meetingId": "${create.data.id}"}),
        ],
    )

    create = out["create"]
    assert (create["ok"], create["statusCode"]) == (True, 201), create
    meeting = create["data"]
    assert {"id", "uuid", "join_url", "start_url", "password", "created_at", "settings"} <= meeting.keys()
    assert out["get"]["data"] == meeting
    assert out["get"]["data"]["settings"]["waiting_room"] is True
    assert (out["update"]["ok"], out["update"]["statusCode"]) == (True, 204)
    after = out["after"]["data"]
    assert (after["topic"], after["duration"], after["agenda"]) == ("Retro", 45, "Daily")
    listed = out["list"]["data"]
    assert [m["id"] for m in listed["meetings"]] == [meeting["id"]]
    assert (listed["total_records"], listed["next_page_token"]) == (1, "")
    assert (out["delete"]["ok"], out["delete"]["statusCode"]) == (True, 204)
    gone = f'[404/3001]: "Meeting does not exist: {meeting["id"]}."'
    assert (out["again"]["ok"], out["again"]["message"]) == (False, gone)
    assert (out["gone"]["ok"], out["gone"]["message"]) == (False, gone)


def test_rate_limit_is_429_with_zoom_rate_limit_headers(
    simulator: SimulatorProcess, rivet: NodeDriver
) -> None:
    # Real Zoom (ref §7): an account over an endpoint label's per-second limit gets 429 {"code":429,
    # "message":"You have reached the maximum per-second rate limit for this API. Try again later."} with
    # X-RateLimit-Category / -Type: QPS / -Limit / -Remaining: 0. GET /users/{userId} is Light.
    simulator.admin("PATCH", "/_sim/accounts/acc-demo", {"rate_limits": {"Light": {"per_second": 1}}})

    out = rivet.run(simulator, [call("users", "users.getUser", path={"userId": "me"}) for _ in range(4)])

    limited = [r for r in out.values() if not r["ok"]]
    assert limited, out
    assert limited[0]["message"] == (
        '[429/429]: "You have reached the maximum per-second rate limit for this API. Try again later."'
    )
    headers = limited[0]["wire"]["headers"]
    assert (
        headers["x-ratelimit-category"],
        headers["x-ratelimit-type"],
        headers["x-ratelimit-remaining"],
    ) == (
        "Light",
        "QPS",
        "0",
    )
    assert headers["x-ratelimit-limit"] == "1"


def test_owner_role_losing_the_s2s_permission_fails_every_call_while_minting_works(
    simulator: SimulatorProcess, rivet: NodeDriver
) -> None:
    # Real Zoom (ref §5 and the scenario matrix "Owner role lost S2S privilege"; REPORTED in the motivating
    # forum thread): the token endpoint still answers 200, yet every API call, with the cached token or a
    # brand-new one, answers 401 {"code":124,"message":"Invalid access token."}.
    state = simulator.admin("GET", "/_sim/state")
    admin_role = next(r for r in state["roles"] if r["id"] == "role-admin")
    without_s2s = [p for p in admin_role["privileges"] if p != state["config"]["s2s_privilege"]]

    out = rivet.run(
        simulator,
        [
            call("users", "users.getUser", "before", path={"userId": "me"}),
            {
                "op": "sim",
                "method": "PATCH",
                "path": "/_sim/roles/role-admin",
                "body": {"privileges": without_s2s},
            },
            call("users", "users.getUser", "cached", path={"userId": "me"}),
            {"op": "clients", "clientSecret": "demo-secret"},
            {"op": "token", "client": "meetings", "name": "fresh"},
            call("meetings", "meetings.createMeeting", "create", path={"userId": "me"}, body={"topic": "x"}),
            call("users", "users.listUsers", "list"),
        ],
    )

    assert out["before"]["ok"]
    assert (out["cached"]["ok"], out["cached"]["message"]) == (False, INVALID_TOKEN)
    assert out["fresh"]["ok"]  # minting still works
    assert out["fresh"]["data"]
    assert (out["create"]["ok"], out["create"]["message"]) == (False, INVALID_TOKEN)
    assert out["list"]["message"] == '[401/124]: "Invalid access token."'


def test_rotation_rejects_the_old_secret_with_invalid_client_and_the_new_one_works(
    simulator: SimulatorProcess, rivet: NodeDriver
) -> None:
    # Real Zoom (ref §6, §2): after a rotation that revokes the old secret, minting with it answers
    # 400 {"reason":"Invalid client_id or client_secret","error":"invalid_client"}; the new secret mints.
    out = rivet.run(
        simulator,
        [
            {"op": "token", "client": "meetings", "name": "before"},
            {
                "op": "sim",
                "method": "POST",
                "path": "/_sim/apps/demo-client/rotate",
                "body": {},
                "name": "rotate",
            },
            {"op": "clients", "clientSecret": "demo-secret"},
            {"op": "token", "client": "meetings", "name": "old"},
            {"op": "clients", "clientSecret": "${rotate.data.client_secret}"},
            {"op": "token", "client": "meetings", "name": "new"},
            call("users", "users.getUser", "me", path={"userId": "me"}),
        ],
    )

    assert out["before"]["ok"]
    assert out["old"]["ok"] is False
    assert out["old"]["oauth"] == {
        "status": 400,
        "data": {"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
    }
    assert out["new"]["ok"]
    assert out["new"]["data"] != out["before"]["data"]
    assert out["me"]["data"]["id"] == "u-owner"
