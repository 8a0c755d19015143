"""The token Secret that pods mount: how it is rendered, who owns it, and how a token is read back.

Pure dict transforms. The Secret is owned by its ZoomApp (a controller ownerReference with the app's
uid), labelled so the operator's server-side selector sees it, and carries the token's facts in
annotations so a restart can reuse it. The operator reads, adopts, repairs or writes only a token
Secret that `is_owned_by` its ZoomApp: any other Secret of that name is someone else's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

from zoom_operator.secret import Secret
from zoom_operator.spec import TokenSecretTemplate

# re-exported for the modules that import them from here; their home is zoom_operator.timefmt
from zoom_operator.timefmt import parse_rfc3339 as parse_rfc3339
from zoom_operator.timefmt import rfc3339 as rfc3339
from zoom_operator.zoom.mapping import decode_exp
from zoom_operator.zoom.outcomes import TokenIssued

ZOOMAPP_ANNOTATION: Final = "zoom-operator.io/zoomapp"
EXPIRES_ANNOTATION: Final = "zoom-operator.io/expires-at"
ISSUED_ANNOTATION: Final = "zoom-operator.io/issued-at"
FINGERPRINT_ANNOTATION: Final = "zoom-operator.io/fingerprint"
OWNER_UID_ANNOTATION: Final = "zoom-operator.io/owner-uid"
CLIENT_ID_ANNOTATION: Final = "zoom-operator.io/client-id-fingerprint"  # whose credentials minted it
UNMAINTAINED_ANNOTATION: Final = "zoom-operator.io/no-longer-maintained"
ZOOMAPP_API_VERSION: Final = "zoom-operator.io/v1alpha1"
APP_LABEL: Final = "zoom-operator.io/zoomapp"
# The one label key that says what a Secret is to the operator: `token` (SECRET_KIND_TOKEN) on the token
# Secrets it writes, `true` (credentials.CREDENTIALS_LABEL_VALUE) on a credentials Secret whose writer
# consents to its use. The operator watches only Secrets with this label (server-side selector).
SECRET_KIND_LABEL: Final = "zoom-operator.io/credentials"
SECRET_KIND_TOKEN: Final = "token"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
TOKEN_KEYS: Final = ("access_token", "token_type", "expires_at", "issued_at", "scope", "api_url")


def render_token_secret(
    *,
    namespace: str,
    app_name: str,
    app_uid: str,
    template: TokenSecretTemplate,
    token: TokenIssued,
    default_api_url: str,
    client_id_fingerprint: str | None = None,
) -> dict[str, Any]:
    """The full Secret body for `token` (create or replace)."""
    data = {
        "access_token": token.access_token.reveal(),
        "token_type": token.token_type,
        "expires_at": rfc3339(token.expires_at),
        "issued_at": rfc3339(token.issued_at),
        "scope": " ".join(sorted(token.scopes)),
        "api_url": token.api_url or default_api_url,
    }
    labels = {
        **template.labels,
        MANAGED_BY_LABEL: "zoom-operator",
        APP_LABEL: app_name[:63].rstrip("-."),  # a label value: at most 63 characters, ending alphanumeric
        SECRET_KIND_LABEL: SECRET_KIND_TOKEN,
    }
    annotations = {
        **template.annotations,
        ZOOMAPP_ANNOTATION: f"{namespace}/{app_name}",
        EXPIRES_ANNOTATION: rfc3339(token.expires_at),
        ISSUED_ANNOTATION: rfc3339(token.issued_at),
        FINGERPRINT_ANNOTATION: token.access_token.fingerprint(),
    }
    if token.owner_uid:
        annotations[OWNER_UID_ANNOTATION] = token.owner_uid
    if client_id_fingerprint:
        annotations[CLIENT_ID_ANNOTATION] = client_id_fingerprint
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": template.name,
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": ZOOMAPP_API_VERSION,
                    "kind": "ZoomApp",
                    "name": app_name,
                    "uid": app_uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def read_stored_token(secret: Mapping[str, Any] | None) -> TokenIssued | None:
    """The token a Secret holds, if it is one this operator wrote and it is still well-formed."""
    if not secret:
        return None
    data = secret.get("data") or {}
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    if not isinstance(data, Mapping) or not isinstance(annotations, Mapping):
        return None
    values: dict[str, str] = {}
    for key in TOKEN_KEYS:
        raw = data.get(key)
        if not isinstance(raw, str):
            return None
        try:
            values[key] = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
    issued_at = parse_rfc3339(values["issued_at"])
    expires_at = parse_rfc3339(values["expires_at"])
    if issued_at is None or expires_at is None or not values["access_token"]:
        return None
    access_token = Secret(values["access_token"])
    if annotations.get(FINGERPRINT_ANNOTATION) != access_token.fingerprint():
        return None  # edited by hand: the data no longer matches what the operator wrote
    claimed_expiry = decode_exp(values["access_token"])
    if claimed_expiry is not None and claimed_expiry < expires_at:
        expires_at = claimed_expiry  # the token's own `exp` wins over a later date written beside it
    if issued_at > expires_at:
        return None
    owner_uid = annotations.get(OWNER_UID_ANNOTATION)
    return TokenIssued(
        access_token=access_token,
        token_type=values["token_type"] or "bearer",
        issued_at=issued_at,
        expires_at=expires_at,
        scopes=frozenset(values["scope"].split()),
        api_url=values["api_url"] or None,
        owner_uid=owner_uid if isinstance(owner_uid, str) else None,
    )


def controller_of(secret: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The (uid, name) of the ZoomApp that controls this Secret, if a ZoomApp does."""
    if not secret:
        return None
    refs = (secret.get("metadata") or {}).get("ownerReferences") or []
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if (
            isinstance(ref, Mapping)
            and ref.get("controller") is True
            and ref.get("kind") == "ZoomApp"
            and str(ref.get("apiVersion") or "").split("/")[0] == ZOOMAPP_API_VERSION.split("/")[0]
            and isinstance(ref.get("uid"), str)
        ):
            return str(ref["uid"]), str(ref.get("name") or "")
    return None


def controller_uid(secret: Mapping[str, Any] | None) -> str | None:
    """The uid of the ZoomApp that controls this Secret, if a ZoomApp does."""
    controller = controller_of(secret)
    return controller[0] if controller else None


def is_owned_by(secret: Mapping[str, Any] | None, app_uid: str) -> bool:
    """Whether this Secret is the token Secret of the ZoomApp with `app_uid` (its controller)."""
    return bool(app_uid) and controller_uid(secret) == app_uid


def client_id_fingerprint(secret: Mapping[str, Any] | None) -> str | None:
    """The fingerprint of the client ID whose credentials minted the Secret's token, when recorded."""
    annotations = ((secret or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(CLIENT_ID_ANNOTATION) if isinstance(annotations, Mapping) else None
    return value if isinstance(value, str) and value else None


def is_intact(secret: Mapping[str, Any] | None, expected: Mapping[str, Any]) -> bool:
    """Whether a live Secret still holds exactly what the operator rendered (data, labels, annotations)."""
    if not secret:
        return False
    if secret.get("data") != expected["data"]:
        return False
    live_meta = secret.get("metadata") or {}
    want_meta = expected["metadata"]
    for part in ("labels", "annotations"):
        live = live_meta.get(part) or {}
        if any(live.get(k) != v for k, v in want_meta[part].items()):
            return False
    return True
