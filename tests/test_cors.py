"""CORS headers on every response, preflights, and the origin list, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from jetactions.v1 import actions_pb2
from jetbridge.config import ConfigError, ServiceConfig, load_settings
from jetbridge.cors import ALLOW_HEADERS, ALLOW_METHODS, EXPOSE_HEADERS
from tests.support import Bridge, BridgeFactory, ExecuteContext, HandWritten, Reply, action_service

JET = "https://app.jetadmin.io"
JSON = "application/json"
# PROTOCOL.md section 5, verbatim: what the reference server sends and Jet Admin relies on.
# The reference server's lists, which Jet Admin relies on.
REFERENCE_EXPOSED = (
    "Content-Length,Content-Range,Content-Disposition,Content-Type,X-Application-Warning"
)
# What the bridge sends: the same, with the request id exposed too.
REFERENCE = {
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Authorization,DNT,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,"
        "Content-Type,Range,X-Application-Warning,X-HTTP-Method-Override,X-Bridge-Settings,"
        "X-Stick-Session"
    ),
    "Access-Control-Expose-Headers": REFERENCE_EXPOSED + ",X-Request-ID",
}
CREDENTIALS = "Access-Control-Allow-Credentials"
CORS_NAMES = {*REFERENCE, CREDENTIALS, "Access-Control-Allow-Origin", "Access-Control-Max-Age"}


class Exporter(HandWritten):
    """One action that answers with a file, so a download's headers can be checked."""

    listing = actions_pb2.ListActionsResponse(
        actions=[
            actions_pb2.Action(
                name="export", model_action=actions_pb2.ModelAction(models=["users"])
            )
        ]
    )

    async def ExecuteAction(
        self, request: actions_pb2.ExecuteActionRequest, context: ExecuteContext
    ) -> actions_pb2.ExecuteActionResponse:
        file = actions_pb2.File(filename="users.csv", content_type="text/csv", content=b"id\n1\n")
        return actions_pb2.ExecuteActionResponse(file=file)


@pytest.fixture
async def exporter() -> AsyncIterator[ServiceConfig]:
    async with action_service(Exporter()) as address:
        yield ServiceConfig(name="exporter", target=address, timeout=5)


@pytest.fixture
async def bridge(make_bridge: BridgeFactory, exporter: ServiceConfig) -> Bridge:
    """Authentication on (a Bearer key), default CORS settings."""
    return await make_bridge(exporter, disable_auth=False, bearer_auth_key=("k" * 32,))


AUTH = {"Authorization": "Bearer " + "k" * 32, "Origin": JET}
LIST = {"name": "get_action_list"}
EXPORT = {"name": "execute_action", "params": {"model": "users", "name": "export"}}


def assert_reference_cors(reply: Reply, origin: str = "*") -> None:
    assert reply.headers["Access-Control-Allow-Origin"] == origin
    for name, value in REFERENCE.items():
        assert reply.headers[name] == value, name
    # Browsers refuse `*` together with credentials; a reflected origin may allow them.
    assert reply.headers.get(CREDENTIALS) == (None if origin == "*" else "true")


def assert_no_cors(reply: Reply) -> None:
    assert not CORS_NAMES & set(reply.headers), reply.headers


def test_header_lists_are_the_references() -> None:
    assert REFERENCE["Access-Control-Allow-Methods"] == ALLOW_METHODS
    assert REFERENCE["Access-Control-Allow-Headers"] == ALLOW_HEADERS
    assert EXPOSE_HEADERS.startswith(REFERENCE_EXPOSED + ",")
    assert REFERENCE["Access-Control-Expose-Headers"] == EXPOSE_HEADERS


async def test_success_and_download_carry_cors(bridge: Bridge) -> None:
    listed = await bridge.post(json=LIST, headers=AUTH)
    assert listed.status == 200
    assert_reference_cors(listed)
    assert "Vary" not in listed.headers
    download = await bridge.post(json=EXPORT, headers=AUTH)
    assert download.status == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert_reference_cors(download)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/api/messages/", {"json": {"name": "get_action_list"}}, 401),
        ("POST", "/api/messages/", {"data": b"{", "headers": {"Content-Type": JSON, **AUTH}}, 400),
        (
            "POST",
            "/api/messages/",
            {"data": b"x", "headers": {"Content-Type": "text/pl", **AUTH}},
            415,
        ),
        ("GET", "/api/messages/", {}, 405),
        ("POST", "/nowhere", {"json": {}}, 404),
    ],
)
async def test_errors_carry_cors(
    bridge: Bridge, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    headers = {"Origin": JET, **kwargs.pop("headers", {})}
    reply = await bridge.request(method, path, headers=headers, **kwargs)
    assert reply.status == status
    assert "detail" in reply.json()
    assert_reference_cors(reply)


async def test_errors_after_authentication_carry_cors(bridge: Bridge) -> None:
    bad_json = await bridge.post(data=b"{", headers={**AUTH, "Content-Type": JSON})
    assert bad_json.status == 400
    assert_reference_cors(bad_json)
    unknown = await bridge.send("execute_action", {"name": "nope"})  # no credentials: 401
    assert unknown.status == 401
    assert_reference_cors(unknown)
    nope = {"name": "execute_action", "params": {"name": "nope"}}
    missing = await bridge.post(json=nope, headers=AUTH)
    assert missing.status == 404
    assert_reference_cors(missing)


@pytest.mark.parametrize("path", ["/api/messages/", "/api/messages"])
async def test_preflight_is_204_without_auth(bridge: Bridge, path: str) -> None:
    reply = await bridge.request(
        "OPTIONS",
        path,
        headers={
            "Origin": JET,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert reply.status == 204
    assert reply.body == b""
    assert_reference_cors(reply)
    assert reply.headers["Access-Control-Max-Age"] == "86400"
    assert "Access-Control-Allow-Private-Network" not in reply.headers


async def test_preflight_allows_private_network_when_asked(
    make_bridge: BridgeFactory, exporter: ServiceConfig
) -> None:
    bridge = await make_bridge(exporter, cors_max_age=600)
    reply = await bridge.request(
        "OPTIONS",
        "/api/messages/",
        headers={
            "Origin": JET,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Private-Network"] == "true"
    assert reply.headers["Access-Control-Max-Age"] == "600"


async def test_origin_list_reflects_allowed_origins_only(
    make_bridge: BridgeFactory, exporter: ServiceConfig
) -> None:
    bridge = await make_bridge(exporter, allow_origin=(JET, "http://localhost:4200"))
    for origin in (JET, "http://localhost:4200"):
        reply = await bridge.post(json=LIST, headers={"Origin": origin})
        assert_reference_cors(reply, origin)
        assert reply.headers["Vary"] == "Origin"
    for headers in ({"Origin": "https://evil.example"}, {}):
        reply = await bridge.post(json=LIST, headers=headers)
        assert reply.status == 200  # CORS is the browser's check; the body is still served
        assert_no_cors(reply)
        assert reply.headers["Vary"] == "Origin"
    refused = await bridge.request(
        "OPTIONS",
        "/api/messages/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status == 204
    assert_no_cors(refused)
    error = await bridge.request("GET", "/api/messages/", headers={"Origin": JET})
    assert error.status == 405
    assert_reference_cors(error, JET)


async def test_cors_headers_can_be_turned_off(
    make_bridge: BridgeFactory, exporter: ServiceConfig
) -> None:
    bridge = await make_bridge(exporter, cors_headers=False)
    reply = await bridge.post(json=LIST, headers={"Origin": JET})
    assert reply.status == 200
    assert_no_cors(reply)
    assert "Vary" not in reply.headers
    preflight = await bridge.request("OPTIONS", "/api/messages/", headers={"Origin": JET})
    assert preflight.status == 204
    assert_no_cors(preflight)


def test_cors_settings_from_the_environment() -> None:
    base = {"JETBRIDGE_SERVICES": "a=127.0.0.1:1"}
    defaults = load_settings(environ=base)
    assert (defaults.cors.enabled, defaults.cors.allow_origin) == (True, ("*",))
    listed = load_settings(
        environ={
            **base,
            "ALLOW_ORIGIN": "https://app.jetadmin.io/, http://localhost:4200",
            "CORS_HEADERS": "false",
            "JETBRIDGE_CORS_MAX_AGE": "60",
        }
    )
    assert listed.cors.allow_origin == (JET, "http://localhost:4200")
    assert (listed.cors.enabled, listed.cors.max_age) == (False, 60)
    assert load_settings(environ={**base, "ALLOW_ORIGIN": "http://a, *"}).cors.allow_origin == (
        "*",
    )
    for bad in ("app.jetadmin.io", "https://app.jetadmin.io/path", " , "):
        with pytest.raises(ConfigError, match="ALLOW_ORIGIN"):
            load_settings(environ={**base, "ALLOW_ORIGIN": bad})
