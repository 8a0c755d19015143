"""`zoom-operator run`: turn command-line options into kopf settings and start the operator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from zoom_operator.cli import UVLOOP
from zoom_operator.kube.connection import KubeConfigError, load_connection
from zoom_operator.kube.sharding import check_shard_support, parse_shard, shard_selector
from zoom_operator.logs import configure_logging, log_settings
from zoom_operator.spec import EndpointAllowlist

__all__ = ["run_operator", "shard_selector"]  # shard_selector: moved to kube/sharding.py

log = logging.getLogger("zoom_operator")


@contextlib.contextmanager
def event_loop(name: str) -> Iterator[asyncio.AbstractEventLoop]:
    """The loop the operator runs on, closed afterwards: uvloop's unless `name` is "asyncio" or uvloop is
    not installed (as kopf's own CLI does; `kopf.run` alone would take asyncio's). On loopback a
    Kubernetes or Zoom request costs less CPU on uvloop (bench/RESULTS.md, 2026-12-07)."""
    factory = asyncio.new_event_loop
    if name == UVLOOP:
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop is not installed: running on asyncio's event loop")
        else:
            factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        yield runner.get_loop()


def block_kubernetes_client() -> None:
    """Make `import kubernetes` fail in this process, unless the host process already imported it.

    The operator talks to the API server through aiohttp only (`kube/api.py`, and kopf's own client
    with our login handler). The `kubernetes` client's generated models added 19 MB to this process
    (69 MB, 50 MB without), and kopf imports it when installed, for a login fallback we do not use."""
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]


def run_operator(args: argparse.Namespace) -> int:
    block_kubernetes_client()  # before kopf is imported
    try:
        selector = shard_selector(args.shard) if args.shard else None
        allowlist = (
            EndpointAllowlist.parse(args.allow_endpoint) if args.allow_endpoint else EndpointAllowlist()
        )
    except ValueError as error:
        print(f"zoom-operator run: {error}", file=sys.stderr)
        return 2
    if args.kubeconfig:
        if not os.path.isfile(args.kubeconfig):
            print(f"zoom-operator run: kubeconfig {args.kubeconfig} does not exist", file=sys.stderr)
            return 2
        # Child processes (exec credential plugins) see the same kubeconfig.
        os.environ["KUBECONFIG"] = os.path.abspath(args.kubeconfig)
    try:  # a bad kubeconfig is a message here, not a traceback from kopf's login later
        load_connection(args.kubeconfig)
    except KubeConfigError as error:
        print(f"zoom-operator run: {error}", file=sys.stderr)
        return 2
    if selector:
        problem = check_shard_support(args.kubeconfig, selector, args.namespace)
        if problem:  # kopf never starts, so nothing is minted
            print(f"zoom-operator run: {problem}", file=sys.stderr)
            return 1

    import kopf

    from zoom_operator import handlers

    handlers.OPTIONS.metrics_port = args.metrics_port or None
    handlers.OPTIONS.kubeconfig = args.kubeconfig
    handlers.OPTIONS.s2s_privilege = args.s2s_privilege
    handlers.OPTIONS.shard_selector = selector
    handlers.OPTIONS.allowlist = allowlist
    handlers.OPTIONS.kube_workers = args.kube_workers
    handlers.OPTIONS.peering_name = args.peering
    handlers.OPTIONS.namespaces = list(args.namespace)
    handlers.OPTIONS.shard = parse_shard(args.shard) if args.shard else None
    handlers.OPTIONS.summary_interval = args.summary_interval
    handlers.OPTIONS.log_format = args.log_format
    configure_logging(verbose=args.verbose, log_format=args.log_format)
    log_settings(
        namespaces=args.namespace,
        standalone=args.standalone,
        peering=args.peering,
        priority=args.priority,
        shard=args.shard,
        allowed_endpoints=allowlist.describe(),
        metrics_port=args.metrics_port or None,
        liveness=args.liveness,
        s2s_privilege=args.s2s_privilege,
        kube_workers=args.kube_workers,
        summary_interval=args.summary_interval,
        log_format=args.log_format,
        verbose=args.verbose,
        event_loop=args.event_loop,
    )
    with event_loop(args.event_loop) as loop:
        kopf.run(
            loop=loop,
            standalone=args.standalone or None,
            peering_name=args.peering,
            priority=args.priority,
            liveness_endpoint=args.liveness,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            memories=handlers.MEMORIES,
        )
    return 0
