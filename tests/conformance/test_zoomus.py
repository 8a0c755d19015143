"""zoomus 1.2.1 (pinned in pyproject.toml's test extra), the most used Python Zoom client, against the
simulator: a whole meetings integration as users write it. Unpatched: zoomus takes both URLs as options,
`base_uri` (the API) and `oauth_uri` (the token endpoint), so no rewrite is needed.

zoomus mints in its constructor and on `refresh_token()`, and never reports a refused mint: it keeps
`None` as the token (`util.generate_token` returns `response.json().get("access_token")`), so what a
zoomus user sees of a refused mint is the next API call. Each test states what real Zoom answers,
citing ../shared/zoom-s2s-reference.md ("ref §N").
"""

from __future__ import annotations

import re
from typing import Any

import requests
from zoomus import ZoomClient

from tests.support.simulator import SimulatorProcess

TRACKING_ID = re.compile(r"v=2\.0;clid=[A-Za-z0-9_-]+;rid=\S+")
INVALID_TOKEN = {"code": 124, "message": "Invalid access token."}


def client(sim: SimulatorProcess, secret: str = "demo-secret") -> ZoomClient:
    return ZoomClient(
        "demo-client",
        secret,
        "acc-demo",
        base_uri=f"{sim.base_url}/v2",
        oauth_uri=f"{sim.base_url}/oauth/token",
        timeout=10,
    )


def json_of(response: requests.Response) -> Any:
    return response.json()


def test_token_then_users_me_by_email_and_the_paged_list(simulator: SimulatorProcess) -> None:
    # Real Zoom (ref §1): 200 with a bearer `access_token`. Ref §5 / "Endpoints": GET /users/me is the token's
    # owner; a user is found by id or email; an unknown one is 404 {"code":1001,"message":"User does not
    # exist: <id>."}; GET /users lists `status=active` users by default, paged by `page_size` /
    # `next_page_token` (Zoom's pagination docs); x-zm-trackingid on every answer (ref §2).
    zoom = client(simulator)
    assert isinstance(zoom.config["token"], str)
    assert zoom.config["token"].count(".") == 2

    me = zoom.user.me()
    by_email = zoom.user.get(id="second-admin@example.com")
    page1 = zoom.user.list(status="active", page_size=2)
    page2 = zoom.user.list(page_size=2, next_page_token=json_of(page1)["next_page_token"])
    inactive = zoom.user.list(status="inactive")
    nobody = zoom.user.get(id="nobody@example.com")

    assert me.status_code == 200
    assert (json_of(me)["id"], json_of(me)["email"], json_of(me)["status"]) == (
        "u-owner",
        "dev-lead@example.com",
        "active",
    )
    assert {"type", "role_id", "dept", "timezone", "pmi"} <= json_of(me).keys()
    assert TRACKING_ID.fullmatch(me.headers["x-zm-trackingid"])
    assert json_of(by_email)["id"] == "u-admin2"
    assert [u["id"] for u in json_of(page1)["users"]] == ["u-owner", "u-admin2"]
    assert json_of(page1)["total_records"] == 3
    assert ([u["id"] for u in json_of(page2)["users"]], json_of(page2)["next_page_token"]) == (
        ["u-auditor"],
        "",
    )
    assert json_of(inactive)["users"] == []
    assert (nobody.status_code, json_of(nobody)) == (
        404,
        {"code": 1001, "message": "User does not exist: nobody@example.com."},
    )


def test_meeting_create_get_update_list_delete_then_delete_again(simulator: SimulatorProcess) -> None:
    # Real Zoom (ref "Endpoints"; Zoom's Meetings API): create 201 with the meeting; GET answers it; PATCH 204
    # with no body; the host's list has it; DELETE 204; DELETE again and GET answer
    # 404 {"code":3001,"message":"Meeting does not exist: <id>."} (ref §3). zoomus also sends its own
    # keyword arguments along (`user_id` in the create body, `id` in the query and the PATCH body), which
    # Zoom ignores.
    zoom = client(simulator)

    created = zoom.meeting.create(user_id="me", topic="Standup", type=2, duration=30, agenda="Daily")
    meeting = json_of(created)
    got = zoom.meeting.get(id=meeting["id"])
    updated = zoom.meeting.update(id=meeting["id"], topic="Retro", settings={"mute_upon_entry": True})
    after = json_of(zoom.meeting.get(id=meeting["id"]))
    listed = zoom.meeting.list(user_id="me", page_size=30)
    deleted = zoom.meeting.delete(id=meeting["id"])
    again = zoom.meeting.delete(id=meeting["id"])
    gone = zoom.meeting.get(id=meeting["id"])

    assert created.status_code == 201
    assert {
        "id",
        "uuid",
        "join_url",
        "start_url",
        "password",
        "created_at",
        "settings",
        "agenda",
    } <= meeting.keys()
    assert (got.status_code, json_of(got)) == (200, meeting)
    assert (updated.status_code, updated.content) == (204, b"")
    assert (after["topic"], after["duration"], after["settings"]["mute_upon_entry"]) == ("Retro", 30, True)
    assert [m["id"] for m in json_of(listed)["meetings"]] == [meeting["id"]]
    assert (deleted.status_code, deleted.content) == (204, b"")
    not_found = {"code": 3001, "message": f"Meeting does not exist: {meeting['id']}."}
    assert (again.status_code, json_of(again)) == (404, not_found)
    assert (gone.status_code, json_of(gone)) == (404, not_found)


def test_rate_limit_is_429_with_zoom_rate_limit_headers(simulator: SimulatorProcess) -> None:
    # Real Zoom (ref §7): over an endpoint label's per-second limit, 429 {"code":429,"message":"You have
    # reached the maximum per-second rate limit for this API. Try again later."} with X-RateLimit-Category,
    # X-RateLimit-Type: QPS, X-RateLimit-Limit, X-RateLimit-Remaining: 0, X-RateLimit-Reset.
    # GET /meetings/{id} is Light.
    zoom = client(simulator)
    meeting_id = json_of(zoom.meeting.create(user_id="me", topic="Standup"))["id"]
    simulator.admin("PATCH", "/_sim/accounts/acc-demo", {"rate_limits": {"Light": {"per_second": 1}}})

    answers = [zoom.meeting.get(id=meeting_id) for _ in range(4)]

    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    assert json_of(limited[0]) == {
        "code": 429,
        "message": "You have reached the maximum per-second rate limit for this API. Try again later.",
    }
    headers = limited[0].headers
    assert (
        headers["X-RateLimit-Category"],
        headers["X-RateLimit-Type"],
        headers["X-RateLimit-Remaining"],
    ) == (
        "Light",
        "QPS",
        "0",
    )
    assert headers["X-RateLimit-Reset"].isdigit()


def test_owner_role_losing_the_s2s_permission_fails_every_call_while_minting_works(
    simulator: SimulatorProcess,
) -> None:
    # Real Zoom (ref §5, scenario matrix "Owner role lost S2S privilege"; REPORTED): minting still answers
    # 200, yet every API call, with the old token or a brand-new one, answers 401
    # {"code":124,"message":"Invalid access token."}.
    zoom = client(simulator)
    assert zoom.user.me().status_code == 200
    state = simulator.admin("GET", "/_sim/state")
    admin_role = next(r for r in state["roles"] if r["id"] == "role-admin")
    without_s2s = [p for p in admin_role["privileges"] if p != state["config"]["s2s_privilege"]]
    simulator.admin("PATCH", "/_sim/roles/role-admin", {"privileges": without_s2s})

    old_token_answer = zoom.user.me()
    old_token = zoom.config["token"]
    zoom.refresh_token()

    assert (old_token_answer.status_code, json_of(old_token_answer)) == (401, INVALID_TOKEN)
    assert isinstance(zoom.config["token"], str)  # minting works
    assert zoom.config["token"] != old_token
    for answer in (
        zoom.user.me(),
        zoom.user.list(),
        zoom.meeting.create(user_id="me", topic="x"),
        zoom.meeting.list(user_id="me"),
    ):
        assert (answer.status_code, json_of(answer)) == (401, INVALID_TOKEN)


def test_rotation_leaves_the_old_secret_without_a_token_and_the_new_one_works(
    simulator: SimulatorProcess,
) -> None:
    # Real Zoom (ref §6, §2): after a rotation that revokes the old secret, minting with it answers
    # 400 {"reason":"Invalid client_id or client_secret","error":"invalid_client"} (zoomus drops that body and
    # keeps no token, so its next call is 401/124); the new secret mints and works.
    before = simulator.stats()["tokens_issued"].get("demo-client", 0)
    refused_before = simulator.stderr_text().count("POST /oauth/token 400")
    new_secret = simulator.admin("POST", "/_sim/apps/demo-client/rotate", {"revoke_old": "now"})[
        "client_secret"
    ]

    stale = client(simulator, "demo-secret")
    fresh = client(simulator, new_secret)

    assert stale.config["token"] is None
    stale_call = stale.user.me()
    assert (stale_call.status_code, json_of(stale_call)) == (401, INVALID_TOKEN)
    assert simulator.stderr_text().count("POST /oauth/token 400") == refused_before + 1
    assert simulator.stats()["tokens_issued"]["demo-client"] == before + 1  # only the new secret minted
    assert json_of(fresh.user.me())["id"] == "u-owner"
