"""The per-app worker's decisions, with in-memory Kubernetes and Zoom fakes and a hand-moved clock.

The e2e tier proves the same behaviour against a real API server and the simulator; these tests pin
the decisions themselves (when to mint, when not to) fast and exhaustively.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from zoom_operator.kube.api import KubeError, ObjectRef
from zoom_operator.kube.status import Transition
from zoom_operator.secret import Secret
from zoom_operator.status_writer import MINT_LEASE
from zoom_operator.worker import AppWorker, ClientIdRegistry, WorkerView
from zoom_operator.zoom.outcomes import (
    ApiOk,
    ApiOutcome,
    ClientRejected,
    RateLimited,
    TokenIssued,
    TokenOutcome,
    Transient,
    Unauthorized,
    ZoomRole,
    ZoomUser,
)

START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
NS, APP, CREDS = "team-a", "bot", "bot-zoom"
USER = {
    "id": "u-owner",
    "email": "dev-lead@example.com",
    "status": "active",
    "role_id": "r",
    "role_name": "Admin",
}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeKube:
    """Secrets and ZoomApp status in memory, with resourceVersions like the API server."""

    def __init__(self) -> None:
        self.secrets: dict[ObjectRef, dict[str, Any]] = {}
        self.status: dict[str, Any] = {}
        self.version = 0
        self.reads: list[ObjectRef] = []  # Secrets whose data was read
        self.patches: list[tuple[ObjectRef, Mapping[str, Any]]] = []
        self.zoomapps: dict[ObjectRef, dict[str, Any]] = {}
        self.app_version = 1  # the ZoomApp's resourceVersion

    def put_credentials(self, secret: str = "demo-secret") -> None:
        values = {"account_id": "acc", "client_id": "cid", "client_secret": secret}
        self.secrets[ObjectRef(NS, CREDS)] = {
            "metadata": {"name": CREDS, "labels": {"zoom-operator.io/credentials": "true"}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
        }

    async def get_secret(self, ref: ObjectRef) -> dict[str, Any] | None:
        self.reads.append(ref)
        return self.secrets.get(ref)

    async def get_secret_metadata(self, ref: ObjectRef) -> dict[str, Any] | None:
        secret = self.secrets.get(ref)
        return None if secret is None else {"metadata": dict(secret["metadata"])}

    async def get_labelled_secret(self, ref: ObjectRef, selector: str) -> dict[str, Any] | None:
        key, _, value = selector.partition("=")
        secret = self.secrets.get(ref)
        if secret is None or (secret["metadata"].get("labels") or {}).get(key) != value:
            return None
        self.reads.append(ref)
        return secret

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        ref = ObjectRef(namespace, body["metadata"]["name"])
        if ref in self.secrets:
            raise KubeError(409, "AlreadyExists", "exists")
        return self._store(ref, body)

    async def replace_secret(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        live = self.secrets[ref]
        if body["metadata"].get("resourceVersion") != live["metadata"].get("resourceVersion"):
            raise KubeError(409, "Conflict", "changed")
        return self._store(ref, body)

    async def patch_secret(self, ref: ObjectRef, patch: Mapping[str, Any]) -> dict[str, Any]:
        self.patches.append((ref, patch))
        live = self.secrets[ref]
        annotations = {
            **(live["metadata"].get("annotations") or {}),
            **patch["metadata"].get("annotations", {}),
        }
        live["metadata"] = {**live["metadata"], "annotations": annotations}
        return live

    async def get_zoomapp(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.zoomapps.get(ref)

    async def patch_zoomapp_status(
        self, ref: ObjectRef, status: Mapping[str, Any], *, resource_version: str | None = None
    ) -> dict[str, Any]:
        if resource_version is not None and resource_version != str(self.app_version):
            raise KubeError(409, "Conflict", "the object has been modified")
        for key, value in status.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value
        self.app_version += 1
        return {"metadata": {"resourceVersion": str(self.app_version)}, "status": self.status}

    def _store(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}
        self.secrets[ref] = stored
        return stored

    def condition(self, condition_type: str) -> tuple[str, str]:
        for condition in self.status.get("conditions", []):
            if condition["type"] == condition_type:
                return condition["status"], condition["reason"]
        raise AssertionError(f"no {condition_type} condition")


class FakeZoom:
    """Answers from a script: `mint_script` for the token endpoint, `probe_script` for GETs."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.mint_script: list[TokenOutcome] = []
        self.probe_script: list[ApiOutcome] = []
        self.mints = 0
        self.probes = 0
        self.ttl = 3600

    def token(self) -> TokenIssued:
        now = self.clock()
        return TokenIssued(
            access_token=Secret(f"token-{self.mints}"),
            token_type="bearer",
            issued_at=now,
            expires_at=now + timedelta(seconds=self.ttl),
            scopes=frozenset({"user:read:admin"}),
            api_url=None,
            owner_uid="u-owner",
        )

    async def mint(self, account_id: str, client_id: str, client_secret: Secret) -> TokenOutcome:
        self.mints += 1
        return self.mint_script.pop(0) if self.mint_script else self.token()

    async def get(self, token: Secret, path: str, *, api_url: str | None = None) -> ApiOutcome:
        self.probes += 1
        return self.probe_script.pop(0) if self.probe_script else ApiOk(200, dict(USER))

    async def get_user(self, token: Secret, user_id: str) -> ZoomUser | ApiOutcome:
        raise AssertionError("no auditor in these tests")

    async def get_role(self, token: Secret, role_id: str) -> ZoomRole | ApiOutcome:
        raise AssertionError("the token may not read roles")


class Reporter:
    def __init__(self) -> None:
        self.transitions: list[Transition] = []
        self.warnings: list[tuple[str, str]] = []

    def transition(self, ref: ObjectRef, body: Mapping[str, Any], change: Transition) -> None:
        self.transitions.append(change)

    def warning(self, ref: ObjectRef, body: Mapping[str, Any], reason: str, message: str) -> None:
        self.warnings.append((reason, message))

    def minted(self, ref: ObjectRef, outcome: TokenOutcome) -> None: ...

    def published(self, ref: ObjectRef, state: WorkerView) -> None: ...

    def forget(self, ref: ObjectRef) -> None: ...


class Harness:
    def __init__(self, **spec: Any) -> None:
        self.clock = Clock()
        self.kube = FakeKube()
        self.kube.put_credentials()
        self.zoom = FakeZoom(self.clock)
        self.registry = ClientIdRegistry()
        self.spec: dict[str, Any] = {
            "credentialsSecretRef": {"name": CREDS},
            "expectedOwner": {"email": "dev-lead@example.com"},
            "mintBudgetPerHour": 6,
            **spec,
        }
        self.annotations: dict[str, str] = {}
        self.generation = 1
        self.reporter = Reporter()
        self.worker = self.new_worker()

    def body(self) -> dict[str, Any]:
        return {
            "metadata": {
                "name": APP,
                "namespace": NS,
                "uid": "uid-1",
                "generation": self.generation,
                "creationTimestamp": "2026-11-29T08:00:00Z",
                "annotations": self.annotations,
            },
            "spec": self.spec,
            "status": dict(self.kube.status),
        }

    def new_worker(self) -> AppWorker:
        """A fresh worker over the same cluster state: what an operator restart looks like."""
        return AppWorker(
            ref=ObjectRef(NS, APP),
            body=self.body,
            kube=self.kube,
            zoom=lambda endpoints: self.zoom,
            reporter=self.reporter,
            registry=self.registry,
            clock=self.clock,
            rng=random.Random(7),
        )

    async def step(self) -> datetime:
        return await self.worker.step()

    async def run_until(self, seconds: float) -> None:
        """Step at every wake-up the worker asks for, until `seconds` have passed."""
        end = self.clock() + timedelta(seconds=seconds)
        while True:
            wakeup = await self.step()
            if wakeup > end:
                self.clock.now = end
                return
            self.clock.now = max(wakeup, self.clock() + timedelta(milliseconds=1))


async def test_first_step_mints_once_stores_the_token_and_proves_it() -> None:
    h = Harness()
    await h.step()
    assert (h.zoom.mints, h.zoom.probes) == (1, 1)
    assert ObjectRef(NS, "bot-token") in h.kube.secrets
    assert h.kube.condition("Ready") == ("True", "TokenVerified")
    assert h.kube.condition("OwnerRoleChangeRequired") == ("False", "OwnerVerified")
    assert h.kube.status["mints"]["total"] == 1


async def test_a_restarted_worker_reuses_the_stored_token() -> None:
    h = Harness()
    await h.step()
    h.clock.advance(120)
    h.worker = h.new_worker()
    await h.step()
    assert h.zoom.mints == 1
    assert h.kube.condition("Ready") == ("True", "TokenVerified")


async def test_renews_from_the_real_expiry_once_per_lifetime() -> None:
    h = Harness(renewBeforeSeconds=600)
    await h.run_until(3 * 3600)
    # floor: 3 h / (3600 - 600 - jitter) s per token ≈ 3.6 → 4 tokens, never more than one extra
    assert 4 <= h.zoom.mints <= 5
    assert h.kube.condition("Ready") == ("True", "TokenVerified")


async def test_fresh_tokens_rejected_three_times_flag_the_owner_within_the_budget() -> None:
    h = Harness(probe={"intervalSeconds": 60})
    await h.step()
    h.zoom.probe_script = [Unauthorized(124, "Invalid access token.")] * 10
    await h.run_until(120)
    assert h.kube.condition("OwnerRoleChangeRequired") == ("True", "FreshTokensRejected")
    assert h.kube.condition("Ready") == ("False", "OwnerProblem")
    assert h.zoom.mints == 1 + 3, "the first token plus three fresh ones, then no more"
    await h.run_until(600)
    assert h.zoom.mints == 4, "a raised flag is not proven again while it stands"


async def test_invalid_client_is_confirmed_once_then_no_mint_until_the_secret_changes() -> None:
    h = Harness(renewBeforeSeconds=600)
    await h.step()
    rejected = ClientRejected("invalid_client", "Invalid client_id or client_secret", 400)
    h.zoom.mint_script = [rejected] * 10
    h.clock.advance(3050)  # past the renewal time, before the expiry
    await h.run_until(300)
    assert h.zoom.mints == 1 + 2
    assert h.kube.condition("SecretRotationRequired") == ("True", "ClientCredentialsRejected")
    assert h.kube.condition("Ready") == ("True", "TokenVerified"), "the valid token keeps being served"

    h.zoom.mint_script = []
    h.kube.put_credentials("rotated-secret")
    h.worker.credentials_event()
    await h.step()
    assert h.zoom.mints == 4, "new credentials are tried at once"
    assert h.kube.condition("SecretRotationRequired") == ("False", "CredentialsAccepted")


async def test_renew_now_waits_for_zooms_retry_after() -> None:
    h = Harness()
    await h.step()
    h.zoom.mint_script = [RateLimited(START + timedelta(seconds=300), "QPS", "Light", "Too many requests")]
    h.annotations["zoom-operator.io/renew-now"] = "1"
    await h.step()
    assert h.zoom.mints == 2
    h.annotations["zoom-operator.io/renew-now"] = "2"
    await h.run_until(200)
    assert h.zoom.mints == 2, "nothing before Retry-After, even when asked"
    await h.run_until(200)
    assert h.zoom.mints == 3, "the pending request is served once Zoom allows it"


async def test_never_more_token_requests_than_the_budget() -> None:
    h = Harness(mintBudgetPerHour=3)
    h.zoom.mint_script = [Transient("server_error", "503", 503)] * 50
    await h.run_until(3599)
    assert h.zoom.mints == 3
    assert h.kube.condition("Ready") in {("False", "MintBudgetExhausted"), ("False", "ZoomUnreachable")}


class Killed(Exception):
    """The process died while its token request was out (what a SIGKILL leaves behind)."""


async def test_two_token_requests_in_one_second_count_twice_after_a_kill() -> None:
    # status holds attempts to the second: two requests sent in one second are two, also when the
    # process dies before it publishes the second
    h = Harness(mintBudgetPerHour=3)
    await h.step()
    h.annotations["zoom-operator.io/renew-now"] = "1"
    h.clock.advance(0.2)
    await h.step()
    mint = h.zoom.mint

    async def dies_in_flight(account_id: str, client_id: str, client_secret: Secret) -> TokenOutcome:
        await mint(account_id, client_id, client_secret)
        raise Killed

    h.zoom.mint = dies_in_flight  # type: ignore[method-assign]
    h.annotations["zoom-operator.io/renew-now"] = "2"
    h.clock.advance(0.2)
    with pytest.raises(Killed):
        await h.step()
    assert h.zoom.mints == 3
    assert h.kube.status["mints"]["lastHour"] == 3
    h.zoom.mint = mint  # type: ignore[method-assign]
    h.worker = h.new_worker()
    h.annotations["zoom-operator.io/renew-now"] = "3"
    await h.run_until(600)
    assert h.zoom.mints == 3, "the restored budget holds all three"


async def test_an_outage_keeps_the_token_and_raises_no_human_flag() -> None:
    h = Harness(probe={"intervalSeconds": 30})
    await h.step()
    h.zoom.probe_script = [Transient("timeout", "read timeout")] * 40
    await h.run_until(900)
    assert h.kube.condition("Ready") == ("True", "TokenVerified")
    assert h.kube.condition("OwnerRoleChangeRequired")[0] != "True"
    assert h.kube.condition("SecretRotationRequired")[0] != "True"
    assert h.zoom.mints == 1


async def test_a_token_another_process_stored_while_this_one_waited_is_taken_not_minted_again() -> None:
    """Two processes serve one app (a replica paused while its token request was in flight): the other
    one's token lands in the Secret after this one restored with none. The Secret event makes this one
    take that token; minting again once the attempt's lease ran out would spend a second token."""
    h = Harness()
    other = h.new_worker()  # the second process, over the same cluster
    other.state.restored = True  # it restored before any token existed: nothing to take then
    await h.step()  # the first process mints and stores
    assert h.zoom.mints == 1
    ref = ObjectRef(NS, "bot-token")
    h.clock.advance(30)  # past the lease of the first process's attempt record
    other.token_secret_event(h.kube.secrets[ref])  # what its Secret watch delivers
    await other.step()
    assert h.zoom.mints == 1
    assert other.state.token is not None
    assert h.worker.state.token is not None
    assert other.state.token.access_token == h.worker.state.token.access_token


@pytest.mark.parametrize("deleted", [True, False], ids=["deleted", "edited"])
async def test_token_secret_deleted_or_edited_is_restored_without_a_mint(deleted: bool) -> None:
    h = Harness()
    await h.step()
    ref = ObjectRef(NS, "bot-token")
    original = h.kube.secrets[ref]["data"]
    if deleted:
        del h.kube.secrets[ref]
        h.worker.token_secret_event(None)
    else:
        h.kube.secrets[ref] = {
            "metadata": {**h.kube.secrets[ref]["metadata"], "resourceVersion": "edited"},
            "data": {**original, "access_token": "eA=="},
        }
        h.worker.token_secret_event(h.kube.secrets[ref])
    await h.step()
    assert h.kube.secrets[ref]["data"] == original
    assert h.zoom.mints == 1


def _edited(secret: Mapping[str, Any], version: str, **annotations: str) -> dict[str, Any]:
    """The Secret as another writer left it: a new resourceVersion, an access_token that is not ours
    (or, with `annotations`, only annotations added)."""
    meta = secret["metadata"]
    if annotations:
        meta = {**meta, "annotations": {**meta["annotations"], **annotations}}
        return {**secret, "metadata": {**meta, "resourceVersion": version}}
    return {
        "metadata": {**meta, "resourceVersion": version},
        "data": {**secret["data"], "access_token": "eA=="},
    }


async def test_the_watch_event_of_its_own_write_costs_no_read() -> None:
    h = Harness()
    await h.step()
    ref = ObjectRef(NS, "bot-token")
    reads = len(h.kube.reads)
    h.worker.token_secret_event(h.kube.secrets[ref])  # the echo of the write just made
    h.clock.advance(1)
    await h.step()
    assert ref not in h.kube.reads[reads:], "an event at the version it wrote is its own"


@pytest.mark.parametrize("foreign", [False, True], ids=["own-echo", "edited-meanwhile"])
async def test_an_event_while_the_write_is_out_is_judged_by_the_writes_answer(foreign: bool) -> None:
    # the API server can deliver a write's watch event before the write's own answer
    h = Harness()
    ref = ObjectRef(NS, "bot-token")
    create = h.kube.create_secret

    async def echoing_create(namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        written = await create(namespace, body)
        if foreign:  # someone edits it at once, and that event comes in before the answer
            h.kube.secrets[ref] = _edited(written, "edited-meanwhile")
        h.worker.token_secret_event(h.kube.secrets[ref])
        return written

    h.kube.create_secret = echoing_create  # type: ignore[method-assign]
    await h.step()
    original = h.kube.secrets[ref]["data"]["access_token"] if not foreign else None
    reads = len(h.kube.reads)
    h.clock.advance(1)
    await h.step()
    if foreign:
        assert ref in h.kube.reads[reads:], "a version not its own is looked at"
        assert h.kube.secrets[ref]["data"]["access_token"] != "eA==", "and the token put back"
    else:
        assert ref not in h.kube.reads[reads:]
        assert h.kube.secrets[ref]["data"]["access_token"] == original
    assert h.zoom.mints == 1


async def test_annotations_added_by_others_are_read_once_and_left_alone() -> None:
    h = Harness()
    await h.step()
    ref = ObjectRef(NS, "bot-token")
    h.kube.secrets[ref] = _edited(h.kube.secrets[ref], "annotated", team="a")
    h.worker.token_secret_event(h.kube.secrets[ref])
    reads = len(h.kube.reads)
    h.clock.advance(1)
    await h.step()
    assert h.kube.reads[reads:].count(ref) == 1, "looked at once"
    assert h.kube.secrets[ref]["metadata"]["resourceVersion"] == "annotated", "and not rewritten"
    h.worker.token_secret_event(h.kube.secrets[ref])  # a relist reports it again
    h.clock.advance(1)
    await h.step()
    assert h.kube.reads[reads:].count(ref) == 1, "its version is now known: no second read"


async def test_a_rejection_is_flagged_within_one_probe_interval_plus_ten_seconds() -> None:
    h = Harness(probe={"intervalSeconds": 300})
    await h.step()
    h.clock.advance(1)
    h.zoom.probe_script = [Unauthorized(124, "Invalid access token.")] * 10  # the owner loses the role now
    await h.run_until(300 + 10)
    assert h.kube.condition("OwnerRoleChangeRequired") == ("True", "FreshTokensRejected")


# --- only what is its own (issue: security) ---------------------------------------------------------


def _foreign_secret(name: str, owner_uid: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "resourceVersion": "1"}
    if owner_uid is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "zoom-operator.io/v1alpha1",
                "kind": "ZoomApp",
                "name": "victim",
                "uid": owner_uid,
                "controller": True,
            }
        ]
    return {"metadata": metadata, "data": {"password": base64.b64encode(b"hunter2").decode()}}


@pytest.mark.parametrize("owner_uid", [None, "uid-victim"], ids=["unrelated-secret", "another-apps-token"])
async def test_a_token_secret_name_taken_by_a_secret_not_ours_is_a_conflict_and_nothing_is_minted(
    owner_uid: str | None,
) -> None:
    h = Harness(tokenSecret={"name": "db-password"})
    ref = ObjectRef(NS, "db-password")
    h.kube.secrets[ref] = original = _foreign_secret("db-password", owner_uid)
    await h.run_until(120)
    assert h.zoom.mints == 0
    assert h.zoom.probes == 0
    assert h.kube.condition("Ready") == ("False", "TokenSecretConflict")
    assert h.kube.secrets[ref] is original, "never written"
    assert ref not in h.kube.reads, "never read"
    assert not h.kube.patches


async def test_the_conflict_clears_once_the_name_is_free() -> None:
    h = Harness(tokenSecret={"name": "db-password"})
    h.kube.secrets[ObjectRef(NS, "db-password")] = _foreign_secret("db-password")
    await h.step()
    del h.kube.secrets[ObjectRef(NS, "db-password")]
    await h.run_until(30)
    assert h.zoom.mints == 1
    assert h.kube.condition("Ready") == ("True", "TokenVerified")


async def test_a_secret_that_appears_before_the_write_is_not_overwritten() -> None:
    h = Harness()
    ref = ObjectRef(NS, "bot-token")
    original_create = h.kube.create_secret

    async def racing_create(namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        h.kube.secrets[ref] = _foreign_secret("bot-token")  # someone else's Secret lands first
        return await original_create(namespace, body)

    h.kube.create_secret = racing_create  # type: ignore[method-assign]
    await h.step()
    assert h.kube.secrets[ref]["data"] == _foreign_secret("bot-token")["data"]
    assert h.kube.condition("Ready") == ("False", "TokenSecretConflict")


async def test_renaming_the_token_secret_writes_the_new_one_at_once_and_retires_the_old() -> None:
    h = Harness()
    await h.step()
    old, new = ObjectRef(NS, "bot-token"), ObjectRef(NS, "bot-token-v2")
    h.spec["tokenSecret"] = {"name": "bot-token-v2"}
    h.generation = 2
    await h.step()
    assert h.zoom.mints == 1, "the current token is written to the new Secret without a mint"
    assert h.kube.secrets[new]["data"]["access_token"] == h.kube.secrets[old]["data"]["access_token"]
    assert "zoom-operator.io/no-longer-maintained" in h.kube.secrets[old]["metadata"]["annotations"]
    assert [reason for reason, _ in h.reporter.warnings] == ["TokenSecretRenamed"]
    assert h.kube.status["token"]["secretName"] == "bot-token-v2"
    assert h.kube.condition("Ready") == ("True", "TokenVerified")


async def test_a_rename_while_the_operator_was_down_is_finished_on_restart_without_a_mint() -> None:
    h = Harness()
    await h.step()
    h.spec["tokenSecret"] = {"name": "bot-token-v2"}
    h.generation = 2
    h.worker = h.new_worker()
    await h.step()
    assert h.zoom.mints == 1
    assert ObjectRef(NS, "bot-token-v2") in h.kube.secrets


async def test_an_unlabelled_credentials_secret_is_never_read() -> None:
    h = Harness()
    h.kube.secrets[ObjectRef(NS, CREDS)]["metadata"]["labels"] = {}
    await h.run_until(60)
    assert h.zoom.mints == 0
    assert ObjectRef(NS, CREDS) not in h.kube.reads
    assert not h.kube.patches, "the operator never labels a Secret itself"
    status, reason = h.kube.condition("Ready")
    assert (status, reason) == ("False", "CredentialsSecretInvalid")
    message = next(c["message"] for c in h.kube.status["conditions"] if c["type"] == "Ready")
    assert "kubectl label secret -n team-a bot-zoom zoom-operator.io/credentials=true" in message


async def test_status_shows_the_client_id_only_as_a_fingerprint() -> None:
    h = Harness()
    await h.step()
    credentials = h.kube.status["credentials"]
    assert "clientId" not in credentials
    assert "cid" not in str(h.kube.status)
    assert len(credentials["clientIdFingerprint"]) == 16


async def test_an_endpoint_outside_the_allowlist_is_an_invalid_spec_and_nothing_is_sent() -> None:
    h = Harness(endpoints={"oauthUrl": "https://attacker.example", "apiUrl": "https://api.zoom.us"})
    await h.run_until(60)
    assert (h.zoom.mints, h.zoom.probes) == (0, 0)
    assert h.kube.condition("Ready") == ("False", "InvalidSpec")
    assert ObjectRef(NS, CREDS) not in h.kube.reads


async def test_status_edited_while_the_operator_was_down_neither_blocks_minting_nor_stands_unproven() -> None:
    h = Harness()
    await h.step()
    h.clock.advance(60)
    rejected = {
        "fingerprint": h.kube.status["credentials"]["fingerprint"],
        "count": 9,
        "error": "invalid_client",
    }
    h.kube.status["mints"] = {
        "total": 1,
        "recentAttempts": ["2099-01-01T00:00:00Z"] * 50,
        "lastAt": "2099-01-01T00:00:00Z",
    }
    h.kube.status["credentials"]["rejected"] = {**rejected, "reason": "edited", "at": "2026-11-29T09:00:30Z"}
    h.kube.status["lastProbe"] = {"at": "2099-01-01T00:00:00Z", "httpStatus": 401, "zoomCode": 124}
    h.kube.status["consecutiveUnauthorized"] = 99
    del h.kube.secrets[ObjectRef(NS, "bot-token")]  # no token: a mint is due at once
    h.worker = h.new_worker()
    await h.run_until(30)
    assert h.zoom.mints == 2, "the fake attempts in 2099 and the fake rejections block nothing"
    assert h.kube.condition("Ready") == ("True", "TokenVerified")
    assert h.kube.condition("SecretRotationRequired") == ("False", "CredentialsAccepted")
    assert h.kube.condition("OwnerRoleChangeRequired")[0] != "True"


async def test_a_restored_rotation_flag_is_re_proven_by_the_next_mint() -> None:
    h = Harness(renewBeforeSeconds=600)
    await h.step()
    rejected = ClientRejected("invalid_client", "Invalid client_id or client_secret", 400)
    h.zoom.mint_script = [rejected] * 10
    h.clock.advance(3050)
    await h.run_until(300)
    assert h.kube.condition("SecretRotationRequired") == ("True", "ClientCredentialsRejected")
    minted = h.zoom.mints
    h.worker = h.new_worker()
    await h.run_until(600)
    assert h.zoom.mints == minted + 1, "one token request re-proves the restored flag, then none"
    assert h.kube.condition("SecretRotationRequired") == ("True", "ClientCredentialsRejected")


def _auditor(ready: bool, token_owner_uid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    auditor = {
        "metadata": {"name": "zoom-admin", "namespace": NS, "uid": "uid-auditor"},
        "spec": {
            "credentialsSecretRef": {"name": "admin-zoom"},
            "expectedOwner": {"email": "admin@example.com"},
            "tokenSecret": {"name": "victim-token"},
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
    secret = _foreign_secret("victim-token", token_owner_uid)
    return auditor, secret


@pytest.mark.parametrize(
    ("ready", "token_owner", "note"),
    [
        (True, "uid-victim", "is not its own token Secret"),
        (False, "uid-auditor", "is not Ready"),
    ],
    ids=["decoy-naming-another-apps-token", "not-ready"],
)
async def test_an_auditor_token_is_used_only_from_its_own_secret_while_it_is_ready(
    ready: bool, token_owner: str, note: str
) -> None:
    h = Harness(auditorRef={"name": "zoom-admin"})
    auditor, secret = _auditor(ready, token_owner)
    h.kube.zoomapps[ObjectRef(NS, "zoom-admin")] = auditor
    h.kube.secrets[ObjectRef(NS, "victim-token")] = secret
    await h.step()  # FakeZoom.get_user raises if the auditor's token were used
    owner = next(c for c in h.kube.status["conditions"] if c["type"] == "OwnerRoleChangeRequired")
    assert note in owner["message"]
    if token_owner != "uid-auditor":
        assert ObjectRef(NS, "victim-token") not in h.kube.reads


async def test_a_bare_404_on_the_probe_is_no_proof_and_no_owner_verdict() -> None:
    from zoom_operator.zoom.outcomes import NotFound

    h = Harness()
    h.zoom.probe_script = [NotFound(None, "Not Found")]
    await h.step()
    assert h.kube.condition("Ready")[0] == "Unknown"
    assert h.kube.condition("OwnerRoleChangeRequired")[0] != "True"


async def test_a_second_zoomapp_with_the_same_client_id_mints_nothing_once_the_first_has_minted() -> None:
    h = Harness()
    await h.step()  # the first app mints: its client ID is proven at once
    second = AppWorker(
        ref=ObjectRef(NS, "second-bot"),
        body=lambda: {**h.body(), "metadata": {**h.body()["metadata"], "name": "second-bot", "uid": "uid-2",
                                               "creationTimestamp": "2026-11-29T08:30:00Z"}},
        kube=h.kube,
        zoom=lambda endpoints: h.zoom,
        reporter=Reporter(),
        registry=h.registry,
        clock=h.clock,
        rng=random.Random(3),
    )  # fmt: skip
    await second.step()
    assert h.zoom.mints == 1
    assert ObjectRef(NS, "second-bot-token") not in h.kube.secrets


# --- one minter per app, arbitrated by the API server's resourceVersion ----------------------------


class SharedApp(FakeKube):
    """A ZoomApp whose status two operator processes write: `get_zoomapp` answers with the live object."""

    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.harness = harness

    async def get_zoomapp(self, ref: ObjectRef) -> dict[str, Any] | None:
        if ref != ObjectRef(NS, APP):
            return await super().get_zoomapp(ref)
        body = self.harness.body()
        body["metadata"]["resourceVersion"] = str(self.app_version)
        return body


def two_processes(**spec: Any) -> tuple[Harness, AppWorker, AppWorker]:
    """One ZoomApp, its Secrets and Zoom, served by two workers that do not know of each other (two
    replicas or overlapping shards: each has its own client-ID registry)."""
    h = Harness(**spec)
    shared = SharedApp(h)
    shared.secrets = h.kube.secrets
    h.kube = shared
    first = h.new_worker()
    h.registry = ClientIdRegistry()
    second = h.new_worker()
    return h, first, second


async def test_two_processes_serving_one_app_mint_once_and_the_loser_adopts_the_token() -> None:
    h, first, second = two_processes()
    stale = h.body()  # what the second process last saw: before the first one's writes
    stale["metadata"]["resourceVersion"] = str(h.kube.app_version)
    await first.step()
    assert h.zoom.mints == 1
    second._body = lambda: stale
    await second.step()
    assert h.zoom.mints == 1, "the second process lost the write that records the attempt and adopted"
    assert h.kube.condition("Ready") == ("True", "TokenVerified")


async def test_a_token_request_recorded_by_another_process_holds_this_one_back_until_it_lands() -> None:
    h, first, second = two_processes()
    await first.step()
    h.clock.advance(3600 - 200)  # both due for renewal
    # The first process records its attempt; its token request is still out when the second one looks.
    first_at = h.clock()
    h.kube.status["mints"] = {**h.kube.status["mints"], "lastAt": first_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    h.kube.app_version += 1
    body = h.body()
    body["metadata"]["resourceVersion"] = str(h.kube.app_version)
    second._body = lambda: body
    while (wakeup := await second.step()) < first_at + MINT_LEASE - timedelta(seconds=1):
        h.clock.now = max(wakeup, h.clock() + timedelta(milliseconds=1))
    assert h.zoom.mints == 1, "no second token request while the first may be in flight"
    h.clock.now = first_at + MINT_LEASE + timedelta(seconds=1)  # the other one's request never landed
    body = h.body()
    body["metadata"]["resourceVersion"] = str(h.kube.app_version)
    await second.step()
    assert h.zoom.mints == 2


async def test_a_spec_fixed_after_being_invalid_posts_the_recovery_and_moves_the_transition_time() -> None:
    h = Harness()
    await h.step()
    assert h.kube.condition("Ready") == ("True", "TokenVerified")
    h.spec["mintBudgetPerHour"] = 0  # below the minimum: the spec is refused
    h.generation += 1
    h.clock.advance(60)
    await h.step()
    assert h.kube.condition("Ready") == ("False", "InvalidSpec")
    invalid_since = next(c for c in h.kube.status["conditions"] if c["type"] == "Ready")["lastTransitionTime"]
    h.spec["mintBudgetPerHour"] = 6
    h.generation += 1
    h.clock.advance(60)
    before = len(h.reporter.transitions)
    await h.step()
    assert h.kube.condition("Ready") == ("True", "TokenVerified")
    ready = next(c for c in h.kube.status["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] != invalid_since, "False -> True is a transition"
    recovered = [t for t in h.reporter.transitions[before:] if t.condition.type == "Ready"]
    assert [(t.previous_reason, t.condition.reason) for t in recovered] == [("InvalidSpec", "TokenVerified")]
