"""One consumer pod of the mint-economy benchmark (standard library only: 100 of these run on 2 cores).

Every `--interval` seconds (jittered) it makes one Zoom API call with each of two tokens:

- `op`: the token the operator keeps in the Secret, read from the file a kubelet would mount
  (`--token-file`, a JSON copy of the Secret's data written atomically by the bench's kubelet stand-in);
  re-read before every call, as the README tells service owners to do;
- `naive`: its own token for a second app, minted and cached in memory the way common SDKs do: mint
  when there is none or when `now >= expires_at - --naive-early` (60 s early at real scale), keep it in
  a variable, lose it when the process restarts.

Each call appends one line to `--events` (`<unix time> <arm> <what> <http status> <zoom code>`), so a
kill -9 loses at most a partial line; the bench counts them afterwards.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request


def call(
    url: str, *, method: str = "GET", headers: dict[str, str], data: bytes | None = None
) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read() or b"{}")
        except ValueError:
            body = {}
        return error.code, body if isinstance(body, dict) else {}
    except (OSError, ValueError):
        return 0, {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--naive-client-id", required=True)
    parser.add_argument("--naive-client-secret", required=True)
    parser.add_argument("--naive-early", type=float, required=True)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--events", required=True)
    args = parser.parse_args()
    fd = os.open(args.events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(arm: str, what: str, status: int, code: object = "-") -> None:
        os.write(fd, f"{time.time():.3f} {arm} {what} {status} {code}\n".encode())

    basic = base64.b64encode(f"{args.naive_client_id}:{args.naive_client_secret}".encode()).decode()
    form = urllib.parse.urlencode(
        {"grant_type": "account_credentials", "account_id": args.account_id}
    ).encode()
    naive_token: str | None = None
    naive_expires = 0.0
    record("proc", "start", 0)
    time.sleep(random.uniform(0, args.interval))
    while True:
        # The operator's token, as mounted.
        try:
            with open(args.token_file) as handle:
                mounted = json.load(handle)
        except (OSError, ValueError):
            mounted = None
        if mounted is None:
            record("op", "nofile", 0)
        else:
            stale = "expired-file" if float(mounted["expires_at_unix"]) <= time.time() else "call"
            status, body = call(
                f"{args.base_url}/v2/users/me", headers={"Authorization": f"Bearer {mounted['access_token']}"}
            )
            record("op", stale, status, body.get("code", "-"))
        # The naive SDK: mint when there is no cached token or it is about to expire.
        if naive_token is None or time.time() >= naive_expires - args.naive_early:
            status, body = call(
                f"{args.base_url}/oauth/token",
                method="POST",
                data=form,
                headers={
                    "Authorization": f"Basic {basic}",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            record("naive", "mint", status, body.get("error", "-"))
            if status == 200:
                naive_token = body["access_token"]
                naive_expires = time.time() + float(body["expires_in"])
        if naive_token is not None:
            status, body = call(
                f"{args.base_url}/v2/users/me", headers={"Authorization": f"Bearer {naive_token}"}
            )
            record("naive", "call", status, body.get("code", "-"))
        time.sleep(args.interval * random.uniform(0.5, 1.5))


if __name__ == "__main__":
    main()
