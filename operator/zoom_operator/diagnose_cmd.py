"""`zoom-operator diagnose`: one mint, probe and classification of a Zoom S2S app, outside the operator.

It gathers the same evidence the operator does, in one go: it mints a token and probes it; on a 401 it
mints and probes again, up to `--attempts` fresh tokens, so the verdict rests on fresh tokens; after
`invalid_client` it asks once more, since one rejection is not enough to call for a rotation. Then it
looks the owner up (the probe's answer, the role when the token may read roles, or an auditor app's
token), hands a `diagnosis.Snapshot` to `diagnose()`, prints the three conditions and exits 0
(healthy), 1 (a human-action flag is up) or 2 (anything else: could not tell, or not healthy for a
reason neither flag covers, or bad input).

Credentials come from files (or stdin) or from a Kubernetes Secret; every value is a `Secret` from the
moment it is read, and the report is scrubbed of every credential and token the run held before it is
printed. Bad input ends in one line on stderr (`UsageError`), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from zoom_operator import diagnosis as dx
from zoom_operator import executors
from zoom_operator.diagnose_input import (
    APP_NAME,
    AUDITOR_PLACEHOLDER,
    CREDENTIALS_PLACEHOLDER,
    DEFAULT_ATTEMPTS,
    DEFAULT_TIMEOUT_SECONDS,
    RETRY_PAUSE_SECONDS,
    TOKEN_PLACEHOLDER,
    UNKNOWN_OWNER,
    ClientCredentials,
    CredentialsSource,
    FileCredentials,
    Options,
    SecretRef,
    UsageError,
    _safe_error,
    client_secret_from_bytes,
    parse_options,
    read_file_credentials,
    read_kube_credentials,
)
from zoom_operator.diagnose_report import (
    EXIT_INTERRUPTED,
    EXIT_NOT_HEALTHY,
    Findings,
    RequestRecord,
    Who,
    describe_outcome,
    exit_code,
    report_json,
    report_text,
    scrub,
)
from zoom_operator.secret import Secret
from zoom_operator.spec import (
    ExpectedOwner,
    SpecError,
    ZoomAppSpec,
    parse_spec,
)
from zoom_operator.zoom.client import TOKEN_PATH, ZoomClient
from zoom_operator.zoom.outcomes import (
    ApiError,
    ApiOk,
    ApiOutcome,
    ClientRejected,
    NotFound,
    ScopeMissing,
    TokenIssued,
    TokenOutcome,
    Unauthorized,
    ZoomUser,
)
from zoom_operator.zoom.paths import is_user_path, path_segment

__all__ = [
    "APP_NAME",
    "AUDITOR_PLACEHOLDER",
    "CREDENTIALS_PLACEHOLDER",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TIMEOUT_SECONDS",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_HEALTHY",
    "RETRY_PAUSE_SECONDS",
    "TOKEN_PLACEHOLDER",
    "UNKNOWN_OWNER",
    "ClientCredentials",
    "CredentialsSource",
    "FileCredentials",
    "Findings",
    "Options",
    "RecordingZoom",
    "RequestRecord",
    "SecretRef",
    "UsageError",
    "Who",
    "build_spec",
    "client_secret_from_bytes",
    "describe_outcome",
    "exit_code",
    "investigate",
    "main",
    "parse_options",
    "probe_template",
    "read_file_credentials",
    "read_kube_credentials",
    "report_json",
    "report_text",
    "scrub",
]


# --- talking to Zoom ---------------------------------------------------------------------------------


class RecordingZoom(ZoomClient):
    """The Zoom client, logging every request (with the HTTP status it observed) to a shared list."""

    def __init__(
        self,
        who: Who,
        *,
        oauth_url: str,
        api_url: str,
        http: httpx.AsyncClient,
        log: list[RequestRecord],
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(oauth_url=oauth_url, api_url=api_url, http=http, observer=self._observe)
        self.who: Who = who
        self._log = log
        self.clock = clock
        self._status: int | None = None

    def _observe(self, endpoint: str, http_status: int | None, zoom_code: int | None) -> None:
        self._status = http_status

    async def mint(self, account_id: str, client_id: str, client_secret: Secret) -> TokenOutcome:
        self._status = None
        outcome = await super().mint(account_id, client_id, client_secret)
        self._log.append(RequestRecord(self.who, "POST", TOKEN_PATH, self.clock(), self._status, outcome))
        return outcome

    async def get(self, token: Secret, path: str, *, api_url: str | None = None) -> ApiOutcome:
        self._status = None
        outcome = await super().get(token, path, api_url=api_url)
        self._log.append(RequestRecord(self.who, "GET", path, self.clock(), self._status, outcome))
        return outcome


def probe_template(options: Options, owner: ExpectedOwner | None) -> str:
    """The probe path with `{owner}` kept: the given one, or the owner's user, or `me` when unknown."""
    template = options.probe_path or ("/v2/users/{owner}" if options.owner else "/v2/users/me")
    return template if owner is not None else template.replace("{owner}", "me")


@dataclass
class _Evidence:
    """What minting and probing the app's tokens showed."""

    owner: ExpectedOwner | None  # as given, or learnt from the token's uid claim
    mints: list[dx.MintRecord] = field(default_factory=list)
    probes: list[dx.ProbeRecord] = field(default_factory=list)
    issued: TokenIssued | None = None  # the newest token
    tokens: list[Secret] = field(default_factory=list)


async def investigate(
    options: Options,
    app: ClientCredentials,
    auditor: ClientCredentials | None,
    *,
    http: httpx.AsyncClient,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    pause: Callable[[], Awaitable[None]] = lambda: asyncio.sleep(RETRY_PAUSE_SECONDS),
) -> Findings:
    """Mint, probe and look up the owner as the options say, then diagnose what was seen."""
    log: list[RequestRecord] = []
    zoom = RecordingZoom(
        "app", oauth_url=options.oauth_url, api_url=options.api_url, http=http, log=log, clock=clock
    )
    evidence = await _mint_and_probe(options, app, zoom, pause)
    owner, issued = evidence.owner, evidence.issued
    secrets = [app.client_secret, *evidence.tokens]
    notes: list[str] = []

    template = probe_template(options, owner)
    facts, owner = _owner_from_probe(evidence.probes, template, owner, given=options.owner is not None)
    if issued is not None and evidence.probes and _accepted(evidence.probes[-1].outcome):
        facts = await _owner_with_app_token(zoom, issued, template, owner, facts)
    if auditor is not None:
        secrets.append(auditor.client_secret)
        if owner is None:
            notes.append(
                "The auditor was not asked: the owner is unknown (no token was minted); pass --owner."
            )
        else:
            audited, note = await _owner_with_auditor(options, auditor, owner, http, log, clock, secrets)
            facts = audited or facts
            notes += [note] if note else []

    snapshot = dx.Snapshot(
        now=clock(),
        spec=build_spec(options, owner, template, app, auditor is not None),
        app=APP_NAME,
        credentials_secret=str(app.secret_ref) if app.secret_ref else CREDENTIALS_PLACEHOLDER,
        token=dx.TokenFacts(
            issued_at=issued.issued_at,
            expires_at=issued.expires_at,
            scopes=issued.scopes,
            owner_uid=issued.owner_uid,
        )
        if issued is not None
        else None,
        mints=tuple(evidence.mints),
        probes=tuple(evidence.probes),
        owner=facts,
        s2s_privilege=options.s2s_privilege,
        # every probe follows its own mint at once; only slow answers make it older than a minute
        fresh_token_seconds=max(60, int(2 * options.timeout) + 5),
    )
    diagnosis = dx.diagnose(snapshot)
    if auditor is None and diagnosis.owner_role_change_required.reason == dx.OWNER_FRESH_TOKENS_REJECTED:
        notes.append(
            "Zoom does not say why it rejects the tokens. Pass an auditor app (--auditor-secret, or "
            "--auditor-client-id and --auditor-client-secret-file) to learn whether the owner was removed, "
            "deactivated or lost the permission."
        )
    if issued is not None and snapshot.spec.required_scopes - issued.scopes:
        notes.append(
            "One run has no earlier token, so missing required scopes are reported as never granted "
            "(RequiredScopesMissing). If the app had them before, Zoom removed them when the owner's role "
            "lost admin privileges (the operator flags that as ScopesRevoked from its token history): have "
            "an account admin check the owner's role."
        )
    return Findings(
        diagnosis=diagnosis,
        snapshot=snapshot,
        token=issued,
        requests=tuple(log),
        credentials_source=app.source,
        notes=tuple(notes),
        secrets=tuple(secrets),
    )


async def _mint_and_probe(
    options: Options, app: ClientCredentials, zoom: RecordingZoom, pause: Callable[[], Awaitable[None]]
) -> _Evidence:
    """Mint and probe; after a 401 again with a fresh token, up to `attempts` tokens; after
    `invalid_client` ask once more, so one rejection alone never calls for a rotation."""
    evidence = _Evidence(owner=options.owner)
    asked_again = False
    while True:
        record = await executors.mint(zoom, app, zoom.clock)
        minted = record.outcome
        evidence.mints.append(record)
        if isinstance(minted, ClientRejected) and minted.error == "invalid_client" and not asked_again:
            asked_again = True
            await pause()
            continue
        if not isinstance(minted, TokenIssued):
            return evidence
        evidence.issued = minted
        evidence.tokens.append(minted.access_token)
        if evidence.owner is None and minted.owner_uid:
            evidence.owner = ExpectedOwner(user_id=minted.owner_uid)
        path = _resolve(probe_template(options, evidence.owner), evidence.owner)
        probed = await executors.probe(zoom, minted, path, zoom.clock)
        evidence.probes.append(probed)
        if not isinstance(probed.outcome, Unauthorized) or len(evidence.tokens) >= options.attempts:
            return evidence
        await pause()


def _resolve(template: str, owner: ExpectedOwner | None) -> str:
    if owner is None:
        return template
    return template.replace("{owner}", path_segment(owner.lookup_key))


def _accepted(outcome: ApiOutcome) -> bool:
    """Zoom checked the token and let it through (a scope error comes after the token check)."""
    return isinstance(outcome, ApiOk | ScopeMissing | NotFound | ApiError)


def _owner_from_probe(
    probes: Sequence[dx.ProbeRecord], template: str, owner: ExpectedOwner | None, *, given: bool
) -> tuple[dx.OwnerFacts | None, ExpectedOwner | None]:
    """Owner facts from the last probe when it reads a user; learns the owner's email when not given."""
    if not probes or not is_user_path(template):
        return None, owner
    facts = executors.owner_from_probe(probes[-1], None)
    user = facts.lookup if facts is not None and isinstance(facts.lookup, ZoomUser) else None
    if user is not None and not given and (owner is None or owner.user_id == user.id):
        owner = ExpectedOwner(email=user.email, user_id=user.id)
    return facts, owner


async def _owner_with_app_token(
    zoom: RecordingZoom,
    token: TokenIssued,
    template: str,
    owner: ExpectedOwner | None,
    facts: dx.OwnerFacts | None,
) -> dx.OwnerFacts | None:
    """With a token Zoom accepts: look the owner up if the probe did not, then their role if allowed."""
    if facts is None and not is_user_path(template):
        key = owner.lookup_key if owner is not None else "me"
        found = await executors.look_up_owner(
            zoom, token.access_token, key, source="token", clock=zoom.clock, with_role_of=False
        )
        if not isinstance(found, dx.OwnerFacts):
            return None
        facts = found
    if facts is None:
        return None
    return await executors.with_role(zoom, token, facts)


async def _owner_with_auditor(
    options: Options,
    auditor: ClientCredentials,
    owner: ExpectedOwner,
    http: httpx.AsyncClient,
    log: list[RequestRecord],
    clock: Callable[[], datetime],
    secrets: list[Secret],
) -> tuple[dx.OwnerFacts | None, str | None]:
    """The owner (and their role) as the auditor app's token sees them; a note when it could not look."""
    zoom = RecordingZoom(
        "auditor", oauth_url=options.oauth_url, api_url=options.api_url, http=http, log=log, clock=clock
    )
    minted = (await executors.mint(zoom, auditor, clock)).outcome
    if not isinstance(minted, TokenIssued):
        return None, f"The auditor app could not get a token ({describe_outcome(minted)}); see requests."
    secrets.append(minted.access_token)
    found = await executors.look_up_owner(
        zoom, minted.access_token, owner.lookup_key, source="auditor", clock=clock
    )
    if not isinstance(found, dx.OwnerFacts):
        return None, f"The auditor app could not look up the owner ({describe_outcome(found)})."
    return found, None


def build_spec(
    options: Options,
    owner: ExpectedOwner | None,
    probe_path: str,
    app: ClientCredentials,
    with_auditor: bool,
) -> ZoomAppSpec:
    """The ZoomApp spec this run stands for, so the diagnosis judges it as the operator would."""
    known = owner or ExpectedOwner(user_id=UNKNOWN_OWNER)
    expected = {k: v for k, v in (("email", known.email), ("userId", known.user_id)) if v}
    name = app.secret_ref.name if app.secret_ref else CREDENTIALS_PLACEHOLDER
    document: dict[str, Any] = {
        "credentialsSecretRef": {
            "name": name,
            "accountIdKey": options.keys.account_id_key,
            "clientIdKey": options.keys.client_id_key,
            "clientSecretKey": options.keys.client_secret_key,
        },
        "expectedOwner": expected,
        "requiredScopes": sorted(options.required_scopes),
        "tokenSecret": {"name": TOKEN_PLACEHOLDER},
        "probe": {"path": probe_path},
        "unauthorizedThreshold": options.attempts,
        "endpoints": {"oauthUrl": options.oauth_url, "apiUrl": options.api_url},
    }
    if with_auditor:
        document["auditorRef"] = {"name": AUDITOR_PLACEHOLDER}
    try:
        return parse_spec(document, app_name=APP_NAME)
    except SpecError as error:
        raise UsageError(str(error)) from None


# --- the command -------------------------------------------------------------------------------------


async def _run(options: Options) -> tuple[str, int]:
    timeout = httpx.Timeout(options.timeout)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
        try:
            ZoomClient(oauth_url=options.oauth_url, api_url=options.api_url, http=http)
        except ValueError as error:
            message = str(error).replace("oauth_url", "--oauth-url", 1).replace("api_url", "--api-url", 1)
            raise UsageError(message) from None
        refs = [s for s in (options.app, options.auditor) if isinstance(s, SecretRef)]
        from_kube = dict(
            zip(
                refs,
                await read_kube_credentials(refs, options.keys, options.kubeconfig, options.timeout)
                if refs
                else [],
                strict=True,
            )
        )

        async def load(source: CredentialsSource) -> ClientCredentials:
            if isinstance(source, FileCredentials):
                return await asyncio.to_thread(read_file_credentials, source)
            return from_kube[source]

        app = await load(options.app)
        auditor = await load(options.auditor) if options.auditor is not None else None
        findings = await investigate(options, app, auditor, http=http)
    output = json.dumps(report_json(findings), indent=2) + "\n" if options.json else report_text(findings)
    return scrub(output, findings.secrets), exit_code(findings.diagnosis)


def main(args: argparse.Namespace) -> int:
    try:
        options = parse_options(args)
        output, code = asyncio.run(_run(options))
    except UsageError as error:
        print(f"zoom-operator diagnose: error: {error}", file=sys.stderr)
        return EXIT_NOT_HEALTHY
    except KeyboardInterrupt:
        print("zoom-operator diagnose: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: still one line, never a traceback that could quote a value
        print(
            f"zoom-operator diagnose: internal error: {_safe_error(error)}; please report it", file=sys.stderr
        )
        return EXIT_NOT_HEALTHY
    sys.stdout.write(output)
    sys.stdout.flush()
    return code
