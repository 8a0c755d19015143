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
    sim.add_argument("--port", type=int, default=9900, help="port to bind; 0 picks a free one (default: 9900)")
    sim.add_argument("--state", metavar="FILE.yaml", help="initial state (accounts, roles, users, apps)")
    sim.add_argument(
        "--s2s-privilege",
        default="ServerToServerOAuthApp:Edit",
        help="role privilege that stands for the 'Server-to-Server OAuth app' permission",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "simulator":
        from zoom_operator.simulator.server import main as simulator_main

        return simulator_main(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
