"""`zoom-operator run`: turn command-line options into kopf settings and start the operator."""

from __future__ import annotations

import argparse
import os
import sys

from zoom_operator.logs import configure_logging, log_settings
from zoom_operator.spec import EndpointAllowlist

SHARD_SPACE = 1 << 64


def shard_selector(shard: str) -> str:
    """`I/N` -> kopf's shardRange over ZoomApp uids; raises ValueError with a usable message."""
    try:
        index_text, count_text = shard.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise ValueError(f"--shard {shard!r}: expected I/N such as 0/2") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {shard!r}: need 0 <= I < N")
    start = index * SHARD_SPACE // count
    end = (index + 1) * SHARD_SPACE // count
    return f"shardRange(object.metadata.uid, '0x{start:016x}', '0x{end:016x}')"


def run_operator(args: argparse.Namespace) -> int:
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
        # Before kopf or the kubernetes client are imported: the client reads $KUBECONFIG at import time.
        os.environ["KUBECONFIG"] = os.path.abspath(args.kubeconfig)

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
    )
    kopf.run(
        standalone=args.standalone or None,
        peering_name=args.peering,
        priority=args.priority,
        liveness_endpoint=args.liveness,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        memories=handlers.MEMORIES,
    )
    return 0
