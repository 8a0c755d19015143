"""Writing an app's status under the API server's optimistic concurrency: one minter per app.

A mixin of `AppWorker`. Every status write carries the resourceVersion last seen (a watch event, the
answer to the last write), so of two processes that both believe they serve an app (two replicas, an
upgrade overlap, overlapping shards, a pause racing a resume) only one write wins. A token request is
sent only after the write that records it won; the loser re-reads the ZoomApp, folds in the winner's
mint attempts, adopts its newer token, and sends nothing while the winner's request may be in flight
(MINT_LEASE). Publishing the verdict (status, Events, metrics) lives here too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from zoom_operator import diagnosis as dx
from zoom_operator.kube.published import Published, changed
from zoom_operator.kube.refs import KubeError, ObjectRef, as_mapping, resource_version
from zoom_operator.kube.status import (
    Transition,
    mints_status,
    recorded_attempts,
    render_conditions,
    render_mints,
    render_status,
    transitions,
)
from zoom_operator.schedule import MintBudget
from zoom_operator.spec import SpecError, ZoomAppSpec
from zoom_operator.timefmt import parse_rfc3339, rfc3339
from zoom_operator.token_keeper import SecretGateway, ShardLabels, TokenSecretKeeper
from zoom_operator.zoom.outcomes import TokenOutcome

READY_INVALID_SPEC: Final = "InvalidSpec"
# A token request lasts at most MINT_DEADLINE (the worker gives up on it then); one recorded on status
# by another process is taken to be in flight until MINT_LEASE has passed, unless a token issued after
# it shows up first. Short, because a restart after a crash mid-request waits it out too.
MINT_DEADLINE: Final = timedelta(seconds=10)
MINT_LEASE: Final = timedelta(seconds=15)


class StatusGateway(SecretGateway, Protocol):
    async def get_zoomapp(self, ref: ObjectRef) -> dict[str, Any] | None: ...
    async def patch_zoomapp_status(
        self, ref: ObjectRef, status: Mapping[str, Any], *, resource_version: str | None = None
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class WorkerView:
    """What the reporter may know of a worker after a step (no token values)."""

    diagnosis: dx.Diagnosis | None
    token_expires_at: datetime | None
    token_issued_at: datetime | None
    renew_at: datetime | None
    last_probe_at: datetime | None
    mint_budget_remaining: int
    consecutive_unauthorized: int


class Publisher(Protocol):
    def transition(self, ref: ObjectRef, body: Mapping[str, Any], change: Transition) -> None: ...
    def warning(self, ref: ObjectRef, body: Mapping[str, Any], reason: str, message: str) -> None: ...
    def minted(self, ref: ObjectRef, outcome: TokenOutcome) -> None: ...
    def published(self, ref: ObjectRef, state: WorkerView) -> None: ...
    def forget(self, ref: ObjectRef) -> None: ...


class Tunable(ShardLabels, Protocol):
    @property
    def fresh_token_seconds(self) -> int: ...


class StatusWriter(TokenSecretKeeper):
    """The status half of a worker; see the module docstring."""

    __slots__ = ()
    _kube: StatusGateway
    _reporter: Publisher
    _config: Tunable

    def wake(self, reason: str) -> None:  # AppWorker's
        raise NotImplementedError

    async def _record_attempt(self, body: Mapping[str, Any], spec: ZoomAppSpec, at: datetime) -> bool:
        """Count a token request against the budget and persist it on status *before* it is sent, with a
        resourceVersion precondition. True when this process may send it.

        The budget survives restarts only through `status.mints`; written after the mint, a crash between
        the token request and the status patch forgot the attempt (and the renew-now request it served),
        so a crash loop could mint past `mintBudgetPerHour`. If this write fails, the mint does not
        happen: a token that cannot be counted could not be stored either.

        The precondition makes the API server the arbiter between processes that both believe they serve
        this app (two replicas, overlapping shards, a pause racing a resume): the write that records the
        attempt wins for one of them only. The loser re-reads the ZoomApp and adopts what the winner
        stored; it sends nothing while the winner's request may be in flight (MINT_LEASE).
        """
        st = self.state
        at = at.replace(microsecond=0)  # what status can hold: the restored budget is the same one
        for _ in range(3):
            # a list, not a set: two token requests in one second are two (status holds seconds only)
            attempts = sorted([*st.budget.in_window(at), at])
            mints = mints_status(attempts, st.mints_total + 1, at)
            patch: dict[str, Any] = {"mints": mints}
            if st.handled_renew_request is not None and st.token is not None:
                patch["token"] = {"renewRequestHandled": st.handled_renew_request}
            try:
                written = await self._kube.patch_zoomapp_status(
                    self.ref, patch, resource_version=st.resource_version
                )
            except KubeError as error:
                if error.status == 404:
                    return False  # the ZoomApp is gone: nothing to mint for
                if error.status != 409:
                    raise
                if not await self._adopt_latest(body, spec, at):
                    return False
                continue
            self._see_resource_version(resource_version(written))
            st.budget.record(at)
            st.mints_total += 1
            st.last_mint_at = at
            st.own_attempt = rfc3339(at)
            if st.published is not None:
                st.published = st.published.with_fields({"mints": mints})
            return True
        return False

    def _see_resource_version(self, value: object) -> None:
        """Remember the newest resourceVersion of the ZoomApp seen (a watch event, a write's answer)."""
        if isinstance(value, str) and value and _newer(value, self.state.resource_version):
            self.state.resource_version = value

    def _foreign_attempt(self, status: Mapping[str, Any], now: datetime) -> datetime | None:
        """Until when a token request that another process recorded on status may still be in flight;
        None when there is none (it is ours, old, or the token it asked for has arrived)."""
        last = as_mapping(status.get("mints")).get("lastAt")
        if not isinstance(last, str) or last == self.state.own_attempt:
            return None
        at = parse_rfc3339(last)
        if at is None or at > now + MINT_LEASE or now - at >= MINT_LEASE:
            return None
        token = self.state.token
        if token is not None and token.issued_at.replace(microsecond=0) >= at:
            return None
        return at + MINT_LEASE

    async def _adopt_latest(self, body: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> bool:
        """A status write lost to a newer resourceVersion: re-read the ZoomApp and adopt what the other
        writer stored (its mint attempts, a newer token). True when a token request may still be sent."""
        live = await self._kube.get_zoomapp(self.ref)
        if live is None:
            return False
        self._see_resource_version(resource_version(live))
        status = as_mapping(live.get("status"))
        self._merge_mints(status, spec, now)
        if await self._adopt_if_newer(body, spec, status):
            return False  # the other writer minted: nothing is due until this token's renewal
        self.state.lease_until = self._foreign_attempt(status, now)
        return self.state.lease_until is None

    async def _adopt_if_newer(
        self, body: Mapping[str, Any], spec: ZoomAppSpec, status: Mapping[str, Any]
    ) -> bool:
        """When status shows another token than ours, take it from the token Secret; True if taken."""
        ours = self.state.token.access_token.fingerprint() if self.state.token is not None else None
        if as_mapping(status.get("token")).get("fingerprint") in (None, ours):
            return False
        await self._adopt_stored_token(body, spec)
        return self.state.token is not None and self.state.token.access_token.fingerprint() != ours

    def _merge_mints(self, status: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> None:
        """Fold another writer's `status.mints` into this process's budget and counters."""
        st = self.state
        mints = as_mapping(status.get("mints"))
        theirs = recorded_attempts(mints, now, until=now + MINT_LEASE)
        # a multiset union: an attempt both lists hold counts once, two in one second count twice
        merged = sorted((Counter(st.budget.in_window(now)) | Counter(theirs)).elements())
        merged = merged[-spec.mint_budget_per_hour :]
        st.budget = MintBudget.from_timestamps(spec.mint_budget_per_hour, merged)
        total = mints.get("total")
        if isinstance(total, int) and not isinstance(total, bool) and total > st.mints_total:
            st.mints_total = total
        last_at = parse_rfc3339(mints.get("lastAt"))
        if last_at is not None and (st.last_mint_at is None or last_at > st.last_mint_at):
            st.last_mint_at = last_at

    async def _publish(
        self,
        body: Mapping[str, Any],
        spec: ZoomAppSpec,
        generation: int,
        diagnosis: dx.Diagnosis,
        now: datetime,
    ) -> None:
        st = self.state
        st.consecutive_unauthorized = dx.rejected_fresh_tokens(
            st.probes, self._config.fresh_token_seconds, st.prior_fresh_rejections
        )
        status = render_status(st, spec, generation, diagnosis, now)
        previous_conditions = st.published.condition_maps() if st.published is not None else None
        target = Published.of(status)
        if changed(st.published, target):
            if not await self._write_status(status, target, spec, body):
                return
            for change in transitions(previous_conditions, diagnosis):
                self._reporter.transition(self.ref, body, change)
        st.diagnosis = diagnosis
        self._reporter.published(self.ref, self.view(now))

    async def _write_status(
        self,
        status: dict[str, Any],
        target: Published,
        spec: ZoomAppSpec | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> bool:
        """Patch `status` in, so that status holds what `target` says, with the resourceVersion
        precondition; on a conflict, fold in what the other writer stored (never overwrite its record
        of a token request, adopt its newer token) and retry. False when the write was given up for a
        newer token: the next step judges and publishes it."""
        st = self.state
        for attempt in range(3):
            patch: dict[str, Any] = dict(status)
            for key in ("owner", "token", "lastProbe", "credentials"):
                if st.published is not None and st.published.has(key) and not target.has(key):
                    patch[key] = None  # merge patch: drop what no longer holds
            try:
                written = await self._kube.patch_zoomapp_status(
                    self.ref, patch, resource_version=st.resource_version
                )
            except KubeError as error:
                if error.status == 404:
                    break
                if error.status != 409 or attempt == 2:
                    raise
                live = await self._kube.get_zoomapp(self.ref)
                if live is None:
                    break
                self._see_resource_version(resource_version(live))
                live_status = as_mapping(live.get("status"))
                if (
                    spec is not None
                    and body is not None
                    and await self._adopt_if_newer(body, spec, live_status)
                ):
                    self.wake("adopted")  # another writer's newer token: judge it, then publish
                    return False
                if spec is not None and "mints" in status:
                    now = self._clock()
                    self._merge_mints(live_status, spec, now)
                    status = {**status, "mints": render_mints(st, now)}
                    target = target.with_fields({"mints": status["mints"]})
                continue
            self._see_resource_version(resource_version(written))
            break
        st.published = target
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
        published = self.state.published
        if published is not None:
            previous: list[dict[str, str]] | None = published.condition_maps()
        else:
            previous = as_mapping(body.get("status")).get("conditions")
        status = {
            "observedGeneration": generation,
            "conditions": render_conditions(previous, diagnosis, generation=generation, now=now),
        }
        target = (published or Published.of({})).with_fields(status)  # the other fields stand
        if changed(published, target):
            await self._write_status(status, target)
            for change in transitions(previous, diagnosis):
                self._reporter.transition(self.ref, body, change)
        self.state.diagnosis = diagnosis

    def view(self, now: datetime) -> WorkerView:
        st = self.state
        token = st.token
        return WorkerView(
            diagnosis=st.diagnosis,
            token_expires_at=token.expires_at if token else None,
            token_issued_at=token.issued_at if token else None,
            renew_at=st.renew_at,
            last_probe_at=st.last_probe_at,
            mint_budget_remaining=st.budget.limit_per_hour - st.budget.used(now),
            consecutive_unauthorized=st.consecutive_unauthorized,
        )


def _newer(candidate: str, known: str | None) -> bool:
    """Whether resourceVersion `candidate` is newer than `known`. Opaque strings in general; etcd's are
    integers, compared as such (a watch event may arrive after the answer to a later write)."""
    if known is None:
        return True
    if candidate.isdigit() and known.isdigit():
        return int(candidate) > int(known)
    return candidate != known
