"""OpenTelemetry traces of ActionService calls (``pip install 'jetactions[otel]'``).

Off unless the standard ``OTEL_*`` variables ask for traces; when off, nothing of
OpenTelemetry is imported. When on, each call continues the caller's W3C ``traceparent`` /
``tracestate`` (the propagators of ``OTEL_PROPAGATORS``) with a server span, exported over
OTLP as ``OTEL_EXPORTER_OTLP_*`` say; a process-wide tracer provider is installed so that
handlers' own spans (``opentelemetry.trace.get_tracer``) become children of the call's span.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from jetactions._settings import MissingExtraError, SettingsError

__all__ = ["Tracing", "configured", "tracing"]

_INSTALL_HINT = "OTEL_* variables ask for traces: pip install 'jetactions[otel]'"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
# Server-side gRPC codes that are the server's fault (OpenTelemetry's RPC conventions).
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def configured(environ: Mapping[str, str]) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint or ``OTEL_TRACES_EXPORTER``
    is set, and neither ``OTEL_SDK_DISABLED=true`` nor ``OTEL_TRACES_EXPORTER=none``."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return any(environ.get(name) for name in _ENDPOINTS)


class Tracing:
    """The tracer provider and the way each call opens its span.

    Args:
        service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` (or
            ``OTEL_RESOURCE_ATTRIBUTES``) names the service.

    Raises:
        MissingExtraError: The OpenTelemetry packages are not installed.
    """

    def __init__(self, service_name: str, environ: Mapping[str, str]) -> None:
        try:
            from opentelemetry import propagate, trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            raise MissingExtraError(_INSTALL_HINT) from None
        from jetactions._version import __version__

        installed = trace.get_tracer_provider()
        if isinstance(installed, trace.ProxyTracerProvider):
            resource = Resource.create()
            if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
                resource = resource.merge(Resource.create({"service.name": service_name}))
            provider = TracerProvider(resource=resource)
            provider.add_span_processor(BatchSpanProcessor(_exporter(environ)))
            trace.set_tracer_provider(provider)
            self._provider: Any = provider
        else:
            # The application set up OpenTelemetry itself: its provider and exporters serve.
            self._provider = installed
        self._tracer = self._provider.get_tracer("jetactions", __version__)
        self._trace = trace
        self._propagate = propagate

    def start(self, name: str, metadata: Iterable[tuple[str, str | bytes]]) -> Any:
        """Opens the server span of a call, a child of the caller's context."""
        carrier = {key: value for key, value in metadata if isinstance(value, str)}
        parent = self._propagate.extract(carrier)
        span = self._tracer.start_span(name, context=parent, kind=self._trace.SpanKind.SERVER)
        # Current while the handler runs, so its own spans are children of this one.
        token = self._attach(span)
        return span, token

    def _attach(self, span: Any) -> Any:
        from opentelemetry import context

        return context.attach(self._trace.set_span_in_context(span))

    def end(self, started: Any, attributes: Mapping[str, Any], code: grpc.StatusCode) -> None:
        """Closes the span that ``start`` opened, with the call's attributes and status."""
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        span, token = started
        context.detach(token)
        span.set_attributes(dict(attributes))
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in _SERVER_ERRORS:
            span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()

    def flush(self, timeout_s: float) -> None:
        """Exports the spans still buffered (on stop; the provider also flushes at exit)."""
        flush = getattr(self._provider, "force_flush", None)
        if flush is not None:
            flush(int(timeout_s * 1000))


def _exporter(environ: Mapping[str, str]) -> Any:
    exporter = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter != "otlp":
        raise SettingsError([f"OTEL_TRACES_EXPORTER: {exporter!r} is not supported, only otlp"])
    name = next((name for name in _PROTOCOLS if name in environ), "OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = environ.get(name, "grpc").strip()
    if protocol != "grpc":
        raise SettingsError([f"{name}: {protocol!r} is not supported, only grpc"])
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise MissingExtraError(_INSTALL_HINT) from None
    return OTLPSpanExporter()


_lock = threading.Lock()
_tracing: Tracing | None = None


def tracing(service_name: str, environ: Mapping[str, str]) -> Tracing | None:
    """The process's tracing when the environment configures it, else None (and nothing of
    OpenTelemetry imported). The first server to start names the service."""
    global _tracing
    if not configured(environ):
        return None
    with _lock:
        if _tracing is None:
            _tracing = Tracing(service_name, environ)
        return _tracing
