"""JWT encoding and the token table's per-app caps (simulator/tokens.py)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zoom_operator.simulator.state import App, ClientSecret, TokenMode
from zoom_operator.simulator.tokens import TokenTable, decode_jwt, encode_jwt

KEY = b"k" * 64


def _part(token: str, index: int) -> dict[str, object]:
    segment = token.split(".")[index]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def _app(mode: str = "multi") -> App:
    return App(
        client_id="c",
        account_id="a",
        owner_user_id="u",
        scopes=["user:read:admin"],
        status="active",
        secrets=[ClientSecret("s")],
        token_mode=TokenMode.parse(mode),
    )


def test_jwt_has_zooms_header_and_unpadded_base64url_parts() -> None:
    token = encode_jwt({"uid": "u-owner"}, KEY)

    assert token.count(".") == 2
    assert "=" not in token
    assert _part(token, 0) == {"alg": "HS512", "v": "2.0", "kid": "sim"}
    assert _part(token, 1) == {"uid": "u-owner"}


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=20)), max_size=5))
def test_jwt_round_trips_any_claims(claims: dict[str, object]) -> None:
    assert decode_jwt(encode_jwt(claims, KEY), KEY) == claims


def test_jwt_signed_with_another_key_does_not_decode() -> None:
    assert decode_jwt(encode_jwt({"uid": "u"}, b"other"), KEY) is None


def test_jwt_with_tampered_claims_does_not_decode() -> None:
    header, _, signature = encode_jwt({"uid": "u-owner"}, KEY).split(".")
    forged = base64.urlsafe_b64encode(b'{"uid":"u-admin2"}').rstrip(b"=").decode()

    assert decode_jwt(f"{header}.{forged}.{signature}", KEY) is None


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "a.b.c.d", "é.é.é", "...."])
def test_garbage_does_not_decode(garbage: str) -> None:
    assert decode_jwt(garbage, KEY) is None


def test_minted_token_carries_zoom_claims_and_is_found_again() -> None:
    table = TokenTable(KEY)

    token = table.mint(_app(), "u", ("user:read:admin",), now=1000, ttl_seconds=3599, secret_used="s")

    claims = decode_jwt(token.jwt, KEY)
    assert claims is not None
    assert claims["ver"] == 8
    assert claims["iss"] == "zm:cid:c"
    assert claims["aud"] == "https://oauth.zoom.us"
    assert (claims["uid"], claims["aid"]) == ("u", "a")
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1000, 1000, 4599)
    assert claims["jti"] == token.jti
    assert table.find(token.jwt) is token
    assert table.find(token.jwt + "x") is None


def _mint(table: TokenTable, app: App, slot: int | None = None) -> str:
    return table.mint(app, "u", (), now=0, ttl_seconds=60, secret_used="s", slot=slot).jti


def _live(table: TokenTable, app: App) -> int:
    return table.live_count(app.client_id, now=1)


def test_multi_mode_never_revokes() -> None:
    table, app = TokenTable(KEY), _app("multi")
    for _ in range(5):
        _mint(table, app)

    assert _live(table, app) == 5


def test_single_mode_keeps_only_the_newest_token() -> None:
    table, app = TokenTable(KEY), _app("single")
    tokens = [table.mint(app, "u", (), now=0, ttl_seconds=60, secret_used="s") for _ in range(3)]

    assert [t.revoked for t in tokens] == [True, True, False]


@given(st.integers(min_value=1, max_value=6), st.integers(min_value=0, max_value=15))
def test_tolerance_mode_keeps_the_newest_n_tokens(keep: int, mints: int) -> None:
    table, app = TokenTable(KEY), _app(f"tolerance:{keep}")
    tokens = [table.mint(app, "u", (), now=0, ttl_seconds=60, secret_used="s") for _ in range(mints)]

    assert [not t.revoked for t in tokens] == [index >= mints - keep for index in range(mints)]


def test_tolerance_slot_replaces_only_the_token_in_that_slot() -> None:
    table, app = TokenTable(KEY), _app("tolerance:3")
    slot0 = table.mint(app, "u", (), now=0, ttl_seconds=60, secret_used="s", slot=0)
    slot1 = table.mint(app, "u", (), now=0, ttl_seconds=60, secret_used="s", slot=1)

    again0 = table.mint(app, "u", (), now=0, ttl_seconds=60, secret_used="s", slot=0)

    assert (slot0.revoked, slot1.revoked, again0.revoked) == (True, False, False)


def test_revoke_app_can_target_tokens_minted_with_one_secret() -> None:
    table, app = TokenTable(KEY), _app()
    with_old = table.mint(app, "u", (), now=0, ttl_seconds=60, secret_used="old")
    with_new = table.mint(app, "u", (), now=0, ttl_seconds=60, secret_used="new")

    assert table.revoke_app("c", secret="old") == 1
    assert (with_old.revoked, with_new.revoked) == (True, False)
    assert table.revoke_app("c") == 1
    assert with_new.revoked


def test_expired_tokens_are_not_live() -> None:
    table, app = TokenTable(KEY), _app()
    table.mint(app, "u", (), now=0, ttl_seconds=60, secret_used="s")

    assert table.live_count("c", now=59) == 1
    assert table.live_count("c", now=60) == 0
