"""``ActionServer``: declare actions on it, then serve them over gRPC.

Example:
    ```python
    app = ActionServer(name="shop")

    @app.common_action(label="Refresh stats")
    def refresh_stats(ctx: ActionContext) -> bool: ...

    app.run("127.0.0.1:50051")
    ```

The server also serves grpc.health.v1 and server reflection, keeps the bridge's keepalive
pings welcome, and stops gracefully on SIGTERM or SIGINT (a second signal stops at once).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, TypedDict, Unpack

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection as grpc_reflection

from jetactions import _logs, _metrics, _secret, _settings, _tracing
from jetactions._logs import logger
from jetactions._observe import CallObserver
from jetactions._servicer import ActionServicer
from jetactions._settings import (
    DEFAULT_MAX_MESSAGE_BYTES,
    LogFormat,
    MissingExtraError,
    SettingsError,
)
from jetactions.action import ActionRegistry
from jetactions.contract import HEALTH_SERVICES, SERVICE_NAME
from jetactions.sync_pool import DEFAULT_SYNC_WORKERS, SyncPool
from jetactions.tls import ServerTLS
from jetactions.v1 import actions_pb2_grpc

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "ActionServer",
    "BindError",
    "RunningServer",
    "ServeOptions",
    "SettingsError",
]

DRAIN_DELAY = 0.5
"""Seconds a stopping server keeps accepting calls after it reports NOT_SERVING."""


class ServeOptions(TypedDict, total=False):
    """The keyword options of ``ActionServer.start``, taken as they are by ``serve`` and
    ``run``; ``start`` documents each one and its default."""

    max_message_bytes: int
    reuse_port: bool
    grace: float
    health: bool
    reflection: bool
    bridge_secret: str | None
    tls: ServerTLS | None
    metrics_port: int | None


class BindError(RuntimeError):
    """The server cannot listen on its address (or its metrics port); the message names it."""


class RunningServer:
    """A started server: its bound port, and the means to stop it.

    Usable as an async context manager that stops the server on exit.
    """

    def __init__(
        self,
        server: grpc.aio.Server,
        *,
        name: str,
        host: str,
        port: int,
        grace: float,
        health: Any,
        metrics: _metrics.MetricsEndpoint | None = None,
        tracing: _tracing.Tracing | None = None,
    ) -> None:
        self._server = server
        self._name = name
        self._host = host
        self._port = port
        self._grace = grace
        self._health = health
        self._metrics = metrics
        self._tracing = tracing
        self._stopping = False
        self._stopped = False

    @property
    def port(self) -> int:
        """The bound port (the real one when started on port 0)."""
        return self._port

    @property
    def grace(self) -> float:
        """Seconds calls in flight get when the server stops."""
        return self._grace

    @property
    def address(self) -> str:
        """``host:port`` with the bound port."""
        return f"{self._host}:{self._port}"

    @property
    def metrics_port(self) -> int | None:
        """The bound port of the metrics endpoint, or None when it is off."""
        return None if self._metrics is None else self._metrics.port

    async def stop(self, grace: float | None = None) -> None:
        """Stops serving: health turns NOT_SERVING, then (after ``DRAIN_DELAY``, so that
        health-watching clients stop sending) new calls are refused, and calls in flight get
        ``grace`` seconds (the start's grace by default) before they are cancelled.

        Calling it again while a stop is in progress, with a shorter grace, stops sooner.
        """
        await self._stop(self._grace if grace is None else grace, reason="")

    async def _stop(self, grace: float, reason: str) -> None:
        fields = {"server": self._name, "address": self.address, "grace": grace}
        if reason:
            fields["signal"] = reason
        if not self._stopping:
            self._stopping = True
            cause = f" ({reason})" if reason else ""
            logger.info("draining%s: calls in flight get %.1f s", cause, grace, extra=fields)
        elif reason:
            logger.info("%s again: stopping now", reason, extra=fields)
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
            if grace > 0:
                # Clients that watch health (the bridge does) move new calls to other
                # replicas within milliseconds; calls they already sent still arrive and
                # are served instead of being cancelled by the stop.
                await asyncio.sleep(min(DRAIN_DELAY, grace / 2))
        # Sync handlers still running past the grace are cancelled calls of the sync pool's
        # daemon threads: they do not keep the process alive.
        await self._server.stop(grace)
        if self._stopped:
            return
        self._stopped = True
        if self._metrics is not None:
            await asyncio.to_thread(self._metrics.close)
        if self._tracing is not None:
            await asyncio.to_thread(self._tracing.flush, 5.0)
        logger.info("stopped", extra={"server": self._name, "address": self.address})

    async def wait(self) -> None:
        """Waits until the server has stopped."""
        await self._server.wait_for_termination()

    async def __aenter__(self) -> RunningServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ActionServer(ActionRegistry):
    """An action server: the actions declared on it, served over gRPC.

    Declare actions with ``model_action``, ``common_action`` and ``field_options``, then
    ``run`` it (blocking), ``await serve(...)`` (with signal handling) or ``await start(...)``
    (returns at once, for tests and embedding).

    Args:
        name: The server's name: sent to the bridge in ListActions (Jet users see it in
            messages) and used in logs; letters, digits, ``_``, ``.`` and ``-``.
        sync_workers: The most sync handlers that run at once (see ``sync_pool``).

    Raises:
        ValueError: An invalid name or ``sync_workers`` below 1.
    """

    def __init__(self, name: str = "actions", *, sync_workers: int = DEFAULT_SYNC_WORKERS) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"ActionServer name {name!r} must be 1 to 64 letters, digits, '_', '.' or '-'"
            )
        super().__init__()
        self.name = name
        self.sync_pool = SyncPool(sync_workers, name=name)
        """Runs the sync handlers; ``sync_pool.stuck`` counts those that hang."""

    def __repr__(self) -> str:
        return f"ActionServer(name={self.name!r}, actions={list(self.actions)!r})"

    async def start(
        self,
        address: str,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        reuse_port: bool = False,
        grace: float = 10.0,
        health: bool = True,
        reflection: bool = True,
        bridge_secret: str | None = None,
        tls: ServerTLS | None = None,
        metrics_port: int | None = None,
    ) -> RunningServer:
        """Starts serving on ``address`` and returns at once.

        Only the secret is read from the environment here (so that a server started from
        code still requires it); ``serve`` and ``run`` read every setting.

        Args:
            address: ``host:port`` to listen on; port 0 picks a free port.
            max_message_bytes: The limit on one message, sent and received.
            reuse_port: Let other processes bind the same port (several workers on
                purpose); off by default, so a second server on a busy port fails loudly.
            grace: Seconds calls in flight get when the server stops.
            health: Serve grpc.health.v1 ("" and jetactions.v1.ActionService SERVING).
            reflection: Serve gRPC server reflection.
            bridge_secret: Require this shared secret in the ``x-jetbridge-secret`` metadata
                of ActionService calls. None reads ``JETBRIDGE_SECRET``; empty means
                no secret.
            tls: Serve over TLS (mutual TLS when it names a client CA); None serves
                plaintext, for loopback and service meshes that add TLS themselves.
            metrics_port: Serve Prometheus metrics on this port of the address's host (0
                picks one); None serves none. Needs ``jetactions[metrics]``.

        Returns:
            The running server.

        Raises:
            BindError: The address (or the metrics port) cannot be bound.
            SettingsError: ``JETBRIDGE_SECRET`` is set but empty, or the old name is set.
            MissingExtraError: Metrics or traces are asked for and their extra is missing.
        """
        secret = _secret_from_env(os.environ) if bridge_secret is None else bridge_secret
        host = address.rpartition(":")[0]
        if not reuse_port:
            _check_free(host, address)
        metrics = None if metrics_port is None else _metrics.rpc_metrics()
        tracing = _tracing.tracing(self.name, os.environ)
        options: list[tuple[str, Any]] = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            # gRPC enables SO_REUSEPORT by default, so two servers could silently share a port.
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            # Welcome the bridge's keepalive pings (every 30 s, even when idle): without
            # these the server answers frequent pings with GOAWAY "too_many_pings".
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 0),
            # Clients reconnect every few minutes and so re-resolve DNS: replicas added behind
            # a headless Service get traffic without waiting for a failure.
            ("grpc.max_connection_age_ms", 300_000),
            ("grpc.max_connection_age_grace_ms", 30_000),
        ]
        observer = CallObserver(
            actions=self.actions,
            field_sources=[f"{model}.{field}" for model, field in self.field_option_sources],
            metrics=metrics,
            tracing=tracing,
        )
        # No interceptors: the observer and the secret check wrap the servicer's methods (see
        # CallObserver), which saves grpc.aio's per-call interceptor chain.
        server = grpc.aio.server(options=options)
        # Registrations after this point would not be served: make them fail loudly.
        self.freeze(f"server {self.name!r} has started")
        servicer = ActionServicer(
            self,
            server_name=self.name,
            sync_pool=self.sync_pool,
            max_message_bytes=max_message_bytes,
        )
        # The observer comes first: it also counts the calls the secret check refuses.
        allowed = _secret.checker(secret) if secret else None
        actions_pb2_grpc.add_ActionServiceServicer_to_server(
            observer.servicer(servicer, allowed), server
        )
        services = [SERVICE_NAME]
        health_servicer = None
        if health:
            health_servicer = health_aio.HealthServicer()
            for service in HEALTH_SERVICES:
                await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
            health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
            services.append(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
        if reflection:
            services.append(grpc_reflection.SERVICE_NAME)
            grpc_reflection.enable_server_reflection(services, server)
        try:
            if tls is None:
                port = server.add_insecure_port(address)
            else:
                port = server.add_secure_port(address, tls.credentials())
        except RuntimeError:
            raise BindError(f"cannot listen on {address}") from None
        endpoint = None
        if metrics is not None and metrics_port is not None:
            metrics.watch_pool(self.sync_pool, self.name)
            try:
                endpoint = _metrics.serve_metrics(_bare_host(host), metrics_port)
            except OSError as error:
                await server.stop(0)
                reason = error.strerror or str(error)
                where = f"{host}:{metrics_port}"
                raise BindError(f"cannot serve metrics on {where}: {reason}") from None
        await server.start()
        logger.info(
            "serving on %s:%d (server %s, %d actions: %s)",
            host,
            port,
            self.name,
            len(self.actions),
            ", ".join(self.actions) or "none",
            extra={"server": self.name, "address": f"{host}:{port}", "actions": list(self.actions)},
        )
        if endpoint is not None:
            logger.info("metrics on http://%s:%d/metrics", host, endpoint.port)
        return RunningServer(
            server,
            name=self.name,
            host=host,
            port=port,
            grace=grace,
            health=health_servicer,
            metrics=endpoint,
            tracing=tracing,
        )

    async def serve(
        self,
        address: str | None = None,
        *,
        log_format: LogFormat | None = None,
        log_level: str | None = None,
        **options: Unpack[ServeOptions],
    ) -> None:
        """Starts serving and returns once stopped by SIGTERM or SIGINT.

        Settings not given here are read from the environment (``JETACTIONS_ADDRESS``,
        ``JETBRIDGE_SECRET``, ``JETACTIONS_TLS_*``, ``JETACTIONS_MAX_MESSAGE_BYTES``,
        ``JETACTIONS_GRACE``, ``JETACTIONS_LOG_FORMAT``, ``JETACTIONS_LOG_LEVEL``,
        ``JETACTIONS_METRICS_PORT``); the address defaults to 127.0.0.1:50051. Logging goes
        to stderr in ``log_format`` (text or json) unless the application configured it.

        The first signal stops gracefully (health NOT_SERVING, new calls refused, calls in
        flight get ``grace`` seconds); a second one stops at once. The other options are
        ``start``'s.

        Raises:
            SettingsError: A setting from the environment is invalid (all are listed).
            BindError: The address cannot be bound.
        """
        explicit: dict[str, Any] = {"address": address, "log_format": log_format}
        explicit |= {"log_level": log_level, **options}
        if "tls" in options:
            explicit |= dict.fromkeys(_TLS_FIELDS, "given")
        given = {field for field, value in explicit.items() if value is not None}
        settings, from_env = _settings.read(skip=given)
        _logs.configure(log_format or settings.log_format, log_level or settings.log_level)
        for field in ("bridge_secret", "max_message_bytes", "grace", "metrics_port"):
            if field in from_env:
                options.setdefault(field, getattr(settings, field))
        if from_env & set(_TLS_FIELDS):
            options["tls"] = ServerTLS(
                cert_file=settings.tls_cert_file,
                key_file=settings.tls_key_file,
                client_ca_file=settings.tls_client_ca_file,
            )
        loop = asyncio.get_running_loop()
        stops: list[asyncio.Task[None]] = []
        started: list[RunningServer] = []
        early: list[signal.Signals] = []

        def on_signal(signum: signal.Signals) -> None:
            if not started:
                early.append(signum)  # handled once the server has started
                return
            running = started[0]
            grace = running.grace if not stops else 0.0
            stops.append(loop.create_task(running._stop(grace, reason=signum.name)))

        # Handlers go in before the "serving on" line: whoever reads it may signal at once.
        handled = (signal.SIGTERM, signal.SIGINT)
        for signum in handled:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            running = await self.start(address or settings.address, **options)
            started.append(running)
            for signum in early:
                on_signal(signum)
            await running.wait()
            # wait() returns when the listener closes; let the stop tasks finish their work.
            await asyncio.gather(*stops)
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
            if started and not stops:
                # Cancelled from outside (not by a signal): don't leave the port bound.
                await asyncio.shield(started[0].stop(0))

    def run(
        self,
        address: str | None = None,
        *,
        log_format: LogFormat | None = None,
        log_level: str | None = None,
        **options: Unpack[ServeOptions],
    ) -> None:
        """Serves until SIGTERM or SIGINT, blocking; ``serve`` in a new event loop.

        Bad settings or an address that cannot be bound end the process with exit status 2
        and one line each on stderr, without a traceback.

        The loop is uvloop's when it is installed (``pip install jetactions[speed]``): it makes
        each call 15-20% cheaper. The options are ``serve``'s.
        """
        main = self.serve(address, log_format=log_format, log_level=log_level, **options)
        exit_on_setup_error(lambda: _run_loop(main))


_TLS_FIELDS = ("tls_cert_file", "tls_key_file", "tls_client_ca_file")


def exit_on_setup_error(body: Callable[[], None]) -> None:
    """Runs ``body``; settings it refuses or an address it cannot bind end the process with
    status 2 and one ``jetactions: ...`` line each on stderr (a traceback would bury them)."""
    try:
        body()
    except SettingsError as error:
        problems = error.problems
    except (BindError, MissingExtraError) as error:
        problems = [str(error)]
    else:
        return
    for problem in problems:
        print(f"jetactions: {problem}", file=sys.stderr)
    raise SystemExit(2)


def _secret_from_env(environ: Mapping[str, str]) -> str:
    settings, _ = _settings.read(environ, only={"bridge_secret"})
    return settings.bridge_secret


def _bare_host(host: str) -> str:
    return host.removeprefix("[").removesuffix("]")


def _check_free(host: str, address: str) -> None:
    """Binds the address once the way gRPC will, to report a busy port in one line (gRPC
    would log its own error and say only that it failed)."""
    port = address.rpartition(":")[2]
    if not port.isdigit() or int(port) == 0:
        return
    try:
        found = socket.getaddrinfo(
            _bare_host(host) or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError:
        return  # gRPC reports names it cannot resolve
    family, kind, proto, _, sockaddr = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as error:
            reason = error.strerror or str(error)
            raise BindError(f"cannot listen on {address}: {reason}") from None


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
