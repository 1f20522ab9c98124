"""OpenTelemetry traces (the optional extra `jetbridge[otel]`), off unless configured.

Configured means OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
OTEL_TRACES_EXPORTER=otlp is set (and OTEL_SDK_DISABLED is not true); everything else (service
name, sampler, batching, headers) comes from the standard OTEL_* variables read by the SDK and
its OTLP/gRPC exporter. When off, no opentelemetry module is imported and a request pays one
`is None` check.

Per HTTP request a server span continues the caller's W3C `traceparent`/`tracestate` (or starts
a trace); per gRPC call a client span, child of it, whose context goes to the action server in
the call's `traceparent`/`tracestate` metadata.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from jetactions.contract import SERVICE_NAME

log = logging.getLogger(__name__)

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces.

    OTEL_TRACES_SAMPLER=always_off counts as no: it would record nothing, yet making the
    non-recording spans and propagating their context costs ~30 µs a request."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() == "always_off":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return exporter == "otlp" or any(environ.get(name) for name in _ENDPOINT_VARS)


_tracing: Tracing | None = None


def from_environment() -> Tracing | None:
    """The process's tracing when configured (set up once), else None."""
    global _tracing
    if _tracing is None and configured():
        try:
            _tracing = Tracing()
        except ImportError as error:
            log.error(
                "OTEL_* asks for traces but OpenTelemetry is not installed "
                "(pip install 'jetbridge[otel]'): %s",
                error,
            )
            return None
    return _tracing


class Tracing:
    """A tracer provider exporting over OTLP/gRPC, and the bridge's two kinds of span."""

    def __init__(self) -> None:
        from opentelemetry import propagate, trace
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from jetbridge import __version__

        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override this default name.
        resource = Resource.create({SERVICE_NAME: "jetbridge"}).merge(
            Resource.create({"service.version": __version__})
        )
        self.provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("jetbridge", __version__)
        self._trace = trace
        self._propagate = propagate
        self._server = trace.SpanKind.SERVER
        self._client = trace.SpanKind.CLIENT
        self._error = trace.StatusCode.ERROR
        sampler = os.environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
        self.only_continued = sampler == "parentbased_always_off"
        """Only requests that bring a `traceparent` can be sampled: the others need no span."""

    def server_span(self, request: web.Request) -> Any:
        """A started span for an incoming request, continuing the trace of its headers; None
        when it could not be sampled (so its gRPC calls get no span either)."""
        headers = request.headers
        if self.only_continued and "traceparent" not in headers:
            return None  # the usual request with sampling off: nothing looked up, nothing made
        method = request.method
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else ""
        parent = self._propagate.extract(headers)
        return self.tracer.start_span(
            f"{method} {route}" if route else method,
            context=parent,
            kind=self._server,
            attributes={"http.request.method": method, "http.route": route},
        )

    def end_server_span(self, span: Any, status: int, attributes: Mapping[str, Any]) -> None:
        """End a server span with the answer's status and what the request turned out to be."""
        span.set_attribute("http.response.status_code", status)
        span.set_attributes({key: value for key, value in attributes.items() if value})
        if status >= 500:
            span.set_status(self._error)
        span.end()

    def client_span(self, parent: Any, service: str, method: str, request_id: str) -> Any:
        """A started span for a gRPC call made while handling the request of `parent`."""
        context = self._trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(
            f"jetactions.v1.ActionService/{method}",
            context=context,
            kind=self._client,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": SERVICE_NAME,
                "rpc.method": method,
                "jetbridge.service": service,
                "jetbridge.request_id": request_id,
            },
        )

    def metadata(self, span: Any) -> tuple[tuple[str, str], ...]:
        """`traceparent` (and `tracestate`) metadata carrying `span`'s context."""
        carrier: dict[str, str] = {}
        self._propagate.inject(carrier, context=self._trace.set_span_in_context(span))
        return tuple(carrier.items())

    def end_client_span(self, span: Any, code: int, name: str) -> None:
        """End a client span with the call's gRPC status code (number and name)."""
        span.set_attribute("rpc.grpc.status_code", code)
        if code != 0:
            span.set_status(self._error, name)
        span.end()

    def flush(self) -> None:
        """Export what is buffered (at shutdown)."""
        self.provider.force_flush()
