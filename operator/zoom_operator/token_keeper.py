"""Keeping an app's token Secret: only this ZoomApp's own Secret is read, adopted, repaired or written.

A mixin of `AppWorker` (it works on the worker's state and gateways). The Secret's ownership is judged
from its metadata before anything else is read; a Secret that is not this ZoomApp's own is a conflict:
never read, adopted, repaired, written or sent. A newer token written by another writer (a peer after
failover) is adopted, never overwritten. A renamed token Secret gets the current token at once, and
the old one is marked as no longer maintained (never deleted: consumers may still mount it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from zoom_operator.diagnosis import TokenSecretConflict
from zoom_operator.kube.refs import KubeError, ObjectRef, resource_version
from zoom_operator.kube.token_secret import (
    UNMAINTAINED_ANNOTATION,
    client_id_fingerprint,
    controller_of,
    is_intact,
    is_owned_by,
    read_stored_token,
    render_token_secret,
    rfc3339,
)
from zoom_operator.spec import ZoomAppSpec
from zoom_operator.state import AppState
from zoom_operator.zoom.outcomes import TokenIssued

log = logging.getLogger("zoom_operator.worker")

Ownership = Literal["absent", "owned", "foreign"]


class SecretGateway(Protocol):
    async def get_secret(self, ref: ObjectRef) -> dict[str, Any] | None: ...
    async def get_secret_metadata(self, ref: ObjectRef) -> dict[str, Any] | None: ...
    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def replace_secret(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def patch_secret(self, ref: ObjectRef, patch: Mapping[str, Any]) -> dict[str, Any]: ...


class ShardLabels(Protocol):
    @property
    def shard_labels(self) -> Callable[[str], Mapping[str, str]] | None: ...


class Warner(Protocol):
    def warning(self, ref: ObjectRef, body: Mapping[str, Any], reason: str, message: str) -> None: ...


def app_uid(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid") or "")


class TokenSecretKeeper:
    """The token Secret half of a worker; see the module docstring."""

    __slots__ = ()
    ref: ObjectRef
    state: AppState
    _kube: SecretGateway
    _reporter: Warner
    _clock: Callable[[], datetime]
    _config: ShardLabels
    wake: Callable[[str], None]

    async def _read_token_secret(self, name: str, uid: str) -> tuple[Ownership, dict[str, Any] | None]:
        """("absent", None), ("owned", the Secret) or ("foreign", its metadata only)."""
        ref = ObjectRef(self.ref.namespace, name)
        meta = await self._kube.get_secret_metadata(ref)
        if meta is None:
            return "absent", None
        if not is_owned_by(meta, uid):
            return "foreign", meta
        secret = await self._kube.get_secret(ref)
        if secret is None:
            return "absent", None
        if not is_owned_by(secret, uid):
            return "foreign", {"metadata": secret.get("metadata") or {}}
        return "owned", secret

    def _set_conflict(self, name: str, meta: Mapping[str, Any] | None, now: datetime) -> None:
        controller = controller_of(meta)
        self.state.conflict = TokenSecretConflict(
            secret=f"{self.ref.namespace}/{name}", controller=controller[1] if controller else None
        )
        self.state.conflict_checked_at = now

    async def _settle_token_secret(self, body: Mapping[str, Any], spec: ZoomAppSpec, now: datetime) -> None:
        """Check the Secret `spec.tokenSecret.name` names: a conflict while it is someone else's; after a
        rename, the current token is written there at once (no mint) and the old Secret is retired."""
        target = spec.token_secret.name
        ownership, live = await self._read_token_secret(target, app_uid(body))
        if ownership == "foreign":
            self._set_conflict(target, live, now)
            return
        self.state.conflict = None
        self.state.conflict_checked_at = None
        previous = self.state.token_secret_name
        if previous is not None and previous != target:
            if self.state.token is not None and self.state.token_valid(now):
                await self._store_token(body, spec, self.state.token)
                if self.state.conflict is not None:
                    return
            await self._retire_token_secret(body, previous, target, now)
        self.state.token_secret_name = target

    async def _retire_token_secret(
        self, body: Mapping[str, Any], old_name: str, new_name: str, now: datetime
    ) -> None:
        """Mark the Secret the token used to go to as no longer maintained, with a Warning Event."""
        ownership, _ = await self._read_token_secret(old_name, app_uid(body))
        if ownership != "owned":
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

    def _render(self, body: Mapping[str, Any], spec: ZoomAppSpec, token: TokenIssued) -> dict[str, Any]:
        rendered = render_token_secret(
            namespace=self.ref.namespace,
            app_name=self.ref.name,
            app_uid=app_uid(body),
            template=spec.token_secret,
            token=token,
            default_api_url=spec.endpoints.api_url,
            client_id_fingerprint=self.state.proven_client_id,
        )
        if self._config.shard_labels is not None:  # sharded: the owning app's shard, for the Secret watch
            rendered["metadata"]["labels"].update(self._config.shard_labels(app_uid(body)))
        return rendered

    async def _store_token(self, body: Mapping[str, Any], spec: ZoomAppSpec, token: TokenIssued) -> None:
        """Write the token Secret, never replacing a newer token with an older one, and never writing a
        Secret that is not this ZoomApp's own (that is a conflict: the token stays in memory only)."""
        state = self.state
        ref = ObjectRef(self.ref.namespace, spec.token_secret.name)
        rendered = self._render(body, spec, token)
        ownership: Ownership
        live: dict[str, Any] | None
        # Known to be absent (looked up when the state was restored, nothing written since): create it
        # straight away; if someone made it meanwhile the create fails (409) and it is looked at first.
        known_absent = state.token_version is None and state.token_secret_name == ref.name
        for _ in range(3):
            if known_absent:
                ownership, live, known_absent = "absent", None, False
            else:
                ownership, live = await self._read_token_secret(ref.name, app_uid(body))
            if ownership == "foreign":
                self._set_conflict(ref.name, live, self._clock())
                return
            if live is not None:
                existing = read_stored_token(live)
                if existing is not None and existing.issued_at > token.issued_at:
                    # another writer (a peer after failover) stored a newer token: adopt it, never overwrite
                    self._adopt(body, spec, existing, live)
                    return
                rendered["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            state.token_writing, state.token_seen_version = True, None
            try:
                if live is None:
                    written = await self._kube.create_secret(self.ref.namespace, rendered)
                else:
                    written = await self._kube.replace_secret(ref, rendered)
            except KubeError as error:
                if error.status == 409:  # created or changed meanwhile: look again
                    continue
                raise
            finally:
                state.token_writing = False
            state.token, state.token_unsaved = token, False
            state.token_secret_name = ref.name
            self._wrote_version(resource_version(written))
            return
        raise KubeError(409, "Conflict", f"token Secret {ref} kept changing while being written")

    def _wrote_version(self, version: str | None) -> None:
        """The token Secret is at `version` by this app's own write; a watch event that arrived while the
        write was out at another version was someone else's change: look at the Secret again."""
        state = self.state
        seen, state.token_seen_version = state.token_seen_version, None
        state.token_version = version
        if seen is not None and seen != version:
            self.wake("token_secret")

    def _adopt(
        self, body: Mapping[str, Any], spec: ZoomAppSpec, token: TokenIssued, live: Mapping[str, Any]
    ) -> None:
        state = self.state
        state.token, state.token_unsaved = token, False
        state.token_version = (
            resource_version(live) if is_intact(live, self._render(body, spec, token)) else None
        )
        state.token_secret_name = spec.token_secret.name
        recorded = client_id_fingerprint(live)
        if recorded is not None:
            state.proven_client_id = recorded

    async def _adopt_stored_token(self, body: Mapping[str, Any], spec: ZoomAppSpec) -> None:
        """Take the token in this app's own token Secret when it is newer than the one held."""
        ownership, live = await self._read_token_secret(spec.token_secret.name, app_uid(body))
        if ownership != "owned" or live is None:
            return
        stored = read_stored_token(live)
        if stored is None or (
            self.state.token is not None and stored.issued_at <= self.state.token.issued_at
        ):
            return
        self._adopt(body, spec, stored, live)

    async def _repair_token_secret(self, body: Mapping[str, Any], spec: ZoomAppSpec) -> None:
        """The token Secret changed: take a newer token that another process serving this app stored
        there (its request won the attempt record while this one waited: minting again would spend a
        second token); otherwise, if it was deleted or edited, put the current token back (no mint)."""
        token = self.state.token
        now = self._clock()
        ref = ObjectRef(self.ref.namespace, spec.token_secret.name)
        ownership, live = await self._read_token_secret(ref.name, app_uid(body))
        if ownership == "foreign":
            self._set_conflict(ref.name, live, now)
            return
        stored = read_stored_token(live) if ownership == "owned" and live is not None else None
        if (
            live is not None
            and stored is not None
            and stored.expires_at > now
            and (token is None or stored.issued_at > token.issued_at)
        ):
            self._adopt(body, spec, stored, live)
            return
        if token is None or not self.state.token_valid(now):
            return
        if is_intact(live, self._render(body, spec, token)):
            self.state.token_version = resource_version(live)  # changed only where it is not ours
            return
        log.info(
            "%s: token Secret %s was %s; restoring it", self.ref, ref, "deleted" if live is None else "edited"
        )
        await self._store_token(body, spec, token)
