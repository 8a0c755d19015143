"""The requests that gather evidence, shared by the operator and `zoom-operator diagnose`.

Each executor makes one or two Zoom requests through a `ZoomGateway` (the Zoom client, or diagnose's
recording wrapper around it) and returns evidence as the diagnosis reads it: a `MintRecord`, a
`ProbeRecord`, `OwnerFacts`. They decide nothing (that is `planner.py`) and keep nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Literal, Protocol

from zoom_operator.diagnosis import MintRecord, OwnerFacts, ProbeRecord
from zoom_operator.planner import ROLE_READ_SCOPES
from zoom_operator.secret import Secret
from zoom_operator.zoom.mapping import parse_user
from zoom_operator.zoom.outcomes import (
    ApiOk,
    ApiOutcome,
    NotFound,
    TokenIssued,
    TokenOutcome,
    ZoomRole,
    ZoomUser,
)

Clock = Callable[[], datetime]
Source = Literal["token", "probe", "auditor"]


class ZoomGateway(Protocol):
    async def mint(self, account_id: str, client_id: str, client_secret: Secret) -> TokenOutcome: ...
    async def get(self, token: Secret, path: str, *, api_url: str | None = None) -> ApiOutcome: ...
    async def get_user(self, token: Secret, user_id: str) -> ZoomUser | ApiOutcome: ...
    async def get_role(self, token: Secret, role_id: str) -> ZoomRole | ApiOutcome: ...


class ClientCredentials(Protocol):
    """What a token request needs (the credentials Secret's values, or diagnose's files)."""

    @property
    def account_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> Secret: ...


def is_user_path(path: str) -> bool:
    """Whether a probe path reads one user (`/v2/users/{id}`): its answer is the owner's record."""
    return path.startswith("/v2/users/") and path.count("/") == 3


async def mint(zoom: ZoomGateway, credentials: ClientCredentials, clock: Clock) -> MintRecord:
    """One token request."""
    outcome = await zoom.mint(credentials.account_id, credentials.client_id, credentials.client_secret)
    return MintRecord(at=clock(), outcome=outcome)


async def probe(zoom: ZoomGateway, token: TokenIssued, path: str, clock: Clock) -> ProbeRecord:
    """Prove a token against the API (the whole answer; callers that keep it drop the body)."""
    outcome = await zoom.get(token.access_token, path)
    return ProbeRecord(at=clock(), token_issued_at=token.issued_at, outcome=outcome)


def without_body(record: ProbeRecord) -> ProbeRecord:
    """The record as the history keeps it: what the diagnosis judges, not Zoom's user object (kept for
    each of the last probes of every app, it was the largest per-app cost at 10,000 apps)."""
    return (
        replace(record, outcome=replace(record.outcome, body={}))
        if isinstance(record.outcome, ApiOk)
        else record
    )


def owner_from_probe(
    record: ProbeRecord, known: OwnerFacts | None, *, source: Source = "probe"
) -> OwnerFacts | None:
    """The owner as a user-reading probe saw them (keeping a known role while the role id holds); None
    when the answer says nothing about the owner. A bare 404 (no Zoom code) is not Zoom's answer."""
    outcome = record.outcome
    if isinstance(outcome, ApiOk):
        user = parse_user(outcome.body)
        if user is None:
            return None
        role = known.role if known and known.role and user.role_id == known.role.id else None
        return OwnerFacts(source=source, checked_at=record.at, lookup=user, role=role)
    if isinstance(outcome, NotFound) and outcome.code is not None:
        return OwnerFacts(source=source, checked_at=record.at, lookup=outcome, role=None)
    return None


def may_read_roles(token: TokenIssued) -> bool:
    return bool(token.scopes & ROLE_READ_SCOPES)


async def with_role(zoom: ZoomGateway, token: TokenIssued, facts: OwnerFacts) -> OwnerFacts:
    """The owner facts with their role looked up (when the user has one and the token may read roles)."""
    if not isinstance(facts.lookup, ZoomUser) or not facts.lookup.role_id or not may_read_roles(token):
        return facts
    role = await zoom.get_role(token.access_token, facts.lookup.role_id)
    return replace(facts, role=role) if isinstance(role, ZoomRole) else facts


async def look_up_owner(
    zoom: ZoomGateway,
    token: Secret,
    lookup_key: str,
    *,
    source: Source,
    clock: Clock,
    with_role_of: bool = True,
) -> OwnerFacts | ApiOutcome:
    """The owner (and their role) as `token` sees them: an auditor app's, or the app's own token. Zoom's
    404 is evidence (the owner is gone); any other failure is returned as it came (no evidence)."""
    user = await zoom.get_user(token, lookup_key)
    at = clock()
    if isinstance(user, NotFound) and user.code is not None:
        return OwnerFacts(source=source, checked_at=at, lookup=user, role=None)
    if not isinstance(user, ZoomUser):
        return user
    role: ZoomRole | None = None
    if user.role_id and with_role_of:
        found = await zoom.get_role(token, user.role_id)
        role = found if isinstance(found, ZoomRole) else None
    return OwnerFacts(source=source, checked_at=at, lookup=user, role=role)
