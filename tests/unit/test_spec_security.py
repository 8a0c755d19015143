"""Validation that matches use: every endpoint URL and probe path the operator accepts is one the Zoom
client can send to, on the allowlist, and the CRD says the same as `parse_spec`."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from zoom_operator.spec import (
    DEFAULT_ALLOWED_ENDPOINTS,
    ENDPOINT_URL_PATTERN,
    PROBE_PATH_PATTERN,
    EndpointAllowlist,
    SpecError,
    parse_spec,
)
from zoom_operator.zoom.client import ZoomClient

CRD = Path(__file__).resolve().parents[2] / "crds" / "zoomapps.zoom-operator.io.yaml"
SIM = "http://127.0.0.1:9900"


def _spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def _spec(**fields: Any) -> dict[str, Any]:
    return {
        "credentialsSecretRef": {"name": "bot-zoom"},
        "expectedOwner": {"email": "dev-lead@example.com"},
        **fields,
    }


def test_the_crd_patterns_are_the_parsers_patterns() -> None:
    endpoints = _spec_schema()["properties"]["endpoints"]["properties"]
    assert endpoints["oauthUrl"]["pattern"] == ENDPOINT_URL_PATTERN
    assert endpoints["apiUrl"]["pattern"] == ENDPOINT_URL_PATTERN
    assert _spec_schema()["properties"]["probe"]["properties"]["path"]["pattern"] == PROBE_PATH_PATTERN


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://zoom.us/?next=evil", "query string or fragment"),
        ("https://zoom.us#frag", "query string or fragment"),
        ("https://admin:hunter2@zoom.us", "user name or password"),
        ("https://zoom.us:99999", "port that is not a number from 1 to 65535"),
        ("https://zoom.us:0", "port from 1 to 65535"),
        ("https://zoom.us:http", "port that is not a number"),
        ("ftp://zoom.us", "not an http(s) URL"),
        ("https://zo om.us", "spaces"),
        ("https://zoöm.us", "ASCII host name"),
    ],
)
def test_an_endpoint_the_client_would_reject_is_an_invalid_spec_before_anything_is_sent(
    url: str, says: str
) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(_spec(endpoints={"oauthUrl": url}), app_name="bot")
    assert raised.value.field == "endpoints.oauthUrl"
    assert says in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert not re.fullmatch(ENDPOINT_URL_PATTERN, url), "the CRD rejects it too"


def test_an_endpoint_outside_the_allowlist_is_an_invalid_spec_naming_the_allowlist() -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(
            _spec(endpoints={"oauthUrl": "http://10.0.0.1:8080", "apiUrl": "https://api.zoom.us"}),
            app_name="bot",
            allowlist=EndpointAllowlist(),
        )
    assert raised.value.field == "endpoints.oauthUrl"
    assert "not on the operator's endpoint allowlist" in str(raised.value)
    assert "--allow-endpoint" in str(raised.value)


def test_the_default_allowlist_is_zoom_and_zoom_for_government_over_https_only() -> None:
    allowlist = EndpointAllowlist()
    assert allowlist.prefixes == DEFAULT_ALLOWED_ENDPOINTS
    for url in ("https://zoom.us", "https://api.zoom.us", "https://zoomgov.com", "https://api.zoomgov.com/"):
        assert allowlist.allows(url)
    for url in (
        "http://zoom.us",
        "https://zoom.us.attacker.example",
        "https://attacker.example/https://zoom.us",
        "https://zoom.us:8443",
        "https://evilzoom.us",
        "http://127.0.0.1:9900",
    ):
        assert not allowlist.allows(url), url
    assert parse_spec(_spec(), app_name="bot", allowlist=allowlist).endpoints.oauth_url == "https://zoom.us"


def test_an_allowlist_prefix_matches_on_url_structure() -> None:
    allowlist = EndpointAllowlist.parse([SIM, "https://proxy.example/zoom/"])
    assert allowlist.allows(SIM)
    assert allowlist.allows(SIM + "/")
    assert allowlist.allows("https://proxy.example/zoom")
    assert allowlist.allows("https://proxy.example/zoom/api")
    assert not allowlist.allows("http://127.0.0.1:9901")
    assert not allowlist.allows("https://proxy.example/zoomish")
    assert not allowlist.allows("https://zoom.us"), "--allow-endpoint replaces the default"
    with pytest.raises(ValueError, match=r"--allow-endpoint 'https://x/\?a=1'"):
        EndpointAllowlist.parse(["https://x/?a=1"])


@pytest.mark.parametrize(
    "path", ["/", "/oauth/token", "/v1/users/me", "v2/users/me", "/v2/users/me?x=1", "/v2/../oauth/token"]
)
def test_the_probe_path_must_be_a_zoom_api_path(path: str) -> None:
    with pytest.raises(SpecError, match=r"probe\.path"):
        parse_spec(_spec(probe={"path": path}), app_name="bot")


hosts = st.from_regex(
    r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?){0,2}", fullmatch=True
)
ports = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
paths = st.from_regex(r"(/[A-Za-z0-9._~%!$&'()*+,;=:-]{0,8}){0,3}", fullmatch=True)


@given(scheme=st.sampled_from(["http", "https"]), host=hosts, port=ports, path=paths)
def test_every_url_the_crd_accepts_the_parser_and_the_client_accept(
    scheme: str, host: str, port: str, path: str
) -> None:
    url = f"{scheme}://{host}{port}{path}"
    assert re.fullmatch(ENDPOINT_URL_PATTERN, url)
    spec = parse_spec(_spec(endpoints={"oauthUrl": url, "apiUrl": url}), app_name="bot")
    client = ZoomClient(oauth_url=spec.endpoints.oauth_url, api_url=spec.endpoints.api_url)
    httpx.URL(client.oauth_url + "/oauth/token")


@given(text=st.text(max_size=40))
def test_no_text_makes_the_parser_raise_anything_but_a_spec_error(text: str) -> None:
    for fields in ({"endpoints": {"oauthUrl": text}}, {"probe": {"path": text}}):
        with contextlib.suppress(SpecError):
            parse_spec(_spec(**fields), app_name="bot", allowlist=EndpointAllowlist())
