"""Watches each ActionService call: its request id on log lines, its metrics, its span.

It wraps each method's behaviour: the handler runs inside the wrapper's await, so the request
id and the span are current for the handler too (sync handlers included: they run in a copy of
the context). ``ActionServer`` wraps the servicer's methods once (``CallObserver.servicer``),
with the bridge-secret check inside the wrapper, so that the observer also sees the calls the
check refuses. The same wrapper also works as a gRPC server interceptor (``intercept_service``,
the straightforward form, which the tests compare with): grpc.aio runs an interceptor chain on
every call, ~50 µs of CPU per call with the shop (bench/, `floors`), so the server avoids it.
"""

from __future__ import annotations

import logging
import time
import types
from collections.abc import Awaitable, Callable, Collection
from typing import Any, cast

import grpc

from jetactions import _logs, _secret
from jetactions._metrics import RpcMetrics
from jetactions._tracing import Tracing
from jetactions.contract import SERVICE_NAME
from jetactions.v1 import actions_pb2, actions_pb2_grpc

__all__ = ["REQUEST_ID_HEADER", "CallObserver", "MetadataOnce"]

REQUEST_ID_HEADER = "x-request-id"
# Longer ids are cut: they go on every log line of the call.
_MAX_REQUEST_ID = 128

Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
Allowed = Callable[[Any], bool]
"""Whether a call's metadata may reach the servicer (the bridge-secret check)."""
_METHODS = tuple(actions_pb2.DESCRIPTOR.services_by_name["ActionService"].methods_by_name)


class MetadataOnce:
    """A call's gRPC context whose ``invocation_metadata()`` asks gRPC once.

    grpc.aio builds the metadata tuple anew on each ``invocation_metadata()`` (~6 µs); the
    observer, the secret check, the tracer and the servicer (``ActionContext.metadata``) each
    read it, and most calls need none of them (no secret, no traces, a handler that reads no
    metadata). The servicer is handed this view; everything else is the context's own.
    """

    __slots__ = ("_context", "_metadata", "abort", "time_remaining")

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context = context
        self._metadata: tuple[tuple[str, str | bytes], ...] | None = None
        # The two the servicer calls on every call, bound once: no extra frame per call.
        self.abort = context.abort
        self.time_remaining = context.time_remaining

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The client's metadata, read from gRPC on the first call."""
        if self._metadata is None:
            self._metadata = tuple(self._context.invocation_metadata() or ())
        return self._metadata

    def request_id(self) -> str:
        """The call's ``x-request-id``, cut to its first 128 characters, or ""."""
        return _request_id(self.invocation_metadata())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class CallObserver(grpc.aio.ServerInterceptor):
    """Observes the ActionService calls of one server.

    Args:
        actions: The declared action names (the only values of the ``action`` label).
        field_sources: The declared field options sources as ``model.field``.
        metrics: Where to count calls, or None.
        tracing: Where to open spans, or None.
    """

    def __init__(
        self,
        *,
        actions: Collection[str],
        field_sources: Collection[str],
        metrics: RpcMetrics | None,
        tracing: Tracing | None,
    ) -> None:
        self._actions = frozenset(actions)
        self._field_sources = frozenset(field_sources)
        self._metrics = metrics
        self._tracing = tracing
        self._prefix = f"/{SERVICE_NAME}/"
        # Handlers are the same objects call after call: wrap each once per method (one
        # handler may serve several methods, as the secret check's refusal does).
        self._wrapped: dict[tuple[str, int], tuple[Any, grpc.RpcMethodHandler[Any, Any]]] = {}

    def servicer(
        self, servicer: actions_pb2_grpc.ActionServiceServicer, allowed: Allowed | None = None
    ) -> actions_pb2_grpc.ActionServiceServicer:
        """``servicer`` with every method observed, and refused unless ``allowed``.

        What ``intercept_service`` (with ``BridgeSecretInterceptor`` after it) does, without
        an interceptor; register the result with ``add_ActionServiceServicer_to_server``.
        """
        methods = {
            name: self._observe(name, cast(Behavior, getattr(servicer, name)), allowed)
            for name in _METHODS
        }
        return cast(actions_pb2_grpc.ActionServiceServicer, types.SimpleNamespace(**methods))

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Wraps ActionService's unary handlers; passes every other one through."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or not method.startswith(self._prefix):
            return handler
        known = self._wrapped.get((method, id(handler)))
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._observe(method.removeprefix(self._prefix), cast(Behavior, handler.unary_unary)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[(method, id(handler))] = (handler, wrapped)
        return wrapped

    def _observe(self, method: str, behavior: Behavior, allowed: Allowed | None = None) -> Behavior:
        metrics, tracing = self._metrics, self._tracing
        span_name = f"{SERVICE_NAME}/{method}"
        active = None if metrics is None else metrics.active.labels(method)
        # prometheus-client's labels() takes a lock and builds a key: look each series up once.
        series: dict[tuple[str, str], tuple[Any, Any]] = {}

        def record(action: str, outcome: str, elapsed: float) -> None:
            assert metrics is not None
            found = series.get((action, outcome))
            if found is None:
                found = series[(action, outcome)] = (
                    metrics.duration.labels(method, action, outcome),
                    metrics.calls.labels(method, action, outcome),
                )
            found[0].observe(elapsed)
            found[1].inc()

        async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            call = MetadataOnce(context)
            refused = allowed is not None and not allowed(call.invocation_metadata())
            # A refused call is seen as the interceptor saw it: an undecoded request.
            seen = None if refused else request
            action = self._action_label(seen)
            # Read on the call's first log line, if it logs one.
            token = _logs.bind_call(call.request_id, action)
            span = None if tracing is None else tracing.start(span_name, call.invocation_metadata())
            if active is not None:
                active.inc()
            started = time.perf_counter()
            code, outcome = grpc.StatusCode.UNKNOWN, "UNKNOWN"
            try:
                if refused:
                    await _secret.deny(request, context)
                response = await behavior(request, cast(Any, call))
                code, outcome = grpc.StatusCode.OK, _response_outcome(response)
                return response
            except BaseException:
                code = _status(context)
                outcome = code.name
                raise
            finally:
                elapsed = time.perf_counter() - started
                if active is not None:
                    active.dec()
                    record(action, outcome, elapsed)
                if tracing is not None:
                    attributes = _span_attributes(method, seen, call.request_id(), outcome)
                    tracing.end(span, attributes, code)
                # One line a call at debug level, as the Go and Node SDKs log: it carries the
                # request id (bound above), and costs one level check when debug is off.
                if _logs.logger.isEnabledFor(logging.DEBUG):
                    _logs.logger.debug("%s %s in %.1f ms", method, outcome, elapsed * 1000)
                _logs.unbind_call(token)

        return observed

    def _action_label(self, request: object) -> str:
        if isinstance(request, actions_pb2.ExecuteActionRequest):
            return request.action if request.action in self._actions else ""
        if isinstance(request, actions_pb2.GetFieldOptionsRequest):
            source = f"{request.model}.{request.field}"
            return source if source in self._field_sources else ""
        return ""


def _request_id(metadata: Collection[tuple[str, str | bytes]]) -> str:
    for key, value in metadata:
        if key == REQUEST_ID_HEADER and isinstance(value, str):
            return value[:_MAX_REQUEST_ID]
    return ""


def _status(context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    # abort() sets the code before it raises; any other exception ends the call UNKNOWN, and
    # a cancelled call (client gone, deadline passed) raises CancelledError.
    code = context.code()
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return code
    if context.cancelled():
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def _response_outcome(response: object) -> str:
    if isinstance(response, actions_pb2.ExecuteActionResponse):
        return response.WhichOneof("outcome") or "OK"
    return "OK"


def _span_attributes(method: str, request: object, request_id: str, outcome: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "rpc.system": "grpc",
        "rpc.service": SERVICE_NAME,
        "rpc.method": method,
        "jetactions.outcome": outcome,
    }
    if request_id:
        attributes["jetactions.request_id"] = request_id
    if isinstance(request, actions_pb2.ExecuteActionRequest):
        attributes["jetactions.action"] = request.action
        attributes["jetactions.model"] = request.model
        attributes["jetactions.ids"] = len(request.ids)
    elif isinstance(request, actions_pb2.GetFieldOptionsRequest):
        attributes["jetactions.model"] = request.model
        attributes["jetactions.field"] = request.field
    return attributes
