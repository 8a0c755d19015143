"""`zoom-operator diagnose`'s verdict and report (pure): the exit code, the text and JSON reports of
what one run saw, and the scrubbing of every credential and token it held."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from zoom_operator import diagnosis as dx
from zoom_operator.diagnose_input import (
    APP_NAME,
    AUDITOR_PLACEHOLDER,
    CREDENTIALS_PLACEHOLDER,
    TOKEN_PLACEHOLDER,
)
from zoom_operator.secret import Secret
from zoom_operator.timefmt import rfc3339
from zoom_operator.zoom.outcomes import (
    ApiError,
    ApiOk,
    ApiOutcome,
    AppDisabled,
    ClientRejected,
    NotFound,
    OwnerMissing,
    RateLimited,
    ScopeMissing,
    TokenIssued,
    TokenOutcome,
    Transient,
    Unauthorized,
    ZoomUser,
    zoom_code,
)

EXIT_HEALTHY: Final = 0
EXIT_HUMAN_ACTION: Final = 1
EXIT_NOT_HEALTHY: Final = 2  # could not tell, a problem neither flag covers, or bad input
EXIT_INTERRUPTED: Final = 130

VERDICTS: Final = {
    EXIT_HEALTHY: "healthy",
    EXIT_HUMAN_ACTION: "human action required",
    EXIT_NOT_HEALTHY: "not healthy, no human-action flag",
}

Who = Literal["app", "auditor"]
LOOKUP_SOURCES: Final = {"probe": "the probe", "token": "the app's token", "auditor": "the auditor app"}


@dataclass(frozen=True)
class RequestRecord:
    """One request diagnose made and what Zoom answered."""

    who: Who
    method: str
    path: str
    at: datetime
    http_status: int | None
    outcome: TokenOutcome | ApiOutcome


@dataclass(frozen=True)
class Findings:
    """What one run saw and concluded."""

    diagnosis: dx.Diagnosis
    snapshot: dx.Snapshot
    token: TokenIssued | None  # the newest token minted for the app
    requests: tuple[RequestRecord, ...]
    credentials_source: str
    notes: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = field(default=(), repr=False)  # everything the output must not contain


# --- the verdict and the report (pure) ---------------------------------------------------------------


def exit_code(diagnosis: dx.Diagnosis) -> int:
    """0 healthy (Ready True, no flag), 1 a human-action flag is True, 2 anything else."""
    if diagnosis.human_action_required():
        return EXIT_HUMAN_ACTION
    if diagnosis.ready.status == "True":
        return EXIT_HEALTHY
    return EXIT_NOT_HEALTHY


def _ts(at: datetime | None) -> str | None:
    return None if at is None else rfc3339(at)


def describe_outcome(outcome: TokenOutcome | ApiOutcome) -> str:
    """What Zoom answered, in a few words (Zoom's own text is already sanitized by the mapping)."""
    match outcome:
        case TokenIssued():
            return f"token issued, expires in {int(outcome.expires_in_seconds)} s"
        case ClientRejected():
            return f'{outcome.error}: "{outcome.reason}"'
        case AppDisabled() | OwnerMissing():
            return f'"{outcome.reason}"'
        case RateLimited():
            kind = f" ({outcome.limit_type})" if outcome.limit_type else ""
            return f'rate limited{kind}: "{outcome.message}"'
        case Transient():
            return f"{outcome.kind}: {outcome.detail}"
        case ApiOk():
            return "OK"
        case Unauthorized() | ScopeMissing() | NotFound() | ApiError():
            code = f"code {outcome.code} " if outcome.code is not None else ""
            return f'{code}"{outcome.message}"'
    raise AssertionError(f"unhandled outcome {type(outcome).__name__}")


def token_json(findings: Findings) -> dict[str, Any]:
    token = findings.token
    mints = sum(1 for r in findings.requests if r.who == "app" and r.method == "POST")
    issued = sum(1 for r in findings.requests if r.who == "app" and isinstance(r.outcome, TokenIssued))
    missing = findings.snapshot.spec.required_scopes - token.scopes if token else frozenset()
    return {
        "issuedAt": _ts(token.issued_at) if token else None,
        "expiresAt": _ts(token.expires_at) if token else None,
        "scopes": sorted(token.scopes) if token else None,
        "missingScopes": sorted(missing),
        "ownerUid": token.owner_uid if token else None,
        "fingerprint": token.access_token.fingerprint() if token else None,
        "mints": mints,
        "tokensIssued": issued,
    }


def owner_json(findings: Findings) -> dict[str, Any]:
    snapshot = findings.snapshot
    facts = snapshot.owner
    expected = snapshot.spec.expected_owner.describe()
    user = facts.lookup if facts is not None and isinstance(facts.lookup, ZoomUser) else None
    role = facts.role if facts is not None else None
    found = None if facts is None or facts.lookup is None else user is not None
    return {
        "expected": expected,
        "found": found,
        "userId": user.id if user else None,
        "email": user.email if user else None,
        "status": user.status if user else None,
        "roleId": user.role_id if user else None,
        "roleName": (role.name if role else user.role_name) if user else None,
        "s2sPrivilege": (snapshot.s2s_privilege in role.privileges) if role else None,
        "source": facts.source if facts else None,
        "checkedAt": _ts(facts.checked_at) if facts else None,
    }


def request_json(record: RequestRecord) -> dict[str, Any]:
    return {
        "client": record.who,
        "method": record.method,
        "path": record.path,
        "at": _ts(record.at),
        "httpStatus": record.http_status,
        "outcome": type(record.outcome).__name__,
        "zoomCode": zoom_code(record.outcome),
        "message": describe_outcome(record.outcome),
        "trackingId": record.outcome.tracking_id,
    }


def report_json(findings: Findings) -> dict[str, Any]:
    code = exit_code(findings.diagnosis)
    return {
        "conditions": [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
            for c in findings.diagnosis.conditions()
        ],
        "token": token_json(findings),
        "owner": owner_json(findings),
        "requests": [request_json(r) for r in findings.requests],
        "verdict": VERDICTS[code],
        "exitCode": code,
        "notes": list(findings.notes),
    }


def _wrap(text: str, indent: int = 4, width: int = 100) -> str:
    pad = " " * indent
    return textwrap.fill(text, width=width, initial_indent=pad, subsequent_indent=pad, break_on_hyphens=False)


def report_text(findings: Findings) -> str:
    code = exit_code(findings.diagnosis)
    snapshot = findings.snapshot
    lines = [
        f"zoom-operator diagnose: {VERDICTS[code].upper()} (exit {code}); credentials from "
        f"{findings.credentials_source}, Zoom at {snapshot.spec.endpoints.oauth_url} and "
        f"{snapshot.spec.endpoints.api_url}",
        "",
    ]
    for condition in findings.diagnosis.conditions():
        lines.append(f"{condition.type:<24} {condition.status:<7} {condition.reason}")
        lines.append(_wrap(condition.message))
    token = token_json(findings)
    lines += ["", "Token"]
    if findings.token is None:
        lines.append(f"    none issued ({token['mints']} token request(s))")
    else:
        lines += [
            f"    issued {token['issuedAt']}, expires {token['expiresAt']}, "
            f"fingerprint {token['fingerprint']}",
            f"    scopes: {' '.join(token['scopes']) or '(none)'}",
            f"    missing required scopes: {' '.join(token['missingScopes']) or 'none'}",
            f"    owner uid (token claim): {token['ownerUid'] or 'not in the token'}",
            f"    token requests: {token['mints']}, tokens issued: {token['tokensIssued']}",
        ]
    owner = owner_json(findings)
    lines += ["", f"Owner (expected: {owner['expected']})"]
    looked_up = f"looked up by {LOOKUP_SOURCES.get(owner['source'], '')} at {owner['checkedAt']}"
    if owner["found"] is None:
        lines.append("    not looked up (or the lookup got no answer)")
    elif not owner["found"]:
        lines.append(f"    NOT FOUND in the account, {looked_up}")
    else:
        role = f"role {owner['roleName'] or '?'} ({owner['roleId'] or 'no role id'})"
        privilege = {True: "has", False: "LACKS", None: "not checked:"}[owner["s2sPrivilege"]]
        lines += [
            f"    {owner['email']} ({owner['userId']}), {owner['status']}, {role}",
            f"    {privilege} {snapshot.s2s_privilege}; {looked_up}",
        ]
    lines += ["", "Requests"]
    for record in findings.requests:
        status = record.http_status if record.http_status is not None else "---"
        tracking = record.outcome.tracking_id or "-"
        lines.append(
            f"    {record.who:<7} {record.method:<4} {record.path}  {status}  "
            f"{describe_outcome(record.outcome)}  (tracking id {tracking})"
        )
    for note in findings.notes:
        lines.append(_wrap(f"Note: {note}", indent=0))
    lines += ["", _wrap(_legend(findings), indent=0)]
    return "\n".join(lines) + "\n"


def _legend(findings: Findings) -> str:
    names = [
        f'"ZoomApp {APP_NAME}" is this run',
        f'"Secret {TOKEN_PLACEHOLDER}" the token it minted (held in memory only, never stored or shown)',
    ]
    if findings.snapshot.credentials_secret == CREDENTIALS_PLACEHOLDER:
        names.append(f'"Secret {CREDENTIALS_PLACEHOLDER}" the credentials given on the command line')
    if findings.snapshot.spec.auditor_ref:
        names.append(f'"auditor ZoomApp {AUDITOR_PLACEHOLDER}" the auditor credentials given')
    return "In the messages above, " + ", ".join(names) + "."


def scrub(text: str, secrets: Iterable[Secret]) -> str:
    """`text` with every credential and token this run held masked: the last guard before output."""
    for secret in secrets:
        value = secret.reveal()
        if value:
            text = text.replace(value, "***")
    return text
