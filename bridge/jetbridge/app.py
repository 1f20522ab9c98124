"""The aiohttp application: Jet's `POST /api/messages/` and the operator endpoints."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from aiohttp import hdrs, http_exceptions, web

from jetbridge import __version__, console, exchange, metrics, render
from jetbridge.auth import Authenticator
from jetbridge.config import Settings
from jetbridge.cors import cors_headers, cors_middleware, preflight
from jetbridge.discovery import Discovery
from jetbridge.errors import BridgeError, bounded
from jetbridge.messages import (
    EXECUTE_ACTION,
    GET_ACTION_LIST,
    GET_ELEMENT_STATUS,
    GET_FIELD_OPTIONS,
    parse_message,
)
from jetbridge.observe import Observer
from jetbridge.routing import Router
from jetbridge.server import UNSUPPORTED_ENCODING
from jetbridge.services import Service, ServiceState

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
DISCOVERY = web.AppKey("discovery", Discovery)
ROUTER = web.AppKey("router", Router)
AUTH = web.AppKey("auth", Authenticator)

MESSAGES_PATH = "/api/messages/"
JSON = "application/json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response serialised with orjson."""
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON)


def create_app(settings: Settings) -> web.Application:
    """The bridge's application; gRPC channels and discovery live as long as it runs."""
    observer = Observer(settings.observability, auth_disabled=settings.auth.disabled)
    app = web.Application(
        client_max_size=settings.limits.max_body_bytes,
        # Observing outermost (it sees every answer), then CORS, so that the JSON errors carry
        # its headers too.
        middlewares=[observer.middleware(), cors_middleware(settings.cors), _errors_as_json],
    )
    app[SETTINGS] = settings
    app[AUTH] = Authenticator(settings.auth)
    app.cleanup_ctx.append(app[AUTH].lifespan)
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(observer.lifespan)
    app.cleanup_ctx.append(metrics.listener(settings.observability, settings.http.address))
    app.router.add_post(MESSAGES_PATH, _messages, expect_handler=_expect)
    app.router.add_post(MESSAGES_PATH.rstrip("/"), _messages, expect_handler=_expect)
    app.router.add_route("OPTIONS", MESSAGES_PATH, preflight)
    app.router.add_route("OPTIONS", MESSAGES_PATH.rstrip("/"), preflight)
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    if settings.http.console:
        console.add_routes(app)
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    """Channels are created inside the running loop (grpc.aio binds them to it)."""
    settings = app[SETTINGS]
    services = [
        Service(c, settings.calls, settings.limits, i) for i, c in enumerate(settings.services)
    ]
    discovery = Discovery(settings.calls, services, metrics.for_settings(settings.observability))
    app[DISCOVERY] = discovery
    app[ROUTER] = Router(discovery, settings.calls.max_timeout)
    await discovery.start()
    try:
        yield
    finally:
        await discovery.stop()
        for service in services:
            await service.close()


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as JSON with `detail`, and as one log line; never HTML."""
    try:
        return await handler(request)
    except BridgeError as error:
        _log_error(request, error.status, error.detail)
        response = json_response(exchange.with_request_id(error.body()), error.status)
        response.headers.update(error.headers)
        if error.headers.get("Connection") == "close":
            response.force_close()
        return response
    except web.HTTPException as error:
        if error.status < 400:
            raise
        detail = _http_detail(error)
        _log_error(request, error.status, detail)
        response = json_response(exchange.with_request_id({"detail": detail}), error.status)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_response(
            exchange.with_request_id({"detail": "Internal error in the bridge"}), 500
        )


def _http_detail(error: web.HTTPException) -> str:
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return "The request body is too large"
    if isinstance(error, web.HTTPMethodNotAllowed):
        return f"Method {error.method} is not allowed here; use POST {MESSAGES_PATH}"
    if isinstance(error, web.HTTPNotFound):
        return f"Not found; Jet Admin's messages endpoint is POST {MESSAGES_PATH}"
    return error.reason


def _log_error(request: web.Request, status: int, detail: str) -> None:
    if exchange.note_failure(detail) and status < 500:
        return  # a client's mistake: the access line carries the detail, one line in all
    level = logging.ERROR if status >= 500 else logging.WARNING
    path = bounded(request.path, 100)
    log.log(level, "%s %s -> %d: %s", request.method, path, status, bounded(detail))


async def _messages(request: web.Request) -> web.StreamResponse:
    # Credentials first: nobody learns anything about the bridge without them.
    caller = await request.app[AUTH].authenticate(request)
    exchange.note_caller(caller)
    content_type = request.content_type
    if content_type != JSON and not content_type.endswith("+json"):
        raise BridgeError(415, f"Content-Type must be {JSON}, not {bounded(content_type, 100)!r}")
    if request.headers.get(hdrs.CONTENT_ENCODING, "identity").lower() not in _ENCODINGS:
        raise BridgeError(415, UNSUPPORTED_ENCODING)
    message = parse_message(await _read_body(request))
    exchange.note_message(message.name, message.params)
    router = request.app[ROUTER]
    if message.name == GET_ACTION_LIST:
        return web.Response(body=router.action_list_body(), content_type=JSON)
    if message.name == EXECUTE_ACTION:
        result = await router.execute(message.params, caller)
        if isinstance(result, render.Download):
            return _download(result)
        status, data = result
        if status != 200:
            _log_error(request, status, str(data.get("detail", "")))
            data = exchange.with_request_id(data)
        return json_response(data, status)
    if message.name == GET_FIELD_OPTIONS:
        return json_response(await router.field_options(message.params, caller))
    if message.name == GET_ELEMENT_STATUS:
        # Reserved by Jet with no known params; the reference answers an empty 200.
        return json_response(None)
    raise BridgeError(
        400,
        f"Unknown message name {message.name!r}",
        name=[f"unknown message name {message.name!r}"],
    )


async def _expect(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue`: refuse before inviting the body, never after. aiohttp calls this
    outside the middlewares, so the refusal carries its CORS headers itself."""
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        return _refused(request, BridgeError(417, "Only Expect: 100-continue is supported"))
    try:
        await request.app[AUTH].authenticate(request)
        if (request.content_length or 0) > request.app[SETTINGS].limits.max_body_bytes:
            raise BridgeError(413, "The request body is too large")
    except BridgeError as error:
        return _refused(request, error)
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    return None


def _refused(request: web.Request, error: BridgeError) -> web.Response:
    _log_error(request, error.status, error.detail)
    response = json_response(error.body(), error.status)
    response.headers.update(cors_headers(request.app[SETTINGS].cors, request))
    response.force_close()  # the body it would have sent must not be read as a request
    return response


# What aiohttp decodes by itself; anything else would reach the JSON parser still encoded.
_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})


async def _read_body(request: web.Request) -> bytes:
    """The body, decoded, within `body_timeout`."""
    try:
        return await _receive(request)
    except web.RequestPayloadError as error:
        if isinstance(error.__cause__, http_exceptions.ContentEncodingError):
            raise BridgeError(400, "The body is not valid data for its Content-Encoding") from None
        raise


async def _receive(request: web.Request) -> bytes:
    """A client that stalls mid-body is dropped, not waited for forever."""
    if request.content.is_eof():
        # All of it came with the headers (the usual case): nothing to wait for, and a timer
        # per request would cost ~4 µs.
        return await request.read()
    try:
        async with asyncio.timeout(request.app[SETTINGS].limits.body_timeout):
            return await request.read()
    except TimeoutError:
        error = BridgeError(408, "The request body did not arrive in time")
        error.headers["Connection"] = "close"
        raise error from None


def _download(file: render.Download) -> web.Response:
    # The type is set as a header: aiohttp's content_type= refuses parameters (`; charset=`).
    return web.Response(
        body=file.content,
        headers={
            "Content-Type": file.content_type,
            "Content-Disposition": file.disposition,
            # The browser must not guess another type (e.g. run a "text/plain" file as HTML).
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _index(request: web.Request) -> web.Response:
    """What this is and whether it works: for a person opening the bridge in a browser."""
    settings = request.app[SETTINGS]
    discovery = request.app[DISCOVERY]
    services: list[Service] = list(discovery.services)
    body: dict[str, Any] = {
        "name": "jetbridge",
        "version": __version__,
        "messages_url": MESSAGES_PATH,
        "services": [{"name": s.name, "state": s.state.value} for s in services],
        "actions": len(discovery.catalog.actions),
    }
    if settings.http.console:
        body["console_url"] = console.PATH
    warnings = []
    if settings.auth.disabled:
        warnings.append(
            "authentication is disabled: anyone who can reach this port can run actions"
        )
    if any(s.state is not ServiceState.UP for s in services):
        warnings.append("some action servers are not up")
    if warnings:
        body["warnings"] = warnings
    return json_response(body)


async def _healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers HTTP. Unauthenticated, for orchestrators."""
    return json_response({"status": "ok", "pid": os.getpid()})


async def _readyz(request: web.Request) -> web.Response:
    """Readiness: 200 once the first discovery is done, with every service's state.

    A bridge whose action servers are all down is still ready: it answers Jet with clear JSON
    errors, which beats the load balancer refusing the connection. Probes see names, states and
    counts; addresses and gRPC errors only go to a caller with valid credentials.
    """
    discovery = request.app[DISCOVERY]
    detailed = await _authenticated(request)
    body = {
        "ready": discovery.ready,
        "services": [_public(s.status(), detailed) for s in discovery.services],
        "conflicts": [str(conflict) for conflict in discovery.catalog.conflicts],
    }
    return json_response(body, 200 if discovery.ready else 503)


_INTERNAL = ("target", "error")


def _public(status: dict[str, object], detailed: bool) -> dict[str, object]:
    return status if detailed else {k: v for k, v in status.items() if k not in _INTERNAL}


async def _authenticated(request: web.Request) -> bool:
    if hdrs.AUTHORIZATION not in request.headers and not request.app[SETTINGS].auth.disabled:
        return False
    try:
        await request.app[AUTH].authenticate(request)
    except BridgeError:
        return False
    return True
