"""examples/consumer.py: the README's consumer re-reads the mounted token on each request.

The token folder is laid out the way the kubelet writes a Secret volume (files linked through
`..data`, swapped atomically on update), and a local HTTP server stands in for Zoom, accepting
only the current token.
"""

from __future__ import annotations

import http.server
import importlib.util
import os
import threading
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.chart.conftest import REPO_ROOT


def _load_consumer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("consumer", REPO_ROOT / "examples" / "consumer.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


consumer = _load_consumer()


class SecretVolume:
    """A Secret volume as the kubelet keeps it: ..<ts>/<key>, ..data -> ..<ts>, <key> -> ..data/<key>."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = 0

    def write(self, data: dict[str, str]) -> None:
        self.version += 1
        payload = self.root / f"..2026_01_01_00_00_0{self.version}"
        payload.mkdir()
        for key, value in data.items():
            (payload / key).write_text(value)
        tmp_link = self.root / "..data_tmp"
        tmp_link.symlink_to(payload.name)
        os.replace(tmp_link, self.root / "..data")  # atomic, like the kubelet's AtomicWriter
        for key in data:
            link = self.root / key
            if not link.is_symlink():
                link.symlink_to(f"..data/{key}")


class FakeZoom(http.server.ThreadingHTTPServer):
    valid_token = ""
    seen: list[str]


class Handler(http.server.BaseHTTPRequestHandler):
    server: FakeZoom

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.server.seen.append(auth)
        if auth != f"Bearer {self.server.valid_token}":
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"code":124,"message":"Invalid access token."}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id":"u-owner"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def zoom() -> Iterator[FakeZoom]:
    server = FakeZoom(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_consumer_rereads_the_token_file_on_each_request(tmp_path: Path, zoom: FakeZoom) -> None:
    volume = SecretVolume(tmp_path)
    api_url = f"http://127.0.0.1:{zoom.server_address[1]}"
    volume.write({"access_token": "token-1", "api_url": api_url, "token_type": "bearer"})
    zoom.valid_token = "token-1"
    assert consumer.zoom_get(tmp_path, "/v2/users/me") == {"id": "u-owner"}

    # The operator renewed the token and the kubelet swapped the files.
    volume.write({"access_token": "token-2", "api_url": api_url, "token_type": "bearer"})
    zoom.valid_token = "token-2"
    assert consumer.zoom_get(tmp_path, "/v2/users/me") == {"id": "u-owner"}
    assert zoom.seen == ["Bearer token-1", "Bearer token-2"]  # no 401 in between: no stale token


def test_consumer_retries_once_after_401_with_the_file_read_again(
    tmp_path: Path, zoom: FakeZoom, monkeypatch: pytest.MonkeyPatch
) -> None:
    volume = SecretVolume(tmp_path)
    api_url = f"http://127.0.0.1:{zoom.server_address[1]}"
    volume.write({"access_token": "old", "api_url": api_url})
    zoom.valid_token = "new"  # Zoom already accepts only the new token...

    swapped = threading.Event()
    original = consumer.read_token
    calls = 0

    def read_token(token_dir: Path) -> tuple[str, str]:
        nonlocal calls
        calls += 1
        if calls == 2 and not swapped.is_set():  # ...and the kubelet delivers it just after the 401
            volume.write({"access_token": "new", "api_url": api_url})
            swapped.set()
        return original(token_dir)  # type: ignore[no-any-return]

    with monkeypatch.context() as patch:
        patch.setattr(consumer, "read_token", read_token)
        assert consumer.zoom_get(tmp_path, "/v2/users/me") == {"id": "u-owner"}
    assert zoom.seen == ["Bearer old", "Bearer new"]

    # A token that stays rejected is not retried forever.
    zoom.valid_token = "something-else"
    zoom.seen.clear()
    with pytest.raises(urllib.error.HTTPError) as error:
        consumer.zoom_get(tmp_path, "/v2/users/me")
    assert error.value.code == 401
    assert len(zoom.seen) == 2
