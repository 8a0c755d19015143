"""Checking an app's owner in Zoom: with the app's own token, or with an auditor ZoomApp's.

A mixin of `AppWorker`. Without `spec.auditorRef` the owner's role is read with the app's own token
when it may read roles (the probe of a user path already told who the owner is). With one, the owner
is looked up with the auditor ZoomApp's token, and only its own: from a Secret it controls, while it
is Ready, to endpoints on the allowlist. A decoy "auditor" naming someone else's token Secret gets
nothing, and why not is shown on status (`auditor_note`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from zoom_operator import diagnosis as dx
from zoom_operator import executors, planner
from zoom_operator.executors import ZoomGateway
from zoom_operator.kube.refs import ObjectRef, as_mapping
from zoom_operator.kube.token_secret import read_stored_token
from zoom_operator.spec import EndpointAllowlist, Endpoints, SpecError, ZoomAppSpec, parse_spec
from zoom_operator.token_keeper import SecretGateway, ShardLabels, TokenSecretKeeper, app_uid
from zoom_operator.zoom.outcomes import TokenIssued

log = logging.getLogger("zoom_operator.worker")


class ZoomAppReader(SecretGateway, Protocol):
    async def get_zoomapp(self, ref: ObjectRef) -> dict[str, Any] | None: ...


class Allowlisted(ShardLabels, Protocol):
    @property
    def allowlist(self) -> EndpointAllowlist: ...


class OwnerChecker(TokenSecretKeeper):
    """The owner half of a worker; see the module docstring."""

    __slots__ = ()
    _kube: ZoomAppReader
    _config: Allowlisted
    _zoom_factory: Callable[[Endpoints], ZoomGateway]

    async def _maybe_check_owner(self, spec: ZoomAppSpec, now: datetime) -> None:
        st = self.state
        if spec.auditor_ref:
            if planner.auditor_check_due(st, now):
                st.next_owner_check = now + timedelta(seconds=spec.probe.interval_seconds)
                await self._check_owner_with_auditor(spec, now)
            return
        # Without an auditor: learn the owner's role with the app's own token, when it may read roles.
        if st.owner is None or st.token is None or not planner.role_check_due(st, now):
            return
        st.owner_role_checked_at = now
        st.owner = await executors.with_role(self._zoom_factory(spec.endpoints), st.token, st.owner)

    async def _check_owner_with_auditor(self, spec: ZoomAppSpec, now: datetime) -> None:
        found = await self._auditor_token(spec, now)
        if isinstance(found, str):
            self.state.auditor_note = found
            log.info("%s: %s", self.ref, found)
            return
        self.state.auditor_note = None
        auditor_spec, auditor_token = found
        facts = await executors.look_up_owner(
            self._zoom_factory(auditor_spec.endpoints),
            auditor_token.access_token,
            spec.expected_owner.lookup_key,
            source="auditor",
            clock=self._clock,
        )
        if isinstance(facts, dx.OwnerFacts):
            self.state.owner = facts  # anything else: the auditor could not look, no evidence either way

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
        state, secret = await self._read_token_secret(auditor_spec.token_secret.name, app_uid(auditor))
        if state != "owned":
            return f"{where}: Secret {auditor_spec.token_secret.name} is not its own token Secret"
        auditor_token = read_stored_token(secret)
        if auditor_token is None or auditor_token.expires_at <= now:
            return f"{where} holds no valid token"
        return auditor_spec, auditor_token


def _is_ready(zoomapp: Mapping[str, Any]) -> bool:
    conditions = as_mapping(zoomapp.get("status")).get("conditions")
    return isinstance(conditions, list) and any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions[:1000]
    )
