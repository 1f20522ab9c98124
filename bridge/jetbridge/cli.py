"""The `jetbridge` command: serve, check, actions."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from aiohttp import web

from jetbridge import conformance, logs, workers
from jetbridge.app import create_app
from jetbridge.auth import configured_methods
from jetbridge.catalog import Catalog
from jetbridge.config import ConfigError, Settings, environment_names, load_settings
from jetbridge.discovery import Discovery
from jetbridge.services import Service, ServiceState

log = logging.getLogger("jetbridge")

# Bound on finishing in-flight requests after SIGTERM/SIGINT.
SHUTDOWN_TIMEOUT = 10.0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    env = environment_names()
    parser = argparse.ArgumentParser(
        prog="jetbridge",
        description="Jet Admin's messages endpoint, served by gRPC action servers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML config file (env JETBRIDGE_CONFIG)")
    common.add_argument(
        "--service",
        dest="services",
        action="append",
        metavar="[NAME=]TARGET",
        help=(
            "an action server, repeatable; TARGET is HOST:PORT, or inprocess:MODULE:ATTR to "
            f"run a Python ActionServer inside the bridge (env {env['services']})"
        ),
    )
    common.add_argument(
        "--call-timeout",
        type=float,
        help=f"default deadline of a call, s (env {env['call_timeout']})",
    )
    common.add_argument(
        "--discovery-timeout",
        type=float,
        help=f"deadline of ListActions, s (env {env['discovery_timeout']})",
    )
    common.add_argument("--log-level", help=f"DEBUG, INFO, WARNING, ERROR (env {env['log_level']})")
    common.add_argument(
        "--log-format",
        choices=["text", "json"],
        help=f"text, or json: one object a line, default text (env {env['log_format']})",
    )

    serve = commands.add_parser("serve", parents=[common], help="serve POST /api/messages/")
    serve.add_argument("--address", help=f"listen address, default 0.0.0.0 (env {env['address']})")
    serve.add_argument("--port", type=int, help=f"listen port, default 8888 (env {env['port']})")
    serve.add_argument(
        "--disable-auth",
        action="store_const",
        const=True,
        help=f"development only: accept requests without credentials (env {env['disable_auth']})",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help=f"bridge processes sharing the port, default 1 (env {env['workers']})",
    )
    _add_resilience_flags(common, env)
    _add_auth_flags(serve, env)
    _add_observability_flags(serve, env)
    commands.add_parser(
        "check", parents=[common], help="validate settings, reach every service, report conflicts"
    )
    commands.add_parser("actions", parents=[common], help="print the merged action table")
    conformance.add_command(commands)
    return parser


def _add_auth_flags(serve: argparse.ArgumentParser, env: dict[str, str]) -> None:
    """Authentication and CORS flags; docs/jet-admin.md explains each setting."""
    auth = serve.add_argument_group("authentication (secrets are better given in the environment)")
    auth.add_argument(
        "--project", help=f"Jet Admin project name, grants JWTs (env {env['project']})"
    )
    auth.add_argument(
        "--token", help=f"project token, enables Token/ProjectToken (env {env['token']})"
    )
    auth.add_argument("--environment", help=f"Jet Admin environment (env {env['environment']})")
    auth.add_argument(
        "--jwt-verify-key",
        metavar="PEM_OR_FILE",
        help=f"RSA public key of JWTs, default Jet Admin's (env {env['jwt_verify_key']})",
    )
    auth.add_argument(
        "--bearer-auth-key",
        metavar="KEY[,KEY...]",
        help=f"static Bearer keys, several for rotation (env {env['bearer_auth_key']})",
    )
    auth.add_argument("--api-base-url", help=f"Jet Admin's API (env {env['api_base_url']})")
    auth.add_argument(
        "--jwt-leeway", type=float, help=f"allowed clock skew, s (env {env['jwt_leeway']})"
    )
    auth.add_argument(
        "--auth-cache-ttl",
        type=float,
        help=f"cache an allowed token, s (env {env['auth_cache_ttl']})",
    )
    auth.add_argument(
        "--auth-failure-cache-ttl",
        type=float,
        help=f"cache a refused token, s (env {env['auth_failure_cache_ttl']})",
    )
    auth.add_argument(
        "--auth-cache-size", type=int, help=f"tokens cached (env {env['auth_cache_size']})"
    )
    auth.add_argument(
        "--auth-timeout",
        type=float,
        help=f"deadline of Jet Admin's API, s (env {env['auth_timeout']})",
    )
    auth.add_argument(
        "--forward-token",
        action="store_const",
        const=True,
        help=f"send the raw credential to action servers (env {env['forward_token']})",
    )
    cors = serve.add_argument_group("CORS")
    cors.add_argument(
        "--cors-headers",
        action=argparse.BooleanOptionalAction,
        help=f"send CORS headers, default on (env {env['cors_headers']})",
    )
    cors.add_argument(
        "--allow-origin",
        metavar="ORIGIN[,ORIGIN...]",
        help=f"allowed origins, default * (env {env['allow_origin']})",
    )
    cors.add_argument(
        "--cors-max-age", type=int, help=f"preflight cache, s (env {env['cors_max_age']})"
    )


def _add_observability_flags(serve: argparse.ArgumentParser, env: dict[str, str]) -> None:
    """The access log and metrics; docs/observability.md explains each setting."""
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        help=f"one log line per request, default on (env {env['access_log']})",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        help=f"serve Prometheus /metrics on this port, default off (env {env['metrics_port']})",
    )


def _add_resilience_flags(parser: argparse.ArgumentParser, env: dict[str, str]) -> None:
    parser.add_argument(
        "--max-call-timeout",
        type=float,
        help=f"cap on any call's deadline, s (env {env['max_call_timeout']})",
    )
    parser.add_argument(
        "--max-concurrent-calls",
        type=int,
        help=f"calls in flight per service before 503 (env {env['max_concurrent_calls']})",
    )
    tls = parser.add_argument_group("TLS to every action server (per service: config file)")
    tls.add_argument("--tls", action="store_const", const=True, help=f"use TLS (env {env['tls']})")
    tls.add_argument("--tls-ca-file", dest="ca_file", help=f"CA PEM (env {env['ca_file']})")
    tls.add_argument(
        "--tls-cert-file", dest="cert_file", help=f"client certificate PEM (env {env['cert_file']})"
    )
    tls.add_argument(
        "--tls-key-file", dest="key_file", help=f"client key PEM (env {env['key_file']})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `jetbridge` command."""
    args = build_parser().parse_args(argv)
    if args.command == "conformance":
        # Needs no bridge settings: it starts its own bridge in front of one server.
        raise SystemExit(_run(conformance.main(args)))
    flags = {
        key: value
        for key, value in vars(args).items()
        if key not in {"command", "config"} and value is not None
    }
    try:
        settings = load_settings(flags, config_file=args.config)
    except ConfigError as error:
        print(f"jetbridge: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "serve":
        if settings.workers > 1 and not workers.is_worker():
            check_auth(settings)  # refuse before starting anything
            argv = sys.argv[1:] if argv is None else argv
            raise SystemExit(
                workers.supervise(argv, settings.workers, SHUTDOWN_TIMEOUT, settings=settings)
            )
        _run(serve(settings))
    else:
        raise SystemExit(_run(report(settings, args.command)))


def _run(main: Coroutine[Any, Any, int | None]) -> int | None:
    """Run on uvloop when it is installed (15-20% faster), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then finish in-flight requests and close the channels."""
    check_auth(settings)
    # Idle connections close after 75 s (as web.run_app sets it, not aiohttp's hour), and a
    # connection answered before its body arrived (408, 413) is dropped after 2 s, not 10.
    runner = web.AppRunner(
        create_app(settings),
        access_log=None,
        handle_signals=False,
        keepalive_timeout=75,
        lingering_time=2.0,
    )
    await runner.setup()
    site = web.TCPSite(
        runner,
        settings.address,
        settings.port,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        # Workers share the port on purpose; a lone bridge must fail if the port is taken.
        reuse_port=workers.is_worker(),
    )
    await site.start()
    log.info(
        "serving Jet Admin messages on http://%s:%d/api/messages/", settings.address, settings.port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping: finishing in-flight requests (up to %.0f s)", SHUTDOWN_TIMEOUT)
    await runner.cleanup()


def check_auth(settings: Settings) -> None:
    """Secure by default: refuse to serve without any authentication unless it is disabled."""
    methods = configured_methods(settings)
    if settings.disable_auth:
        log.warning("authentication is DISABLED: anyone who can reach this port can run actions")
        return
    if not methods:
        raise SystemExit(
            "jetbridge: no authentication is configured: set PROJECT (JWTs from Jet Admin), "
            "TOKEN (Token and ProjectToken, checked with Jet Admin's API) or BEARER_AUTH_KEY; "
            "for development only, pass --disable-auth"
        )
    log.info("authentication: %s", ", ".join(methods))
    if any(len(key) < 16 for key in settings.bearer_auth_key):
        log.warning("a BEARER_AUTH_KEY is shorter than 16 characters; use long random keys")


async def report(settings: Settings, command: str) -> int:
    """Discover every service once and print a report; non-zero when anything is wrong."""
    services = [Service(config, settings) for config in settings.services]
    discovery = Discovery(settings, services)
    try:
        await discovery.refresh()
        catalog = discovery.catalog
    finally:
        for service in services:
            await service.close()
    if command == "check":
        _print_services(services)
    _print_table(catalog)
    problems = [
        f"service {s.name!r} is {s.state.value}" for s in services if s.state is not ServiceState.UP
    ]
    problems += [f"conflict: {conflict}" for conflict in catalog.conflicts]
    if command == "check":
        for problem in problems:
            print(f"PROBLEM: {problem}")
        print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _print_services(services: Sequence[Service]) -> None:
    print("services:")
    for service in services:
        status = service.status()
        error = f"  ({status['error']})" if "error" in status else ""
        print(f"  {service.name:<16} {service.config.target:<28} {service.state.value:<6}{error}")


def _print_table(catalog: Catalog) -> None:
    rows = catalog.table()
    headers = ["action", "kind", "models", "service"]
    widths = {h: max([len(h), *(len(row[h]) for row in rows)]) for h in headers}
    print("  ".join(h.upper().ljust(widths[h]) for h in headers))
    for row in rows:
        print("  ".join(row[h].ljust(widths[h]) for h in headers))
