"""Pure regression tests for bugs the reliability suite found (each also has an end-to-end test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zoom_operator.kube.token_secret import APP_LABEL, render_token_secret
from zoom_operator.secret import Secret
from zoom_operator.spec import SpecError, TokenSecretTemplate, parse_spec
from zoom_operator.zoom.outcomes import TokenIssued

SPEC = {"credentialsSecretRef": {"name": "creds"}, "expectedOwner": {"email": "dev-lead@example.com"}}


def test_a_name_too_long_for_the_default_token_secret_is_a_spec_error() -> None:
    """A 250-character ZoomApp without tokenSecret.name used to be accepted; its token Secret
    `<name>-token` (256 characters) was then refused by the API server on every attempt, and status
    never said why."""
    with pytest.raises(SpecError, match=r"tokenSecret\.name: is required"):
        parse_spec(SPEC, app_name="n" * 250)
    assert parse_spec(SPEC, app_name="n" * 247).token_secret.name == "n" * 247 + "-token"
    named = parse_spec({**SPEC, "tokenSecret": {"name": "short"}}, app_name="n" * 253)
    assert named.token_secret.name == "short"


@pytest.mark.parametrize("name", ["a" * 62 + "-" + "b" * 10, "a" * 62 + "." + "b" * 10, "a" * 70])
def test_the_app_label_on_the_token_secret_is_a_valid_label_value(name: str) -> None:
    """The label was the name cut to 63 characters, which can end in '-' or '.' (invalid: the API
    server refused the Secret and the app was never served)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    token = TokenIssued(
        access_token=Secret("t"),
        token_type="bearer",
        issued_at=now,
        expires_at=now + timedelta(hours=1),
        scopes=frozenset(),
        api_url=None,
        owner_uid=None,
    )
    body = render_token_secret(
        namespace="ns",
        app_name=name,
        app_uid="uid",
        template=TokenSecretTemplate(name="tok"),
        token=token,
        default_api_url="https://api.zoom.us",
    )
    label = body["metadata"]["labels"][APP_LABEL]
    assert 0 < len(label) <= 63
    assert label[0].isalnum()
    assert label[-1].isalnum()
