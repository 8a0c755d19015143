"""Property tests of `spec.parse_spec` over arbitrary JSON: it never raises anything but SpecError,
what it accepts has sensible values, valid input round-trips, and it agrees with the CRD schema
(whatever the API server's schema admits, the parser serves or reports; never a crash).

The Zoom response mapping already has properties over arbitrary statuses, headers and bodies in
tests/unit/test_zoom_mapping.py (never raises, never leaks a token); they are not repeated here.
"""

from __future__ import annotations

import string
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.operator import CRD_PATH
from zoom_operator.spec import (
    MIN_PROBE_INTERVAL_SECONDS,
    MIN_RENEW_BEFORE_SECONDS,
    SpecError,
    ZoomAppSpec,
    parse_spec,
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)

# Spec-shaped: the real keys, each with either a plausible or an arbitrary value.
dns_names = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?", fullmatch=True)
keys = st.from_regex(r"[-._a-zA-Z0-9]{1,20}", fullmatch=True)
emails = st.from_regex(r"[a-z0-9.]{1,10}@[a-z0-9.]{1,10}", fullmatch=True)
user_ids = st.from_regex(r"[-_A-Za-z0-9]{1,20}", fullmatch=True)
urls = st.sampled_from(
    ["https://zoom.us", "http://127.0.0.1:9900", "https://api.zoomgov.com/", "https://x/y"]
)
scopes = st.from_regex(r"[a-z]{1,8}(:[a-z]{1,8}){0,2}", fullmatch=True)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return valid | json_values


spec_shaped = st.fixed_dictionaries(
    {},
    optional={
        "credentialsSecretRef": maybe(
            st.fixed_dictionaries(
                {"name": maybe(dns_names)},
                optional={
                    "accountIdKey": maybe(keys),
                    "clientIdKey": maybe(keys),
                    "clientSecretKey": maybe(keys),
                },
            )
        ),
        "expectedOwner": maybe(
            st.fixed_dictionaries({}, optional={"email": maybe(emails), "userId": maybe(user_ids)})
        ),
        "requiredScopes": maybe(st.lists(scopes, max_size=4, unique=True)),
        "tokenSecret": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": maybe(dns_names),
                    "labels": maybe(
                        st.dictionaries(keys, st.text(string.ascii_letters, max_size=10), max_size=3)
                    ),
                    "annotations": maybe(st.dictionaries(keys, st.text(max_size=10), max_size=3)),
                },
            )
        ),
        "renewBeforeSeconds": maybe(st.integers(min_value=-5, max_value=4000)),
        "probe": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "intervalSeconds": maybe(st.integers(min_value=-1, max_value=90000)),
                    "path": maybe(st.sampled_from(["/v2/users/{owner}", "/v2/users/me", "v2/x", ""])),
                },
            )
        ),
        "unauthorizedThreshold": maybe(st.integers(min_value=-1, max_value=25)),
        "mintBudgetPerHour": maybe(st.integers(min_value=-1, max_value=4000)),
        "auditorRef": maybe(st.fixed_dictionaries({"name": maybe(dns_names)})),
        "endpoints": maybe(
            st.fixed_dictionaries({}, optional={"oauthUrl": maybe(urls), "apiUrl": maybe(urls)})
        ),
    },
)

CRD = yaml.safe_load(CRD_PATH.read_text())
SPEC_SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
SPEC_VALIDATOR = jsonschema.Draft7Validator(SPEC_SCHEMA)


def _parse(spec: Any, app_name: str) -> ZoomAppSpec | SpecError:
    """The parsed spec, or the SpecError it raised; any other exception fails the test."""
    try:
        return parse_spec(spec, app_name=app_name)
    except SpecError as error:
        return error


def _check_accepted(parsed: ZoomAppSpec, app_name: str) -> None:
    """What any accepted spec must look like, whatever went in."""
    assert parsed.credentials.name
    assert parsed.token_secret.name
    assert parsed.expected_owner.email or parsed.expected_owner.user_id
    assert parsed.renew_before_seconds >= MIN_RENEW_BEFORE_SECONDS
    assert parsed.probe.interval_seconds >= MIN_PROBE_INTERVAL_SECONDS
    assert parsed.probe.path.startswith("/")
    assert parsed.unauthorized_threshold >= 1
    assert parsed.mint_budget_per_hour >= 1
    assert all(isinstance(s, str) and s for s in parsed.required_scopes)
    for url in (parsed.endpoints.oauth_url, parsed.endpoints.api_url):
        assert url.startswith(("http://", "https://"))
        assert not url.endswith("/")
    for key in (
        parsed.credentials.account_id_key,
        parsed.credentials.client_id_key,
        parsed.credentials.client_secret_key,
    ):
        assert key
        assert all(c.isalnum() or c in "-._" for c in key)


@settings(max_examples=400, deadline=None)
@given(spec=json_values)
def test_arbitrary_json_is_parsed_or_refused_with_spec_error(spec: Any) -> None:
    parsed = _parse(spec, "app")
    if isinstance(parsed, SpecError):
        assert str(parsed).startswith("spec.")
    else:
        _check_accepted(parsed, "app")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=spec_shaped)
def test_spec_shaped_input_is_parsed_or_refused_with_a_field_named(spec: dict[str, Any]) -> None:
    parsed = _parse(spec, "my-app")
    if isinstance(parsed, SpecError):
        named = parsed.field.split(".")[0]
        assert named in {*spec, "credentialsSecretRef", "expectedOwner"}, f"{parsed} names a field not given"
    else:
        _check_accepted(parsed, "my-app")


@settings(max_examples=300, deadline=None)
@given(
    name=dns_names,
    email=emails,
    renew=st.integers(min_value=10, max_value=3599),
    interval=st.integers(min_value=5, max_value=86400),
    budget=st.integers(min_value=1, max_value=3600),
    threshold=st.integers(min_value=1, max_value=20),
    wanted=st.lists(scopes, max_size=5, unique=True),
    url=urls,
)
def test_valid_specs_round_trip(
    name: str, email: str, renew: int, interval: int, budget: int, threshold: int, wanted: list[str], url: str
) -> None:
    parsed = parse_spec(
        {
            "credentialsSecretRef": {"name": name},
            "expectedOwner": {"email": email},
            "renewBeforeSeconds": renew,
            "probe": {"intervalSeconds": interval},
            "mintBudgetPerHour": budget,
            "unauthorizedThreshold": threshold,
            "requiredScopes": wanted,
            "endpoints": {"oauthUrl": url, "apiUrl": url},
        },
        app_name="app",
    )
    assert parsed.credentials.name == name
    assert parsed.expected_owner.email == email
    assert (parsed.renew_before_seconds, parsed.probe.interval_seconds) == (renew, interval)
    assert (parsed.mint_budget_per_hour, parsed.unauthorized_threshold) == (budget, threshold)
    assert parsed.required_scopes == frozenset(wanted)
    assert parsed.endpoints.oauth_url == url.rstrip("/")
    assert parsed.token_secret.name == "app-token"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=spec_shaped)
def test_what_the_crd_schema_admits_the_parser_serves(spec: dict[str, Any]) -> None:
    """No spec gets past the API server only to be refused by the operator (CEL rules aside, which only
    narrow what the schema admits)."""
    if not SPEC_VALIDATOR.is_valid(spec):
        return
    owner = spec.get("expectedOwner") or {}
    if not (owner.get("email") or owner.get("userId")):
        return  # the CEL rule on expectedOwner refuses this at the API server
    if "/../" in str((spec.get("probe") or {}).get("path", "")) + "/":
        return  # the CEL rule on probe refuses '..' segments at the API server
    parsed = parse_spec(spec, app_name="my-app")
    _check_accepted(parsed, "my-app")
