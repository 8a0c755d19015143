"""One long-lived task per ZoomApp: keep its token Secret fresh, prove the token, say what is wrong.

The worker owns the token lifecycle of one app. It is written against two small gateways (Kubernetes
and Zoom) and a reporter, so it is tested with fakes and run by kopf through `handlers.py`. It reads
its state back from the token Secret and the status on start: a restart costs no mint.

Each `step()` is level-triggered: it looks at the live object, the credentials and the token, does at
most what is due (mint, write the Secret, probe, look up the owner), diagnoses, and writes status only
when it changed. `run()` sleeps between steps until the next thing is due or something changes.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from zoom_operator import diagnosis as dx
from zoom_operator.kube.api import KubeError, ObjectRef
from zoom_operator.kube.credentials import (
    CREDENTIALS_LABEL,
    CREDENTIALS_LABEL_VALUE,
    Credentials,
    read_credentials,
    unlabelled,
)
from zoom_operator.kube.status import (
    Transition,
    render_conditions,
    render_rejection,
    restore_evidence,
    transitions,
)
from zoom_operator.kube.token_secret import (
    UNMAINTAINED_ANNOTATION,
    client_id_fingerprint,
    controller_uid,
    is_intact,
    is_owned_by,
    parse_rfc3339,
    read_stored_token,
    render_token_secret,
    rfc3339,
)
from zoom_operator.schedule import MINT_WINDOW, Backoff, MintBudget, next_probe_at, renew_at
from zoom_operator.secret import Secret
from zoom_operator.spec import EndpointAllowlist, Endpoints, SpecError, ZoomAppSpec, parse_spec
from zoom_operator.zoom.mapping import parse_user
from zoom_operator.zoom.outcomes import (
    ApiOk,
    ApiOutcome,
    ClientRejected,
    NotFound,
    RateLimited,
    ScopeMissing,
    TokenIssued,
    TokenOutcome,
    Transient,
    Unauthorized,
    ZoomRole,
    ZoomUser,
)

RENEW_NOW_ANNOTATION = "zoom-operator.io/renew-now"
READY_INVALID_SPEC = "InvalidSpec"
HISTORY = 12
CONFIRM_INVALID_CLIENT_AFTER = timedelta(seconds=20)  # one retry before flagging SecretRotationRequired
VERIFY_FRESH_AFTER = timedelta(seconds=2)  # pause between fresh-token verifications of a 401
CREDENTIALS_POLL = timedelta(seconds=15)  # while the credentials Secret is missing or unlabelled
CONFLICT_POLL = timedelta(seconds=15)  # while the token Secret's name is taken by a Secret not ours
OWNER_CHECK_INTERVAL = timedelta(hours=1)  # role lookups with the app's own token
FOREVER = timedelta(days=1)
MIN_STEP_INTERVAL = timedelta(milliseconds=100)
KUBE_RETRY = timedelta(seconds=10)  # after a Kubernetes API error
# A token request recorded on status by another process (a second replica, an overlapping shard) is
# taken to be in flight this long, unless a token issued after it shows up first: the HTTP client's
# connect + write + read timeouts (5 + 10 + 10 s) with room to spare.
MINT_LEASE = timedelta(seconds=30)

log = logging.getLogger("zoom_operator.worker")

# Jitter only, shared by every app of the process (a per-app RNG was 2.5 KB per app).
_RNG = random.Random()  # noqa: S311 - jitter, not cryptography


SLOTS = (
    "ref",
    "_body",
    "_kube",
    "_zoom_factory",
    "_reporter",
    "_registry",
    "_config",
    "_clock",
    "_rng",
    "_waker",
    "_wake_reasons",
    "_restored",
    "_token",
    "_renew_jitter",
    "_mints",
    "_probes",
    "_budget",
    "_mints_total",
    "_last_mint_at",
    "_retry_at",
    "_attempt",
    "_verify_at",
    "_probe_due",
    "_last_probe_at",
    "_owner",
    "_owner_role_checked_at",
    "_next_owner_check",
    "_previous_scopes",
    "_credentials",
    "_credentials_checked_at",
    "_blocked_fingerprint",
    "_handled_renew_request",
    "_handled_generation",
    "_last_status",
    "_diagnosis",
    "_renew_at",
    "_consecutive_unauthorized",
    "_credentials_pending",
    "_token_expected",
    "_token_unsaved",
    "_mint_requested",
    "_zoom_retry_after",
    "_pending_rejection",
    "_token_secret_name",
    "_conflict",
    "_conflict_checked_at",
    "_proven_client_id",
    "_auditor_note",
    "_resource_version",
    "_own_attempt",
    "_lease_until",
)


class KubeGateway(Protocol):
    async def get_secret(self, ref: ObjectRef) -> dict[str, Any] | None: ...
    async def get_secret_metadata(self, ref: ObjectRef) -> dict[str, Any] | None: ...
    async def get_labelled_secret(self, ref: ObjectRef, selector: str) -> dict[str, Any] | None: ...
    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def replace_secret(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def patch_secret(self, ref: ObjectRef, patch: Mapping[str, Any]) -> dict[str, Any]: ...
    async def get_zoomapp(self, ref: ObjectRef) -> dict[str, Any] | None: ...
    async def patch_zoomapp_status(
        self, ref: ObjectRef, status: Mapping[str, Any], *, resource_version: str | None = None
    ) -> dict[str, Any]: ...


class ZoomGateway(Protocol):
    async def mint(self, account_id: str, client_id: str, client_secret: Secret) -> TokenOutcome: ...
    async def get(self, token: Secret, path: str, *, api_url: str | None = None) -> ApiOutcome: ...
    async def get_user(self, token: Secret, user_id: str) -> ZoomUser | ApiOutcome: ...
    async def get_role(self, token: Secret, role_id: str) -> ZoomRole | ApiOutcome: ...


class Reporter(Protocol):
    """Where the worker's observations go besides status: Kubernetes Events and Prometheus metrics."""

    def transition(self, ref: ObjectRef, body: Mapping[str, Any], change: Transition) -> None: ...
    def warning(self, ref: ObjectRef, body: Mapping[str, Any], reason: str, message: str) -> None: ...
    def minted(self, ref: ObjectRef, outcome: TokenOutcome) -> None: ...
    def published(self, ref: ObjectRef, state: WorkerView) -> None: ...
    def forget(self, ref: ObjectRef) -> None: ...


@dataclass(frozen=True)
class WorkerView:
    """What the reporter may know of a worker after a step (no token values)."""

    diagnosis: dx.Diagnosis | None
    token_expires_at: datetime | None
    token_issued_at: datetime | None
    renew_at: datetime | None
    last_probe_at: datetime | None
    mint_budget_remaining: int
    consecutive_unauthorized: int


class ClientIdRegistry:
    """Process-wide: which ZoomApp serves each client_id. One minter per Zoom app.

    A ZoomApp *proves* a client ID by minting a token with credentials that carry it; only a proven
    claim can block another app, so a squatter holding someone else's public client ID and a wrong
    secret never blocks the real app. Among proven claimants the oldest wins. An unproven claimant is
    blocked by a proven one, and may mint (to prove itself) while there is none.

    Every step claims, so both calls are O(claimants of one client_id): a release that scanned every
    client_id took 88% of the operator's CPU at 10,000 apps (bench/RESULTS.md).
    """

    def __init__(self) -> None:
        self._claims: dict[str, dict[ObjectRef, tuple[bool, str, str]]] = {}
        self._claimed: dict[ObjectRef, str] = {}  # ZoomApp -> the client_id it claims
        self._wakers: dict[ObjectRef, Callable[[str], None]] = {}

    def claim(
        self,
        client_id: str,
        ref: ObjectRef,
        created: str,
        wake: Callable[[str], None],
        *,
        proven: bool = True,
    ) -> ObjectRef | None:
        """Register `ref` for `client_id`; return the ZoomApp that serves it when that is not `ref`."""
        if self._claimed.get(ref) != client_id:
            self.release(ref, wake_others=False)
        claims = self._claims.setdefault(client_id, {})
        was_proven = claims.get(ref, (False, "", ""))[0]
        claims[ref] = (proven, created, str(ref))
        self._claimed[ref] = client_id
        self._wakers[ref] = wake
        proven_claims = [r for r, (ok, _, _) in claims.items() if ok]
        if not proven_claims:
            return None
        winner = min(proven_claims, key=lambda r: claims[r][1:])
        if winner == ref and proven and not was_proven:
            for other in claims:  # a newly proven winner now blocks the others: let them say so
                waker = self._wakers.get(other)
                if other != ref and waker:
                    waker("duplicate")
        return None if winner == ref else winner

    def release(self, ref: ObjectRef, *, wake_others: bool = True) -> None:
        client_id = self._claimed.pop(ref, None)
        if client_id is not None:
            claims = self._claims.get(client_id, {})
            if claims.pop(ref, None) is not None and wake_others:
                for other in claims:
                    waker = self._wakers.get(other)
                    if waker:
                        waker("duplicate")
            if not claims:
                self._claims.pop(client_id, None)
        if wake_others:
            self._wakers.pop(ref, None)


@dataclass
class WorkerConfig:
    s2s_privilege: str = "ServerToServerOAuthApp:Edit"
    allowlist: EndpointAllowlist = field(default_factory=EndpointAllowlist)
    fresh_token_seconds: int = 60
    invalid_client_threshold: int = 2
    backoff: Backoff = field(default_factory=Backoff)
    owner_backoff: Backoff = field(default_factory=lambda: Backoff(base_seconds=60.0, cap_seconds=900.0))


class AppWorker:
    """The token lifecycle of one ZoomApp: what one step of the scheduler does for it.

    No task, event or RNG of its own: the process's scheduler (`scheduler.py`) calls `run_step` when the
    app is due, and `wake` asks it for an earlier step.
    """

    __slots__ = SLOTS

    def __init__(
        self,
        *,
        ref: ObjectRef,
        body: Callable[[], Mapping[str, Any]],
        kube: KubeGateway,
        zoom: Callable[[Endpoints], ZoomGateway],
        reporter: Reporter,
        registry: ClientIdRegistry,
        config: WorkerConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        waker: Callable[[ObjectRef], None] | None = None,
    ) -> None:
        self.ref = ref
        self._body = body
        self._kube = kube
        self._zoom_factory = zoom
        self._reporter = reporter
        self._registry = registry
        self._config = config or WorkerConfig()
        self._clock = clock
        self._rng = rng or _RNG
        self._waker = waker
        self._wake_reasons: set[str] | None = None

        self._restored = False
        self._token: TokenIssued | None = None
        self._renew_jitter = self._rng.random()
        self._mints: tuple[dx.MintRecord, ...] = ()  # the last HISTORY token requests, oldest first
        self._probes: tuple[dx.ProbeRecord, ...] = ()  # the last HISTORY probes, oldest first
        self._budget: MintBudget | None = None
        self._mints_total = 0
        self._last_mint_at: datetime | None = None
        self._retry_at: datetime | None = None
        self._attempt = 0
        self._verify_at: datetime | None = None
        self._probe_due: datetime | None = None
        self._last_probe_at: datetime | None = None
        self._owner: dx.OwnerFacts | None = None
        self._owner_role_checked_at: datetime | None = None
        self._next_owner_check: datetime | None = None
        self._previous_scopes: frozenset[str] | None = None
        self._credentials: Credentials | dx.CredentialsProblem | None = None
        self._credentials_checked_at: datetime | None = None
        self._blocked_fingerprint: str | None = (
            None  # invalid_client with these credentials: wait for a change
        )
        self._handled_renew_request: str | None = None
        self._handled_generation: int | None = None
        self._last_status: dict[str, Any] | None = None
        self._diagnosis: dx.Diagnosis | None = None
        self._renew_at: datetime | None = None
        self._consecutive_unauthorized = 0
        self._credentials_pending: tuple[Mapping[str, Any] | None] | None = None
        self._token_expected: dict[str, Any] | None = None  # the token Secret as last rendered
        self._token_unsaved = False  # minted but not yet in the Secret (the write failed)
        self._mint_requested = False  # renew-now or new credentials: mint at the first allowed moment
        self._zoom_retry_after: datetime | None = None  # a 429's Retry-After from the token endpoint
        self._pending_rejection: tuple[str, tuple[dx.MintRecord, ...]] | None = None  # from status
        self._token_secret_name: str | None = None  # where the current token is written
        self._conflict: dx.TokenSecretConflict | None = None  # the token Secret's name is taken
        self._conflict_checked_at: datetime | None = None
        self._proven_client_id: str | None = None  # fingerprint of the client ID our token was minted with
        self._auditor_note: str | None = None  # why the auditor was not used
        # One minter per app, enforced by the API server: every status write carries the resourceVersion
        # last seen, and a token request is sent only after the write that records it won.
        self._resource_version: str | None = None
        self._own_attempt: str | None = None  # status.mints.lastAt as this process last wrote it
        self._lease_until: datetime | None = None  # another process's token request may be in flight

    # Signals -----------------------------------------------------------------------------------

    def wake(self, reason: str) -> None:
        """Ask for a step now. Reasons: spec, credentials, token_secret, duplicate."""
        if self._wake_reasons is None:
            self._wake_reasons = set()
        self._wake_reasons.add(reason)
        if self._waker is not None:
            self._waker(self.ref)

    def credentials_event(self, secret: Mapping[str, Any] | None) -> None:
        """The credentials Secret changed; its body saves a read. None (deleted, or its label removed, which
        the labelled watch also reports as a deletion): read it again."""
        self._credentials_pending = (secret,) if secret is not None else None
        self.wake("credentials")

    def token_secret_event(self, secret: Mapping[str, Any] | None) -> None:
        """The token Secret changed (None: deleted); wake only if it no longer holds what was written."""
        if secret is None or self._token_expected is None or not is_intact(secret, self._token_expected):
            self.wake("token_secret")

    @property
    def restored(self) -> bool:
        """Whether the first step has rebuilt the state from status and the token Secret."""
        return self._restored

    async def run_step(self) -> datetime:
        """One step for the scheduler: a Kubernetes API error is retried after KUBE_RETRY."""
        try:
            return await self.step()
        except KubeError as error:
            log.warning("%s: Kubernetes API error, retrying in 10s: %s", self.ref, error)
            return self._clock() + KUBE_RETRY

    def stop(self) -> None:
        """The app is no longer served by this process (deleted, or this replica paused)."""
        self._registry.release(self.ref)
        self._reporter.forget(self.ref)

    # The step ----------------------------------------------------------------------------------

    async def step(self) -> datetime:
        """Do what is due now; return when the next step is due."""
        now = self._clock()
        reasons, self._wake_reasons = self._wake_reasons or set(), None
        body = self._body()
        meta = body.get("metadata") or {}
        self._see_resource_version(meta.get("resourceVersion"))
        generation = int(meta.get("generation") or 0)

        try:
            spec = parse_spec(
                body.get("spec") or {}, app_name=self.ref.name, allowlist=self._config.allowlist
            )
        except SpecError as error:
            self._registry.release(self.ref)
            await self._publish_invalid_spec(body, generation, error, now)
            return now + FOREVER

        if not self._restored:
            await self._restore(body, spec, now)
        spec_changed = False
        if self._handled_generation != generation:
            if self._handled_generation is not None:
                self._probe_due = now  # the spec changed: judge the new expectations at once
                spec_changed = True
            self._handled_generation = generation
        conflict_poll_due = self._conflict is not None and (
            self._conflict_checked_at is None or now - self._conflict_checked_at >= CONFLICT_POLL
        )
        if (
            self._token_secret_name != spec.token_secret.name
            or conflict_poll_due
            or (self._conflict is not None and (spec_changed or "token_secret" in reasons))
        ):
            await self._settle_token_secret(body, spec, now)

        credentials_changed = await self._refresh_credentials(spec, now, force="credentials" in reasons)
        creds = self._credentials
        if self._pending_rejection is not None and isinstance(creds, Credentials):
            fingerprint, rejected = self._pending_rejection
            self._pending_rejection = None
            if fingerprint == creds.fingerprint:  # still the credentials Zoom rejected before the restart
                # The flag stands on what status remembers, but minting is not blocked on it: the next
                # token request re-proves it (one more invalid_client completes the streak) or clears it.
                self._mints = (*self._mints, *rejected)[-HISTORY:]
        duplicate_of: ObjectRef | None = None
        if self._conflict is None and isinstance(creds, Credentials):
            duplicate_of = self._registry.claim(
                creds.client_id,
                self.ref,
                str(meta.get("creationTimestamp") or ""),
                self.wake,
                proven=self._proven_client_id == creds.client_id_fingerprint,
            )
        else:
            self._registry.release(self.ref, wake_others=True)

        if self._conflict is None and isinstance(creds, Credentials) and duplicate_of is None:
            if self._token_unsaved and self._token is not None:
                await self._store_token(body, spec, self._token)
            if "token_secret" in reasons:
                await self._repair_token_secret(body, spec)
            renew_request = (meta.get("annotations") or {}).get(RENEW_NOW_ANNOTATION)
            renew_requested = renew_request is not None and renew_request != self._handled_renew_request
            if renew_requested:
                self._handled_renew_request = renew_request
            if credentials_changed and self._blocked_fingerprint not in (None, creds.fingerprint):
                self._blocked_fingerprint = None
                self._retry_at = None
                self._attempt = 0
            if credentials_changed or renew_requested:
                self._mint_requested = True  # served by the next attempt the budget and Zoom allow
            proven_before = self._proven_client_id == creds.client_id_fingerprint
            await self._maybe_mint(body, spec, creds, now, force=self._mint_requested)
            if not proven_before and self._proven_client_id == creds.client_id_fingerprint:
                # the first token proves the client ID: claim it now, so that no other ZoomApp mints
                # for it in the meantime (and stop here if an older one proved it first)
                duplicate_of = self._registry.claim(
                    creds.client_id,
                    self.ref,
                    str(meta.get("creationTimestamp") or ""),
                    self.wake,
                    proven=True,
                )
            if duplicate_of is None:
                await self._maybe_probe(body, spec, now)
                await self._maybe_check_owner(body, spec, now)

        snapshot = self._snapshot(spec, now, duplicate_of)
        diagnosis = dx.diagnose(snapshot)
        await self._publish(body, spec, generation, diagnosis, now)
        return self._next_wakeup(spec, now, creds, duplicate_of)

    # Restore -----------------------------------------------------------------------------------

    async def _restore(self, body: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> None:
        """Rebuild what the decisions need from status and the token Secret, trusting neither blindly:
        both can be edited while the operator is down, so only this app's own Secret is read, the token's
        own `exp` bounds its expiry, and anything dated in the future is dropped."""
        status = body.get("status") or {}
        token_status = _mapping(status.get("token"))
        uid = _uid(body)
        names = [spec.token_secret.name]
        previous_name = token_status.get("secretName")
        if isinstance(previous_name, str) and previous_name and previous_name != spec.token_secret.name:
            names.append(previous_name)  # renamed while the operator was down: the token is still there
        for name in names:
            state, secret = await self._read_token_secret(name, uid)
            if state == "foreign":
                if name == spec.token_secret.name:
                    self._set_conflict(name, secret, now)
                continue
            stored = read_stored_token(secret)
            if stored is None:
                continue
            status_expiry = parse_rfc3339(token_status.get("expiresAt"))
            if (
                token_status.get("fingerprint") == stored.access_token.fingerprint()
                and status_expiry is not None
                and status_expiry < stored.expires_at
            ):
                stored = replace(stored, expires_at=status_expiry)
            if stored.expires_at > now:
                self._token = stored
                self._token_secret_name = name
                self._proven_client_id = client_id_fingerprint(secret)
                self._token_expected = self._render(body, spec, stored)
                break
        mints = _mapping(status.get("mints"))
        attempts = sorted(
            t
            for t in (parse_rfc3339(v) for v in _list(mints.get("recentAttempts")))
            if t is not None and now - MINT_WINDOW < t <= now
        )
        # never more attempts than the budget could have allowed: an edited status cannot stall minting
        attempts = attempts[-spec.mint_budget_per_hour :]
        self._budget = MintBudget.from_timestamps(spec.mint_budget_per_hour, attempts)
        total = mints.get("total")
        self._mints_total = (
            total if isinstance(total, int) and not isinstance(total, bool) and total > 0 else 0
        )
        last_at = parse_rfc3339(mints.get("lastAt"))
        self._last_mint_at = last_at if last_at is not None and last_at <= now else None
        scopes = token_status.get("previousScopes") or token_status.get("scopes")
        if isinstance(scopes, list):
            self._previous_scopes = frozenset(str(s) for s in scopes[:200])
        evidence = restore_evidence(
            status,
            token_issued_at=self._token.issued_at if self._token else None,
            fresh_token_seconds=self._config.fresh_token_seconds,
            now=now,
        )
        self._probes = tuple(evidence.probes)[-HISTORY:]
        self._owner = evidence.owner
        if evidence.rejected_fingerprint and evidence.rejected_mints:
            self._pending_rejection = (evidence.rejected_fingerprint, evidence.rejected_mints)
        handled = token_status.get("renewRequestHandled")
        self._handled_renew_request = handled if isinstance(handled, str) else None
        last_probe = parse_rfc3339(_mapping(status.get("lastProbe")).get("at"))
        if self._token is not None and last_probe is not None and evidence.probes:
            # spread the first probes of many apps after a restart instead of bursting them all at once
            spread = self._rng.uniform(0, min(30.0, spec.probe.interval_seconds))
            self._probe_due = max(
                now + timedelta(seconds=spread), next_probe_at(last_probe, spec.probe.interval_seconds)
            )
        else:
            self._probe_due = now
        self._last_status = dict(status)
        self._restored = True

    # Credentials -------------------------------------------------------------------------------

    async def _refresh_credentials(self, spec: ZoomAppSpec, now: datetime, *, force: bool) -> bool:
        """Re-read the credentials Secret when told it changed, when it was unusable, or on first use.

        True when usable credentials differ from the ones used before (not on the first read): new
        credentials are tried at once, even while the old ones were blocked after `invalid_client`.
        """
        poll_due = (
            not isinstance(self._credentials, Credentials)
            and self._credentials_checked_at is not None
            and now - self._credentials_checked_at >= CREDENTIALS_POLL
        )
        pending, self._credentials_pending = self._credentials_pending, None
        if not force and not poll_due and self._credentials is not None:
            return False
        fresh = await self._read_credentials(spec, pending[0] if pending is not None else None)
        old = self._credentials
        self._credentials = fresh
        first = self._credentials_checked_at is None
        self._credentials_checked_at = now
        if isinstance(fresh, Credentials) and not first:
            changed = not isinstance(old, Credentials) or old.fingerprint != fresh.fingerprint
            if changed:
                self._mints = ()  # outcomes of the old credentials say nothing about the new ones
            return changed
        return False

    async def _read_credentials(
        self, spec: ZoomAppSpec, event_body: Mapping[str, Any] | None
    ) -> Credentials | dx.CredentialsProblem:
        """Only a Secret labelled for the operator is read: the API server filters by the label, so the
        data of any other Secret never reaches this process."""
        ref = ObjectRef(self.ref.namespace, spec.credentials.name)
        secret = event_body
        if secret is None:
            secret = await self._kube.get_labelled_secret(
                ref, f"{CREDENTIALS_LABEL}={CREDENTIALS_LABEL_VALUE}"
            )
        if secret is None and await self._kube.get_secret_metadata(ref) is not None:
            return unlabelled(self.ref.namespace, spec.credentials)
        return read_credentials(secret, spec.credentials, self.ref.namespace)

    # The token Secret: only this app's own ------------------------------------------------------

    async def _read_token_secret(self, name: str, app_uid: str) -> tuple[str, dict[str, Any] | None]:
        """("absent", None), ("owned", the Secret) or ("foreign", its metadata only).

        The ownership is judged from the metadata before anything else is read: a Secret that is not
        this ZoomApp's own is never read, adopted, repaired, written or sent.
        """
        ref = ObjectRef(self.ref.namespace, name)
        meta = await self._kube.get_secret_metadata(ref)
        if meta is None:
            return "absent", None
        if not is_owned_by(meta, app_uid):
            return "foreign", meta
        secret = await self._kube.get_secret(ref)
        if secret is None:
            return "absent", None
        if not is_owned_by(secret, app_uid):
            return "foreign", {"metadata": secret.get("metadata") or {}}
        return "owned", secret

    def _set_conflict(self, name: str, meta: Mapping[str, Any] | None, now: datetime) -> None:
        controller = None
        if controller_uid(meta) is not None:
            refs = ((meta or {}).get("metadata") or {}).get("ownerReferences") or []
            controller = next(
                (str(r.get("name")) for r in refs if isinstance(r, Mapping) and r.get("controller") is True),
                None,
            )
        self._conflict = dx.TokenSecretConflict(secret=f"{self.ref.namespace}/{name}", controller=controller)
        self._conflict_checked_at = now

    async def _settle_token_secret(self, body: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> None:
        """Check the Secret `spec.tokenSecret.name` names: a conflict while it is someone else's; after a
        rename, the current token is written there at once (no mint) and the old Secret is retired."""
        target = spec.token_secret.name
        state, live = await self._read_token_secret(target, _uid(body))
        if state == "foreign":
            self._set_conflict(target, live, now)
            return
        self._conflict = None
        self._conflict_checked_at = None
        previous = self._token_secret_name
        if previous is not None and previous != target:
            if self._token is not None and self._token_valid(now):
                await self._store_token(body, spec, self._token)
                if self._conflict is not None:
                    return
            await self._retire_token_secret(body, previous, target, now)
        self._token_secret_name = target

    async def _retire_token_secret(
        self, body: Mapping[str, Any], old_name: str, new_name: str, now: datetime
    ) -> None:
        """Mark the Secret the token used to go to as no longer maintained (never deleted: consumers may
        still mount it), with a Warning Event."""
        state, _ = await self._read_token_secret(old_name, _uid(body))
        if state != "owned":
            return
        ns = self.ref.namespace
        note = f"since {rfc3339(now)}: ZoomApp {self.ref} writes its token to Secret {ns}/{new_name}"
        try:
            await self._kube.patch_secret(
                ObjectRef(ns, old_name), {"metadata": {"annotations": {UNMAINTAINED_ANNOTATION: note}}}
            )
        except KubeError as error:
            if error.status != 404:
                raise
            return
        self._reporter.warning(
            self.ref,
            body,
            "TokenSecretRenamed",
            f"Secret {ns}/{old_name} is no longer maintained: spec.tokenSecret.name is now {new_name}, "
            f"which holds the current token. Point the pods that mount {old_name} at {new_name}, then "
            f"delete {old_name} (the operator never deletes Secrets).",
        )

    # Minting -----------------------------------------------------------------------------------

    def _token_valid(self, now: datetime) -> bool:
        return self._token is not None and self._token.expires_at > now

    def _current_renew_at(self, spec: ZoomAppSpec) -> datetime | None:
        if self._token is None:
            return None
        return renew_at(
            self._token.issued_at,
            self._token.expires_at,
            spec.renew_before_seconds,
            jitter=self._renew_jitter,
        )

    async def _maybe_mint(
        self, body: Mapping[str, Any], spec: ZoomAppSpec, creds: Credentials, now: datetime, *, force: bool
    ) -> None:
        assert self._budget is not None
        if self._budget.limit_per_hour != spec.mint_budget_per_hour:
            self._budget = MintBudget.from_timestamps(spec.mint_budget_per_hour, self._budget.in_window(now))
        due_renew = self._token is None or now >= (self._current_renew_at(spec) or now)
        due_verify = self._verify_at is not None and now >= self._verify_at
        if not (force or due_renew or due_verify):
            return
        if self._blocked_fingerprint == creds.fingerprint:
            return
        if self._zoom_retry_after is not None and now < self._zoom_retry_after:
            return  # Zoom said when to come back (429 Retry-After): even a renew-now request waits
        if not force and self._retry_at is not None and now < self._retry_at:
            return
        if not self._budget.allows(now):
            return
        self._lease_until = self._foreign_attempt(body.get("status") or {}, now)
        if self._lease_until is not None:
            return  # another process recorded a token request that may still be in flight
        if not await self._record_attempt(body, spec, self._clock()):
            return  # another process won the write: what it stored was adopted, the next step replans
        self._verify_at = None
        self._mint_requested = False
        zoom = self._zoom_factory(spec.endpoints)
        outcome = await zoom.mint(creds.account_id, creds.client_id, creds.client_secret)
        at = self._clock()
        self._mints = (*self._mints, dx.MintRecord(at=at, outcome=outcome))[-HISTORY:]
        self._reporter.minted(self.ref, outcome)
        self._zoom_retry_after = None
        if isinstance(outcome, TokenIssued):
            self._attempt = 0
            self._retry_at = None
            self._proven_client_id = creds.client_id_fingerprint
            self._renew_jitter = self._rng.random()
            if self._token is not None and spec.required_scopes <= self._token.scopes:
                # remember the last scopes that still held everything required: a lost scope stays flagged
                # across later mints until it comes back
                self._previous_scopes = self._token.scopes
            # Held in memory first: if the write fails, the next step retries the write, not the mint.
            self._token, self._token_unsaved = outcome, True
            self._probe_due = at  # prove every new token at once (after a failed write: once stored)
            await self._store_token(body, spec, outcome)
            return
        if isinstance(outcome, ClientRejected) and outcome.error == "invalid_client":
            streak = dx.invalid_client_streak(self._snapshot(spec, at, None))
            if streak >= self._config.invalid_client_threshold:
                self._blocked_fingerprint = creds.fingerprint
                log.warning(
                    "%s: Zoom rejected the client credentials %d times; no token requests until %s changes",
                    self.ref,
                    streak,
                    f"{self.ref.namespace}/{spec.credentials.name}",
                )
            else:
                self._verify_at = at + CONFIRM_INVALID_CLIENT_AFTER  # confirm once before flagging
            return
        if isinstance(outcome, ClientRejected):
            self._blocked_fingerprint = creds.fingerprint  # a misconfiguration: retrying cannot help
            return
        backoff = (
            self._config.backoff
            if isinstance(outcome, Transient | RateLimited)
            else self._config.owner_backoff
        )
        retry_after = outcome.retry_after if isinstance(outcome, RateLimited) else None
        self._zoom_retry_after = retry_after
        self._retry_at = backoff.retry_at(at, self._attempt, self._rng.random(), retry_after=retry_after)
        self._attempt += 1

    async def _record_attempt(self, body: Mapping[str, Any], spec: ZoomAppSpec, at: datetime) -> bool:
        """Count a token request against the budget and persist it on status *before* it is sent, with a
        resourceVersion precondition. True when this process may send it.

        The budget survives restarts only through `status.mints`; written after the mint, a crash
        between the token request and the status patch forgot the attempt (and, with it, the renew-now
        request it served), so a crash loop could mint past `mintBudgetPerHour`. If this write fails,
        the mint does not happen: a token that cannot be counted could not be stored either.

        The precondition makes the API server the arbiter between processes that both believe they serve
        this app (two replicas, overlapping shards, a pause racing a resume): the write that records the
        attempt wins for one of them only. The loser re-reads the ZoomApp and adopts what the winner
        stored; it sends nothing while the winner's request may be in flight (MINT_LEASE).
        """
        assert self._budget is not None
        at = at.replace(microsecond=0)  # what status can hold: the restored budget is the same one
        for _ in range(3):
            attempts = sorted({*self._budget.in_window(at), at})
            mints = {
                "total": self._mints_total + 1,
                "lastHour": len(attempts),
                "recentAttempts": [rfc3339(t) for t in attempts],
                "lastAt": rfc3339(at),
            }
            patch: dict[str, Any] = {"mints": mints}
            if self._handled_renew_request is not None and self._token is not None:
                patch["token"] = {"renewRequestHandled": self._handled_renew_request}
            try:
                written = await self._kube.patch_zoomapp_status(
                    self.ref, patch, resource_version=self._resource_version
                )
            except KubeError as error:
                if error.status == 404:
                    return False  # the ZoomApp is gone: nothing to mint for
                if error.status != 409:
                    raise
                if not await self._adopt_latest(body, spec, at):
                    return False
                continue
            self._see_resource_version(_mapping(written.get("metadata")).get("resourceVersion"))
            self._budget.record(at)
            self._mints_total += 1
            self._last_mint_at = at
            self._own_attempt = rfc3339(at)
            if self._last_status is not None:
                self._last_status = {**self._last_status, "mints": mints}
            return True
        return False

    def _see_resource_version(self, value: object) -> None:
        """Remember the newest resourceVersion of the ZoomApp seen (a watch event, a write's answer)."""
        if isinstance(value, str) and value and _newer(value, self._resource_version):
            self._resource_version = value

    def _foreign_attempt(self, status: Mapping[str, Any], now: datetime) -> datetime | None:
        """Until when a token request that another process recorded on status may still be in flight;
        None when there is none (it is ours, old, or the token it asked for has arrived)."""
        last = _mapping(status.get("mints")).get("lastAt")
        if not isinstance(last, str) or last == self._own_attempt:
            return None
        at = parse_rfc3339(last)
        if at is None or at > now + MINT_LEASE or now - at >= MINT_LEASE:
            return None
        if self._token is not None and self._token.issued_at.replace(microsecond=0) >= at:
            return None
        return at + MINT_LEASE

    async def _adopt_latest(self, body: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> bool:
        """A status write lost to a newer resourceVersion: re-read the ZoomApp and adopt what the other
        writer stored (its mint attempts, a newer token). True when a token request may still be sent."""
        live = await self._kube.get_zoomapp(self.ref)
        if live is None:
            return False
        self._see_resource_version(_mapping(live.get("metadata")).get("resourceVersion"))
        status = _mapping(live.get("status"))
        self._merge_mints(status, spec, now)
        token_status = _mapping(status.get("token"))
        ours = self._token.access_token.fingerprint() if self._token is not None else None
        if token_status.get("fingerprint") not in (None, ours):
            await self._adopt_stored_token(body, spec)
            if self._token is not None and self._token.access_token.fingerprint() != ours:
                return False  # the other writer minted: nothing is due until this token's renewal
        self._lease_until = self._foreign_attempt(status, now)
        return self._lease_until is None

    def _merge_mints(self, status: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> None:
        """Fold another writer's `status.mints` into this process's budget and counters."""
        assert self._budget is not None
        mints = _mapping(status.get("mints"))
        theirs = [
            t
            for t in (parse_rfc3339(v) for v in _list(mints.get("recentAttempts")))
            if t is not None and now - MINT_WINDOW < t <= now + MINT_LEASE
        ]
        merged = sorted({*self._budget.in_window(now), *theirs})[-spec.mint_budget_per_hour :]
        self._budget = MintBudget.from_timestamps(spec.mint_budget_per_hour, merged)
        total = mints.get("total")
        if isinstance(total, int) and not isinstance(total, bool) and total > self._mints_total:
            self._mints_total = total
        last_at = parse_rfc3339(mints.get("lastAt"))
        if last_at is not None and (self._last_mint_at is None or last_at > self._last_mint_at):
            self._last_mint_at = last_at

    async def _adopt_stored_token(self, body: Mapping[str, Any], spec: ZoomAppSpec) -> None:
        """Take the token in this app's own token Secret when it is newer than the one held."""
        state, live = await self._read_token_secret(spec.token_secret.name, _uid(body))
        if state != "owned":
            return
        stored = read_stored_token(live)
        if stored is None or (self._token is not None and stored.issued_at <= self._token.issued_at):
            return
        self._token, self._token_expected, self._token_unsaved = (
            stored,
            self._render(body, spec, stored),
            False,
        )
        self._token_secret_name = spec.token_secret.name
        recorded = client_id_fingerprint(live)
        if recorded is not None:
            self._proven_client_id = recorded

    async def _store_token(self, body: Mapping[str, Any], spec: ZoomAppSpec, token: TokenIssued) -> None:
        """Write the token Secret, never replacing a newer token with an older one, and never writing a
        Secret that is not this ZoomApp's own (that is a conflict: the token stays in memory only)."""
        ref = ObjectRef(self.ref.namespace, spec.token_secret.name)
        rendered = self._render(body, spec, token)
        for _ in range(3):
            state, live = await self._read_token_secret(ref.name, _uid(body))
            if state == "foreign":
                self._set_conflict(ref.name, live, self._clock())
                return
            if live is None:
                try:
                    await self._kube.create_secret(self.ref.namespace, rendered)
                except KubeError as error:
                    if error.status == 409:
                        continue
                    raise
                self._token, self._token_expected, self._token_unsaved = token, rendered, False
                self._token_secret_name = ref.name
                return
            existing = read_stored_token(live)
            if existing is not None and existing.issued_at > token.issued_at:
                # another writer (a peer after failover) stored a newer token: adopt it, never overwrite it
                self._token, self._token_expected = existing, self._render(body, spec, existing)
                self._token_unsaved = False
                self._token_secret_name = ref.name
                recorded = client_id_fingerprint(live)
                if recorded is not None:
                    self._proven_client_id = recorded
                return
            rendered["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            try:
                await self._kube.replace_secret(ref, rendered)
            except KubeError as error:
                if error.status == 409:
                    continue
                raise
            self._token, self._token_expected, self._token_unsaved = token, rendered, False
            self._token_secret_name = ref.name
            return
        raise KubeError(409, "Conflict", f"token Secret {ref} kept changing while being written")

    def _render(self, body: Mapping[str, Any], spec: ZoomAppSpec, token: TokenIssued) -> dict[str, Any]:
        return render_token_secret(
            namespace=self.ref.namespace,
            app_name=self.ref.name,
            app_uid=str((body.get("metadata") or {}).get("uid") or ""),
            template=spec.token_secret,
            token=token,
            default_api_url=spec.endpoints.api_url,
            client_id_fingerprint=self._proven_client_id,
        )

    async def _repair_token_secret(self, body: Mapping[str, Any], spec: ZoomAppSpec) -> None:
        """The token Secret was deleted or edited: put the current token back (no mint)."""
        if self._token is None or not self._token_valid(self._clock()):
            return
        ref = ObjectRef(self.ref.namespace, spec.token_secret.name)
        state, live = await self._read_token_secret(ref.name, _uid(body))
        if state == "foreign":
            self._set_conflict(ref.name, live, self._clock())
            return
        if is_intact(live, self._render(body, spec, self._token)):
            return
        log.info(
            "%s: token Secret %s was %s; restoring it", self.ref, ref, "deleted" if live is None else "edited"
        )
        await self._store_token(body, spec, self._token)

    # Probing -----------------------------------------------------------------------------------

    async def _maybe_probe(self, body: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> None:
        now = self._clock()  # a mint earlier in this step may have made a probe due
        if self._token is None or not self._token_valid(now):
            return
        if self._probe_due is not None and now < self._probe_due:
            return
        token = self._token
        zoom = self._zoom_factory(spec.endpoints)
        path = spec.probe.resolve_path(spec.expected_owner)
        outcome = await zoom.get(token.access_token, path)
        at = self._clock()
        self._last_probe_at = at
        self._probe_due = next_probe_at(at, spec.probe.interval_seconds)
        if isinstance(outcome, Transient | RateLimited):
            retry = self._config.backoff.retry_at(
                at,
                0,
                self._rng.random(),
                retry_after=outcome.retry_after if isinstance(outcome, RateLimited) else None,
            )
            self._probe_due = min(self._probe_due, max(retry, at + timedelta(seconds=5)))
        # The history keeps what the diagnosis judges, not the answer's body: Zoom's user object, kept
        # for each of the last probes of every app, was the largest per-app cost at 10,000 apps.
        kept = replace(outcome, body={}) if isinstance(outcome, ApiOk) else outcome
        self._append_probe(dx.ProbeRecord(at=at, token_issued_at=token.issued_at, outcome=kept))
        if isinstance(outcome, Unauthorized):
            self._schedule_verification(spec, at)
        elif _is_user_path(spec.probe.path):
            self._owner_from_probe(outcome, at)

    def _append_probe(self, record: dx.ProbeRecord) -> None:
        """Keep the evidence, not the repetition: a run of answers that prove nothing (outages, 401s on
        old tokens) keeps only its latest of each kind, so the fresh-token rejections behind a raised flag
        never scroll out of the window while the flag stands."""
        probes = list(self._probes)
        kind = self._probe_kind(record)
        if kind is not None:
            for index in range(len(probes) - 1, -1, -1):
                earlier = self._probe_kind(probes[index])
                if earlier is None:
                    break
                if earlier == kind:
                    del probes[index]
                    break
        probes.append(record)
        self._probes = tuple(probes[-HISTORY:])

    def _probe_kind(self, record: dx.ProbeRecord) -> str | None:
        """The kind of a probe answer that is no evidence about owners or credentials; None if it is."""
        outcome = record.outcome
        if isinstance(outcome, Transient | RateLimited):
            return type(outcome).__name__
        fresh = (record.at - record.token_issued_at).total_seconds() < self._config.fresh_token_seconds
        if isinstance(outcome, Unauthorized) and not fresh:
            return "stale-401"
        return None

    def _schedule_verification(self, spec: ZoomAppSpec, at: datetime) -> None:
        """A 401: the verdict must rest on fresh tokens, so mint again (within budget) and re-probe."""
        streak = dx.fresh_unauthorized_streak(self._snapshot(spec, at, None))
        if streak < spec.unauthorized_threshold:
            self._verify_at = at + (VERIFY_FRESH_AFTER if streak else timedelta(0))

    def _owner_from_probe(self, outcome: ApiOutcome, at: datetime) -> None:
        if isinstance(outcome, ApiOk):
            user = parse_user(outcome.body)
            if user is not None:
                role = (
                    self._owner.role
                    if self._owner and self._owner.role and user.role_id == self._owner.role.id
                    else None
                )
                self._owner = dx.OwnerFacts(source="probe", checked_at=at, lookup=user, role=role)
        elif isinstance(outcome, NotFound) and outcome.code is not None:  # a bare 404 is not Zoom's answer
            self._owner = dx.OwnerFacts(source="probe", checked_at=at, lookup=outcome, role=None)

    # Owner lookups -----------------------------------------------------------------------------

    async def _maybe_check_owner(self, body: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> None:
        if spec.auditor_ref:
            await self._check_owner_with_auditor(spec, now)
            return
        # Without an auditor: learn the owner's role with the app's own token, when it may read roles.
        owner = self._owner
        token = self._token
        if (
            owner is None
            or token is None
            or not isinstance(owner.lookup, ZoomUser)
            or not owner.lookup.role_id
        ):
            return
        if not token.scopes & {"role:read:admin", "role:read:role:admin", "role:write:admin"}:
            return
        fresh_role = owner.role is not None and owner.role.id == owner.lookup.role_id
        if (
            fresh_role
            and self._owner_role_checked_at
            and now - self._owner_role_checked_at < OWNER_CHECK_INTERVAL
        ):
            return
        zoom = self._zoom_factory(spec.endpoints)
        role = await zoom.get_role(token.access_token, owner.lookup.role_id)
        self._owner_role_checked_at = now
        if isinstance(role, ZoomRole):
            self._owner = dx.OwnerFacts(
                source=owner.source, checked_at=owner.checked_at, lookup=owner.lookup, role=role
            )

    async def _check_owner_with_auditor(self, spec: ZoomAppSpec, now: datetime) -> None:
        assert spec.auditor_ref is not None
        rejected = bool(self._probes) and isinstance(self._probes[-1].outcome, Unauthorized)
        due = self._next_owner_check is None or now >= self._next_owner_check
        if not (due or (rejected and self._owner is not None and self._owner.source != "auditor")):
            return
        self._next_owner_check = now + timedelta(seconds=spec.probe.interval_seconds)
        found = await self._auditor_token(spec, now)
        if isinstance(found, str):
            self._auditor_note = found
            log.info("%s: %s", self.ref, found)
            return
        self._auditor_note = None
        auditor_spec, auditor_token = found
        zoom = self._zoom_factory(auditor_spec.endpoints)
        user = await zoom.get_user(auditor_token.access_token, spec.expected_owner.lookup_key)
        at = self._clock()
        if isinstance(user, NotFound) and user.code is not None:
            self._owner = dx.OwnerFacts(source="auditor", checked_at=at, lookup=user, role=None)
            return
        if not isinstance(user, ZoomUser):
            return  # the auditor could not look: no evidence either way
        role: ZoomRole | None = None
        if user.role_id:
            role_found = await zoom.get_role(auditor_token.access_token, user.role_id)
            role = role_found if isinstance(role_found, ZoomRole) else None
        self._owner = dx.OwnerFacts(source="auditor", checked_at=at, lookup=user, role=role)

    async def _auditor_token(self, spec: ZoomAppSpec, now: datetime) -> tuple[ZoomAppSpec, TokenIssued] | str:
        """The auditor's spec and token, when it may be used; else why not (shown on status).

        Only the auditor ZoomApp's own token, from a Secret it controls, while it is Ready, and only to
        endpoints on the allowlist: a decoy "auditor" naming someone else's token Secret gets nothing.
        """
        assert spec.auditor_ref is not None
        where = f"auditor ZoomApp {self.ref.namespace}/{spec.auditor_ref} (spec.auditorRef)"
        auditor = await self._kube.get_zoomapp(ObjectRef(self.ref.namespace, spec.auditor_ref))
        if auditor is None:
            return f"{where} does not exist"
        try:
            auditor_spec = parse_spec(
                auditor.get("spec") or {}, app_name=spec.auditor_ref, allowlist=self._config.allowlist
            )
        except SpecError as error:
            return f"{where} has an unusable spec ({error.field})"
        if not _is_ready(auditor):
            return f"{where} is not Ready; its token is used only while it is"
        state, secret = await self._read_token_secret(auditor_spec.token_secret.name, _uid(auditor))
        if state != "owned":
            return f"{where}: Secret {auditor_spec.token_secret.name} is not its own token Secret"
        auditor_token = read_stored_token(secret)
        if auditor_token is None or auditor_token.expires_at <= now:
            return f"{where} holds no valid token"
        return auditor_spec, auditor_token

    # Diagnosis and status ------------------------------------------------------------------------

    def _snapshot(self, spec: ZoomAppSpec, now: datetime, duplicate_of: ObjectRef | None) -> dx.Snapshot:
        token = self._token
        creds = self._credentials
        needs_mint = token is None or token.expires_at <= now
        return dx.Snapshot(
            now=now,
            spec=spec,
            app=str(self.ref),
            credentials_secret=f"{self.ref.namespace}/{spec.credentials.name}",
            credentials_problem=creds if isinstance(creds, dx.CredentialsProblem) else None,
            duplicate_of=self._describe_other(duplicate_of) if duplicate_of else None,
            token_secret_conflict=self._conflict,
            auditor_note=self._auditor_note if spec.auditor_ref else None,
            token=dx.TokenFacts(
                issued_at=token.issued_at,
                expires_at=token.expires_at,
                scopes=token.scopes,
                owner_uid=token.owner_uid,
            )
            if token
            else None,
            mints=tuple(self._mints),
            probes=tuple(self._probes),
            owner=self._owner,
            previous_scopes=self._previous_scopes,
            budget_exhausted=needs_mint and self._budget is not None and not self._budget.allows(now),
            s2s_privilege=self._config.s2s_privilege,
            fresh_token_seconds=self._config.fresh_token_seconds,
            invalid_client_threshold=self._config.invalid_client_threshold,
        )

    def _describe_other(self, other: ObjectRef) -> str:
        """Another ZoomApp as this app's status may name it: never by name outside its own namespace."""
        if other.namespace == self.ref.namespace:
            return f"ZoomApp {other}"
        return "a ZoomApp in another namespace"

    def _render_status(
        self, spec: ZoomAppSpec, generation: int, diagnosis: dx.Diagnosis, now: datetime
    ) -> dict[str, Any]:
        previous = (self._last_status or {}).get("conditions")
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": render_conditions(previous, diagnosis, generation=generation, now=now),
            "consecutiveUnauthorized": self._consecutive_unauthorized,
        }
        token = self._token
        if token is not None:
            self._renew_at = self._current_renew_at(spec)
            status["token"] = {
                "secretName": spec.token_secret.name,
                "issuedAt": rfc3339(token.issued_at),
                "expiresAt": rfc3339(token.expires_at),
                "renewAt": rfc3339(self._renew_at or token.expires_at),
                "scopes": sorted(token.scopes),
                "fingerprint": token.access_token.fingerprint(),
            }
            if self._handled_renew_request is not None:
                status["token"]["renewRequestHandled"] = self._handled_renew_request
            if self._previous_scopes is not None and self._previous_scopes != token.scopes:
                status["token"]["previousScopes"] = sorted(self._previous_scopes)
        owner = self._owner
        if owner is not None and isinstance(owner.lookup, ZoomUser):
            user = owner.lookup
            status["owner"] = {
                "userId": user.id,
                "email": user.email,
                "status": user.status,
                "roleId": user.role_id or "",
                "roleName": (owner.role.name if owner.role else user.role_name) or "",
                "checkedAt": rfc3339(owner.checked_at),
                "source": owner.source,
            }
        elif token is not None and token.owner_uid:
            status["owner"] = {
                "userId": token.owner_uid,
                "source": "token",
                "checkedAt": rfc3339(token.issued_at),
            }
        status["mints"] = self._render_mints(now)
        last_probe = self._probes[-1] if self._probes else None
        if last_probe is not None:
            status["lastProbe"] = _probe_status(last_probe)
        creds = self._credentials
        if isinstance(creds, Credentials):
            status["credentials"] = {
                "clientIdFingerprint": creds.client_id_fingerprint,
                "fingerprint": creds.fingerprint,
            }
            rejections = _trailing_rejections(self._mints)
            if rejections:
                status["credentials"]["rejected"] = render_rejection(
                    creds.fingerprint, rejections, self._mints[-1].at
                )
        return status

    def _render_mints(self, now: datetime) -> dict[str, Any]:
        assert self._budget is not None
        attempts = self._budget.in_window(now)
        return {
            "total": self._mints_total,
            "lastHour": len(attempts),
            "recentAttempts": [rfc3339(t) for t in attempts],
            # null removes a value the merge patch would otherwise keep (e.g. one edited while the
            # operator was down and dropped on restart)
            "lastAt": rfc3339(self._last_mint_at) if self._last_mint_at is not None else None,
        }

    async def _publish(
        self,
        body: Mapping[str, Any],
        spec: ZoomAppSpec,
        generation: int,
        diagnosis: dx.Diagnosis,
        now: datetime,
    ) -> None:
        self._consecutive_unauthorized = dx.fresh_unauthorized_streak(self._snapshot(spec, now, None))
        status = self._render_status(spec, generation, diagnosis, now)
        previous_conditions = (self._last_status or {}).get("conditions")
        if _status_changed(self._last_status, status):
            if not await self._write_status(status, spec, body):
                return
            for change in transitions(previous_conditions, diagnosis):
                self._reporter.transition(self.ref, body, change)
        self._diagnosis = diagnosis
        self._reporter.published(self.ref, self.view(now))

    async def _write_status(
        self, status: dict[str, Any], spec: ZoomAppSpec | None = None, body: Mapping[str, Any] | None = None
    ) -> bool:
        """Patch status with the resourceVersion precondition; on a conflict, fold in what the other
        writer stored of the mint attempts (never overwrite its record of a token request) and retry."""
        for attempt in range(3):
            patch: dict[str, Any] = dict(status)
            for key in ("owner", "token", "lastProbe", "credentials"):
                if key not in patch and (self._last_status or {}).get(key) is not None:
                    patch[key] = None  # merge patch: drop what no longer holds
            try:
                written = await self._kube.patch_zoomapp_status(
                    self.ref, patch, resource_version=self._resource_version
                )
            except KubeError as error:
                if error.status == 404:
                    break
                if error.status != 409 or attempt == 2:
                    raise
                live = await self._kube.get_zoomapp(self.ref)
                if live is None:
                    break
                self._see_resource_version(_mapping(live.get("metadata")).get("resourceVersion"))
                live_status = _mapping(live.get("status"))
                if spec is not None and body is not None:
                    ours = self._token.access_token.fingerprint() if self._token is not None else None
                    if _mapping(live_status.get("token")).get("fingerprint") not in (None, ours):
                        await self._adopt_stored_token(body, spec)
                        if self._token is not None and self._token.access_token.fingerprint() != ours:
                            self.wake("adopted")  # another writer's newer token: judge it, then publish
                            return False
                if spec is not None and "mints" in status:
                    now = self._clock()
                    self._merge_mints(live_status, spec, now)
                    status = {**status, "mints": self._render_mints(now)}
                continue
            self._see_resource_version(_mapping(written.get("metadata")).get("resourceVersion"))
            break
        self._last_status = status
        return True

    async def _publish_invalid_spec(
        self, body: Mapping[str, Any], generation: int, error: SpecError, now: datetime
    ) -> None:
        message = f"{error}. Fix the ZoomApp {self.ref}; nothing is minted until the spec is valid."
        diagnosis = dx.Diagnosis(
            ready=dx.Condition("Ready", "False", READY_INVALID_SPEC, message),
            secret_rotation_required=dx.Condition(
                "SecretRotationRequired", "Unknown", READY_INVALID_SPEC, message
            ),
            owner_role_change_required=dx.Condition(
                "OwnerRoleChangeRequired", "Unknown", READY_INVALID_SPEC, message
            ),
        )
        previous = (self._last_status or (body.get("status") or {})).get("conditions")
        status = dict(self._last_status or {})
        status["observedGeneration"] = generation
        status["conditions"] = render_conditions(previous, diagnosis, generation=generation, now=now)
        if _status_changed(self._last_status, status):
            await self._write_status(status)
            for change in transitions(previous, diagnosis):
                self._reporter.transition(self.ref, body, change)
        self._diagnosis = diagnosis

    def view(self, now: datetime) -> WorkerView:
        token = self._token
        budget = self._budget
        return WorkerView(
            diagnosis=self._diagnosis,
            token_expires_at=token.expires_at if token else None,
            token_issued_at=token.issued_at if token else None,
            renew_at=self._renew_at,
            last_probe_at=self._last_probe_at,
            mint_budget_remaining=(budget.limit_per_hour - budget.used(now)) if budget else 0,
            consecutive_unauthorized=self._consecutive_unauthorized,
        )

    # Scheduling --------------------------------------------------------------------------------

    def _next_wakeup(
        self,
        spec: ZoomAppSpec,
        now: datetime,
        creds: Credentials | dx.CredentialsProblem | None,
        duplicate_of: ObjectRef | None,
    ) -> datetime:
        if self._conflict is not None:
            return now + CONFLICT_POLL
        if not isinstance(creds, Credentials):
            return now + CREDENTIALS_POLL
        if duplicate_of is not None:
            return now + FOREVER  # woken when the serving app goes away
        candidates: list[datetime] = []
        if self._token_valid(now) and self._probe_due is not None:
            candidates.append(self._probe_due)
        if self._blocked_fingerprint != creds.fingerprint:
            mint_at = self._next_mint_at(spec, now)
            if mint_at is not None:
                candidates.append(mint_at)
        if self._token is not None and self._token.expires_at > now:
            candidates.append(self._token.expires_at)  # Ready flips when the token runs out
        if spec.auditor_ref and self._next_owner_check is not None:
            candidates.append(self._next_owner_check)
        if not candidates:
            return now + FOREVER
        # Everything above is actionable when due (budget, backoff and Retry-After are already applied),
        # so a due time means "step again now"; the floor keeps a mistake from becoming a hot loop.
        return max(min(candidates), now + MIN_STEP_INTERVAL)

    def _next_mint_at(self, spec: ZoomAppSpec, now: datetime) -> datetime | None:
        """When the next token request may go out: the earliest reason to mint, held back by the backoff,
        Zoom's Retry-After and the mint budget."""
        wanted = [t for t in (self._verify_at,) if t is not None]
        if self._mint_requested or not self._token_valid(now):
            wanted.append(now)
        renewal = self._current_renew_at(spec)
        if renewal is not None:
            wanted.append(renewal)
        if not wanted:
            return None
        at = min(wanted)
        if self._retry_at is not None and not self._mint_requested:
            at = max(at, self._retry_at)
        if self._zoom_retry_after is not None:
            at = max(at, self._zoom_retry_after)
        if self._lease_until is not None and self._lease_until > now:
            at = max(at, self._lease_until)
        assert self._budget is not None
        return max(at, self._budget.next_allowed(max(at, now)))


def _newer(candidate: str, known: str | None) -> bool:
    """Whether resourceVersion `candidate` is newer than `known`. Opaque strings in general; etcd's are
    integers, compared as such (a watch event may arrive after the answer to a later write)."""
    if known is None:
        return True
    if candidate.isdigit() and known.isdigit():
        return int(candidate) > int(known)
    return candidate != known


def _uid(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid") or "")


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value[:1000] if isinstance(value, list) else []


def _is_ready(zoomapp: Mapping[str, Any]) -> bool:
    conditions = _list(_mapping(zoomapp.get("status")).get("conditions"))
    return any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def _trailing_rejections(mints: tuple[dx.MintRecord, ...]) -> list[ClientRejected]:
    """The ClientRejected answers since the last issued token (outages skipped), oldest first."""
    rejections: list[ClientRejected] = []
    for record in reversed(mints):
        if isinstance(record.outcome, ClientRejected):
            rejections.insert(0, record.outcome)
        elif isinstance(record.outcome, TokenIssued):
            break
    return rejections


def _is_user_path(path: str) -> bool:
    return path.startswith("/v2/users/") and path.count("/") == 3


def _probe_status(record: dx.ProbeRecord) -> dict[str, Any]:
    outcome = record.outcome
    status: dict[str, Any] = {"at": rfc3339(record.at)}
    if isinstance(outcome, ApiOk):
        status.update(httpStatus=outcome.http_status, message="accepted")
    elif isinstance(outcome, Unauthorized):
        status.update(httpStatus=401, zoomCode=outcome.code, message=outcome.message)
    elif isinstance(outcome, ScopeMissing):
        status.update(httpStatus=400, zoomCode=outcome.code, message=outcome.message)
    elif isinstance(outcome, NotFound):
        status.update(httpStatus=404, zoomCode=outcome.code, message=outcome.message)
    elif isinstance(outcome, RateLimited):
        status.update(httpStatus=429, message=outcome.message)
    elif isinstance(outcome, Transient):
        status.update(message=f"{outcome.kind}: {outcome.detail}")
        if outcome.http_status is not None:
            status["httpStatus"] = outcome.http_status
    else:
        status.update(httpStatus=outcome.http_status, zoomCode=outcome.code, message=outcome.message)
    if outcome.tracking_id:
        status["trackingId"] = outcome.tracking_id
    return {k: v for k, v in status.items() if v is not None}


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")


def _status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether the status differs in anything but what every probe renews: the time and Zoom
    tracking id of the last probe, the time of the owner check, and the times quoted in condition
    messages ("Zoom accepted at ...").

    Counting those as changes wrote status once per app per probe interval (a PATCH, and a watch
    event back into kopf, for every probe: at 1,000 apps all of the operator's steady-state API
    traffic, bench/RESULTS.md). They are written along with the next real change.
    """
    if old is None:
        return True

    def comparable(status: Mapping[str, Any]) -> dict[str, Any]:
        result = dict(status)
        probe = dict(result.get("lastProbe") or {})
        probe.pop("at", None)
        probe.pop("trackingId", None)
        result["lastProbe"] = probe
        if isinstance(result.get("owner"), Mapping):
            owner = dict(result["owner"])
            owner.pop("checkedAt", None)
            result["owner"] = owner
        result["conditions"] = [
            {**c, "message": _TIMESTAMP.sub("<time>", str(c.get("message", "")))}
            if isinstance(c, Mapping)
            else c
            for c in result.get("conditions") or []
        ]
        return result

    return comparable(old) != comparable(new)
