"""Jet Admin's calls from a real browser: headless Chromium, another origin, real CORS.

A page served from http://localhost:<port> (tests/browser/page.html) calls bridges at
http://127.0.0.1:<port> with fetch exactly as Jet Admin's front end does; Debian's Chromium runs
it, driven by playwright-core (tests/browser/drive.mjs). Any step that CORS blocks shows up as a
rejected fetch and fails the test. Without Chromium, node or playwright-core the test is skipped,
except under CI (CI=true), where it fails: scripts/bootstrap installs all three.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import (
    CHROMIUM,
    ROOT,
    ActionServerProcess,
    BridgeFactory,
    jet_claims,
    missing_browser_tools,
    public_pem,
    service,
    sign_jwt,
)

PAGE_HTML = (ROOT / "tests" / "browser" / "page.html").read_text()
DRIVER = ROOT / "tests" / "browser" / "drive.mjs"
STEPS = ("action_list", "execute", "field_options", "download", "bad_token")


@pytest.fixture
def browser_tools() -> None:
    """Skip when the browser tools are missing, unless CI says they must be there."""
    missing = missing_browser_tools()
    if not missing:
        return
    reason = "browser test needs " + ", ".join(missing) + "; scripts/bootstrap installs them"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
async def page_origin() -> AsyncIterator[str]:
    """The stand-in Jet Admin page, on another origin than any bridge."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE_HTML, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    # localhost vs 127.0.0.1, and another port: cross-origin twice over.
    yield f"http://localhost:{server.port}"
    await server.close()


def _token(key: rsa.RSAPrivateKey) -> str:
    return sign_jwt(jet_claims(exp=int(time.time()) + 600), key)


async def _drive(*urls: str) -> list[dict[str, Any]]:
    """Run the node driver without blocking the loop that serves the bridges."""
    process = await asyncio.create_subprocess_exec(
        "node",
        str(DRIVER),
        *urls,
        cwd=ROOT,
        env={**os.environ, "CHROMIUM": CHROMIUM},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode()
    visits: list[dict[str, Any]] = json.loads(stdout)
    return visits


def _assert_jet_flow_works(visit: dict[str, Any]) -> None:
    results = visit["results"]
    assert "crashed" not in results, results
    blocked = [step for step in STEPS if results[step]["blocked"]]
    assert not blocked, f"blocked by CORS: {blocked}\n{results}\n{visit['console']}"
    action_list = results["action_list"]
    assert action_list["status"] == 200
    assert {"mail_users", "export_users"} <= set(action_list["names"])
    # The page can read the answer's request id (exposed), to quote it in a support request.
    assert action_list["requestId"], action_list
    assert results["execute"] == {
        "blocked": False,
        "status": 200,
        "body": {"result": True, "message": "Mailed 3 users"},
    }
    options = results["field_options"]
    assert options["status"] == 200
    assert [option["value"] for option in options["body"]] == ["rome", "milan"]
    download = results["download"]
    assert download["status"] == 200
    assert download["filename"] == "users.csv"  # read from the exposed Content-Disposition
    assert download["contentType"].startswith("text/csv")
    assert download["text"].startswith("id,name,email\n1,Ada,ada@example.com\n")
    bad = results["bad_token"]
    assert bad["status"] == 403
    assert "signature" in bad["detail"]


async def test_jet_admin_calls_from_a_real_browser(
    browser_tools: None,
    page_origin: str,
    make_bridge: BridgeFactory,
    shop: ActionServerProcess,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings: dict[str, Any] = {
        "disable_auth": False,
        "project": "shop",
        "jwt_verify_key": public_pem(key),
    }
    shop_service = service("shop", shop)
    # The default (`*`), a list naming the page's origin (reflected), and a list without it.
    anyone = await make_bridge(shop_service, **settings)
    listed = await make_bridge(shop_service, allow_origin=(page_origin,), **settings)
    elsewhere = await make_bridge(
        shop_service, allow_origin=("https://elsewhere.example",), **settings
    )
    query = {"jwt": _token(key), "bad": _token(stranger)}
    urls = [
        f"{page_origin}/?{urlencode({'bridge': bridge.url, **query})}"
        for bridge in (anyone, listed, elsewhere)
    ]
    visits = await _drive(*urls)

    _assert_jet_flow_works(visits[0])
    _assert_jet_flow_works(visits[1])
    # The control: a bridge that does not allow the page's origin is blocked at every step,
    # which shows that the checks above would notice CORS failures.
    refused = visits[2]["results"]
    assert all(refused[step]["blocked"] for step in STEPS), refused
    assert any("CORS policy" in line for line in visits[2]["console"]), visits[2]["console"]
