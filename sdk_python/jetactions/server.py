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
import logging
import os
import re
import signal
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypedDict, Unpack

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection as grpc_reflection

from jetactions import _secret
from jetactions._servicer import SERVICE_NAME, ActionServicer
from jetactions.action import ActionRegistry
from jetactions.sync_pool import DEFAULT_SYNC_WORKERS, SyncPool
from jetactions.tls import ServerTLS
from jetactions.v1 import actions_pb2_grpc

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "ActionServer", "RunningServer", "ServeOptions"]

logger = logging.getLogger("jetactions")

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The default limit on one message, sent or received (a File is one message)."""

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


class RunningServer:
    """A started server: its bound port, and the means to stop it.

    Usable as an async context manager that stops the server on exit.
    """

    def __init__(
        self,
        server: grpc.aio.Server,
        *,
        host: str,
        port: int,
        grace: float,
        health: Any,
    ) -> None:
        self._server = server
        self._host = host
        self._port = port
        self._grace = grace
        self._health = health

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

    async def stop(self, grace: float | None = None) -> None:
        """Stops serving: health turns NOT_SERVING, then (after ``DRAIN_DELAY``, so that
        health-watching clients stop sending) new calls are refused, and calls in flight get
        ``grace`` seconds (the start's grace by default) before they are cancelled.

        Calling it again while a stop is in progress, with a shorter grace, stops sooner.
        """
        grace = self._grace if grace is None else grace
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
    ) -> RunningServer:
        """Starts serving on ``address`` and returns at once.

        Args:
            address: ``host:port`` to listen on; port 0 picks a free port.
            max_message_bytes: The limit on one message, sent and received.
            reuse_port: Let other processes bind the same port (several workers on
                purpose); off by default, so a second server on a busy port fails loudly.
            grace: Seconds calls in flight get when the server stops.
            health: Serve grpc.health.v1 ("" and jetactions.v1.ActionService SERVING).
            reflection: Serve gRPC server reflection.
            bridge_secret: Require this shared secret in the ``x-jetbridge-secret`` metadata
                of ActionService calls. None reads ``JETACTIONS_BRIDGE_SECRET``; empty means
                no secret.
            tls: Serve over TLS (mutual TLS when it names a client CA); None serves
                plaintext, for loopback and service meshes that add TLS themselves.

        Returns:
            The running server.

        Raises:
            RuntimeError: The address cannot be bound.
        """
        secret = os.environ.get(_secret.ENV_VAR, "") if bridge_secret is None else bridge_secret
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
        interceptors = [_secret.BridgeSecretInterceptor(secret)] if secret else []
        server = grpc.aio.server(interceptors=interceptors, options=options)
        # Registrations after this point would not be served: make them fail loudly.
        self.freeze(f"server {self.name!r} has started")
        servicer = ActionServicer(
            self,
            server_name=self.name,
            sync_pool=self.sync_pool,
            max_message_bytes=max_message_bytes,
        )
        actions_pb2_grpc.add_ActionServiceServicer_to_server(servicer, server)
        services = [SERVICE_NAME]
        health_servicer = None
        if health:
            health_servicer = health_aio.HealthServicer()
            for service in ("", SERVICE_NAME):
                await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
            health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
            services.append(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
        if reflection:
            services.append(grpc_reflection.SERVICE_NAME)
            grpc_reflection.enable_server_reflection(services, server)
        if tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, tls.credentials())
        await server.start()
        host = address.rpartition(":")[0]
        logger.info("serving %d actions on %s:%d", len(self.actions), host, port)
        return RunningServer(server, host=host, port=port, grace=grace, health=health_servicer)

    async def serve(self, address: str, **options: Unpack[ServeOptions]) -> None:
        """Starts serving and returns once stopped by SIGTERM or SIGINT.

        The first signal stops gracefully (health NOT_SERVING, new calls refused, calls in
        flight get ``grace`` seconds); a second one stops at once. The options are
        ``start``'s.
        """
        running = await self.start(address, **options)
        loop = asyncio.get_running_loop()
        stops: list[asyncio.Task[None]] = []

        def on_signal(signum: signal.Signals) -> None:
            if not stops:
                logger.info("%s: stopping, calls in flight get %.1f s", signum.name, running.grace)
                stops.append(loop.create_task(running.stop()))
            else:
                logger.info("%s again: stopping now", signum.name)
                stops.append(loop.create_task(running.stop(0)))

        handled = (signal.SIGTERM, signal.SIGINT)
        for signum in handled:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            await running.wait()
            # wait() returns when the listener closes; let the stop tasks finish their work.
            await asyncio.gather(*stops)
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
            if not stops:
                # Cancelled from outside (not by a signal): don't leave the port bound.
                await asyncio.shield(running.stop(0))

    def run(self, address: str, **options: Unpack[ServeOptions]) -> None:
        """Serves until SIGTERM or SIGINT, blocking; ``serve`` in a new event loop.

        The loop is uvloop's when it is installed (``pip install jetactions[speed]``): it makes
        each call 15-20% cheaper. The options are ``start``'s.
        """
        _run_loop(self.serve(address, **options))


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
