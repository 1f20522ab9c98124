"""A test OTLP collector: the trace service of opentelemetry-proto on a loopback port.

Shared by the tests that follow spans out of real processes (tests/test_sdk_ops.py,
tests/test_traces.py): point a process's OTEL_EXPORTER_OTLP_ENDPOINT at `OtlpReceiver.endpoint`
and read what it exported from `spans`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

WAIT_S = 15
"""How long a test waits for spans: batches are exported within a few hundred ms."""


@dataclass(frozen=True)
class ReceivedSpan:
    """A span and the service.name of the process that sent it."""

    service: str
    span: trace_pb2.Span

    @property
    def attributes(self) -> dict[str, Any]:
        return span_attributes(self.span)


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span it is sent, and wakes waiters on each export."""

    def __init__(self) -> None:
        self.spans: list[trace_pb2.Span] = []
        self.resources: list[resource_pb2.Resource] = []
        self.received: list[ReceivedSpan] = []
        self.endpoint = ""
        self._changed = asyncio.Event()

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            service = resource_attribute(resource_spans.resource, "service.name")
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
                self.resources.append(resource_spans.resource)
                self.received.extend(ReceivedSpan(service, span) for span in scope_spans.spans)
        self._changed.set()
        return trace_service_pb2.ExportTraceServiceResponse()

    async def wait_until(self, done: Callable[[], bool], what: str) -> None:
        """Waits for exports until `done()` holds (it is checked after each one)."""
        try:
            async with asyncio.timeout(WAIT_S):
                while not done():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            got = [(r.service, r.span.name) for r in self.received]
            raise AssertionError(f"no {what} within {WAIT_S} s; received {got}") from None


@contextlib.asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[Receiver, int]]:
    """Serves a Receiver on 127.0.0.1; yields it and its port."""
    server = grpc.aio.server()
    receiver = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    receiver.endpoint = f"http://127.0.0.1:{port}"
    await server.start()
    try:
        yield receiver, port
    finally:
        await server.stop(0)


def span_attributes(span: trace_pb2.Span) -> dict[str, Any]:
    """A span's attributes as plain values (ints, strings, bools, floats)."""
    values: dict[str, Any] = {}
    for item in span.attributes:
        kind = item.value.WhichOneof("value")
        values[item.key] = getattr(item.value, kind) if kind else None
    return values


def resource_attribute(resource: resource_pb2.Resource, key: str) -> str:
    for item in resource.attributes:
        if item.key == key:
            return str(item.value.string_value)
    return ""
