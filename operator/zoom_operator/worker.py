"""One step of one ZoomApp: read what changed, do what the planner says is due, publish the verdict.

`AppWorker.step()` is level-triggered: it looks at the app's slim ZoomApp, its credentials and its
token, asks `planner.py` what is due (mint, probe, fresh-token verification, owner check), runs those
`executors.py` requests, folds their evidence into the app's `AppState`, diagnoses, and writes status
only when it changed. The process's scheduler (`scheduler.py`) calls it when the app is due; a worker
has no task, event or RNG of its own. The token Secret half lives in `token_keeper.py`; status
rendering and restoring in `kube/status.py`.

It is written against two small gateways (Kubernetes and Zoom) and a reporter, so it is tested with
fakes and run by kopf through `handlers.py`. A restart rebuilds the state from the token Secret and
status: it costs no mint.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, TypeAlias

from zoom_operator import diagnosis as dx
from zoom_operator import executors, planner
from zoom_operator.executors import ZoomGateway
from zoom_operator.kube.credentials import (
    CREDENTIALS_LABEL,
    CREDENTIALS_LABEL_VALUE,
    Credentials,
    read_credentials,
    unlabelled,
)
from zoom_operator.kube.refs import KubeError, ObjectRef, as_mapping, resource_version
from zoom_operator.kube.status import restore_state
from zoom_operator.kube.token_secret import (
    client_id_fingerprint,
    is_intact,
    parse_rfc3339,
    read_stored_token,
)
from zoom_operator.owner_checker import OwnerChecker
from zoom_operator.planner import FOREVER, Tuning
from zoom_operator.registry import ClientIdRegistry
from zoom_operator.schedule import Backoff, MintBudget
from zoom_operator.spec import (
    DEFAULT_S2S_PRIVILEGE,
    EndpointAllowlist,
    Endpoints,
    SpecError,
    ZoomAppSpec,
    parse_spec,
)
from zoom_operator.state import AppState
from zoom_operator.status_writer import (
    MINT_DEADLINE,
    Publisher,
    StatusGateway,
    StatusWriter,
    WorkerView,
)
from zoom_operator.token_keeper import app_uid
from zoom_operator.zoom.outcomes import TokenIssued, Transient, Unauthorized

__all__ = [
    "PARSED_SPEC",
    "RENEW_NOW_ANNOTATION",
    "AppWorker",
    "ClientIdRegistry",
    "WorkerConfig",
    "WorkerView",
    "parse_body_spec",
]

RENEW_NOW_ANNOTATION: Final = "zoom-operator.io/renew-now"
# Where a slim ZoomApp copy carries its spec already parsed (`parse_body_spec`), in place of `spec`.
PARSED_SPEC: Final = "parsedSpec"
KUBE_RETRY: Final = timedelta(seconds=10)  # after a Kubernetes API error
RESTART_PROBE_SPREAD_SECONDS: Final = 30.0

log = logging.getLogger("zoom_operator.worker")

# Jitter only, shared by every app of the process (a per-app RNG was 2.5 KB per app).
_RNG = random.Random()  # noqa: S311 - jitter, not cryptography


class KubeGateway(StatusGateway, Protocol):
    async def get_labelled_secret(self, ref: ObjectRef, selector: str) -> dict[str, Any] | None: ...


Reporter: TypeAlias = Publisher  # where the worker's observations go besides status: Events and metrics


@dataclass
class WorkerConfig:
    s2s_privilege: str = DEFAULT_S2S_PRIVILEGE
    allowlist: EndpointAllowlist = field(default_factory=EndpointAllowlist)
    fresh_token_seconds: int = 60
    invalid_client_threshold: int = 2
    backoff: Backoff = field(default_factory=Backoff)
    owner_backoff: Backoff = field(default_factory=lambda: Backoff(base_seconds=60.0, cap_seconds=900.0))
    shard_labels: Callable[[str], Mapping[str, str]] | None = None  # sharded: labels for the token Secret

    @property
    def tuning(self) -> Tuning:
        return Tuning(
            fresh_token_seconds=self.fresh_token_seconds,
            invalid_client_threshold=self.invalid_client_threshold,
            backoff=self.backoff,
            owner_backoff=self.owner_backoff,
        )


def parse_body_spec(body: Mapping[str, Any], allowlist: EndpointAllowlist | None) -> ZoomAppSpec | SpecError:
    """A ZoomApp's spec, typed, or what is wrong with it (kept without its traceback)."""
    name = str((body.get("metadata") or {}).get("name") or "")
    try:
        return parse_spec(body.get("spec") or {}, app_name=name, allowlist=allowlist)
    except SpecError as error:
        return error.with_traceback(None)


class AppWorker(StatusWriter, OwnerChecker):
    """The token lifecycle of one ZoomApp: what one step of the scheduler does for it."""

    __slots__ = (
        "_body",
        "_clock",
        "_config",
        "_kube",
        "_registry",
        "_reporter",
        "_rng",
        "_wake_reasons",
        "_waker",
        "_zoom_factory",
        "ref",
        "state",
    )
    _kube: KubeGateway
    _reporter: Reporter
    _config: WorkerConfig

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
        self.state = AppState(renew_jitter=self._rng.random())

    # Signals -----------------------------------------------------------------------------------

    def wake(self, reason: str) -> None:
        """Ask for a step now. Reasons: spec, credentials, token_secret, duplicate, adopted."""
        if self._wake_reasons is None:
            self._wake_reasons = set()
        self._wake_reasons.add(reason)
        if self._waker is not None:
            self._waker(self.ref)

    def credentials_event(self) -> None:
        """The credentials Secret changed, was deleted or lost its label: read it again. (The watch
        carries metadata only: the data is read by name, by the app that uses it.)"""
        self.wake("credentials")

    def token_secret_event(self, secret: Mapping[str, Any] | None) -> None:
        """The token Secret changed (None: deleted); wake only if the change is not this app's own
        write. While a write is out, the event's version waits for the write's answer."""
        st = self.state
        version = resource_version(secret)
        if secret is not None and st.token_writing:
            st.token_seen_version = version
        elif secret is None or st.token_version is None or version != st.token_version:
            self.wake("token_secret")

    @property
    def restored(self) -> bool:
        """Whether the first step has rebuilt the state from status and the token Secret."""
        return self.state.restored

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
        st = self.state
        now = self._clock()
        reasons, self._wake_reasons = self._wake_reasons or set(), None
        body = self._body()
        meta = body.get("metadata") or {}
        self._see_resource_version(meta.get("resourceVersion"))
        generation = int(meta.get("generation") or 0)
        spec = body.get(PARSED_SPEC)
        if spec is None:
            spec = parse_body_spec(body, self._config.allowlist)
        if isinstance(spec, SpecError):
            self._registry.release(self.ref)
            await self._publish_invalid_spec(body, generation, spec, now)
            return now + FOREVER

        if not st.restored:
            await self._restore(body, spec, now)
        spec_changed = st.handled_generation is not None and st.handled_generation != generation
        if spec_changed:
            st.probe_due = now  # the spec changed: judge the new expectations at once
        st.handled_generation = generation
        conflict_poll_due = st.conflict is not None and (
            st.conflict_checked_at is None or now - st.conflict_checked_at >= planner.CONFLICT_POLL
        )
        if (
            st.token_secret_name != spec.token_secret.name
            or conflict_poll_due
            or (st.conflict is not None and (spec_changed or "token_secret" in reasons))
        ):
            await self._settle_token_secret(body, spec, now)

        credentials_changed = await self._refresh_credentials(spec, now, force="credentials" in reasons)
        creds = st.credentials
        if st.pending_rejection is not None and isinstance(creds, Credentials):
            fingerprint, rejected, prior = st.pending_rejection
            st.pending_rejection = None
            if fingerprint == creds.fingerprint:  # still the credentials Zoom rejected before the restart
                # The flag stands on what status remembers, but minting is not blocked on it: the next
                # token request re-proves it (one more invalid_client completes the streak) or clears it.
                for record in rejected:
                    st.add_mint(record)
                st.prior_invalid_client = prior
        duplicate_of: ObjectRef | None = None
        if st.conflict is None and isinstance(creds, Credentials):
            duplicate_of = self._claim(creds, meta, proven=st.proven_client_id == creds.client_id_fingerprint)
        else:
            self._registry.release(self.ref, wake_others=True)

        if st.conflict is None and isinstance(creds, Credentials) and duplicate_of is None:
            if st.token_unsaved and st.token is not None:
                await self._store_token(body, spec, st.token)
            if reasons & {"token_secret", "adopted"}:
                await self._repair_token_secret(body, spec)
            renew_request = (meta.get("annotations") or {}).get(RENEW_NOW_ANNOTATION)
            renew_requested = renew_request is not None and renew_request != st.handled_renew_request
            if renew_requested:
                st.handled_renew_request = renew_request
            if credentials_changed and st.blocked_fingerprint not in (None, creds.fingerprint):
                st.blocked_fingerprint, st.retry_at, st.attempt = None, None, 0
            if credentials_changed or renew_requested:
                st.mint_requested = True  # served by the next attempt the budget and Zoom allow
            proven_before = st.proven_client_id == creds.client_id_fingerprint
            await self._maybe_mint(body, spec, creds, now)
            if not proven_before and st.proven_client_id == creds.client_id_fingerprint:
                # the first token proves the client ID: claim it now, so that no other ZoomApp mints
                # for it in the meantime (and stop here if an older one proved it first)
                duplicate_of = self._claim(creds, meta, proven=True)
            if duplicate_of is None:
                await self._maybe_probe(spec)
                await self._maybe_check_owner(spec, now)

        diagnosis = dx.diagnose(self._snapshot(spec, now, duplicate_of))
        await self._publish(body, spec, generation, diagnosis, now)
        return planner.next_wakeup(
            st,
            spec,
            now,
            credentials_usable=isinstance(creds, Credentials),
            credentials_fingerprint=creds.fingerprint if isinstance(creds, Credentials) else None,
            duplicate=duplicate_of is not None,
        )

    def _claim(self, creds: Credentials, meta: Mapping[str, Any], *, proven: bool) -> ObjectRef | None:
        created = str(meta.get("creationTimestamp") or "")
        return self._registry.claim(creds.client_id, self.ref, created, self.wake, proven=proven)

    # Restore -----------------------------------------------------------------------------------

    async def _restore(self, body: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> None:
        """Rebuild the state from the token Secret and status, trusting neither blindly: both can be edited
        while the operator is down, so only this app's own Secret is read, the token's own `exp` bounds
        its expiry, and anything dated in the future is dropped (`kube/status.restore_state`)."""
        st = self.state
        status = body.get("status") or {}
        token_status = as_mapping(status.get("token"))
        names = [spec.token_secret.name]
        previous_name = token_status.get("secretName")
        if isinstance(previous_name, str) and previous_name and previous_name != spec.token_secret.name:
            names.append(previous_name)  # renamed while the operator was down: the token is still there
        for name in names:
            ownership, secret = await self._read_token_secret(name, app_uid(body))
            if ownership == "foreign":
                if name == spec.token_secret.name:
                    self._set_conflict(name, secret, now)
                continue
            stored = read_stored_token(secret)
            if stored is None:
                if ownership == "owned" and name == spec.token_secret.name:
                    st.token_secret_name = name  # ours, and nothing to keep: no need to check it again
                continue
            status_expiry = parse_rfc3339(token_status.get("expiresAt"))
            if (
                token_status.get("fingerprint") == stored.access_token.fingerprint()
                and status_expiry is not None
                and status_expiry < stored.expires_at
            ):
                stored = replace(stored, expires_at=status_expiry)
            if stored.expires_at > now:
                st.token = stored
                st.token_secret_name = name
                st.proven_client_id = client_id_fingerprint(secret)
                intact = is_intact(secret, self._render(body, spec, stored))
                st.token_version = resource_version(secret) if intact else None
                if not intact:
                    self.wake("token_secret")  # edited while the operator was down: repaired this step
                break
        else:
            if st.conflict is None and not names[1:]:
                st.token_secret_name = spec.token_secret.name  # absent or stale: written at the first mint
        restore_state(
            st,
            status,
            spec,
            fresh_token_seconds=self._config.fresh_token_seconds,
            now=now,
            probe_spread=self._rng.uniform(0, RESTART_PROBE_SPREAD_SECONDS),
        )

    # Credentials -------------------------------------------------------------------------------

    async def _refresh_credentials(self, spec: ZoomAppSpec, now: datetime, *, force: bool) -> bool:
        """Re-read the credentials Secret when told it changed, when it was unusable, or on first use.

        True when usable credentials differ from the ones used before (not on the first read): new
        credentials are tried at once, even while the old ones were blocked after `invalid_client`.
        """
        st = self.state
        poll_due = (
            not isinstance(st.credentials, Credentials)
            and st.credentials_checked_at is not None
            and now - st.credentials_checked_at >= planner.CREDENTIALS_POLL
        )
        if not force and not poll_due and st.credentials is not None:
            return False
        fresh = await self._read_credentials(spec)
        old, st.credentials = st.credentials, fresh
        first = st.credentials_checked_at is None
        st.credentials_checked_at = now
        if isinstance(fresh, Credentials) and not first:
            changed = not isinstance(old, Credentials) or old.fingerprint != fresh.fingerprint
            if changed:
                st.mints, st.prior_invalid_client = (), 0  # the old credentials' answers say nothing now
            return changed
        return False

    async def _read_credentials(self, spec: ZoomAppSpec) -> Credentials | dx.CredentialsProblem:
        """Only a Secret labelled for the operator is read: the API server filters by the label, so the
        data of any other Secret never reaches this process."""
        ref = ObjectRef(self.ref.namespace, spec.credentials.name)
        secret = await self._kube.get_labelled_secret(ref, f"{CREDENTIALS_LABEL}={CREDENTIALS_LABEL_VALUE}")
        if secret is None and await self._kube.get_secret_metadata(ref) is not None:
            return unlabelled(self.ref.namespace, spec.credentials)
        return read_credentials(secret, spec.credentials, self.ref.namespace)

    # Minting: one token request per app at a time, across processes -----------------------------

    async def _maybe_mint(
        self, body: Mapping[str, Any], spec: ZoomAppSpec, creds: Credentials, now: datetime
    ) -> None:
        st = self.state
        if st.budget.limit_per_hour != spec.mint_budget_per_hour:
            st.budget = MintBudget.from_timestamps(spec.mint_budget_per_hour, st.budget.in_window(now))
        st.lease_until = self._foreign_attempt(body.get("status") or {}, now)
        decision = planner.decide_mint(
            st, spec, now, credentials_fingerprint=creds.fingerprint, force=st.mint_requested
        )
        if not decision.now:
            return
        if not await self._record_attempt(body, spec, self._clock()):
            return  # another process won the write: what it stored was adopted, the next step replans
        planner.on_mint_attempt(st)
        try:
            async with asyncio.timeout(MINT_DEADLINE.total_seconds()):
                record = await executors.mint(self._zoom_factory(spec.endpoints), creds, self._clock)
        except TimeoutError:  # bounded, so that another process's lease on this attempt holds
            seconds = MINT_DEADLINE.total_seconds()
            record = dx.MintRecord(self._clock(), Transient("timeout", f"no answer within {seconds:.0f} s"))
        self._reporter.minted(self.ref, record.outcome)
        stopped = planner.on_minted(
            st,
            spec,
            record,
            self._config.tuning,
            credentials_fingerprint=creds.fingerprint,
            client_id_fingerprint=creds.client_id_fingerprint,
            rng_value=self._rng.random(),
        )
        if stopped is not None:
            log.warning(
                "%s: %s; no token requests until %s/%s changes",
                self.ref,
                stopped,
                self.ref.namespace,
                spec.credentials.name,
            )
        if isinstance(record.outcome, TokenIssued):
            await self._store_token(body, spec, record.outcome)

    # Probing (the owner check is owner_checker.py's) -------------------------------------------------------

    async def _maybe_probe(self, spec: ZoomAppSpec) -> None:
        st = self.state
        now = self._clock()  # a mint earlier in this step may have made a probe due
        token = st.token
        if token is None or not planner.probe_due(st, now):
            return
        zoom = self._zoom_factory(spec.endpoints)
        record = await executors.probe(zoom, token, spec.probe.resolve_path(spec.expected_owner), self._clock)
        planner.on_probed(
            st, spec, executors.without_body(record), self._config.tuning, rng_value=self._rng.random()
        )
        if not isinstance(record.outcome, Unauthorized) and executors.is_user_path(spec.probe.path):
            st.owner = executors.owner_from_probe(record, st.owner) or st.owner

    # Diagnosis and status ------------------------------------------------------------------------

    def _snapshot(self, spec: ZoomAppSpec, now: datetime, duplicate_of: ObjectRef | None) -> dx.Snapshot:
        st = self.state
        token, creds = st.token, st.credentials
        needs_mint = token is None or token.expires_at <= now
        return dx.Snapshot(
            now=now,
            spec=spec,
            app=str(self.ref),
            credentials_secret=f"{self.ref.namespace}/{spec.credentials.name}",
            credentials_problem=creds if isinstance(creds, dx.CredentialsProblem) else None,
            duplicate_of=self._describe_other(duplicate_of) if duplicate_of else None,
            token_secret_conflict=st.conflict,
            auditor_note=st.auditor_note if spec.auditor_ref else None,
            token=dx.TokenFacts(
                issued_at=token.issued_at,
                expires_at=token.expires_at,
                scopes=token.scopes,
                owner_uid=token.owner_uid,
            )
            if token
            else None,
            mints=st.mints,
            probes=st.probes,
            owner=st.owner,
            previous_scopes=st.previous_scopes,
            budget_exhausted=needs_mint and not st.budget.allows(now),
            s2s_privilege=self._config.s2s_privilege,
            fresh_token_seconds=self._config.fresh_token_seconds,
            invalid_client_threshold=self._config.invalid_client_threshold,
            prior_fresh_rejections=st.prior_fresh_rejections,
            prior_invalid_client=st.prior_invalid_client,
        )

    def _describe_other(self, other: ObjectRef) -> str:
        """Another ZoomApp as this app's status may name it: never by name outside its own namespace."""
        if other.namespace == self.ref.namespace:
            return f"ZoomApp {other}"
        return "a ZoomApp in another namespace"
