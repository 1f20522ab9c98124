"""Observing requests: the request id, the access log line, metrics and the server span (one
middleware), and the same for each gRPC call the bridge makes (`call`).

Everything is decided once per app: with the access log off, metrics off and tracing not
configured a request costs a request id and a context variable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from jetbridge import access_log, metrics, request_id, tracing
from jetbridge.config import Observability
from jetbridge.credentials import parse_authorization
from jetbridge.exchange import CURRENT, Exchange

Response = TypeVar("Response")

MESSAGE_PATHS = frozenset({"/api/messages/", "/api/messages"})
# Statuses the bridge answers by itself, before any call, and how they are counted.
_REJECTED = {
    408: "body_timeout",
    413: "body_too_large",
    429: "too_many_requests",
    503: "unavailable",
}
_AUTH_RESULTS = {401: "unauthenticated", 403: "denied", 503: "unavailable"}


class Observer:
    """What an app records about its requests; one per app."""

    def __init__(self, settings: Observability, *, auth_disabled: bool) -> None:
        self.metrics = metrics.for_settings(settings)
        self.tracing = tracing.from_environment()
        self.access_log = access_log.AccessLog(settings.log_format) if settings.access_log else None
        # Without authentication there are no outcomes to count.
        self._count_auth = not auth_disabled

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`: flush buffered lines and spans when the app stops."""
        yield
        if self.access_log is not None:
            self.access_log.flush()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.flush)

    def middleware(self) -> Middleware:
        """The outermost middleware: it sees every answer, errors and CORS included."""

        @web.middleware
        async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
            exchange = Exchange(
                request_id.request_id(request.headers.get(request_id.HEADER)),
                time.perf_counter(),
                observer=self,
            )
            token = CURRENT.set(exchange)
            if self.tracing is not None:
                exchange.span = self.tracing.server_span(request)
            if self.metrics is not None:
                self.metrics.active.inc()
            status, bytes_out = 500, 0
            try:
                response = await handler(request)
                status = response.status
                bytes_out = response.content_length or 0
                if not response.prepared:
                    response.headers[request_id.HEADER] = exchange.request_id
                return response
            except web.HTTPException as error:  # only redirects and the like get here
                status = error.status
                error.headers[request_id.HEADER] = exchange.request_id
                raise
            except asyncio.CancelledError:
                status = 499  # the client went away
                raise
            finally:
                CURRENT.reset(token)
                self._finish(request, exchange, status, bytes_out)

        return observe

    def _finish(self, request: web.Request, exchange: Exchange, status: int, size: int) -> None:
        duration = time.perf_counter() - exchange.started
        if self.metrics is not None:
            self.metrics.active.dec()
            if request.path in MESSAGE_PATHS and request.method == hdrs.METH_POST:
                self._count(request, exchange, status, duration)
        if exchange.span is not None and self.tracing is not None:
            self.tracing.end_server_span(
                exchange.span,
                status,
                {
                    "jetbridge.request_id": exchange.request_id,
                    "jetbridge.message": metrics.message_label(exchange.message),
                    "jetbridge.action": _action_label(exchange),
                    "jetbridge.service": exchange.service,
                },
            )
        if self.access_log is not None:
            self.access_log.write(exchange, request.method, request.path, status, duration, size)

    def _count(self, request: web.Request, exchange: Exchange, status: int, seconds: float) -> None:
        assert self.metrics is not None
        message = metrics.message_label(exchange.message)
        self.metrics.request(message, _action_label(exchange), status, seconds)
        if exchange.rejected or (not exchange.grpc_code and status in _REJECTED):
            self.metrics.refused(exchange.rejected or _REJECTED[status])
        if not self._count_auth:
            return
        if exchange.caller is not None:
            method = access_log.AUTH_METHOD_NAMES.get(exchange.caller.auth_method, "none")
            self.metrics.authenticated(method, "accepted")
        elif status in _AUTH_RESULTS and message == metrics.NONE:
            # Refused by authentication, the first thing the handler does.
            credential = parse_authorization(request.headers.get(hdrs.AUTHORIZATION, ""))
            method = credential.scheme if credential is not None else "none"
            self.metrics.authenticated(method, _AUTH_RESULTS[status])


def _action_label(exchange: Exchange) -> str:
    if exchange.message != "execute_action":
        return ""
    return exchange.action if exchange.routed else metrics.UNKNOWN


async def call(
    service: str,
    method_name: str,
    method: Callable[..., Awaitable[Response]],
    request: Any,
    deadline: float,
    metadata: tuple[tuple[str, str], ...],
) -> Response:
    """Make one gRPC call with the request's id (and trace context) in its metadata, and record
    its duration and status code."""
    exchange = CURRENT.get()
    if exchange is None:
        return await method(request, timeout=deadline, metadata=metadata)
    observer: Observer = exchange.observer
    exchange.service = service
    metadata = (*metadata, (request_id.METADATA_KEY, exchange.request_id))
    span = None
    if observer.tracing is not None and exchange.span is not None:
        span = observer.tracing.client_span(
            exchange.span, service, method_name, exchange.request_id
        )
        metadata += observer.tracing.metadata(span)
    started = time.perf_counter()
    code = grpc.StatusCode.OK
    try:
        return await method(request, timeout=deadline, metadata=metadata)
    except grpc.aio.AioRpcError as error:
        code = error.code()
        raise
    except asyncio.CancelledError:
        code = grpc.StatusCode.CANCELLED
        raise
    finally:
        name = code.name
        exchange.grpc_code = name
        if observer.metrics is not None:
            observer.metrics.call(service, method_name, name, time.perf_counter() - started)
        if span is not None and observer.tracing is not None:
            observer.tracing.end_client_span(span, code.value[0], name)
