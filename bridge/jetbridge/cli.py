"""The `jetbridge` command: serve, check, actions."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from aiohttp import web

from jetbridge import __version__, call, config, inprocess, logs, server, workers
from jetbridge.app import create_app
from jetbridge.auth import configured_methods
from jetbridge.catalog import Catalog
from jetbridge.config import Auth, Settings
from jetbridge.discovery import Discovery
from jetbridge.services import Service, ServiceState

log = logging.getLogger("jetbridge")

# Bound on finishing in-flight requests after SIGTERM/SIGINT.
SHUTDOWN_TIMEOUT = 10.0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand; each setting's flag comes from its declaration
    in `jetbridge.config`, so every subcommand that reads settings takes all of them."""
    parser = argparse.ArgumentParser(
        prog="jetbridge",
        description="Jet Admin's messages endpoint, served by gRPC action servers.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__} (jetactions {importlib.metadata.version('jetactions')})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help in (
        ("serve", "serve POST /api/messages/"),
        ("check", "validate settings, reach every service, report conflicts"),
        ("actions", "print the merged action table"),
    ):
        config.add_flags(commands.add_parser(name, help=help))
    # Listed here for --help only: main() hands its arguments to the suite's own parser.
    commands.add_parser(
        "conformance",
        add_help=False,
        help="check an action server against the contract, directly and through a bridge",
    )
    call.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `jetbridge` command."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["conformance"]:
        raise SystemExit(_conformance(arguments[1:]))
    args = build_parser().parse_args(argv)
    if args.command in call.COMMANDS:
        raise SystemExit(_run(call.main(args)))
    try:
        settings = config.load_settings(config.flags_from(args), config_file=args.config)
    except config.ConfigError as error:
        for problem in error.problems:
            print(f"jetbridge: configuration error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(settings.observability.log_level, settings.observability.log_format)
    if args.command == "serve":
        if settings.http.workers > 1 and not workers.is_worker():
            check_auth(settings.auth)  # refuse before starting anything
            argv = sys.argv[1:] if argv is None else argv
            raise SystemExit(
                workers.supervise(argv, settings.http.workers, SHUTDOWN_TIMEOUT, settings=settings)
            )
        _run(serve(settings))
    else:
        raise SystemExit(_run(report(settings, args.command)))


def _conformance(arguments: Sequence[str]) -> int | None:
    """`jetbridge conformance`: a distribution of its own, imported only for this command."""
    try:
        from jetconformance import cli
    except ModuleNotFoundError as error:
        if error.name != "jetconformance":
            raise
        print(
            "jetbridge: the conformance suite is not installed: pip install jetbridge[conformance]",
            file=sys.stderr,
        )
        return 2
    # Needs no bridge settings: it starts its own bridge in front of one server.
    return _run(cli.main(arguments))


def _run(main: Coroutine[Any, Any, int | None]) -> int | None:
    """Run on uvloop when it is installed (15-20% faster), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then finish in-flight requests and close the channels."""
    check_auth(settings.auth)
    _load_inprocess(settings)
    fds = server.raise_fd_limit()
    # A connection answered before its body arrived (408, 413) is dropped after 2 s, not 10.
    runner = server.BridgeRunner(
        create_app(settings),
        settings,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=settings.limits.keepalive_timeout,
        lingering_time=2.0,
    )
    await runner.setup()
    site = web.TCPSite(
        runner,
        settings.http.address,
        settings.http.port,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        # Workers share the port on purpose; a lone bridge must fail if the port is taken.
        reuse_port=workers.is_worker(),
    )
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        where = f"{settings.http.address}:{settings.http.port}"
        why = "is already in use" if server.address_in_use(error) else f"failed: {error.strerror}"
        print(f"jetbridge: cannot listen on {where}: the address {why}", file=sys.stderr)
        raise SystemExit(2) from None
    server.tune_gc()
    # The port bound, which `--port 0` leaves to the kernel.
    port = runner.addresses[0][1] if runner.addresses else settings.http.port
    log.info(
        "serving Jet Admin messages on http://%s:%d/api/messages/ (up to %d connections, %d "
        "file descriptors)",
        settings.http.address,
        port,
        server.max_connections(settings.limits),
        fds,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping: finishing in-flight requests (up to %.0f s)", SHUTDOWN_TIMEOUT)
    await runner.cleanup()


def _load_inprocess(settings: Settings) -> None:
    """Import every in-process action server now, so that a wrong one is one clear line."""
    for service in settings.services:
        if config.is_inprocess(service.target):
            try:
                inprocess.resolve(service.target)
            except ValueError as error:
                print(f"jetbridge: configuration error: {error}", file=sys.stderr)
                raise SystemExit(2) from None


def check_auth(settings: Auth) -> None:
    """Secure by default: refuse to serve without any authentication unless it is disabled."""
    methods = configured_methods(settings)
    if settings.disabled:
        log.warning("authentication is DISABLED: anyone who can reach this port can run actions")
        return
    if not methods:
        print(
            "jetbridge: configuration error: no authentication is configured: set PROJECT "
            "(JWTs from Jet Admin), TOKEN (Token and ProjectToken, checked with Jet Admin's API) "
            "or BEARER_AUTH_KEY; for development only, pass --disable-auth",
            file=sys.stderr,
        )
        raise SystemExit(2)  # a bad setting, like every other
    log.info("authentication: %s", ", ".join(methods))
    if any(len(key) < 16 for key in settings.bearer_keys):
        log.warning("a BEARER_AUTH_KEY is shorter than 16 characters; use long random keys")


async def report(settings: Settings, command: str) -> int:
    """Discover every service once and print a report; non-zero when anything is wrong."""
    services = [
        Service(c, settings.calls, settings.limits, i) for i, c in enumerate(settings.services)
    ]
    discovery = Discovery(settings.calls, services)
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
