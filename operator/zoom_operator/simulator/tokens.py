"""Access tokens: JWT-shaped HS512 strings like Zoom's, and the in-memory table that knows which ones
are still valid (revoked by a newer mint in `single`/`tolerance:N` mode, by app deactivation, or by a
rotation when `rotation_revokes_tokens` is on).

The signing key is random per process, so tokens from an earlier run are unknown, as they would be to
a different Zoom. Claims follow reference §1 ("ver=8, iss=zm:cid:<client_id>, aud, uid, aid, tid,
iat, nbf, exp, jti"); `tid` is the token's issue sequence number within its app (its slot index in
`tolerance:N` mode when the legacy `index` parameter chose one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from zoom_operator.simulator.state import App

HEADER = {"alg": "HS512", "v": "2.0", "kid": "sim"}
AUDIENCE = "https://oauth.zoom.us"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _compact(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def encode_jwt(claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{_b64(_compact(HEADER))}.{_b64(_compact(claims))}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha512).digest()
    return f"{signing_input}.{_b64(signature)}"


def decode_jwt(token: str, key: bytes) -> dict[str, Any] | None:
    """The claims of a token this key signed, or None for anything else (garbage, other key, tampering)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header, payload, signature = parts
    expected = hmac.new(key, f"{header}.{payload}".encode("ascii", "replace"), hashlib.sha512).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        claims = json.loads(_unb64(payload))
    except ValueError:  # bad base64, bad UTF-8, bad JSON
        return None
    return claims if isinstance(claims, dict) else None


@dataclass
class IssuedToken:
    jwt: str = field(repr=False)
    jti: str
    client_id: str
    account_id: str
    owner_uid: str
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    sequence: int
    slot: int | None
    secret_used: str = field(repr=False)
    revoked: bool = False


class TokenTable:
    """Every token this process issued, by `jti`, with the per-app cap applied at mint time."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(64)
        self._by_jti: dict[str, IssuedToken] = {}
        self._by_app: dict[str, list[IssuedToken]] = {}

    def mint(
        self,
        app: App,
        owner_uid: str,
        scopes: tuple[str, ...],
        now: int,
        ttl_seconds: int,
        secret_used: str,
        slot: int | None = None,
    ) -> IssuedToken:
        issued = self._by_app.setdefault(app.client_id, [])
        sequence = len(issued)
        jti = str(uuid.uuid4())
        claims = {
            "ver": 8,
            "iss": f"zm:cid:{app.client_id}",
            "aud": AUDIENCE,
            "uid": owner_uid,
            "aid": app.account_id,
            "tid": sequence if slot is None else slot,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": jti,
        }
        token = IssuedToken(
            jwt=encode_jwt(claims, self._key),
            jti=jti,
            client_id=app.client_id,
            account_id=app.account_id,
            owner_uid=owner_uid,
            scopes=scopes,
            issued_at=now,
            expires_at=now + ttl_seconds,
            sequence=sequence,
            slot=slot,
            secret_used=secret_used,
        )
        self._apply_cap(issued, app, slot)
        issued.append(token)
        self._by_jti[jti] = token
        return token

    def _apply_cap(self, issued: list[IssuedToken], app: App, slot: int | None) -> None:
        """Revoke what the new token displaces: the holder of its slot, then all but the newest N."""
        keep = app.token_mode.keep
        if keep is None:
            return
        live = [token for token in issued if not token.revoked]
        if slot is not None:
            for token in live:
                if token.slot == slot:
                    token.revoked = True
            live = [token for token in live if not token.revoked]
        for token in live[: max(0, len(live) - (keep - 1))]:
            token.revoked = True

    def find(self, jwt: str) -> IssuedToken | None:
        claims = decode_jwt(jwt, self._key)
        jti = claims.get("jti") if claims else None
        return self._by_jti.get(jti) if isinstance(jti, str) else None

    def revoke_app(self, client_id: str, secret: str | None = None) -> int:
        """Revoke the app's tokens (only those minted with `secret` when given); returns how many."""
        revoked = 0
        for token in self._by_app.get(client_id, []):
            if not token.revoked and (secret is None or token.secret_used == secret):
                token.revoked = True
                revoked += 1
        return revoked

    def issued(self) -> list[IssuedToken]:
        """Every token issued so far, oldest first."""
        return [token for tokens in self._by_app.values() for token in tokens]

    def live_count(self, client_id: str, now: int) -> int:
        return sum(1 for t in self._by_app.get(client_id, []) if not t.revoked and now < t.expires_at)
