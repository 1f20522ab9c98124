"""CORS: Jet Admin's front end runs in the browser and calls the bridge from another origin.

The header lists are the reference server's (PROTOCOL.md section 5), sent on every response,
errors included. With ALLOW_ORIGIN `*` (the default) every origin is allowed; with a list, a
matching request Origin is reflected (with `Vary: Origin` and `Access-Control-Allow-Credentials`)
and nothing is sent for others, so the browser blocks them; `*` never comes with
`Allow-Credentials`, a combination browsers reject. `OPTIONS` preflights are answered 204
without authentication.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict

from jetbridge.config import Cors

__all__ = [
    "ALLOW_HEADERS",
    "ALLOW_METHODS",
    "EXPOSE_HEADERS",
    "cors_headers",
    "cors_middleware",
    "preflight",
]

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "Authorization,DNT,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,"
    "Content-Type,Range,X-Application-Warning,X-HTTP-Method-Override,X-Bridge-Settings,"
    "X-Stick-Session"
)
# The reference's list, and the request id: a page can quote it when an action fails.
EXPOSE_HEADERS = (
    "Content-Length,Content-Range,Content-Disposition,Content-Type,X-Application-Warning,"
    "X-Request-ID"
)
# Chromium's Private Network Access: a public page (Jet Admin) calling a bridge on a private
# address first sends a preflight asking for this; answering it keeps such setups working.
_REQUEST_PRIVATE_NETWORK = "Access-Control-Request-Private-Network"
_ALLOW_PRIVATE_NETWORK = "Access-Control-Allow-Private-Network"


def cors_headers(settings: Cors, request: web.BaseRequest) -> CIMultiDict[str]:
    """The CORS headers a response to `request` carries (empty when CORS is off or refused)."""
    headers: CIMultiDict[str] = CIMultiDict()
    if not settings.enabled:
        return headers
    if settings.allow_origin == ("*",):
        origin = "*"
    else:
        # The answer depends on the Origin header, so shared caches must key on it.
        headers[hdrs.VARY] = hdrs.ORIGIN
        origin = request.headers.get(hdrs.ORIGIN, "").rstrip("/")
        if origin not in settings.allow_origin:
            return headers
    headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOW_METHODS
    headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOW_HEADERS
    headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSE_HEADERS
    if origin != "*":
        # Browsers refuse a credentialed answer with `*`; a reflected origin may carry it.
        headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
    if request.method == hdrs.METH_OPTIONS:
        headers[hdrs.ACCESS_CONTROL_MAX_AGE] = str(settings.max_age)
        if request.headers.get(_REQUEST_PRIVATE_NETWORK, "").lower() == "true":
            headers[_ALLOW_PRIVATE_NETWORK] = "true"
    return headers


def cors_middleware(settings: Cors) -> Middleware:
    """Middleware adding the CORS headers to every response; register it outermost.

    Outside the JSON-errors middleware it also covers errors, and an HTTP exception that still
    escapes gets them before aiohttp sends it.
    """

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not settings.enabled:
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as error:
            _add(error.headers, cors_headers(settings, request))
            raise
        if not response.prepared:
            _add(response.headers, cors_headers(settings, request))
        return response

    return cors


def _add(target: CIMultiDict[str], headers: CIMultiDict[str]) -> None:
    for name, value in headers.items():
        if name == hdrs.VARY and hdrs.VARY in target:
            if hdrs.ORIGIN.lower() not in target[hdrs.VARY].lower():
                target[hdrs.VARY] = f"{target[hdrs.VARY]}, {value}"
        else:
            target[name] = value


async def preflight(request: web.Request) -> web.Response:
    """`OPTIONS`: 204, no body, no authentication; the middleware adds the CORS headers."""
    return web.Response(status=204)
