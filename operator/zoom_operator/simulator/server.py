"""The simulator's HTTP server: assembles the token endpoint, the REST API and the admin API into one
aiohttp application, adds what every response shares, and runs it (`zoom-operator simulator`).

Every response carries `x-zm-trackingid: v=2.0;clid=<cluster>;rid=<id>` (see `wire`), errors
included, and JSON bodies in Zoom's compact form. Requests are logged to stderr as
method, path (never the query string), status, tracking id and, for a refused token, the simulator's
reason (e.g. `owner inactive`): tokens and secrets never reach the log.
The first line on stdout is the bound base URL (e.g. `http://127.0.0.1:43121`), which serves both as
the OAuth URL and the API URL; SIGTERM and SIGINT stop the server cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from zoom_operator.simulator.admin import AdminApi
from zoom_operator.simulator.fields import Invalid
from zoom_operator.simulator.oauth import TokenEndpoint, basic_credentials, oauth_error
from zoom_operator.simulator.rest import REJECTION, RestApi
from zoom_operator.simulator.state import Config, load_state
from zoom_operator.simulator.wire import TRACKING_HEADER, json_response, tracking_id, zoom_error
from zoom_operator.simulator.world import World

log = logging.getLogger("zoom_operator.simulator")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _fault_target(path: str) -> str | None:
    if path == "/oauth/token":
        return "token"
    if path.startswith("/v2/"):
        return "api"
    return None


def _error_for(path: str, status: int, message: str) -> web.Response:
    """An error in the shape the caller of `path` expects: OAuth, Zoom REST or admin."""
    if path.startswith("/_sim"):
        return json_response({"error": message}, status=status)
    if path.startswith("/oauth"):
        error = {429: "rate_limited"}.get(status, "server_error" if status >= 500 else "invalid_request")
        return oauth_error(status, error, message)
    return zoom_error(status, status, message)


def build_app(world: World) -> web.Application:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Tracking id, counters and the log line for every request; no exception escapes as a traceback."""
        tracking = tracking_id(world.config.tracking_cluster)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # no route or method: answer in the caller's error shape
            message = exc.reason
            if request.path.startswith("/_sim"):
                message = f"{exc.reason}: {request.method} {request.path} is not an admin endpoint"
            response = _error_for(request.path, exc.status, message)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
        except Exception:
            log.exception("%s %s failed trackingid=%s", request.method, request.path, tracking)
            response = _error_for(request.path, 500, "Internal Server Error")
        response.headers[TRACKING_HEADER] = tracking

        if _fault_target(request.path) is not None:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else request.path
            world.stats.requests += 1
            world.stats.endpoints[f"{request.method} {route}"] += 1
            world.stats.statuses[str(response.status)] += 1
        transport = request.transport
        outcome = "dropped" if transport is None or transport.is_closing() else str(response.status)
        why = f" ({request[REJECTION]})" if REJECTION in request else ""
        log.info("%s %s %s trackingid=%s%s", request.method, request.path, outcome, tracking, why)
        return response

    @web.middleware
    async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        target = _fault_target(request.path)
        fault = world.faults.take(target, world.now()) if target is not None else None
        if fault is None:
            return await handler(request)
        if fault.kind == "status":
            assert fault.status is not None
            if fault.body is not None:
                response = json_response(fault.body, status=fault.status)
            else:
                response = _error_for(request.path, fault.status, f"Injected fault: HTTP {fault.status}")
            response.headers.update(fault.headers)
            return response
        if fault.kind == "malformed":
            return web.Response(text="<html><body>Bad Gateway</body></html>", content_type="text/html")
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)  # never sent: the connection is already gone
        # Received in full, then slow to answer: a caller that gives up meanwhile still gets its request
        # served (e.g. a token minted that nobody receives), as with a real upstream.
        await request.read()
        await world.faults.hold(fault, world.now())
        return await handler(request)

    @web.middleware
    async def count_in_flight(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Concurrent token requests per client id (held ones included): one minter never has two."""
        credentials = basic_credentials(request.headers.get("Authorization"))
        if request.path != "/oauth/token" or credentials is None:
            return await handler(request)
        client_id = credentials[0]
        stats = world.stats
        stats.token_in_flight[client_id] += 1
        stats.token_in_flight_max[client_id] = max(
            stats.token_in_flight_max[client_id], stats.token_in_flight[client_id]
        )
        try:
            return await handler(request)
        finally:
            current = world.stats  # a reset meanwhile replaces the counters: never count below zero
            current.token_in_flight[client_id] = max(0, current.token_in_flight[client_id] - 1)

    app = web.Application(middlewares=[observe, count_in_flight, inject_faults])
    TokenEndpoint(world).add_routes(app)
    RestApi(world).add_routes(app)
    AdminApi(world).add_routes(app)

    async def release_held_requests(_: web.Application) -> None:
        world.faults.clear()

    app.on_shutdown.append(release_held_requests)
    return app


def config_from_args(args: argparse.Namespace) -> Config:
    return Config(
        s2s_privilege=args.s2s_privilege,
        admin_privilege=args.admin_privilege,
        strict_body=args.strict_body,
        rotation_revokes_tokens=args.rotation_revokes_tokens,
        token_rps=args.token_rps,
        token_ttl_seconds=args.token_ttl_seconds,
    )


def main(args: argparse.Namespace) -> int:
    """`zoom-operator simulator`: 0 after a clean stop, 2 when the state file or address is unusable."""
    try:
        for flag, value in (("--token-ttl-seconds", args.token_ttl_seconds), ("--token-rps", args.token_rps)):
            if value is not None and value < 1:
                raise Invalid(f"{flag} must be at least 1, got {value}")
        state = load_state(args.state)
    except Invalid as exc:
        print(f"zoom-operator simulator: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    return asyncio.run(_serve(World(state, config_from_args(args)), args.host, args.port))


async def _serve(world: World, host: str, port: int) -> int:
    runner = web.AppRunner(build_app(world), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, shutdown_timeout=2.0)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        print(f"zoom-operator simulator: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    bound_host, bound_port = runner.addresses[0][:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"http://{shown_host}:{bound_port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping")
    await runner.cleanup()
    return 0
