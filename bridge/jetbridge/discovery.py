"""Finding out what every service serves, and keeping that current.

At start every service is asked for its actions in parallel, each bounded by the discovery
timeout; a service that does not answer is logged and left to a background task. That task keeps
one service's listing fresh: it asks again every `refresh_interval`, as soon as the channel to an
up service changes state (a restart, a lost connection), and, while the service is down, with a
backoff from 0.25 s up to `retry_max_interval`. A down service's actions stay listed: calls to it
fail fast with 503 until it answers again, and the admin UI does not flicker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import grpc

from jetactions.v1 import actions_pb2
from jetbridge.catalog import Catalog
from jetbridge.config import Calls
from jetbridge.metrics import Metrics
from jetbridge.services import Service, ServiceState

log = logging.getLogger(__name__)

_FIRST_RETRY = 0.25
# An unknown action name refreshes every service at most this often, so a client sending
# made-up names cannot turn the bridge into a ListActions flood.
_MIN_ON_DEMAND_INTERVAL = 1.0


class Discovery:
    """Owns the services' listings and the catalog built from them."""

    def __init__(
        self, settings: Calls, services: Sequence[Service], metrics: Metrics | None = None
    ) -> None:
        self.settings = settings
        self.services = tuple(services)
        self.catalog = Catalog()
        self.ready = False
        self._wake = {id(service): asyncio.Event() for service in self.services}
        self._tasks: list[asyncio.Task[None]] = []
        self._on_demand: asyncio.Task[None] | None = None
        self._on_demand_at = -_MIN_ON_DEMAND_INTERVAL
        self._metrics = metrics

    async def start(self) -> None:
        """Discover every service once, in parallel, then keep them current in the background."""
        await self.refresh()
        self.ready = True
        up = sum(service.state is ServiceState.UP for service in self.services)
        log.info(
            "discovery done: %d of %d services up, %d actions",
            up,
            len(self.services),
            len(self.catalog.actions),
        )
        self._tasks = [
            asyncio.create_task(self._maintain(service), name=f"discovery:{service.name}")
            for service in self.services
        ]

    async def stop(self) -> None:
        """Stop the background tasks."""
        tasks = [*self._tasks, *([self._on_demand] if self._on_demand else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def check_soon(self, service: Service) -> None:
        """A call found the service unreachable: ask it again now rather than at the next
        refresh (it goes DOWN, and calls fail fast, only if that fails too)."""
        self._wake[id(service)].set()

    async def refresh_on_demand(self) -> None:
        """Refresh every service now (an unknown action name arrived), at most once a second.

        Concurrent callers share one refresh; each waits at most the discovery timeout.
        """
        if self._on_demand is None or self._on_demand.done():
            now = time.monotonic()
            if now - self._on_demand_at < _MIN_ON_DEMAND_INTERVAL:
                return
            self._on_demand_at = now
            self._on_demand = asyncio.create_task(self.refresh())
        await asyncio.shield(self._on_demand)

    async def refresh(self) -> None:
        """Ask every service for its actions now, in parallel, each within the timeout."""
        await asyncio.gather(*(self._discover(service) for service in self.services))

    async def _maintain(self, service: Service) -> None:
        delay = _FIRST_RETRY
        while True:
            if service.state is ServiceState.UP:
                delay = _FIRST_RETRY
                await self._wait(service, self.settings.refresh_interval)
            else:
                await self._wait(service, delay)
                delay = min(delay * 2, self.settings.retry_max_interval)
            await self._discover(service)

    async def _wait(self, service: Service, seconds: float) -> None:
        """Sleep up to `seconds`; wake early when asked to, or when the service's channel
        changes state (a lost connection, a restart, replicas turning (not) SERVING)."""
        wake = self._wake[id(service)]
        state = service.channel.get_state()
        waiters: list[asyncio.Future[object]] = [
            asyncio.ensure_future(wake.wait()),
            asyncio.ensure_future(service.channel.wait_for_state_change(state)),
        ]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            wake.clear()

    async def _discover(self, service: Service) -> None:
        started = time.perf_counter()
        code = await self._list(service)
        if self._metrics is not None:
            listing = service.listing
            self._metrics.discovered(
                service.name,
                code == "OK",
                len(listing.actions) if listing is not None else 0,
                len(self.catalog.actions),
            )
            self._metrics.call(service.name, "ListActions", code, time.perf_counter() - started)

    async def _list(self, service: Service) -> str:
        """Ask `service` for its actions; the call's status code name."""
        try:
            listing = await service.stub.ListActions(
                actions_pb2.ListActionsRequest(),
                timeout=self.settings.discovery_timeout,
                metadata=service.metadata,
            )
        except grpc.aio.AioRpcError as error:
            self._set_down(service, f"{error.code().name}: {error.details()}")
            return str(error.code().name)
        was = service.state
        service.state = ServiceState.UP
        service.last_error = ""
        if listing != service.listing:
            service.listing = listing  # first: an unnamed service is named by its listing
            self.catalog = Catalog.build(self.services)
        if was is not ServiceState.UP:
            log.info(
                "service %r (%s) is up: %d actions",
                service.name,
                service.config.target,
                len(listing.actions),
            )
        return "OK"

    def _set_down(self, service: Service, why: str) -> None:
        if service.state is not ServiceState.DOWN:
            log.warning(
                "service %r (%s) is down (%s); retrying in the background",
                service.name,
                service.config.target,
                why,
            )
        service.state = ServiceState.DOWN
        service.last_error = why
