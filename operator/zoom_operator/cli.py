"""`zoom-operator run | diagnose | simulator`: argument parsing only; each command lives in its module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


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
        default="ServerToServerOAuthApp:Edit",
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
        default="ServerToServerOAuthApp:Edit",
        help="role privilege that stands for Zoom's 'Server-to-Server OAuth app' permission",
    )
    run.add_argument(
        "--kube-workers", type=int, default=8, help="threads for Kubernetes API calls (default: 8)"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "simulator":
        from zoom_operator.simulator.server import main as simulator_main

        return simulator_main(args)
    if args.command == "run":
        from zoom_operator.runner import run_operator

        return run_operator(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
