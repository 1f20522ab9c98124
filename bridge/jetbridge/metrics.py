"""Prometheus metrics of the bridge, served on their own port (`metrics_port`).

Off unless `metrics_port` is set: then nothing is recorded at all. On a separate listener so
that `/metrics` needs no authentication and is never exposed where Jet Admin's endpoint is
(docs/observability.md). Labels stay bounded: message names outside Jet's four, and action names
missing from the catalog, are labelled `_unknown`.

With `--workers N` each worker writes its numbers to files in PROMETHEUS_MULTIPROC_DIR
(prometheus-client's multiprocess mode, chosen when the worker starts) and the supervisor, which
owns the directory, serves `/metrics` with their sum (workers.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from jetbridge._plain_metrics import PlainCounter, PlainGauge, PlainHistogram
from jetbridge.config import Observability

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNKNOWN = "_unknown"
NONE = "_none"
"""Message label of a request refused before its body was read (credentials, content type)."""
MESSAGES = frozenset(
    {"get_action_list", "execute_action", "get_field_options", "get_element_status"}
)
# From half a millisecond (a cached get_action_list) to a minute (max_call_timeout).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """Every metric of the bridge, in one registry; label children are cached (a lookup with
    a lock costs more than the increment).

    The ones every request touches are plain numbers (`_plain_metrics`) unless `multiprocess`
    (workers sum their files); the others are always prometheus-client's.
    """

    def __init__(self, registry: CollectorRegistry, multiprocess: bool = False) -> None:
        self.registry = registry
        http = ["message", "action", "status"]
        counter: Any = Counter if multiprocess else PlainCounter
        histogram: Any = Histogram if multiprocess else PlainHistogram
        self.requests = counter(
            "http_server_requests", "Messages answered.", http, registry=registry
        )
        self.duration = histogram(
            "http_server_request_duration_seconds",
            "Time to answer a message, from the request's arrival to its answer being ready.",
            http,
            buckets=BUCKETS,
            registry=registry,
        )
        gauge: Any = Gauge if multiprocess else PlainGauge
        self.active = gauge(
            "http_server_active_requests",
            "HTTP requests being handled.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.rpc = histogram(
            "rpc_client_duration_seconds",
            "gRPC calls to action servers, by configured service, method and status code.",
            ["service", "method", "code"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.service_up = Gauge(
            "jetbridge_service_up",
            "1 when the service's last discovery succeeded (every worker sees it up), else 0.",
            ["service"],
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.service_actions = Gauge(
            "jetbridge_service_actions",
            "Actions the service declared in its last listing.",
            ["service"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.catalog_actions = Gauge(
            "jetbridge_catalog_actions",
            "Actions in the merged catalog the bridge serves.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.discovery_runs = Counter(
            "jetbridge_discovery_runs",
            "ListActions calls made by discovery.",
            ["service"],
            registry=registry,
        )
        self.discovery_failures = Counter(
            "jetbridge_discovery_failures",
            "Discovery calls that failed.",
            ["service"],
            registry=registry,
        )
        self.auth = counter(
            "jetbridge_auth_attempts",
            "Authentication outcomes by credential scheme and result.",
            ["method", "result"],
            registry=registry,
        )
        self.rejected = counter(
            "jetbridge_rejected_requests",
            "Requests the bridge refused itself, by reason.",
            ["reason"],
            registry=registry,
        )
        self._http: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._rpc: dict[tuple[str, str, str], Any] = {}
        self._auth: dict[tuple[str, str], Any] = {}
        self._rejected: dict[str, Any] = {}

    def request(self, message: str, action: str, status: int, seconds: float) -> None:
        """One message answered; `message` and `action` must already be bounded labels."""
        key = (message, action, status)
        children = self._http.get(key)
        if children is None:
            labels = (message, action, str(status))
            children = (self.requests.labels(*labels), self.duration.labels(*labels))
            self._http[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def call(self, service: str, method: str, code: str, seconds: float) -> None:
        """One gRPC call ended with `code`."""
        key = (service, method, code)
        child = self._rpc.get(key)
        if child is None:
            child = self._rpc[key] = self.rpc.labels(*key)
        child.observe(seconds)

    def authenticated(self, method: str, result: str) -> None:
        """One authentication outcome (every accepted request counts one)."""
        key = (method, result)
        child = self._auth.get(key)
        if child is None:
            child = self._auth[key] = self.auth.labels(method, result)
        child.inc()

    def refused(self, reason: str) -> None:
        """The bridge refused a request itself, for `reason` (a fixed word)."""
        child = self._rejected.get(reason)
        if child is None:
            child = self._rejected[reason] = self.rejected.labels(reason)
        child.inc()

    def discovered(self, service: str, ok: bool, actions: int, catalog: int) -> None:
        """One discovery call of `service` ended."""
        self.discovery_runs.labels(service).inc()
        if not ok:
            self.discovery_failures.labels(service).inc()
        self.service_up.labels(service).set(1 if ok else 0)
        self.service_actions.labels(service).set(actions)
        self.catalog_actions.set(catalog)


def message_label(name: str) -> str:
    """A bounded label for a message name as sent."""
    if not name:
        return NONE
    return name if name in MESSAGES else UNKNOWN


_metrics: Metrics | None = None


def for_settings(settings: Observability) -> Metrics | None:
    """The process's metrics when `settings` enable them, else None (record nothing)."""
    global _metrics
    if not settings.metrics_port:
        return None
    if _metrics is None:
        registry = CollectorRegistry()
        multiprocess = MULTIPROC_ENV in os.environ
        if not multiprocess:
            ProcessCollector(registry=registry)  # CPU, memory, fds; one process only
        _metrics = Metrics(registry, multiprocess)
    return _metrics


def listener(
    settings: Observability, address: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    """For `app.cleanup_ctx`: serve `/metrics` on `address`, `metrics_port` while the app runs.

    A worker does not listen: its supervisor serves the sum of all workers."""

    async def serve(app: web.Application) -> AsyncIterator[None]:
        metrics = for_settings(settings)
        if metrics is None or MULTIPROC_ENV in os.environ:
            yield
            return
        runner = web.AppRunner(endpoint_app(metrics.registry), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, address, settings.metrics_port)
        await site.start()
        try:
            yield
        finally:
            await runner.cleanup()

    return serve


def endpoint_app(registry: CollectorRegistry) -> web.Application:
    """An app answering `GET /metrics` in Prometheus' text format."""

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app
