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
import os
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import httpx

from zoom_operator import diagnosis as dx
from zoom_operator import executors
from zoom_operator.secret import Secret
from zoom_operator.spec import (
    CredentialsSecretRef,
    ExpectedOwner,
    SpecError,
    ZoomAppSpec,
    parse_spec,
)
from zoom_operator.timefmt import rfc3339
from zoom_operator.zoom.client import TOKEN_PATH, ZoomClient
from zoom_operator.zoom.mapping import sanitize_message
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
from zoom_operator.zoom.paths import is_user_path, path_segment

# Names the diagnosis messages use for the things a ZoomApp would have; the report explains them.
APP_NAME: Final = "diagnose"
CREDENTIALS_PLACEHOLDER: Final = "diagnose-credentials"
TOKEN_PLACEHOLDER: Final = "diagnose-token"
AUDITOR_PLACEHOLDER: Final = "diagnose-auditor"
UNKNOWN_OWNER: Final = "(unknown)"

DEFAULT_ATTEMPTS: Final = 3  # the operator's default unauthorizedThreshold
MAX_ATTEMPTS: Final = 10
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
MAX_TIMEOUT_SECONDS: Final = 300.0
RETRY_PAUSE_SECONDS: Final = 1.0  # between a rejection and the fresh token that re-checks it
MAX_VALUE_BYTES: Final = 4096
DEFAULT_KEYS: Final = CredentialsSecretRef(name=CREDENTIALS_PLACEHOLDER)

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


class UsageError(Exception):
    """Input diagnose cannot work with: one line saying what happened and what to do (exit 2)."""


# --- options (pure) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileCredentials:
    """Account and client id from flags, the client secret from a file (`-`: stdin)."""

    account_id: str
    client_id: str
    secret_file: str
    flag: str  # the flag that named the file, for messages


@dataclass(frozen=True)
class SecretRef:
    """A Kubernetes Secret, `NAMESPACE/NAME`."""

    namespace: str
    name: str
    flag: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


CredentialsSource = FileCredentials | SecretRef


@dataclass(frozen=True)
class Options:
    """The validated command line."""

    app: CredentialsSource
    auditor: CredentialsSource | None
    keys: CredentialsSecretRef  # key names inside --secret / --auditor-secret
    kubeconfig: str | None
    owner: ExpectedOwner | None
    required_scopes: frozenset[str]
    probe_path: str | None
    oauth_url: str
    api_url: str
    attempts: int
    timeout: float
    json: bool
    s2s_privilege: str


def parse_options(args: argparse.Namespace) -> Options:
    """Check the flags together; raise UsageError naming the flags and the fix."""
    app = _app_source(args)
    auditor = _auditor_source(args, app)
    uses_secret = isinstance(app, SecretRef) or isinstance(auditor, SecretRef)
    key_flags = {
        "--account-id-key": args.account_id_key,
        "--client-id-key": args.client_id_key,
        "--client-secret-key": args.client_secret_key,
    }
    for flag, value in key_flags.items():
        if value is not None and not uses_secret:
            raise UsageError(f"{flag} only applies with --secret or --auditor-secret")
        if value is not None and not _is_secret_key(value):
            raise UsageError(
                f"{flag} {value[:64]!r} is not a Secret data key (letters, digits, '-', '_', '.')"
            )
    if args.kubeconfig is not None and not uses_secret:
        raise UsageError("--kubeconfig only applies with --secret or --auditor-secret")
    files = [s.secret_file for s in (app, auditor) if isinstance(s, FileCredentials)]
    if files.count("-") > 1:
        raise UsageError("only one secret can be read from stdin ('-'); put the other in a file")
    if not 1 <= args.attempts <= MAX_ATTEMPTS:
        raise UsageError(f"--attempts must be between 1 and {MAX_ATTEMPTS}, got {args.attempts}")
    if not 0 < args.timeout <= MAX_TIMEOUT_SECONDS:
        raise UsageError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds")
    if args.probe_path is not None and not args.probe_path.startswith("/"):
        raise UsageError(f"--probe-path {args.probe_path[:64]!r} must start with '/', e.g. /v2/users/me")
    for scope in args.required_scope:
        _check_value("--required-scope", scope)
    _check_value("--s2s-privilege", args.s2s_privilege)
    return Options(
        app=app,
        auditor=auditor,
        keys=CredentialsSecretRef(
            name=CREDENTIALS_PLACEHOLDER,
            account_id_key=args.account_id_key or DEFAULT_KEYS.account_id_key,
            client_id_key=args.client_id_key or DEFAULT_KEYS.client_id_key,
            client_secret_key=args.client_secret_key or DEFAULT_KEYS.client_secret_key,
        ),
        kubeconfig=args.kubeconfig,
        owner=_owner(args.owner),
        required_scopes=frozenset(args.required_scope),
        probe_path=args.probe_path,
        oauth_url=args.oauth_url,
        api_url=args.api_url,
        attempts=args.attempts,
        timeout=args.timeout,
        json=args.json,
        s2s_privilege=args.s2s_privilege,
    )


def _app_source(args: argparse.Namespace) -> CredentialsSource:
    direct = {
        "--account-id": args.account_id,
        "--client-id": args.client_id,
        "--client-secret-file": args.client_secret_file,
    }
    given = [flag for flag, value in direct.items() if value is not None]
    if args.secret is not None:
        if given:
            raise UsageError(
                f"--secret conflicts with {', '.join(given)}: take all three values from the Secret, or "
                "pass --account-id, --client-id and --client-secret-file without --secret"
            )
        return _secret_ref("--secret", args.secret)
    missing = [flag for flag, value in direct.items() if value is None]
    if len(missing) == len(direct):
        raise UsageError(
            "no credentials: pass --account-id, --client-id and --client-secret-file, "
            "or --secret NAMESPACE/NAME"
        )
    if missing:
        raise UsageError(f"missing {', '.join(missing)}: give all three of " + ", ".join(direct))
    _check_value("--account-id", args.account_id)
    _check_value("--client-id", args.client_id)
    return FileCredentials(args.account_id, args.client_id, args.client_secret_file, "--client-secret-file")


def _auditor_source(args: argparse.Namespace, app: CredentialsSource) -> CredentialsSource | None:
    direct = {
        "--auditor-account-id": args.auditor_account_id,
        "--auditor-client-id": args.auditor_client_id,
        "--auditor-client-secret-file": args.auditor_client_secret_file,
    }
    given = [flag for flag, value in direct.items() if value is not None]
    if args.auditor_secret is not None:
        if given:
            raise UsageError(f"--auditor-secret conflicts with {', '.join(given)}: use one or the other")
        return _secret_ref("--auditor-secret", args.auditor_secret)
    if not given:
        return None
    if args.auditor_client_id is None or args.auditor_client_secret_file is None:
        raise UsageError(
            "an auditor needs --auditor-client-id and --auditor-client-secret-file "
            "(--auditor-account-id defaults to the app's account id), or --auditor-secret NAMESPACE/NAME"
        )
    account_id = args.auditor_account_id
    if account_id is None:
        if not isinstance(app, FileCredentials):
            raise UsageError("with --secret, also pass --auditor-account-id (or use --auditor-secret)")
        account_id = app.account_id
    _check_value("--auditor-account-id", account_id)
    _check_value("--auditor-client-id", args.auditor_client_id)
    return FileCredentials(
        account_id, args.auditor_client_id, args.auditor_client_secret_file, "--auditor-client-secret-file"
    )


def _secret_ref(flag: str, value: str) -> SecretRef:
    namespace, slash, name = value.partition("/")
    if not slash or not namespace or not name or "/" in name:
        raise UsageError(f"{flag} must be NAMESPACE/NAME, e.g. {flag} zoom/meetings-bot-zoom; got {value!r}")
    for part in (namespace, name):
        if not _is_dns_name(part):
            raise UsageError(
                f"{flag}: {part[:64]!r} is not a valid Kubernetes name (lower case, digits, '-', '.')"
            )
    return SecretRef(namespace, name, flag)


def _owner(value: str | None) -> ExpectedOwner | None:
    if value is None:
        return None
    _check_value("--owner", value)
    return ExpectedOwner(email=value) if "@" in value else ExpectedOwner(user_id=value)


def _check_value(flag: str, value: str) -> None:
    if not value:
        raise UsageError(f"{flag} is empty")
    if len(value.encode()) > MAX_VALUE_BYTES or any(c.isspace() or not c.isprintable() for c in value):
        raise UsageError(f"{flag} must be a single word without spaces or control characters")


def _is_secret_key(value: str) -> bool:
    return bool(value) and len(value) <= 253 and all(c.isalnum() or c in "-._" for c in value)


def _is_dns_name(value: str) -> bool:
    return (
        len(value) <= 253
        and value[0] not in "-."
        and value[-1] not in "-."
        and all(c.islower() or c.isdigit() or c in "-." for c in value)
    )


# --- credentials -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientCredentials:
    account_id: str
    client_id: str
    client_secret: Secret = field(repr=False)
    secret_ref: SecretRef | None = None  # the Kubernetes Secret they came from, if any

    @property
    def source(self) -> str:
        """Where they came from, for the report."""
        return f"Secret {self.secret_ref}" if self.secret_ref else "the command line"


def client_secret_from_bytes(raw: bytes, where: str) -> Secret:
    """A client secret read from a file: UTF-8, trailing newlines stripped, one word."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text; save the client secret as plain text") from None
    text = text.rstrip("\r\n")
    if not text:
        raise UsageError(f"{where} is empty; put the app's client secret from the App Credentials page in it")
    if len(text.encode()) > MAX_VALUE_BYTES or any(c.isspace() or not c.isprintable() for c in text):
        raise UsageError(
            f"{where} must hold only the client secret (one line, no spaces or control characters)"
        )
    return Secret(text)


def read_file_credentials(source: FileCredentials) -> ClientCredentials:
    where = f"{source.flag} {'(stdin)' if source.secret_file == '-' else source.secret_file}"
    try:
        raw = sys.stdin.buffer.read() if source.secret_file == "-" else Path(source.secret_file).read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UsageError(f"cannot read {where}: {reason}; check the path and its permissions") from None
    secret = client_secret_from_bytes(raw, where)
    return ClientCredentials(source.account_id, source.client_id, secret)


def default_kubeconfig() -> str:
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def _load_kube(kubeconfig: str | None) -> tuple[Any, str]:
    """The Kubernetes API client (kubeconfig, or in-cluster) and how to name it in messages."""
    from zoom_operator.kube.api import load_api_client

    in_cluster = kubeconfig is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    config_file = None if in_cluster else (kubeconfig or default_kubeconfig())
    where = "the in-cluster service account" if in_cluster else f"kubeconfig {config_file}"
    if config_file is not None and os.pathsep not in config_file and not Path(config_file).is_file():
        raise UsageError(f"{where} does not exist; pass --kubeconfig FILE or set KUBECONFIG")
    try:
        return load_api_client(config_file), where
    except Exception as error:  # the kubernetes client raises many kinds for a bad kubeconfig
        raise UsageError(f"cannot load {where}: {_safe_error(error)}; pass a working --kubeconfig") from None


async def read_kube_credentials(
    refs: Sequence[SecretRef], keys: CredentialsSecretRef, kubeconfig: str | None, request_seconds: float
) -> list[ClientCredentials]:
    """Read each Secret's three values through the Kubernetes API."""
    # Imported here: the kubernetes client is only needed (and only paid for) with --secret.
    from zoom_operator.kube.api import KubeApi, KubeError, ObjectRef
    from zoom_operator.kube.credentials import read_credentials

    api_client, where = await asyncio.to_thread(_load_kube, kubeconfig)
    kube = KubeApi(api_client, max_workers=1, timeout=request_seconds)
    found: list[ClientCredentials] = []
    try:
        for ref in refs:
            try:
                secret = await kube.get_secret(ObjectRef(ref.namespace, ref.name))
            except KubeError as error:
                hint = (
                    "; ask for 'get' on secrets in that namespace, or pass the values with "
                    "--client-secret-file"
                    if error.status in (401, 403)
                    else ""
                )
                raise UsageError(
                    f"cannot read Secret {ref} ({ref.flag}): {_safe_error(error)}{hint}"
                ) from None
            except Exception as error:
                raise UsageError(
                    f"cannot reach the Kubernetes API server with {where} to read Secret {ref} "
                    f"({_safe_error(error)}); check that the cluster is up and the kubeconfig's server"
                ) from None
            if secret is None:
                raise UsageError(
                    f"Secret {ref} ({ref.flag}) does not exist (per {where}); check the namespace and name"
                )
            _check_keys(secret, ref, keys)
            credentials = read_credentials(secret, replace(keys, name=ref.name), ref.namespace)
            if isinstance(credentials, dx.CredentialsProblem):
                raise UsageError(credentials.message)
            found.append(
                ClientCredentials(
                    credentials.account_id, credentials.client_id, credentials.client_secret, ref
                )
            )
    finally:
        kube.close()
    return found


def _check_keys(secret: dict[str, Any], ref: SecretRef, keys: CredentialsSecretRef) -> None:
    data = secret.get("data") or {}
    present = sorted(str(k) for k in data) if isinstance(data, dict) else []
    flags = {
        keys.account_id_key: "--account-id-key",
        keys.client_id_key: "--client-id-key",
        keys.client_secret_key: "--client-secret-key",
    }
    for key, flag in flags.items():
        if key not in present:
            raise UsageError(
                f"Secret {ref} has no key {key!r} (keys present: {', '.join(present) or 'none'}); add it, "
                f"or pass {flag} if the value is stored under another key"
            )


def _safe_error(error: BaseException) -> str:
    return sanitize_message(f"{type(error).__name__}: {error}".rstrip(": "))


# --- talking to Zoom ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """One request diagnose made and what Zoom answered."""

    who: Who
    method: str
    path: str
    at: datetime
    http_status: int | None
    outcome: TokenOutcome | ApiOutcome


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
