"""The simulator's world as data: accounts, roles, users, apps, meetings and global flags, plus loading
and validating the YAML state file (reference "Simulator spec / State model").

State file shape (see `default_state.yaml`, used when `--state` is omitted)::

    accounts: [{id, plan: free|pro|business, rate_limits?: {Light: {per_second?, per_day?}, ...}}]
    roles:    [{id, name, privileges: [..], description?, account_id?}]   # no account_id: every account
    users:    [{id, email, account_id, role_id, status: active|inactive|pending,
                first_name?, last_name?, type?: 1|2, dept?, timezone?}]
    apps:     [{client_id, client_secret, account_id, owner_user_id, scopes: [..],
                status: active|deactivated|disabled,
                token_mode?: multi|single|tolerance:N, owner_failure_mode?: api_401|token_4735,
                token_ttl_seconds?}]

Any problem (missing file, not YAML, a missing field, an unknown id) raises `Invalid` with a one-line
message naming the file and the entry.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from zoom_operator.simulator.fields import Fields, Invalid, describe
from zoom_operator.simulator.ratelimit import PLAN_LIMITS, PLANS, Label, Limit

USER_STATUSES = ("active", "inactive", "pending")
APP_STATUSES = ("active", "deactivated", "disabled")
OWNER_FAILURE_MODES = ("api_401", "token_4735")
DEFAULT_STATE_FILE = "default_state.yaml"


@dataclass(frozen=True)
class TokenMode:
    """How many of an app's tokens stay valid: `multi` (no cap, Zoom since June 2023), `single`
    (a new token revokes all older ones) or `tolerance:N` (the newest N stay valid)."""

    name: str
    keep: int | None

    @staticmethod
    def parse(text: object) -> TokenMode:
        if text == "multi":
            return TokenMode("multi", None)
        if text == "single":
            return TokenMode("single", 1)
        if isinstance(text, str) and text.startswith("tolerance:"):
            count = text.removeprefix("tolerance:")
            if count.isdigit() and int(count) >= 1:
                return TokenMode(text, int(count))
        raise Invalid(f"'token_mode' must be multi, single or tolerance:N with N >= 1, got {describe(text)}")

    @property
    def is_tolerance(self) -> bool:
        return self.name.startswith("tolerance:")


MULTI = TokenMode("multi", None)


@dataclass
class Account:
    id: str
    plan: str
    rate_limits: dict[Label, Limit] = field(default_factory=dict)  # overrides of the plan's table

    def limit(self, label: Label) -> Limit:
        return self.rate_limits.get(label) or PLAN_LIMITS[self.plan][label]


@dataclass
class Role:
    id: str
    name: str
    privileges: list[str]
    description: str = ""
    account_id: str | None = None

    def visible_in(self, account_id: str) -> bool:
        return self.account_id is None or self.account_id == account_id


@dataclass
class User:
    id: str
    email: str
    account_id: str
    role_id: str
    status: str
    first_name: str = ""
    last_name: str = ""
    type: int = 2
    dept: str = ""
    timezone: str = "UTC"


@dataclass
class ClientSecret:
    value: str
    revoke_at: float | None = None  # unix seconds; None = never

    def usable(self, now: float) -> bool:
        return self.revoke_at is None or now < self.revoke_at


@dataclass
class PendingTransfer:
    to_user_id: str
    deadline: float  # Zoom cancels a transfer not completed by rotation within 30 days


@dataclass
class App:
    client_id: str
    account_id: str
    owner_user_id: str
    scopes: list[str]
    status: str
    secrets: list[ClientSecret]
    token_mode: TokenMode = MULTI
    owner_failure_mode: str = "api_401"
    token_ttl_seconds: int | None = None  # None = the global default
    pending_transfer: PendingTransfer | None = None


@dataclass
class Meeting:
    id: int
    uuid: str
    account_id: str
    host_id: str
    topic: str
    type: int
    start_time: str
    duration: int
    timezone: str
    created_at: str
    password: str
    agenda: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    pre_schedule: bool = False
    pstn_password: str = ""


@dataclass
class Config:
    """Global switches; all but the two privileges can be changed at run time (`PATCH /_sim/config`)."""

    s2s_privilege: str = "ServerToServerOAuthApp:Edit"
    admin_privilege: str = "Account:Edit"
    strict_body: bool = False
    rotation_revokes_tokens: bool = False
    scope_shrink_on_role_loss: bool = True
    token_rps: int | None = None
    token_ttl_seconds: int = 3599
    clock_offset_seconds: float = 0.0
    tracking_cluster: str = "us05"  # [INVENTED] the `clid` in x-zm-trackingid
    page_token_ttl_seconds: int = 900  # [DOC] "The next page token expires after 15 minutes"
    max_page_size: int = 300  # [DOC] list endpoints: page_size maximum 300; larger is capped [INVENTED]
    # per-endpoint rate-limit label overrides, keyed "METHOD /v2/path/{template}"
    rate_labels: dict[str, Label] = field(default_factory=dict)


@dataclass
class State:
    accounts: dict[str, Account]
    roles: dict[str, Role]
    users: dict[str, User]
    apps: dict[str, App]
    meetings: dict[int, Meeting] = field(default_factory=dict)

    def user_in_account(self, id_or_email: str, account_id: str) -> User | None:
        user = self.users.get(id_or_email) or next(
            (u for u in self.users.values() if u.email.lower() == id_or_email.lower()), None
        )
        return user if user is not None and user.account_id == account_id else None


def load_state(path: str | None) -> State:
    """The state in `path`, or the packaged default state when `path` is None."""
    if path is None:
        source = DEFAULT_STATE_FILE
        text = (importlib.resources.files("zoom_operator.simulator") / DEFAULT_STATE_FILE).read_text()
    else:
        source = path
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise Invalid(f"state file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise Invalid(f"cannot read state file {path}: {exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"state file {source} is not valid YAML: {_yaml_problem(exc)}") from None
    try:
        return parse_state(document)
    except Invalid as exc:
        raise Invalid(f"state file {source}: {exc}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"{exc.problem} at line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}"
    return " ".join(str(exc).split())


def parse_state(document: object) -> State:
    top = Fields(document, "", "{accounts: [...], roles: [...], users: [...], apps: [...]}")
    sections = {name: _entries(top.nested(name), name) for name in ("accounts", "roles", "users", "apps")}
    top.done()

    state = State(accounts={}, roles={}, users={}, apps={})
    for where, entry in sections["accounts"]:
        account = _parse_account(entry, where)
        _add_unique(state.accounts, account.id, account, where)
    for where, entry in sections["roles"]:
        role = _parse_role(entry, where, state)
        _add_unique(state.roles, role.id, role, where)
    for where, entry in sections["users"]:
        user = _parse_user(entry, where, state)
        _add_unique(state.users, user.id, user, where)
    for where, entry in sections["apps"]:
        app = _parse_app(entry, where, state)
        _add_unique(state.apps, app.client_id, app, where)
    return state


def _entries(value: object, section: str) -> list[tuple[str, object]]:
    if value is None:
        raise Invalid(f"missing required section '{section}' (a list, may be empty)")
    if not isinstance(value, list):
        raise Invalid(f"'{section}' must be a list, got {describe(value)}")
    return [(_where(section, index, entry), entry) for index, entry in enumerate(value)]


def _where(section: str, index: int, entry: object) -> str:
    key = "client_id" if section == "apps" else "id"
    name = entry.get(key) if isinstance(entry, dict) else None
    return f"{section}[{index}]" + (f" ({name})" if isinstance(name, str) else "")


def _add_unique(table: dict[str, Any], key: str, value: object, where: str) -> None:
    if key in table:
        raise Invalid(f"{where}: duplicate id '{key}'")
    table[key] = value


def _parse_account(entry: object, where: str) -> Account:
    fields = Fields(entry, where, "{id: acc-demo, plan: pro}")
    account = Account(id=fields.string("id"), plan=fields.choice("plan", PLANS))
    overrides = fields.nested("rate_limits")
    fields.done()
    if overrides is not None:
        account.rate_limits = parse_rate_limits(overrides, f"{where} rate_limits", account.plan)
    return account


def parse_rate_limits(value: object, where: str, plan: str) -> dict[Label, Limit]:
    """Per-label overrides of the plan's table; a missing number keeps the plan's value."""
    fields = Fields(value, where, "{Light: {per_second: 2, per_day: 10}}")
    limits: dict[Label, Limit] = {}
    for label in Label:
        override = fields.nested(label.value)
        if override is None:
            continue
        numbers = Fields(override, f"{where} {label.value}", "{per_second: 2, per_day: 10}")
        base = PLAN_LIMITS[plan][label]
        per_second = numbers.optional_int("per_second", minimum=1)
        per_day = numbers.optional_int("per_day", minimum=1)
        numbers.done()
        limits[label] = Limit(per_second or base.per_second, per_day or base.per_day)
    fields.done()
    return limits


def _parse_role(entry: object, where: str, state: State) -> Role:
    fields = Fields(entry, where, "{id: role-admin, name: Admin, privileges: [User:Read]}")
    role = Role(
        id=fields.string("id"),
        name=fields.string("name"),
        privileges=fields.string_list("privileges"),
        description=fields.optional_string("description") or "",
        account_id=fields.optional_string("account_id"),
    )
    fields.done()
    if role.account_id is not None and role.account_id not in state.accounts:
        raise Invalid(f"{where}: account_id '{role.account_id}' is not an account in this file")
    return role


def _parse_user(entry: object, where: str, state: State) -> User:
    fields = Fields(
        entry, where, "{id: u-owner, email: a@example.com, account_id: .., role_id: .., status: active}"
    )
    user = User(
        id=fields.string("id"),
        email=fields.string("email"),
        account_id=fields.string("account_id"),
        role_id=fields.string("role_id"),
        status=fields.choice("status", USER_STATUSES),
        first_name=fields.optional_string("first_name") or "",
        last_name=fields.optional_string("last_name") or "",
        dept=fields.optional_string("dept") or "",
        timezone=fields.optional_string("timezone") or "UTC",
    )
    user_type = fields.optional_int("type", minimum=1)
    fields.done()
    if user_type is not None:
        if user_type not in (1, 2):
            raise Invalid(f"{where}: 'type' must be 1 (basic) or 2 (licensed), got {user_type}")
        user.type = user_type
    if user.account_id not in state.accounts:
        raise Invalid(f"{where}: account_id '{user.account_id}' is not an account in this file")
    role = state.roles.get(user.role_id)
    if role is None or not role.visible_in(user.account_id):
        raise Invalid(f"{where}: role_id '{user.role_id}' is not a role of account '{user.account_id}'")
    if any(other.email.lower() == user.email.lower() for other in state.users.values()):
        raise Invalid(f"{where}: email '{user.email}' is already used by another user")
    return user


def _parse_app(entry: object, where: str, state: State) -> App:
    fields = Fields(
        entry, where, "{client_id: .., client_secret: .., account_id: .., owner_user_id: .., scopes: [..]}"
    )
    app = App(
        client_id=fields.string("client_id"),
        secrets=[ClientSecret(fields.string("client_secret"))],
        account_id=fields.string("account_id"),
        owner_user_id=fields.string("owner_user_id"),
        scopes=fields.string_list("scopes"),
        status=fields.choice("status", APP_STATUSES),
    )
    mode = fields.optional_string("token_mode")
    app.owner_failure_mode = fields.optional_choice("owner_failure_mode", OWNER_FAILURE_MODES) or "api_401"
    app.token_ttl_seconds = fields.optional_int("token_ttl_seconds", minimum=1)
    fields.done()
    if mode is not None:
        try:
            app.token_mode = TokenMode.parse(mode)
        except Invalid as exc:
            raise Invalid(f"{where}: {exc}") from None
    if app.account_id not in state.accounts:
        raise Invalid(f"{where}: account_id '{app.account_id}' is not an account in this file")
    owner = state.users.get(app.owner_user_id)
    if owner is None:
        raise Invalid(f"{where}: owner_user_id '{app.owner_user_id}' is not a user in this file")
    if owner.account_id != app.account_id:
        raise Invalid(
            f"{where}: owner '{owner.id}' belongs to account '{owner.account_id}', not '{app.account_id}'"
        )
    return app


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account_json(account: Account) -> dict[str, object]:
    limits = {label.value: account.limit(label) for label in Label}
    return {
        "id": account.id,
        "plan": account.plan,
        "rate_limits": {
            label: {"per_second": limit.per_second, "per_day": limit.per_day}
            for label, limit in limits.items()
        },
    }


def app_json(app: App) -> dict[str, object]:
    transfer = app.pending_transfer
    return {
        "client_id": app.client_id,
        "account_id": app.account_id,
        "owner_user_id": app.owner_user_id,
        "scopes": list(app.scopes),
        "status": app.status,
        "secrets": [
            {"value": s.value, "revoke_at": None if s.revoke_at is None else iso(s.revoke_at)}
            for s in app.secrets
        ],
        "token_mode": app.token_mode.name,
        "owner_failure_mode": app.owner_failure_mode,
        "token_ttl_seconds": app.token_ttl_seconds,
        "pending_transfer": None
        if transfer is None
        else {"to_user_id": transfer.to_user_id, "deadline": iso(transfer.deadline)},
    }


def dump_state(state: State, config: Config) -> dict[str, object]:
    """The whole world as JSON for `GET /_sim/state` (secrets included: it is the admin API)."""
    return {
        "config": vars(config).copy(),
        "accounts": [account_json(a) for a in state.accounts.values()],
        "roles": [vars(r).copy() for r in state.roles.values()],
        "users": [vars(u).copy() for u in state.users.values()],
        "apps": [app_json(a) for a in state.apps.values()],
        "meetings": [vars(m).copy() for m in state.meetings.values()],
    }
