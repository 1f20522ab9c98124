"""Serving the app on a socket: what happens below the app, before a request is parsed.

aiohttp answers a request its HTTP parser refuses (a control character in a header, an
obsolete line fold, a header over the size limit, an unknown method, ...) itself, with a
text/plain 400 that quotes the offending line and an ERROR log line whose traceback holds the
raw header, credentials included. `BridgeRunner` answers those in JSON with `detail`, with the
CORS headers (so the browser shows the error rather than a CORS failure), never echoing what was
sent, and logs one line without header values. It also caps open connections, so that idle
sockets cannot use up the process's file descriptors and stop it from answering anyone.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import resource
import time
from typing import Any

import orjson
from aiohttp import hdrs, http_exceptions, web, web_protocol, web_server

from jetbridge.config import Cors, Limits, Settings
from jetbridge.cors import cors_headers
from jetbridge.request_id import HEADER as REQUEST_ID_HEADER
from jetbridge.request_id import new_request_id

log = logging.getLogger(__name__)

JSON = "application/json"

UNSUPPORTED_ENCODING = "The Content-Encoding is not supported: send the body plain or as gzip"
# What each refusal of the parser is called in the answer; never the parser's own message,
# which quotes the request.
_REFUSALS: tuple[tuple[type[Exception], int, str], ...] = (
    (http_exceptions.BadHttpMethod, 501, "The request method is not supported; use POST"),
    (http_exceptions.ContentEncodingError, 415, UNSUPPORTED_ENCODING),
    (http_exceptions.LineTooLong, 431, "A request line or header is too long"),
    (http_exceptions.InvalidHeader, 400, "A request header is malformed"),
    (http_exceptions.InvalidURLError, 400, "The request target is malformed"),
    (http_exceptions.BadStatusLine, 400, "The request line is malformed"),
    (http_exceptions.BadHttpMessage, 400, "The request is malformed"),
)
# File descriptors kept free of connections: channels, log files, the resolver, ...
_RESERVED_FDS = 64
_REFUSED_LOG_INTERVAL = 10.0


def _refusal(exc: BaseException | None) -> tuple[int, str]:
    for kind, status, detail in _REFUSALS:
        if isinstance(exc, kind):
            if kind is http_exceptions.BadHttpMessage and "too many headers" in str(exc).lower():
                return 431, "The request has too many headers"
            return status, detail
    return 400, "The request is malformed"


class _Protocol(web_protocol.RequestHandler):
    """aiohttp's request handler with JSON refusals and a connection cap.

    At the cap, a new connection takes the place of the oldest idle one (no request in
    progress: kept alive, or still sending its headers), as nginx does with keep-alive
    connections; only when every connection is busy is the new one refused. So a flood of idle
    sockets cannot lock real clients out.
    """

    cors: Cors
    max_connections = 0
    open: dict[_Protocol, None]  # insertion-ordered: the oldest first
    _refused_logged_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cls = type(self)
        if cls.max_connections and len(cls.open) >= cls.max_connections:
            idle = next((p for p in cls.open if not p._request_in_progress), None)
            cls._log_full()
            if idle is None:
                transport.close()
                self._counted = False
                return
            idle.force_close()
            cls.open.pop(idle, None)
        cls.open[self] = None
        self._counted = True
        super().connection_made(transport)

    @classmethod
    def _log_full(cls) -> None:
        now = time.monotonic()
        if now - cls._refused_logged_at > _REFUSED_LOG_INTERVAL:
            cls._refused_logged_at = now
            log.warning(
                "connection limit reached (%d open): closing idle connections for new ones; "
                "raise the file-descriptor limit (ulimit -n) or add workers",
                len(cls.open),
            )

    def connection_lost(self, exc: BaseException | None) -> None:
        if getattr(self, "_counted", False):
            type(self).open.pop(self, None)
            self._counted = False
            super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("a response was sent already")
        if status == 500:
            log.error("internal error in the bridge: %s", type(exc).__name__ if exc else "?")
            detail = "Internal error in the bridge"
        else:
            status, detail = _refusal(exc)
            # One line: the kind of refusal and the peer, never what was sent.
            log.warning("refused a malformed request from %s: %s", request.remote, detail)
        # No request was made of it, so no id came in: this answer gets one of its own.
        request_id = new_request_id()
        body = {"detail": detail, "request_id": request_id}
        response = web.Response(body=orjson.dumps(body), status=status, content_type=JSON)
        response.headers[REQUEST_ID_HEADER] = request_id
        # The parser stopped before the headers, so no Origin is known: `*` is all there is.
        for name, value in cors_headers(self.cors, request).items():
            if name != hdrs.VARY:
                response.headers[name] = value
        response.force_close()
        return response


class _Server(web_server.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        protocol: type[_Protocol] = getattr(self, "_protocol_class")  # noqa: B009
        return protocol(self, loop=self._loop, **self._kwargs)


class BridgeRunner(web.AppRunner):
    """An AppRunner whose connections refuse malformed requests in JSON and are capped."""

    def __init__(self, app: web.Application, settings: Settings, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        # One class per runner: the connection count and settings are the runner's own.
        self._protocol_class: type[_Protocol] = type(
            "BridgeProtocol",
            (_Protocol,),
            {
                "cors": settings.cors,
                "max_connections": max_connections(settings.limits),
                "open": {},
            },
        )

    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        server.__class__ = _Server
        server._protocol_class = self._protocol_class  # type: ignore[attr-defined]
        return server

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return len(self._protocol_class.open)


YOUNG_GC_THRESHOLD = 20_000
"""Net new container objects before a young collection (CPython's default is 700)."""


def tune_gc() -> None:
    """Once serving: keep the garbage collector off the request path.

    Each request in flight holds a few dozen objects (aiohttp's, grpc.aio's, protobuf's), so at
    concurrency 32 the default threshold of 700 starts a young collection every few requests,
    which promotes in-flight objects that die soon after and so also triggers full collections
    of the whole start-up heap (~60,000 objects, ~20 ms each). Measured in front of the Go shop
    (bench.ab): 4-10 % of the bridge's CPU per request. What start-up made (modules, settings,
    channels, the catalog) is frozen out of the collector's view; cycles made later (an
    exception's traceback, ...) are still collected, after 20,000 net new objects.
    """
    gc.collect()
    gc.freeze()
    _young, *older = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *older)


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one (each connection takes one); the
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def max_connections(settings: Limits) -> int:
    """The connection cap: the setting, bounded by the file descriptors this process has."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    available = max(16, soft - _RESERVED_FDS)
    return min(settings.max_connections, available)


def address_in_use(error: OSError) -> bool:
    """Whether binding failed because something listens on the address already."""
    return error.errno in {errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL}
