"""Reading a ZoomApp's credentials Secret into typed values, or into a problem a human can fix.

Pure: takes the Secret as the API server returned it (a dict) and never echoes a value it read.

Consent: the operator uses a Secret as credentials only when whoever wrote it labelled it
`zoom-operator.io/credentials=true`. A ZoomApp's creator may be unable to read the namespace's
Secrets; without the label, naming any Secret in `credentialsSecretRef` would make the operator read
it on their behalf. The operator never adds that label itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from zoom_operator.diagnosis import READY_CREDENTIALS_INVALID, READY_CREDENTIALS_MISSING, CredentialsProblem
from zoom_operator.kube.token_secret import SECRET_KIND_LABEL
from zoom_operator.secret import Secret
from zoom_operator.spec import CredentialsSecretRef

CREDENTIALS_LABEL: Final = SECRET_KIND_LABEL  # old name, kept only for worker.py: use SECRET_KIND_LABEL
CREDENTIALS_LABEL_VALUE: Final = "true"
MAX_VALUE_BYTES: Final = 4096


@dataclass(frozen=True, slots=True)
class Credentials:
    account_id: str
    client_id: str
    client_secret: Secret = field(repr=False)
    fingerprint: str  # sha256 prefix over all three values: tells a changed Secret without storing it

    @property
    def client_id_fingerprint(self) -> str:
        """What status, Events and logs show of the client ID: a sha256 prefix, never the value."""
        return fingerprint(self.client_id)


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def label_command(namespace: str, name: str) -> str:
    return f"kubectl label secret -n {namespace} {name} {SECRET_KIND_LABEL}={CREDENTIALS_LABEL_VALUE}"


def unlabelled(namespace: str, ref: CredentialsSecretRef) -> CredentialsProblem:
    """The Secret exists but its writer has not consented to the operator reading it."""
    return _invalid(
        f"Secret {namespace}/{ref.name} is not labelled {SECRET_KIND_LABEL}={CREDENTIALS_LABEL_VALUE}, so it "
        "is not read: zoom-operator uses only Secrets that their writer labelled as credentials. If it holds "
        f"this app's credentials, whoever manages the Secret runs: {label_command(namespace, ref.name)}"
    )


def read_credentials(
    secret: Mapping[str, Any] | None, ref: CredentialsSecretRef, namespace: str
) -> Credentials | CredentialsProblem:
    where = f"Secret {namespace}/{ref.name}"
    if secret is None:
        return CredentialsProblem(
            reason=READY_CREDENTIALS_MISSING,
            message=(
                f"{where} does not exist. Create it in namespace {namespace} with the keys "
                f"{ref.account_id_key}, {ref.client_id_key} and {ref.client_secret_key} from the app's "
                "App Credentials page in the Zoom App Marketplace; the operator picks it up within seconds."
            ),
        )
    if not is_labelled(secret):
        return unlabelled(namespace, ref)
    data = secret.get("data") or {}
    if not isinstance(data, Mapping):
        data = {}
    values: dict[str, str] = {}
    for key in (ref.account_id_key, ref.client_id_key, ref.client_secret_key):
        raw = data.get(key)
        if raw is None:
            return _invalid(f"{where} has no key {key!r}; add it (keys present: {_key_list(data)}).")
        try:
            decoded = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
        except (binascii.Error, ValueError):
            return _invalid(f"{where} key {key!r} is not valid base64; rewrite the Secret with kubectl.")
        if len(decoded) > MAX_VALUE_BYTES:
            return _invalid(
                f"{where} key {key!r} is {len(decoded)} bytes; Zoom credentials are short strings."
            )
        try:
            text = decoded.decode("utf-8").strip()
        except UnicodeDecodeError:
            return _invalid(
                f"{where} key {key!r} is not UTF-8 text; paste the value exactly as the Zoom App Marketplace "
                "shows it."
            )
        if not text:
            return _invalid(
                f"{where} key {key!r} is empty; put the app's value from the App Credentials page."
            )
        if any(c.isspace() or not c.isprintable() for c in text):
            return _invalid(
                f"{where} key {key!r} contains spaces or control characters; Zoom credentials have none."
            )
        values[key] = text
    digest = fingerprint(
        "\0".join(values[k] for k in (ref.account_id_key, ref.client_id_key, ref.client_secret_key))
    )
    return Credentials(
        account_id=values[ref.account_id_key],
        client_id=values[ref.client_id_key],
        client_secret=Secret(values[ref.client_secret_key]),
        fingerprint=digest,
    )


def is_labelled(secret: Mapping[str, Any]) -> bool:
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return isinstance(labels, Mapping) and labels.get(SECRET_KIND_LABEL) == CREDENTIALS_LABEL_VALUE


def _invalid(message: str) -> CredentialsProblem:
    return CredentialsProblem(reason=READY_CREDENTIALS_INVALID, message=message)


def _key_list(data: Mapping[str, Any]) -> str:
    keys = sorted(str(k) for k in data)[:10]
    return ", ".join(keys) if keys else "none"
