"""The local console: a page at /console/ that lists, fills and runs actions as Jet Admin does.

Static files shipped in this package (plain ES modules, no build, nothing fetched from elsewhere).
The page talks to the bridge only through `POST /api/messages/`, with the Authorization header
the user pastes; the routes here serve files and nothing else, without authentication, because
the files hold no data. `jetbridge serve --console` turns them on (off by default).
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

PATH = "/console/"
STATIC = Path(__file__).parent / "static"
FILES = {
    "index.html": "text/html",
    "console.js": "text/javascript",
    "console.css": "text/css",
    "api.js": "text/javascript",
    "fields.js": "text/javascript",
}
# Only this origin; no inline script or style; results' html goes to a sandboxed srcdoc frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def add_routes(app: web.Application) -> None:
    """Serve the console's files under /console/; read once, here, so that no request reads a
    file in the event loop."""
    log.info("the console is served at %s", PATH)
    bodies = {name: (STATIC / name).read_bytes() for name in FILES}

    async def file(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.Response(
            body=bodies[name], content_type=FILES[name], charset="utf-8", headers=HEADERS
        )

    app.router.add_get(PATH.rstrip("/"), _redirect)
    app.router.add_get(PATH, file)
    app.router.add_get(PATH + "{name}", file)


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(PATH)
