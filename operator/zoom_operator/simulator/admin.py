"""The admin API under `/_sim`: change the world while the simulator runs (owners, roles, apps,
secrets, faults, clock, flags) and read it back. JSON in, JSON out; a body of the wrong shape gets
`400 {"error": "<what is wrong and what is expected>"}`, an unknown id in the path `404 {"error": …}`.

    GET    /_sim/state                  the whole state, config and active faults
    GET    /_sim/stats                  request and token counters
    GET    /_sim/tokens                 every access token issued (values included), oldest first
    POST   /_sim/reset                  back to the starting state: no tokens, faults, counters or flags
    PATCH  /_sim/config                 strict_body, rotation_revokes_tokens, scope_shrink_on_role_loss,
                                        token_rps (null = off), token_ttl_seconds, clock_offset_seconds,
                                        tracking_cluster, page_token_ttl_seconds, max_page_size,
                                        rate_labels ({"GET /v2/users": "Heavy"}: an endpoint's label)
    PATCH  /_sim/accounts/{accountId}   plan, rate_limits (null = the plan's table)
    PATCH  /_sim/users/{userId}         status, role_id
    DELETE /_sim/users/{userId}
    PATCH  /_sim/roles/{roleId}         privileges
    PATCH  /_sim/apps/{clientId}        status, scopes, owner_user_id, token_mode, owner_failure_mode,
                                        token_ttl_seconds (null = the global default)
    POST   /_sim/apps/{clientId}/rotate     {revoke_old: now|never} -> {client_secret}
    POST   /_sim/apps/{clientId}/transfer   {to_user_id}: pending until the next rotate
    GET|POST|DELETE /_sim/faults        list, add ({target, kind, status?, count? | seconds?}), clear all
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from zoom_operator.simulator.faults import parse_fault
from zoom_operator.simulator.fields import Fields, Invalid, describe
from zoom_operator.simulator.ratelimit import PLANS, Label
from zoom_operator.simulator.state import (
    APP_STATUSES,
    OWNER_FAILURE_MODES,
    USER_STATUSES,
    Account,
    App,
    ClientSecret,
    PendingTransfer,
    Role,
    TokenMode,
    User,
    account_json,
    app_json,
    dump_state,
    parse_rate_limits,
)
from zoom_operator.simulator.wire import json_response
from zoom_operator.simulator.world import World

TRANSFER_WINDOW_SECONDS = 30 * 86400  # Zoom cancels a transfer not completed within 30 days


class NotFound(LookupError):
    """An id in the admin path names nothing."""


AdminHandler = Callable[[web.Request], Awaitable[object]]


def _answer(handler: AdminHandler, status: int = 200) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            result = await handler(request)
        except Invalid as exc:
            return json_response({"error": str(exc)}, status=400)
        except NotFound as exc:
            return json_response({"error": str(exc)}, status=404)
        return json_response(result, status=status)

    return handle


async def _body(request: web.Request, example: str, empty_means: dict[str, Any] | None = None) -> object:
    raw = await request.read()
    if not raw.strip() and empty_means is not None:
        return empty_means
    try:
        return json.loads(raw)
    except ValueError:
        raise Invalid(f"request body must be a JSON object like {example}") from None


class AdminApi:
    def __init__(self, world: World) -> None:
        self.world = world
        self._application: web.Application | None = None

    def add_routes(self, app: web.Application) -> None:
        self._application = app
        router = app.router
        router.add_get("/_sim/state", _answer(self.get_state))
        router.add_get("/_sim/stats", _answer(self.get_stats))
        router.add_get("/_sim/tokens", _answer(self.get_tokens))
        router.add_post("/_sim/reset", _answer(self.reset))
        router.add_patch("/_sim/config", _answer(self.patch_config))
        router.add_patch("/_sim/accounts/{accountId}", _answer(self.patch_account))
        router.add_patch("/_sim/users/{userId}", _answer(self.patch_user))
        router.add_delete("/_sim/users/{userId}", _answer(self.delete_user))
        router.add_patch("/_sim/roles/{roleId}", _answer(self.patch_role))
        router.add_patch("/_sim/apps/{clientId}", _answer(self.patch_app))
        router.add_post("/_sim/apps/{clientId}/rotate", _answer(self.rotate_secret))
        router.add_post("/_sim/apps/{clientId}/transfer", _answer(self.transfer_app))
        router.add_get("/_sim/faults", _answer(self.get_faults))
        router.add_post("/_sim/faults", _answer(self.add_fault, status=201))
        router.add_delete("/_sim/faults", _answer(self.clear_faults))

    # lookups

    def _account(self, request: web.Request) -> Account:
        account_id = request.match_info["accountId"]
        if account_id not in self.world.state.accounts:
            raise NotFound(f"no account '{account_id}'; known: {', '.join(self.world.state.accounts)}")
        return self.world.state.accounts[account_id]

    def _user(self, request: web.Request) -> User:
        user_id = request.match_info["userId"]
        if user_id not in self.world.state.users:
            raise NotFound(f"no user '{user_id}'; known: {', '.join(self.world.state.users)}")
        return self.world.state.users[user_id]

    def _role(self, request: web.Request) -> Role:
        role_id = request.match_info["roleId"]
        if role_id not in self.world.state.roles:
            raise NotFound(f"no role '{role_id}'; known: {', '.join(self.world.state.roles)}")
        return self.world.state.roles[role_id]

    def _app(self, request: web.Request) -> App:
        client_id = request.match_info["clientId"]
        if client_id not in self.world.state.apps:
            raise NotFound(f"no app '{client_id}'; known: {', '.join(self.world.state.apps)}")
        return self.world.state.apps[client_id]

    def _member(self, user_id: str, account_id: str, field: str) -> User:
        user = self.world.state.users.get(user_id)
        if user is None or user.account_id != account_id:
            raise Invalid(f"'{field}' must be a user of account '{account_id}', got '{user_id}'")
        return user

    # reading

    async def get_state(self, request: web.Request) -> object:
        now = self.world.now()
        return {**dump_state(self.world.state, self.world.config), "faults": self.world.faults.describe(now)}

    async def get_stats(self, request: web.Request) -> object:
        return self.world.stats_json()

    async def get_tokens(self, request: web.Request) -> object:
        """The issued tokens themselves: tests look for them where they must never appear."""
        return {
            "tokens": [
                {
                    "client_id": token.client_id,
                    "access_token": token.jwt,
                    "issued_at": token.issued_at,
                    "expires_at": token.expires_at,
                    "revoked": token.revoked,
                }
                for token in self.world.tokens.issued()
            ]
        }

    async def reset(self, request: web.Request) -> object:
        self.world.reset()
        return {"reset": True}

    # global flags and accounts

    async def patch_config(self, request: web.Request) -> object:
        fields = Fields(await _body(request, '{"strict_body": true}'), "", '{"strict_body": true}')
        config = self.world.config
        resets_token_rps = fields.present("token_rps")
        strict_body = fields.optional_bool("strict_body")
        rotation_revokes_tokens = fields.optional_bool("rotation_revokes_tokens")
        scope_shrink = fields.optional_bool("scope_shrink_on_role_loss")
        token_rps = fields.optional_int("token_rps", minimum=1)
        token_ttl_seconds = fields.optional_int("token_ttl_seconds", minimum=1)
        clock_offset_seconds = fields.optional_number("clock_offset_seconds")
        tracking_cluster = fields.optional_string("tracking_cluster")
        page_token_ttl_seconds = fields.optional_int("page_token_ttl_seconds", minimum=1)
        max_page_size = fields.optional_int("max_page_size", minimum=1)
        rate_labels = fields.nested("rate_labels")
        fields.done_with_any()
        if tracking_cluster is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", tracking_cluster):
            fields.fail(
                f"'tracking_cluster' must be 1-32 letters, digits, '-' or '_', got {tracking_cluster!r}"
            )
        if strict_body is not None:
            config.strict_body = strict_body
        if rotation_revokes_tokens is not None:
            config.rotation_revokes_tokens = rotation_revokes_tokens
        if scope_shrink is not None:
            config.scope_shrink_on_role_loss = scope_shrink
        if resets_token_rps:
            config.token_rps = token_rps
        if token_ttl_seconds is not None:
            config.token_ttl_seconds = token_ttl_seconds
        if clock_offset_seconds is not None:
            config.clock_offset_seconds = clock_offset_seconds
        if tracking_cluster is not None:
            config.tracking_cluster = tracking_cluster
        if page_token_ttl_seconds is not None:
            config.page_token_ttl_seconds = page_token_ttl_seconds
        if max_page_size is not None:
            config.max_page_size = max_page_size
        if rate_labels is not None:
            config.rate_labels = self._rate_labels(rate_labels)
        return vars(config).copy()

    def _rate_labels(self, value: object) -> dict[str, Label]:
        """Per-endpoint label overrides, checked against the REST routes the application serves."""
        example = '{"GET /v2/users": "Heavy"}'
        known = {
            f"{route.method} {route.resource.canonical}"
            for route in (self._application.router.routes() if self._application is not None else [])
            if route.resource is not None
            and route.resource.canonical.startswith("/v2/")
            and route.method not in ("*", "HEAD")
            and "{tail}" not in route.resource.canonical
        }
        if not isinstance(value, dict):
            raise Invalid(f"'rate_labels' must map endpoints to labels like {example}, got {describe(value)}")
        labels: dict[str, Label] = {}
        for endpoint, label in value.items():
            if endpoint not in known:
                raise Invalid(
                    f"'rate_labels': unknown endpoint {endpoint!r}; known: {', '.join(sorted(known))}"
                )
            if label not in {item.value for item in Label}:
                raise Invalid(
                    f"'rate_labels': label for {endpoint} must be Light, Medium or Heavy, got {label!r}"
                )
            labels[endpoint] = Label(label)
        return labels

    async def patch_account(self, request: web.Request) -> object:
        account = self._account(request)
        example = '{"plan": "free", "rate_limits": {"Light": {"per_second": 2, "per_day": 10}}}'
        fields = Fields(await _body(request, example), "", example)
        sets_rate_limits = fields.present("rate_limits")
        plan = fields.optional_choice("plan", PLANS)
        overrides = fields.nested("rate_limits")
        fields.done_with_any()
        new_plan = plan or account.plan
        limits = {} if overrides is None else parse_rate_limits(overrides, "rate_limits", new_plan)
        account.plan = new_plan
        if sets_rate_limits:
            account.rate_limits = limits
        return account_json(account)

    # users and roles

    async def patch_user(self, request: web.Request) -> object:
        user = self._user(request)
        example = '{"status": "inactive", "role_id": "role-member"}'
        fields = Fields(await _body(request, example), "", example)
        status = fields.optional_choice("status", USER_STATUSES)
        role_id = fields.optional_string("role_id")
        fields.done_with_any()
        if role_id is not None:
            role = self.world.state.roles.get(role_id)
            if role is None or not role.visible_in(user.account_id):
                raise Invalid(f"'role_id' must be a role of account '{user.account_id}', got '{role_id}'")
            user.role_id = role_id
        if status is not None:
            user.status = status
        return vars(user).copy()

    async def delete_user(self, request: web.Request) -> object:
        user = self._user(request)
        del self.world.state.users[user.id]
        return {"deleted": vars(user).copy()}

    async def patch_role(self, request: web.Request) -> object:
        role = self._role(request)
        example = '{"privileges": ["User:Read", "Role:Read"]}'
        fields = Fields(await _body(request, example), "", example)
        role.privileges = fields.string_list("privileges")
        fields.done()
        return vars(role).copy()

    # apps

    async def patch_app(self, request: web.Request) -> object:
        app = self._app(request)
        example = '{"status": "deactivated", "token_mode": "tolerance:2"}'
        fields = Fields(await _body(request, example), "", example)
        resets_ttl = fields.present("token_ttl_seconds")
        status = fields.optional_choice("status", APP_STATUSES)
        scopes = fields.optional_string_list("scopes")
        owner_user_id = fields.optional_string("owner_user_id")
        mode = fields.optional_string("token_mode")
        owner_failure_mode = fields.optional_choice("owner_failure_mode", OWNER_FAILURE_MODES)
        token_ttl_seconds = fields.optional_int("token_ttl_seconds", minimum=1)
        fields.done_with_any()
        token_mode = None if mode is None else TokenMode.parse(mode)
        if owner_user_id is not None:
            app.owner_user_id = self._member(owner_user_id, app.account_id, "owner_user_id").id
        if status is not None:
            app.status = status
            if status == "deactivated":  # "Tokens stop working when the app is deactivated" [DOC]
                self.world.tokens.revoke_app(app.client_id)
        if scopes is not None:
            app.scopes = scopes
        if token_mode is not None:
            app.token_mode = token_mode
        if owner_failure_mode is not None:
            app.owner_failure_mode = owner_failure_mode
        if resets_ttl:
            app.token_ttl_seconds = token_ttl_seconds
        return app_json(app)

    async def rotate_secret(self, request: web.Request) -> object:
        """Add a new client secret; `revoke_old: now` revokes the others at once, `never` keeps them
        usable (a grace window). Completes a pending ownership transfer, as Zoom's
        "Complete Rotation" does."""
        app = self._app(request)
        example = '{"revoke_old": "now"}'
        fields = Fields(await _body(request, example, empty_means={}), "", example)
        revoke_old = fields.optional_choice("revoke_old", ("now", "never")) or "now"
        fields.done()
        now = self.world.now()
        if revoke_old == "now":
            for old in app.secrets:
                if old.usable(now):
                    old.revoke_at = now
                    if self.world.config.rotation_revokes_tokens:
                        self.world.tokens.revoke_app(app.client_id, secret=old.value)
        new_secret = secrets.token_urlsafe(24)
        app.secrets.append(ClientSecret(new_secret))
        transfer = app.pending_transfer
        if transfer is not None:
            target = self.world.state.users.get(transfer.to_user_id)
            if now <= transfer.deadline and target is not None and target.account_id == app.account_id:
                app.owner_user_id = target.id
            app.pending_transfer = None
        return {"client_secret": new_secret}

    async def transfer_app(self, request: web.Request) -> object:
        app = self._app(request)
        example = '{"to_user_id": "u-admin2"}'
        fields = Fields(await _body(request, example), "", example)
        to_user_id = fields.string("to_user_id")
        fields.done()
        target = self._member(to_user_id, app.account_id, "to_user_id")
        if target.id == app.owner_user_id:
            raise Invalid(f"'{target.id}' already owns app '{app.client_id}'")
        app.pending_transfer = PendingTransfer(target.id, self.world.now() + TRANSFER_WINDOW_SECONDS)
        return app_json(app)

    # faults

    async def get_faults(self, request: web.Request) -> object:
        return {"faults": self.world.faults.describe(self.world.now())}

    async def add_fault(self, request: web.Request) -> object:
        example = '{"target": "api", "kind": "status", "status": 503, "count": 2}'
        now = self.world.now()
        self.world.faults.add(parse_fault(await _body(request, example), now))
        return {"faults": self.world.faults.describe(now)}

    async def clear_faults(self, request: web.Request) -> object:
        self.world.faults.clear()
        return {"faults": []}
