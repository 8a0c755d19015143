"""Loading and validating simulator state files (simulator/state.py, simulator/fields.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from zoom_operator.simulator.fields import Invalid
from zoom_operator.simulator.ratelimit import Label, Limit
from zoom_operator.simulator.state import Config, TokenMode, dump_state, load_state, parse_state

MINIMAL: dict[str, Any] = {
    "accounts": [{"id": "a", "plan": "pro"}],
    "roles": [{"id": "r", "name": "R", "privileges": ["User:Read"]}],
    "users": [{"id": "u", "email": "u@example.com", "account_id": "a", "role_id": "r", "status": "active"}],
    "apps": [
        {
            "client_id": "c",
            "client_secret": "s",
            "account_id": "a",
            "owner_user_id": "u",
            "scopes": ["user:read:admin"],
            "status": "active",
        }
    ],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """MINIMAL with one field set (`users.0.status`) or removed (value ...)."""
    document = copy.deepcopy(MINIMAL)
    *parents, last = path.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return document


def test_default_state_has_the_ids_other_tools_rely_on() -> None:
    state = load_state(None)

    assert state.accounts["acc-demo"].plan == "pro"
    assert list(state.roles) == ["role-admin", "role-member"]
    assert {u.id: (u.email, u.role_id, u.status) for u in state.users.values()} == {
        "u-owner": ("dev-lead@example.com", "role-admin", "active"),
        "u-admin2": ("second-admin@example.com", "role-admin", "active"),
        "u-auditor": ("auditor@example.com", "role-admin", "active"),
    }
    demo, auditor = state.apps["demo-client"], state.apps["auditor-client"]
    assert (demo.secrets[0].value, demo.owner_user_id) == ("demo-secret", "u-owner")
    assert demo.scopes == ["user:read:admin", "meeting:write:admin", "role:read:admin"]
    assert (auditor.secrets[0].value, auditor.owner_user_id) == ("auditor-secret", "u-auditor")
    assert auditor.scopes == ["user:read:admin", "role:read:admin"]
    config = Config()
    admin, member = state.roles["role-admin"].privileges, state.roles["role-member"].privileges
    assert {config.s2s_privilege, config.admin_privilege, "User:Read", "Role:Read", "Meeting:Edit"} <= set(
        admin
    )
    assert config.s2s_privilege not in member
    assert config.admin_privilege not in member


def test_minimal_state_parses_with_defaults() -> None:
    state = parse_state(MINIMAL)

    app = state.apps["c"]
    assert (app.token_mode.name, app.owner_failure_mode, app.token_ttl_seconds) == ("multi", "api_401", None)
    assert state.users["u"].type == 2


def test_optional_app_fields_and_rate_limit_overrides_are_read() -> None:
    document = _with("apps.0.token_mode", "tolerance:3")
    document["apps"][0]["owner_failure_mode"] = "token_4735"
    document["apps"][0]["token_ttl_seconds"] = 60
    document["accounts"][0]["rate_limits"] = {"Light": {"per_day": 10}}

    state = parse_state(document)

    app = state.apps["c"]
    assert (app.token_mode, app.owner_failure_mode, app.token_ttl_seconds) == (
        TokenMode("tolerance:3", 3),
        "token_4735",
        60,
    )
    assert state.accounts["a"].limit(Label.LIGHT) == Limit(30, 10)
    assert state.accounts["a"].limit(Label.MEDIUM) == Limit(20, None)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (None, "must be a mapping like"),
        (_with("apps", ...), "missing required section 'apps'"),
        (_with("users", {"id": "u"}), "'users' must be a list"),
        (_with("users.0.status", ...), "users[0] (u): missing required field 'status'"),
        (_with("users.0.status", "gone"), "users[0] (u): 'status' must be one of active, inactive, pending"),
        (_with("users.0.role_id", "r-x"), "users[0] (u): role_id 'r-x' is not a role of account 'a'"),
        (_with("users.0.account_id", "a-x"), "account_id 'a-x' is not an account in this file"),
        (_with("users.0.nickname", "x"), "users[0] (u): unknown field(s) nickname"),
        (_with("users.0.type", 3), "'type' must be 1 (basic) or 2 (licensed)"),
        (
            _with("apps.0.owner_user_id", "ghost"),
            "apps[0] (c): owner_user_id 'ghost' is not a user in this file",
        ),
        (_with("apps.0.scopes", "user:read:admin"), "'scopes' must be a list of non-empty strings"),
        (_with("apps.0.token_mode", "tolerance:x"), "apps[0] (c): 'token_mode' must be multi, single or"),
        (_with("apps.0.token_ttl_seconds", 0), "'token_ttl_seconds' must be an integer >= 1"),
        (_with("accounts.0.plan", "gold"), "accounts[0] (a): 'plan' must be one of free, pro, business"),
        (_with("accounts.0.rate_limits", {"Huge": {}}), "unknown field(s) Huge"),
        (_with("roles.0.privileges", [""]), "'privileges' must be a list of non-empty strings"),
        (_with("extra", []), "unknown field(s) extra"),
    ],
)
def test_invalid_state_is_rejected_with_a_message_naming_the_entry(document: Any, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_state(document)

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_duplicate_ids_and_emails_are_rejected() -> None:
    duplicate_user = copy.deepcopy(MINIMAL)
    duplicate_user["users"].append(dict(duplicate_user["users"][0], email="other@example.com"))
    duplicate_email = copy.deepcopy(MINIMAL)
    duplicate_email["users"].append(dict(duplicate_email["users"][0], id="u2", email="U@example.com"))

    with pytest.raises(Invalid, match=r"users\[1\] \(u\): duplicate id 'u'"):
        parse_state(duplicate_user)
    with pytest.raises(Invalid, match=r"email 'U@example\.com' is already used"):
        parse_state(duplicate_email)


def test_app_owner_must_belong_to_the_apps_account() -> None:
    document = copy.deepcopy(MINIMAL)
    document["accounts"].append({"id": "b", "plan": "free"})
    document["apps"][0]["account_id"] = "b"

    with pytest.raises(Invalid, match="owner 'u' belongs to account 'a', not 'b'"):
        parse_state(document)


def test_role_bound_to_an_account_is_not_usable_by_another() -> None:
    document = copy.deepcopy(MINIMAL)
    document["accounts"].append({"id": "b", "plan": "pro"})
    document["roles"][0]["account_id"] = "b"

    with pytest.raises(Invalid, match="role_id 'r' is not a role of account 'a'"):
        parse_state(document)


def test_load_state_names_the_file_in_every_error(tmp_path: Path) -> None:
    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("accounts: [unclosed\n")
    bad_field = tmp_path / "bad.yaml"
    bad_field.write_text("accounts: []\nroles: []\nusers: []\napps: [{client_id: c}]\n")

    with pytest.raises(Invalid, match=rf"^state file {tmp_path / 'absent.yaml'} does not exist$"):
        load_state(str(tmp_path / "absent.yaml"))
    with pytest.raises(Invalid, match=rf"^state file {not_yaml} is not valid YAML: .* at line 2, column 1$"):
        load_state(str(not_yaml))
    with pytest.raises(Invalid, match=rf"^state file {bad_field}: apps\[0\] \(c\): missing required field"):
        load_state(str(bad_field))


@pytest.mark.parametrize(
    ("text", "keep"), [("multi", None), ("single", 1), ("tolerance:1", 1), ("tolerance:5", 5)]
)
def test_token_modes_parse(text: str, keep: int | None) -> None:
    assert TokenMode.parse(text) == TokenMode(text, keep)


@pytest.mark.parametrize("text", ["", "tolerance", "tolerance:0", "tolerance:-1", "tolerance(2)", "many", 3])
def test_bad_token_modes_are_rejected(text: object) -> None:
    with pytest.raises(Invalid, match="multi, single or tolerance:N"):
        TokenMode.parse(text)


def test_dump_state_is_plain_json_with_secrets_and_config() -> None:
    dumped = dump_state(parse_state(MINIMAL), Config())

    assert dumped["apps"] == [
        {
            "client_id": "c",
            "account_id": "a",
            "owner_user_id": "u",
            "scopes": ["user:read:admin"],
            "status": "active",
            "secrets": [{"value": "s", "revoke_at": None}],
            "token_mode": "multi",
            "owner_failure_mode": "api_401",
            "token_ttl_seconds": None,
            "pending_transfer": None,
        }
    ]
    assert dumped["config"] == vars(Config())
