"""URL paths of Zoom's REST API as the operator builds and recognises them (pure, no I/O).

`path_segment` is the one way a value (a user id or email, a role id) goes into a path; `is_user_path`
tells a path (or probe template) that reads one user, `/v2/users/{id}`.
"""

from __future__ import annotations

from urllib.parse import quote


def path_segment(value: str) -> str:
    """`value` quoted as one URL path segment: `/`, `?`, `#`, `%` and spaces escaped, `.`/`..` defused."""
    quoted = quote(value, safe="@")
    return quoted.replace(".", "%2E") if quoted.strip(".") == "" else quoted


def is_user_path(path: str) -> bool:
    """Whether `path` reads one user (`/v2/users/{owner}`, `/v2/users/me`): its 404 means the user is gone."""
    return path.startswith("/v2/users/") and path.count("/") == 3
