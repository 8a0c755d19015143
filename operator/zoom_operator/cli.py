"""`zoom-operator run | diagnose | simulator`: argument parsing only; each command lives in its module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from zoom_operator.logs import LOG_FORMATS, PLAIN
from zoom_operator.spec import (
    DEFAULT_ALLOWED_ENDPOINTS,
    DEFAULT_API_URL,
    DEFAULT_OAUTH_URL,
    DEFAULT_S2S_PRIVILEGE,
)

UVLOOP = "uvloop"
EVENT_LOOPS = (UVLOOP, "asyncio")  # `run --event-loop`: see runner.event_loop


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0 or more seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoom-operator",
        description="The cluster's single minter of Zoom Server-to-Server OAuth tokens.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = commands.add_parser("simulator", help="run the Zoom simulator (a real HTTP server on loopback)")
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    sim.add_argument(
        "--port", type=int, default=9900, help="port to bind; 0 picks a free one (default: 9900)"
    )
    sim.add_argument("--state", metavar="FILE.yaml", help="initial state (accounts, roles, users, apps)")
    sim.add_argument(
        "--s2s-privilege",
        default=DEFAULT_S2S_PRIVILEGE,
        help="role privilege that stands for the 'Server-to-Server OAuth app' permission",
    )
    sim.add_argument(
        "--admin-privilege",
        default="Account:Edit",
        help="role privilege that allows admin-level (':admin') scopes (default: Account:Edit)",
    )
    sim.add_argument(
        "--token-ttl-seconds", type=int, default=3599, help="expires_in of issued tokens (default: 3599)"
    )
    sim.add_argument(
        "--token-rps", type=int, help="token requests per second allowed per app (default: unlimited)"
    )
    sim.add_argument(
        "--strict-body", action="store_true", help="reject token requests that pass parameters in the query"
    )
    sim.add_argument(
        "--rotation-revokes-tokens",
        action="store_true",
        help="revoking a client secret also revokes the access tokens minted with it",
    )
    _add_diagnose(commands)
    run = commands.add_parser("run", help="run the operator (kopf) against the current cluster")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace (repeatable; kopf globs allowed)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)"
    )
    run.add_argument("--standalone", action="store_true", help="no peering: this is the only replica")
    run.add_argument("--peering", metavar="NAME", help="kopf peering object for standby replicas")
    run.add_argument("--priority", type=int, default=None, help="peering priority (higher wins)")
    run.add_argument(
        "--shard",
        metavar="I/N",
        help="serve shard I of N (0-based) of the ZoomApps by uid; needs Kubernetes "
        ">= 1.36 with the ShardedListAndWatch feature gate",
    )
    run.add_argument(
        "--allow-endpoint",
        action="append",
        default=[],
        metavar="URL_PREFIX",
        help="a base URL ZoomApps may name in spec.endpoints (repeatable; replaces the default of "
        "Zoom's and Zoom for Government's HTTPS hosts: " + ", ".join(DEFAULT_ALLOWED_ENDPOINTS) + "). "
        "The operator sends credentials and tokens nowhere else.",
    )
    run.add_argument("--metrics-port", type=int, default=8080, help="Prometheus metrics port; 0 turns it off")
    run.add_argument(
        "--liveness",
        metavar="URL",
        default=None,
        help="kopf liveness endpoint, e.g. http://0.0.0.0:8081/healthz",
    )
    run.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig to use outside a cluster")
    run.add_argument(
        "--s2s-privilege",
        default=DEFAULT_S2S_PRIVILEGE,
        help="role privilege that stands for Zoom's 'Server-to-Server OAuth app' permission",
    )
    run.add_argument(
        "--kube-workers", type=int, default=8, help="connections for Kubernetes API calls (default: 8)"
    )
    run.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        default=UVLOOP,
        help="asyncio's event loop, or uvloop's (libuv; kopf's CLI picks it too): less CPU per Kubernetes "
        "and Zoom request; asyncio's when uvloop is not installed (default: %(default)s)",
    )
    logs = run.add_argument_group("logging")
    logs.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug logs: a line per kopf handler run, per liveness probe and per Zoom request, "
        "besides the default start-up, transitions, warnings, errors and summary lines",
    )
    logs.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=PLAIN,
        help="plain text, or one JSON object per line for log pipelines (default: %(default)s)",
    )
    logs.add_argument(
        "--summary-interval",
        type=_seconds,
        default=300.0,
        metavar="SECONDS",
        help="log one summary line (apps, Ready, flags, mints, Zoom errors) this often; "
        "0 turns it off (default: %(default)g)",
    )
    return parser


DIAGNOSE_EPILOG = """\
what it does:
  Mints a token and probes it: GET /v2/users/{owner}, or /v2/users/me without --owner (the owner
  is then learnt from the token's uid claim). On a 401 it mints and probes again, up to --attempts
  fresh tokens, so the verdict rests on fresh tokens; after invalid_client it asks once more (two
  rejections in a row raise SecretRotationRequired). It looks the owner up from the probe's answer,
  their role when the token may read roles, or with the auditor app's token; then it prints the
  operator's three conditions (Ready, SecretRotationRequired, OwnerRoleChangeRequired), the token's
  facts (never its value), the owner's facts and every answer from Zoom with its tracking id.
  In the messages, "ZoomApp diagnose" is this run, "Secret diagnose-token" the token it minted
  (kept in memory only) and "Secret diagnose-credentials" the credentials from the command line.

exit codes:
  0  healthy: Ready is True (Zoom accepted a fresh token) and neither flag is True
  1  a human must act: SecretRotationRequired or OwnerRoleChangeRequired is True; the
     condition messages say who and what
  2  not healthy and no flag raised: could not tell (Zoom unreachable, 5xx, timeouts, rate
     limited, a rejection that did not repeat), or a problem neither flag covers (e.g. Ready
     AppDisabled: only Zoom support can help; RequiredScopesMissing; a wrong account
     id); read Ready's reason.
     Also bad input (flags, files, the Kubernetes Secret): one line on stderr.

scopes:
  --required-scope names missing from the token's scope make Ready False with reason
  RequiredScopesMissing (exit 2: no flag, but the app owner must add them on the app's Scopes
  page) and are listed in token.missingScopes. One run cannot tell scopes revoked by an owner's
  role change (the operator's ScopesRevoked, judged from history) from scopes the app never had;
  the notes say so.

examples:
  zoom-operator diagnose --account-id A --client-id C --client-secret-file secret.txt \\
      --owner dev-lead@example.com --required-scope meeting:write:admin
  kubectl get secret -n zoom meetings-bot-zoom -o jsonpath='{.data.client_secret}' | base64 -d | \\
      zoom-operator diagnose --account-id A --client-id C --client-secret-file -
  zoom-operator diagnose --secret zoom/meetings-bot-zoom --auditor-secret zoom/zoom-admin --json
"""


def _add_diagnose(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from zoom_operator.diagnose_cmd import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT_SECONDS

    diag = commands.add_parser(
        "diagnose",
        help="one-shot mint + probe + classification of a Zoom app's credentials, outside the operator",
        description="Mint a token with a Zoom Server-to-Server OAuth app's credentials, prove it against\n"
        "the API and say, as the operator would, whether a human must rotate the client secret or\n"
        "fix the app owner's role. No token or secret is ever printed.",
        epilog=DIAGNOSE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    creds = diag.add_argument_group("credentials (the three values, or a Kubernetes Secret)")
    creds.add_argument("--account-id", metavar="A", help="the app's Account ID")
    creds.add_argument("--client-id", metavar="C", help="the app's Client ID")
    creds.add_argument(
        "--client-secret-file",
        metavar="F",
        help="file holding the Client Secret ('-': stdin; trailing newline ok)",
    )
    creds.add_argument(
        "--secret",
        metavar="NAMESPACE/NAME",
        help="read account id, client id and client secret from this Kubernetes Secret",
    )
    creds.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="for --secret/--auditor-secret (default: $KUBECONFIG or ~/.kube/config; in a pod, the "
        "service account)",
    )
    creds.add_argument(
        "--account-id-key", metavar="KEY", help="Secret key of the account id (default: account_id)"
    )
    creds.add_argument(
        "--client-id-key", metavar="KEY", help="Secret key of the client id (default: client_id)"
    )
    creds.add_argument(
        "--client-secret-key", metavar="KEY", help="Secret key of the client secret (default: client_secret)"
    )
    auditor = diag.add_argument_group(
        "auditor",
        "optional: another S2S app of the account whose token may read users and roles; it looks the\n"
        "owner up even when Zoom rejects this app's tokens",
    )
    auditor.add_argument(
        "--auditor-secret", metavar="NAMESPACE/NAME", help="the auditor's credentials Secret"
    )
    auditor.add_argument("--auditor-account-id", metavar="A", help="default: the app's account id")
    auditor.add_argument("--auditor-client-id", metavar="C")
    auditor.add_argument("--auditor-client-secret-file", metavar="F", help="'-': stdin")
    check = diag.add_argument_group("what to check")
    check.add_argument(
        "--owner",
        metavar="EMAIL|USERID",
        help="the expected app owner (default: whoever the token's uid claim and /v2/users/me name)",
    )
    check.add_argument(
        "--required-scope",
        metavar="S",
        action="append",
        default=[],
        help="a scope the app needs (repeatable)",
    )
    check.add_argument(
        "--probe-path",
        metavar="PATH",
        help="API path that proves a token (default: /v2/users/{owner}, or /v2/users/me without --owner)",
    )
    check.add_argument(
        "--s2s-privilege",
        metavar="P",
        default=DEFAULT_S2S_PRIVILEGE,
        help="role privilege that stands for the 'Server-to-Server OAuth app' permission "
        "(default: %(default)s)",
    )
    zoom = diag.add_argument_group("Zoom")
    zoom.add_argument("--oauth-url", metavar="U", default=DEFAULT_OAUTH_URL, help="default: %(default)s")
    zoom.add_argument("--api-url", metavar="U", default=DEFAULT_API_URL, help="default: %(default)s")
    zoom.add_argument(
        "--attempts",
        type=int,
        default=DEFAULT_ATTEMPTS,
        metavar="N",
        help="fresh tokens to try when Zoom answers 401 (default: %(default)s, the operator's "
        "unauthorizedThreshold)",
    )
    zoom.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="per request (default: %(default)s)",
    )
    diag.add_argument("--json", action="store_true", help="print JSON instead of the report")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "simulator":
        from zoom_operator.simulator.server import main as simulator_main

        return simulator_main(args)
    if args.command == "diagnose":
        from zoom_operator.diagnose_cmd import main as diagnose_main

        return diagnose_main(args)
    if args.command == "run":
        from zoom_operator.runner import run_operator

        return run_operator(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
