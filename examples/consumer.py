"""A minimal consumer of a zoom-operator token Secret: re-read the mounted file on every request.

Mount the ZoomApp's token Secret (default name `<zoomapp>-token`) as a volume, without `subPath`:

    volumes:
      - name: zoom-token
        secret:
          secretName: meetings-bot-token
    containers:
      - volumeMounts:
          - name: zoom-token
            mountPath: /var/run/zoom
            readOnly: true

The kubelet swaps the files in place when the operator renews the token (atomically, through the
`..data` link), 60-90 s after the Secret changes. So: read the file for each request, never cache
the token in memory for long, never copy it into an environment variable, and never mount it with
`subPath` (those never see a renewed token). On a 401, read the file again and retry once: the
operator may have renewed the token a moment ago.

    python examples/consumer.py /var/run/zoom /v2/users/me

Standard library only.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_API_URL = "https://api.zoom.us"


def read_token(token_dir: Path) -> tuple[str, str]:
    """(access_token, api_url) as the Secret holds them now."""
    token = (token_dir / "access_token").read_text().strip()
    api_file = token_dir / "api_url"
    api_url = api_file.read_text().strip() if api_file.exists() else DEFAULT_API_URL
    return token, api_url.rstrip("/")


def zoom_get(token_dir: Path, path: str, *, timeout: float = 10.0) -> Any:
    """GET a Zoom API path with the token from the mounted Secret; re-read and retry once on 401."""
    for attempt in (1, 2):
        token, api_url = read_token(token_dir)  # every request: the file is the source of truth
        request = urllib.request.Request(  # noqa: S310 - the URL comes from the operator's Secret
            f"{api_url}{path}", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            if error.code == 401 and attempt == 1:
                continue  # the token may just have been renewed: read the file again
            raise
    raise AssertionError("unreachable")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} TOKEN_DIR API_PATH   e.g. /var/run/zoom /v2/users/me")
    print(json.dumps(zoom_get(Path(sys.argv[1]), sys.argv[2]), indent=2))
