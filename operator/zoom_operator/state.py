"""What the operator knows of one ZoomApp between steps, as one typed record (pure data).

`AppState` holds the token facts, the mint attempts, the probe and rejection evidence, the owner facts
and the next due times: everything `planner.py` decides from and the diagnosis judges. It round-trips
through the ZoomApp's status and the token Secret (`kube/status.py` renders and restores it), so a
restarted operator rebuilds it without a mint. Slots, and no task, event, RNG or deque per app: at
10,000 apps every field counts (bench/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from zoom_operator.diagnosis import (
    CredentialsProblem,
    Diagnosis,
    MintRecord,
    OwnerFacts,
    ProbeRecord,
    TokenSecretConflict,
)
from zoom_operator.kube.credentials import Credentials
from zoom_operator.kube.published import Published
from zoom_operator.schedule import MintBudget, renew_at
from zoom_operator.zoom.outcomes import RateLimited, TokenIssued, Transient, Unauthorized

HISTORY: Final = 12  # mint and probe records kept per app: enough for every rule of the diagnosis


@dataclass(slots=True)
class AppState:
    """One app's facts; see the module docstring. Mutated by the worker's step, read by the planner."""

    renew_jitter: float  # in [0, 1): where in the jitter window this app renews its current token
    budget: MintBudget = field(default_factory=lambda: MintBudget(1))  # rebuilt from status on restore

    # The token: the one in (or on its way to) the token Secret.
    token: TokenIssued | None = None
    token_unsaved: bool = False  # minted but not yet in the Secret (the write failed)
    token_secret_name: str | None = None  # where the current token is written
    # The token Secret's resourceVersion as this app last wrote (or read, when intact) it: a watch event
    # at another version means someone else changed it. Events while a write is out wait for its answer.
    token_version: str | None = None
    token_writing: bool = False
    token_seen_version: str | None = None  # the newest event's version while a write was out
    previous_scopes: frozenset[str] | None = None  # the last scopes that held everything required
    proven_client_id: str | None = None  # fingerprint of the client ID our token was minted with

    # Token requests: the attempts (budget), their outcomes, and when the next one may go out.
    mints: tuple[MintRecord, ...] = ()  # the last HISTORY answers of the token endpoint, oldest first
    mints_total: int = 0
    last_mint_at: datetime | None = None
    attempt: int = 0  # failed attempts in a row: the backoff's exponent
    retry_at: datetime | None = None  # backoff after an outage or an owner problem
    zoom_retry_after: datetime | None = None  # a 429's Retry-After from the token endpoint
    verify_at: datetime | None = None  # a fresh token is wanted to verify a rejection
    mint_requested: bool = False  # renew-now or new credentials: mint at the first allowed moment
    blocked_fingerprint: str | None = None  # invalid_client with these credentials: wait for a change
    # from status, until the credentials are read: (their fingerprint, the last rejection, the count before)
    pending_rejection: tuple[str, tuple[MintRecord, ...], int] | None = None
    prior_invalid_client: int = 0  # invalid_client answers before the records (restored from status)

    # One minter per app: the API server's resourceVersion arbitrates between processes.
    resource_version: str | None = None
    own_attempt: str | None = None  # status.mints.lastAt as this process last wrote it
    lease_until: datetime | None = None  # another process's token request may be in flight until then

    # Probes.
    probes: tuple[ProbeRecord, ...] = ()  # the last HISTORY probe answers, oldest first
    probe_due: datetime | None = None
    last_probe_at: datetime | None = None
    consecutive_unauthorized: int = 0
    prior_fresh_rejections: int = 0  # fresh tokens rejected before the records (restored from status)

    # The owner.
    owner: OwnerFacts | None = None
    owner_role_checked_at: datetime | None = None
    next_owner_check: datetime | None = None  # with an auditor
    auditor_note: str | None = None  # why the auditor was not used

    # The Secrets.
    credentials: Credentials | CredentialsProblem | None = None
    credentials_checked_at: datetime | None = None
    conflict: TokenSecretConflict | None = None  # the token Secret's name is taken by a Secret not ours
    conflict_checked_at: datetime | None = None

    # What was last published.
    restored: bool = False
    handled_renew_request: str | None = None
    handled_generation: int | None = None
    published: Published | None = None  # what status holds as this app last wrote or read it
    diagnosis: Diagnosis | None = None
    renew_at: datetime | None = None

    def token_valid(self, now: datetime) -> bool:
        return self.token is not None and self.token.expires_at > now

    def current_renew_at(self, renew_before_seconds: int) -> datetime | None:
        """When the current token is renewed (None without a token)."""
        if self.token is None:
            return None
        return renew_at(
            self.token.issued_at, self.token.expires_at, renew_before_seconds, jitter=self.renew_jitter
        )

    def add_mint(self, record: MintRecord) -> None:
        self.mints = (*self.mints, record)[-HISTORY:]

    def add_probe(self, record: ProbeRecord, *, fresh_token_seconds: int) -> None:
        """Keep the evidence, not the repetition: a run of answers that prove nothing (outages, 401s on
        old tokens) keeps only its latest of each kind, so the fresh-token rejections behind a raised flag
        never scroll out of the window while the flag stands."""
        probes = list(self.probes)
        kind = probe_kind(record, fresh_token_seconds)
        if kind is not None:
            for index in range(len(probes) - 1, -1, -1):
                earlier = probe_kind(probes[index], fresh_token_seconds)
                if earlier is None:
                    break
                if earlier == kind:
                    del probes[index]
                    break
        probes.append(record)
        self.probes = tuple(probes[-HISTORY:])


def probe_kind(record: ProbeRecord, fresh_token_seconds: int) -> str | None:
    """The kind of a probe answer that is no evidence about owners or credentials; None if it is."""
    outcome = record.outcome
    if isinstance(outcome, Transient | RateLimited):
        return type(outcome).__name__
    fresh = (record.at - record.token_issued_at).total_seconds() < fresh_token_seconds
    if isinstance(outcome, Unauthorized) and not fresh:
        return "stale-401"
    return None
