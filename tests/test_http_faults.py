"""The fault suite, HTTP side: what clients and misbehaving action servers throw at the bridge.

Large, deep, broken and mislabelled bodies; clients that trickle bytes or hold connections
idle; a service port answered by something that is not gRPC, and an action server that
accepts connections but never answers. Each case checks the exact answer, that the bridge
keeps serving others meanwhile, and that it recovers. Raw sockets stand in for clients that no
HTTP library would imitate.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict

from jetactions import ActionContext, ActionServer
from jetactions.v1 import actions_pb2
from jetbridge.config import Limits, ServiceConfig
from tests.support import (
    ActionServerProcess,
    Bridge,
    BridgeFactory,
    ExecuteContext,
    HandWritten,
    Spawn,
    action_service,
    common_action,
    refusing_jet_api,
    service,
    until,
    without_request_id,
)

HOST = "127.0.0.1"
JSON_HEADERS = {"Content-Type": "application/json"}
MiB = 1024 * 1024
DEFAULT_MAX_BODY = Limits().max_body_bytes  # 1 MiB
TOO_LARGE = {"detail": "The request body is too large"}
REFRESH = b'{"name":"execute_action","params":{"name":"refresh_stats"}}'


@pytest.fixture
async def bridge(
    make_bridge: BridgeFactory, shop: ActionServerProcess, billing: ActionServerProcess
) -> Bridge:
    return await make_bridge(service("shop", shop), service("billing", billing))


async def assert_serving(bridge: Bridge, within: float = 2.0) -> None:
    """A normal request, through gRPC to the shop, succeeds in normal time."""
    start = time.monotonic()
    reply = await bridge.post(data=REFRESH, headers=JSON_HEADERS)
    assert (reply.status, reply.json()) == (200, {"result": True})
    assert time.monotonic() - start < within


def connections(bridge: Bridge) -> int:
    """HTTP connections the bridge holds open right now."""
    runner = bridge.server.runner
    assert runner is not None
    assert runner.server is not None
    return len(runner.server.connections)


# --- raw HTTP ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawReply:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return without_request_id(self.status, self.headers, self.body)


def raw_request(
    body: bytes,
    headers: dict[str, bytes] | None = None,
    target: bytes = b"/api/messages/",
) -> bytes:
    """An HTTP/1.1 POST as bytes, with headers no client library would send."""
    lines = [b"POST " + target + b" HTTP/1.1", b"Host: bridge", b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in (headers or {}).items()]
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def read_reply(reader: asyncio.StreamReader) -> RawReply:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    if "Content-Length" in headers:
        body = await reader.readexactly(int(headers["Content-Length"]))
    else:
        body = await reader.read()
    return RawReply(int(status_line.split()[1]), headers, body)


async def exchange(bridge: Bridge, request: bytes) -> RawReply:
    """Send raw bytes on a new connection and read one answer (within 10 s)."""
    reader, writer = await asyncio.open_connection(HOST, bridge.server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(read_reply(reader), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


# --- bodies of 1 MB and 10 MB ------------------------------------------------------------


def mail_of_size(size: int) -> bytes:
    """A valid mail_users message whose `body` input pads it to exactly `size` bytes."""
    head = (
        b'{"name":"execute_action","params":{"model":"users","name":"mail_users","id":1,'
        b'"params":{"subject":"big","body":"'
    )
    tail = b'"}}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_a_body_of_exactly_the_limit_reaches_the_action_server(bridge: Bridge) -> None:
    reply = await bridge.post(data=io.BytesIO(mail_of_size(DEFAULT_MAX_BODY)), headers=JSON_HEADERS)
    assert (reply.status, reply.json()) == (200, {"result": True, "message": "Mailed 1 users"})


async def test_one_byte_over_the_limit_is_413(bridge: Bridge) -> None:
    reply = await bridge.post(
        data=io.BytesIO(mail_of_size(DEFAULT_MAX_BODY + 1)), headers=JSON_HEADERS
    )
    assert (reply.status, reply.json()) == (413, TOO_LARGE)
    await assert_serving(bridge)


async def _ten_mib_in_chunks() -> AsyncIterator[bytes]:
    body = mail_of_size(10 * MiB)
    for start in range(0, len(body), MiB):
        yield body[start : start + MiB]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_10_mb_body_is_refused_at_once(bridge: Bridge, framing: str) -> None:
    data: Any = (
        io.BytesIO(mail_of_size(10 * MiB)) if framing == "content-length" else _ten_mib_in_chunks()
    )
    start = time.monotonic()
    reply = await bridge.post(data=data, headers=JSON_HEADERS)
    assert (reply.status, reply.json()) == (413, TOO_LARGE)
    # The bridge stops reading at the limit: no waiting for (or buffering of) the rest.
    assert time.monotonic() - start < 2.0
    await assert_serving(bridge)


async def test_a_6_mb_body_works_when_the_limit_allows_it(
    make_bridge: BridgeFactory, shop: ActionServerProcess
) -> None:
    # The inputs travel twice (as `inputs` and inside `message_params`): 6 MB makes a gRPC
    # request of about 12 MB, under the 16 MiB max_message_bytes of the action server.
    bridge = await make_bridge(
        service("shop", shop), max_body_bytes=16 * MiB, max_message_bytes=33 * MiB
    )
    reply = await bridge.post(data=io.BytesIO(mail_of_size(6 * MiB)), headers=JSON_HEADERS)
    assert (reply.status, reply.json()) == (200, {"result": True, "message": "Mailed 1 users"})
    await assert_serving(bridge)


async def test_a_request_over_the_action_servers_limit_is_a_413_naming_that_limit(
    make_bridge: BridgeFactory, shop: ActionServerProcess
) -> None:
    # 10 MB travels twice: a ~20 MB request, over the shop's 16 MiB but under the bridge's.
    bridge = await make_bridge(
        service("shop", shop), max_body_bytes=16 * MiB, max_message_bytes=33 * MiB
    )
    reply = await bridge.post(data=io.BytesIO(mail_of_size(10 * MiB)), headers=JSON_HEADERS)
    body = reply.json()
    assert reply.status == 413, body
    assert body["detail"] == "The request is larger than action server 'shop' accepts"
    await assert_serving(bridge)


# --- deeply nested JSON ------------------------------------------------------------------


def nested(depth: int, kind: str = "object") -> bytes:
    """`depth` levels of `{"a": ...}` (or `[...]`) around 1, as JSON text."""
    opening, closing = (b'{"a":', b"}") if kind == "object" else (b"[", b"]")
    return opening * depth + b"1" + closing * depth


def echo_with(value: bytes) -> bytes:
    """billing's echo action, with `value` as an input: it comes back in the answer."""
    head = b'{"name":"execute_action","params":{"model":"invoices","name":"echo","params":{"x":'
    return head + value + b"}}}"


async def test_nesting_beyond_the_parser_limit_is_400(bridge: Bridge) -> None:
    reply = await bridge.post(
        data=b'{"name":"get_action_list","x":%s}' % nested(1100, "array"), headers=JSON_HEADERS
    )
    assert reply.status == 400
    body = reply.json()
    assert set(body) == {"non_field_errors", "detail"}
    assert body["detail"].startswith("Incorrect JSON body: depth limit exceeded")
    assert body["non_field_errors"] == [body["detail"]]
    await assert_serving(bridge)


async def test_deep_nesting_in_an_ignored_key_is_harmless(bridge: Bridge) -> None:
    reply = await bridge.post(
        data=b'{"name":"get_action_list","x":%s}' % nested(1000, "array"), headers=JSON_HEADERS
    )
    assert reply.status == 200
    assert "mail_users" in {action["name"] for action in reply.json()}


@pytest.mark.parametrize("kind", ["object", "array"])
async def test_moderate_nesting_reaches_the_action_server_intact(bridge: Bridge, kind: str) -> None:
    value = nested(20, kind)
    reply = await bridge.post(data=echo_with(value), headers=JSON_HEADERS)
    assert reply.status == 200
    assert reply.json()["inputs"] == {"x": orjson.loads(value)}


@pytest.mark.parametrize("depth", [40, 600])
async def test_params_nested_too_deep_for_protobuf_are_a_400(bridge: Bridge, depth: int) -> None:
    reply = await bridge.post(data=echo_with(nested(depth)), headers=JSON_HEADERS)
    body = reply.json()
    assert reply.status == 400, body
    assert body["detail"]
    await assert_serving(bridge)


async def test_an_answer_too_deep_to_decode_is_the_services_failure(
    make_bridge: BridgeFactory,
) -> None:
    app = ActionServer(name="deep")

    @app.common_action()
    async def deep_answer(ctx: ActionContext) -> dict[str, Any]:
        return {"value": orjson.loads(nested(80))}

    server = await app.start(f"{HOST}:0")
    try:
        bridge = await make_bridge(ServiceConfig(name="deep", target=server.address, timeout=5))
        reply = await bridge.send("execute_action", {"name": "deep_answer"})
        body = reply.json()
        assert reply.status >= 500
        assert body.get("service") == "deep", body
        assert "deep" in body["detail"]
    finally:
        await server.stop(0)


async def test_an_answer_over_the_servers_own_send_limit_is_its_failure_not_a_413(
    make_bridge: BridgeFactory,
) -> None:
    app = ActionServer(name="big")

    @app.common_action()
    async def big_answer(ctx: ActionContext) -> str:
        return "x" * 200_000

    server = await app.start(f"{HOST}:0", max_message_bytes=100_000)
    try:
        bridge = await make_bridge(ServiceConfig(target=server.address, timeout=5))
        reply = await bridge.send("execute_action", {"name": "big_answer"})
        body = reply.json()
        assert reply.status == 502, body
        assert body["detail"].startswith("action server 'big' failed: action 'big_answer' returned")
        assert "send limit" in body["detail"]
    finally:
        await server.stop(0)


# --- invalid UTF-8 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        # The name's own bytes are covered by test_bridge; here the broken text is deeper.
        b'{"name":"execute_action","params":{"name":"mail_users","params":{"subject":"\xc3\x28"}}}',
        b'{"name":"get_action_list","params":{"\xff":1}}',
        b'{"name":"get_action_list","x":"\xc0\xaf"}',  # overlong encoding of "/"
        b'{"name":"get_action_list","x":"\xed\xa0\x80"}',  # a UTF-16 surrogate, UTF-8 encoded
        b'{"name":"get_action_list","x":"\\ud800"}',  # a lone surrogate, JSON-escaped
        b'{"name":"get_action_list","x":"\xf4\x90\x80\x80"}',  # above U+10FFFF
        "\ufeff".encode() + b'{"name":"get_action_list"}',  # a byte order mark
        '{"name":"get_action_list"}'.encode("utf-16-le"),
    ],
    ids=[
        "continuation",
        "key",
        "overlong",
        "surrogate",
        "escaped-surrogate",
        "too-high",
        "bom",
        "utf16",
    ],
)
async def test_invalid_utf8_anywhere_in_the_body_is_400(bridge: Bridge, body: bytes) -> None:
    reply = await bridge.post(data=body, headers={"Content-Type": "application/json;charset=utf-8"})
    assert reply.status == 400
    detail = reply.json()["detail"]
    assert detail.startswith("Incorrect JSON body: ")
    assert reply.json() == {"non_field_errors": [detail], "detail": detail}
    await assert_serving(bridge)


@pytest.mark.parametrize("scheme", [b"Bearer", b"JWT", b"Token", b"ProjectToken"])
async def test_an_authorization_header_that_is_not_utf8_is_refused(
    make_bridge: BridgeFactory, shop: ActionServerProcess, scheme: bytes
) -> None:
    jet_api = await refusing_jet_api()
    try:
        bridge = await make_bridge(
            service("shop", shop),
            disable_auth=False,
            project="proj",
            token="project-token",
            bearer_auth_key=("a-bearer-key-of-some-length",),
            api_base_url=str(jet_api.make_url("/api")),
        )
        reply = await exchange(
            bridge,
            raw_request(
                b'{"name":"get_action_list"}',
                {"Content-Type": b"application/json", "Authorization": scheme + b" \xff\xfe"},
            ),
        )
        body = reply.json()
        assert reply.status in {401, 403}, body
        assert body["code"] in {"UNAUTHENTICATED", "PERMISSION_DENIED"}
        ok = await bridge.post(
            data=REFRESH,
            headers={**JSON_HEADERS, "Authorization": "Bearer a-bearer-key-of-some-length"},
        )
        assert ok.status == 200
    finally:
        await jet_api.close()


# --- wrong content types -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "seen_as"),
    [
        (None, "application/octet-stream"),  # no header at all: HTTP's default
        (b"text/plain", "text/plain"),
        (b"text/json", "text/json"),
        (b"multipart/form-data; boundary=xyz", "multipart/form-data"),
        (b"application/xml", "application/xml"),
        (b"application/jso", "application/jso"),
        (b"", "application/octet-stream"),
        (b"\xff\xfe", "application/octet-stream"),  # not even text: unparsable
    ],
)
async def test_a_body_that_is_not_labelled_json_is_415(
    bridge: Bridge, content_type: bytes | None, seen_as: str
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = await exchange(bridge, raw_request(REFRESH, headers))
    assert (reply.status, reply.json()) == (
        415,
        {"detail": f"Content-Type must be application/json, not {seen_as!r}"},
    )
    assert reply.headers["Content-Type"] == "application/json"
    await assert_serving(bridge)


@pytest.mark.parametrize(
    "content_type",
    ["application/json;charset=utf-8", "Application/JSON; charset=UTF-8", "application/json; x=y"],
)
async def test_json_with_parameters_or_in_capitals_is_accepted(
    bridge: Bridge, content_type: str
) -> None:
    reply = await bridge.post(data=REFRESH, headers={"Content-Type": content_type})
    assert (reply.status, reply.json()) == (200, {"result": True})


async def test_a_10_mb_body_of_the_wrong_type_is_415_unread(bridge: Bridge) -> None:
    start = time.monotonic()
    reply = await bridge.post(
        data=io.BytesIO(mail_of_size(10 * MiB)), headers={"Content-Type": "text/plain"}
    )
    assert reply.status == 415
    assert time.monotonic() - start < 2.0
    await assert_serving(bridge)


# --- slow, stalled and idle clients ------------------------------------------------------


PROMPT_S = 1.0
"""A normal request served beside a fault answers within this: milliseconds in fact, with a margin
for a loaded shared machine; a fault that held others up would cost seconds (the body timeout,
the deadline)."""


async def _latencies(bridge: Bridge, count: int) -> list[float]:
    """Send `count` normal requests one after another; each one's time."""
    times = []
    for _ in range(count):
        start = time.monotonic()
        await assert_serving(bridge)
        times.append(time.monotonic() - start)
    return times


async def test_a_client_trickling_bytes_gets_its_answer_and_slows_nobody(bridge: Bridge) -> None:
    request = raw_request(REFRESH, {"Content-Type": b"application/json"})
    reader, writer = await asyncio.open_connection(HOST, bridge.server.port)

    async def trickle() -> None:
        # Headers and body, one byte every 10 ms: about 1.5 s for the whole request.
        for index in range(len(request)):
            writer.write(request[index : index + 1])
            await writer.drain()
            await asyncio.sleep(0.01)

    trickling = asyncio.create_task(trickle())
    try:
        times = await _latencies(bridge, 10)
        assert not trickling.done()  # the others really ran while it trickled
        assert max(times) < PROMPT_S
        await trickling
        reply = await asyncio.wait_for(read_reply(reader), 5)
        assert (reply.status, reply.json()) == (200, {"result": True})
    finally:
        trickling.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_stalled_bodies_cost_only_their_connections(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    """Clients that send headers and part of the body, then nothing, then go away.

    Until `body_timeout` (30 s by default) such a client holds its connection; others are
    served meanwhile, and when the clients leave their connections are released.
    """
    caplog.set_level(logging.WARNING)
    await assert_serving(bridge)  # the test's own keep-alive connection, counted in `before`
    before = connections(bridge)
    partial = raw_request(REFRESH, {"Content-Type": b"application/json"})[:-20]
    stalled = []
    for _ in range(50):
        reader, writer = await asyncio.open_connection(HOST, bridge.server.port)
        writer.write(partial)
        stalled.append((reader, writer))
    await asyncio.gather(*(writer.drain() for _, writer in stalled))

    async def all_open() -> bool:
        return connections(bridge) >= before + 50

    await until(all_open, "all open", 5)
    times = await _latencies(bridge, 10)
    assert max(times) < PROMPT_S
    for _, writer in stalled:
        writer.close()

    async def released() -> bool:
        return connections(bridge) <= before

    await until(released, "released", 5)
    await assert_serving(bridge)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [], [record.getMessage() for record in errors]


async def test_a_body_that_stalls_past_body_timeout_gets_408(
    make_bridge: BridgeFactory, shop: ActionServerProcess
) -> None:
    bridge = await make_bridge(service("shop", shop), body_timeout=0.5)
    reader, writer = await asyncio.open_connection(HOST, bridge.server.port)
    try:
        writer.write(raw_request(REFRESH, {"Content-Type": b"application/json"})[:-5])
        await writer.drain()
        started = time.monotonic()
        reply = await asyncio.wait_for(read_reply(reader), 10)
        assert 0.4 < time.monotonic() - started < 5
        assert reply.status == 408
        assert reply.json() == {"detail": "The request body did not arrive in time"}
        assert reply.headers["Connection"] == "close"
    finally:
        writer.close()
    await assert_serving(bridge)


async def test_a_client_leaving_mid_body_is_not_logged_as_a_bridge_failure(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await assert_serving(bridge)
    before = connections(bridge)
    _, writer = await asyncio.open_connection(HOST, bridge.server.port)
    writer.write(raw_request(REFRESH, {"Content-Type": b"application/json"})[:-20])
    await writer.drain()

    async def reading() -> bool:
        return connections(bridge) == before + 1

    await until(reading, "reading", 5)
    writer.close()

    async def released() -> bool:
        return connections(bridge) == before

    await until(released, "released", 5)
    await assert_serving(bridge)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [], [record.getMessage() for record in errors]


@pytest.mark.parametrize("sent", [b"", b"POST /api/messages/ HTTP/1.1\r\nHost: b"])
async def test_500_idle_connections_do_not_stop_normal_requests(
    bridge: Bridge, sent: bytes
) -> None:
    await assert_serving(bridge)  # the test's own keep-alive connection, counted in `before`
    before = connections(bridge)
    idle = []
    try:
        for _ in range(500):
            _, writer = await asyncio.open_connection(HOST, bridge.server.port)
            writer.write(sent)
            idle.append(writer)

        async def all_open() -> bool:
            return connections(bridge) >= before + 500

        await until(all_open, "all open", 10)
        times = await _latencies(bridge, 20)
        assert max(times) < PROMPT_S
    finally:
        for writer in idle:
            writer.close()

    async def released() -> bool:
        return connections(bridge) <= before

    await until(released, "released", 10)
    await assert_serving(bridge)


async def test_a_malformed_request_line_is_refused_and_the_bridge_carries_on(
    bridge: Bridge,
) -> None:
    reply = await exchange(
        bridge, raw_request(REFRESH, {"Content-Type": b"application/json"}, b"/api/\xff")
    )
    assert reply.status == 400
    await assert_serving(bridge)


SECRET = b"Bearer s3cret-credential-value"
# Requests aiohttp's parser refuses before the app sees them, each with a credential that
# must reach neither the answer nor the log.
REFUSED: dict[str, tuple[bytes, int]] = {
    "control character in a header": (
        b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization: "
        + SECRET
        + b"\r\nX-Evil: a\x01b\r\nContent-Length: 0\r\n\r\n",
        400,
    ),
    "obsolete line fold": (
        b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization: "
        + SECRET
        + b"\r\n  folded\r\nContent-Length: 0\r\n\r\n",
        400,
    ),
    "space before the colon": (
        b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization : "
        + SECRET
        + b"\r\nContent-Length: 0\r\n\r\n",
        400,
    ),
    "bare LF": (
        b"POST /api/messages/ HTTP/1.1\nHost: b\nAuthorization: "
        + SECRET
        + b"\nX: a\rb\nContent-Length: 0\n\n",
        400,
    ),
    "header over the size limit": (
        b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization: "
        + SECRET
        + b"\r\nX-Big: "
        + b"a" * 20_000
        + b"\r\nContent-Length: 0\r\n\r\n",
        431,
    ),
    "too many headers": (
        b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization: "
        + SECRET
        + b"\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
        + b"Content-Length: 0\r\n\r\n",
        431,
    ),
    "Content-Length with Transfer-Encoding": (
        b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization: "
        + SECRET
        + b"\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "two Content-Lengths": (
        b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization: "
        + SECRET
        + b"\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
    ),
    "negative Content-Length": (
        b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization: "
        + SECRET
        + b"\r\nContent-Length: -1\r\n\r\n",
        400,
    ),
    "bad chunk size": (
        b"POST /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization: "
        + SECRET
        + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "unknown HTTP version": (
        b"POST /api/messages/ HTTP/9.9\r\nHost: b\r\nAuthorization: " + SECRET + b"\r\n\r\n",
        400,
    ),
    "request line too long": (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: b\r\n\r\n", 431),
    "unknown method": (
        b"FROB /api/messages/ HTTP/1.1\r\nHost: b\r\nAuthorization: " + SECRET + b"\r\n\r\n",
        501,
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_what_the_http_parser_refuses_is_json_with_cors_and_no_echo(
    bridge: Bridge, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    request, status = REFUSED[case]
    caplog.clear()
    reply = await exchange(bridge, request)
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert set(reply.json()) == {"detail"}
    assert b"s3cret" not in reply.body
    assert b"X-" not in reply.body
    records = [r for r in caplog.records if r.name.startswith("jetbridge")]
    assert len(records) == 1, [r.getMessage() for r in caplog.records]
    assert all(r.exc_info is None for r in caplog.records)
    assert "s3cret" not in caplog.text
    await assert_serving(bridge)


async def test_at_the_connection_cap_idle_connections_make_room_for_new_ones(
    make_bridge: BridgeFactory, shop: ActionServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = await make_bridge(service("shop", shop), max_connections=20)
    idle = [await asyncio.open_connection(HOST, bridge.server.port) for _ in range(30)]
    try:
        # The 10 oldest idle ones were closed to make room for the 10 newest.
        closed = []
        for index, (reader, _) in enumerate(idle):
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(), 0.2) == b"":
                    closed.append(index)
        assert closed == list(range(10))
        assert "connection limit reached (20 open)" in caplog.text
        # A real client is served at once, in place of another idle one.
        await assert_serving(bridge)
    finally:
        for _, writer in idle:
            writer.close()


# --- a service port answered by something that is not gRPC ------------------------------


@contextlib.asynccontextmanager
async def listener(kind: str, port: int = 0) -> AsyncIterator[int]:
    """A TCP server on loopback that is not an action server; yields its port.

    `http1`: answers like a web server that gets an HTTP/2 preface (400, HTML);
    `garbage`: sends a banner of another protocol and closes; `close`: closes at once;
    `hung`: accepts and then never reads nor answers.
    """
    writers: set[asyncio.StreamWriter] = set()
    never = asyncio.Event()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            if kind == "http1":
                await reader.read(1024)
                page = b"<html><body><h1>400 Bad Request</h1></body></html>"
                writer.write(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(page), page)
                )
                await writer.drain()
            elif kind == "garbage":
                writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
                await writer.drain()
            elif kind == "hung":
                await never.wait()
        except ConnectionError:
            pass
        finally:
            writer.close()
            writers.discard(writer)

    server = await asyncio.start_server(on_connect, HOST, port)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        never.set()
        for writer in list(writers):
            writer.close()
        await server.wait_closed()


def index_states(reply: Any) -> dict[str, str]:
    return {item["name"]: item["state"] for item in reply.json()["services"]}


@pytest.mark.parametrize("kind", ["http1", "garbage", "close", "hung"])
async def test_a_service_port_without_grpc_makes_a_down_service_not_a_stuck_bridge(
    make_bridge: BridgeFactory, shop: ActionServerProcess, kind: str
) -> None:
    async with listener(kind) as port:
        start = time.monotonic()
        bridge = await make_bridge(
            service("shop", shop),
            ServiceConfig(name="other", target=f"{HOST}:{port}", timeout=1.0),
            discovery_timeout=1.0,
        )
        # The first discovery waits for nobody longer than its deadline (plus a margin).
        assert time.monotonic() - start < 1.0 + 2.0
        index = await bridge.request("GET", "/")
        assert index_states(index) == {"shop": "up", "other": "down"}
        actions = await bridge.send("get_action_list")
        assert actions.status == 200
        assert "refresh_stats" in {action["name"] for action in actions.json()}
        await assert_serving(bridge)
        # An unknown action asks every service again; the broken one costs at most its
        # discovery deadline, and the answer is still a plain 404.
        start = time.monotonic()
        unknown = await bridge.send("execute_action", {"name": "charge"})
        assert (unknown.status, unknown.json()) == (
            404,
            {
                "name": ["unknown action 'charge'"],
                "detail": "Unknown action 'charge' (action servers not reachable now: other)",
            },
        )
        assert time.monotonic() - start < 1.0 + 2.0


async def test_a_service_replaced_by_a_web_server_answers_503_then_recovers(
    make_bridge: BridgeFactory, shop: ActionServerProcess, spawn: Spawn
) -> None:
    billing = spawn()
    deadline = 10.0
    bridge = await make_bridge(service("shop", shop), service("billing", billing, deadline))
    charge = {"name": "charge", "params": {"amount": "1"}}
    assert (await bridge.send("execute_action", charge)).status == 200
    billing.stop()
    async with listener("http1", billing.port):
        for _ in range(3):
            start = time.monotonic()
            reply = await bridge.send("execute_action", charge)
            body = reply.json()
            assert reply.status == 503, body
            assert (body["code"], body["service"]) == ("UNAVAILABLE", "billing")
            assert body["detail"].startswith("action server 'billing' is unavailable")
            assert set(body) == {"code", "service", "detail"}
            # Fails fast: no waiting for the deadline (a 504 after 10 s).
            assert time.monotonic() - start < deadline / 2
        # A down service keeps its actions listed; the other service is untouched.
        listed = await bridge.send("get_action_list")
        assert "charge" in {action["name"] for action in listed.json()}
        await assert_serving(bridge)
    billing.start()

    async def charged() -> bool:
        return (await bridge.send("execute_action", charge)).status == 200

    await until(charged, "charged", 15)


# --- an action server that accepts connections and never answers ---------------------------


async def test_a_hung_action_server_answers_504_at_the_deadline_and_recovers(
    make_bridge: BridgeFactory, shop: ActionServerProcess, spawn: Spawn
) -> None:
    """SIGSTOP: the kernel still accepts connections and bytes, the process answers nothing."""
    billing = spawn()
    deadline = 2.0
    bridge = await make_bridge(service("shop", shop), service("billing", billing, timeout=deadline))
    charge = {"name": "charge", "params": {"amount": "1"}}
    assert (await bridge.send("execute_action", charge)).status == 200
    assert billing.process is not None
    os.kill(billing.process.pid, signal.SIGSTOP)
    try:

        async def timed_charge() -> tuple[float, int, Any]:
            start = time.monotonic()
            reply = await bridge.send("execute_action", charge)
            return time.monotonic() - start, reply.status, reply.json()

        hung = [asyncio.create_task(timed_charge()) for _ in range(5)]

        async def all_in_flight() -> bool:
            return await bridge.in_flight("billing") == 5

        await until(all_in_flight, "five calls in flight to the hung server")
        times = await _latencies(bridge, 5)  # the shop meanwhile, while those wait
        assert not any(task.done() for task in hung)
        assert max(times) < PROMPT_S
        results = await asyncio.gather(*hung)
        for elapsed, status, body in results:
            assert (status, body) == (
                504,
                {
                    "code": "DEADLINE_EXCEEDED",
                    "service": "billing",
                    "detail": "action server 'billing' did not answer in time",
                },
            )
            # Never longer than the deadline, plus a margin for a loaded machine.
            assert deadline - 0.05 < elapsed < deadline + 1.0
        # While it stays hung, every call ends within the deadline, as a 504 or (once the
        # bridge noticed) a fail-fast 503.
        elapsed, status, body = await timed_charge()
        assert status in {503, 504}, body
        assert body["service"] == "billing"
        assert elapsed < deadline + 1.0
    finally:
        os.kill(billing.process.pid, signal.SIGCONT)

    async def charged() -> bool:
        return (await bridge.send("execute_action", charge)).status == 200

    await until(charged, "charged", 15)
    await assert_serving(bridge)


# --- numbers that a protobuf double would change ----------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"ids": [9007199254740993]}, "ids"),
        ({"id": 123456789012345678901234567890}, "ids"),
        ({"id": 1, "params": {"subject": "x", "n": 2**60}}, "params"),
    ],
)
async def test_a_number_beyond_2_53_is_a_400_not_a_silent_change(
    bridge: Bridge, params: dict[str, Any], field: str
) -> None:
    reply = await bridge.send("execute_action", {"model": "users", "name": "mail_users", **params})
    assert reply.status == 400, reply.body
    assert "send it as a string" in reply.json()[field][0]


async def test_ids_up_to_2_53_and_big_ids_as_strings_arrive_exactly(bridge: Bridge) -> None:
    ids = [9007199254740992, "123456789012345678901234567890"]
    reply = await bridge.send("execute_action", {"model": "invoices", "name": "echo", "ids": ids})
    assert reply.status == 200, reply.body
    assert reply.json()["ids"] == ids


# --- answers that break the contract -----------------------------------------------------


class Scripted(HandWritten):
    """An action server whose answer to each action is given by the test."""

    def __init__(self, answers: dict[str, actions_pb2.ExecuteActionResponse]) -> None:
        self.answers = answers
        actions = [common_action(name) for name in answers]
        self.listing = actions_pb2.ListActionsResponse(actions=actions, server_name="scripted")

    async def ExecuteAction(
        self, request: actions_pb2.ExecuteActionRequest, context: ExecuteContext
    ) -> actions_pb2.ExecuteActionResponse:
        return self.answers[request.action]


def file_answer(filename: str, content_type: str) -> actions_pb2.ExecuteActionResponse:
    file = actions_pb2.File(filename=filename, content_type=content_type, content=b"a,b\n")
    return actions_pb2.ExecuteActionResponse(file=file)


SCRIPT = {
    "nothing": actions_pb2.ExecuteActionResponse(),
    "csv": file_answer("report.csv", "text/csv; charset=utf-8"),
    "crlf_type": file_answer("a.csv", "text/csv\r\nSet-Cookie: x=1"),
    "no_type": file_answer("a.bin", "not a type"),
    "spoof": file_answer("invoice\u202etxt.exe", "text/plain"),
    "control": file_answer("a\r\nb\x00c.txt", "text/plain"),
    "long": file_answer("x" * 5000 + ".csv", "text/csv"),
}


@pytest.fixture
async def scripted(make_bridge: BridgeFactory) -> AsyncIterator[Bridge]:
    async with action_service(Scripted(SCRIPT)) as address:
        # No name configured: the bridge uses the one the server declares.
        yield await make_bridge(ServiceConfig(target=address))


async def test_an_answer_with_no_outcome_is_a_502_naming_the_server(scripted: Bridge) -> None:
    reply = await scripted.send("execute_action", {"name": "nothing"})
    assert reply.status == 502
    assert reply.json()["detail"] == (
        "action server 'scripted' failed: it sent an ExecuteAction answer with no outcome"
    )


@pytest.mark.parametrize("action", ["crlf_type", "no_type"])
async def test_a_file_with_an_invalid_content_type_is_a_502(scripted: Bridge, action: str) -> None:
    reply = await scripted.send("execute_action", {"name": action})
    assert reply.status == 502
    assert "invalid content type" in reply.json()["detail"]
    assert "Set-Cookie" not in reply.headers


async def test_a_content_type_with_parameters_is_sent_as_it_is(scripted: Bridge) -> None:
    reply = await scripted.send("execute_action", {"name": "csv"})
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Content-Disposition"] == 'attachment; filename="report.csv"'


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("spoof", 'attachment; filename="invoicetxt.exe"'),
        ("control", 'attachment; filename="abc.txt"'),
        ("long", 'attachment; filename="' + "x" * 146 + '.csv"'),
    ],
)
async def test_file_names_lose_what_could_spoof_or_break_them(
    scripted: Bridge, action: str, expected: str
) -> None:
    reply = await scripted.send("execute_action", {"name": action})
    assert reply.status == 200
    assert reply.headers["Content-Disposition"] == expected


# --- Expect: 100-continue ------------------------------------------------------------------


async def test_expect_100_continue_is_refused_before_the_body_is_invited(
    make_bridge: BridgeFactory, shop: ActionServerProcess
) -> None:
    bridge = await make_bridge(
        service("shop", shop), disable_auth=False, bearer_auth_key=("k" * 32,)
    )
    head = raw_request(b"", {"Content-Type": b"application/json", "Expect": b"100-continue"})
    reply = await exchange(bridge, head.replace(b"Content-Length: 0", b"Content-Length: 10"))
    assert reply.status == 401  # not 100 Continue
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    ok = raw_request(
        REFRESH,
        {
            "Content-Type": b"application/json",
            "Expect": b"100-continue",
            "Authorization": b"Bearer " + b"k" * 32,
        },
    )
    reader, writer = await asyncio.open_connection(HOST, bridge.server.port)
    try:
        head, _, body = ok.partition(b"\r\n\r\n")
        writer.write(head + b"\r\n\r\n")
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == (
            b"HTTP/1.1 100 Continue\r\n\r\n"
        )
        writer.write(body)
        assert (await asyncio.wait_for(read_reply(reader), 5)).status == 200
    finally:
        writer.close()


# --- compressed bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "body", "status"),
    [
        (b"gzip", b"\x1f\x8b\x08\x00not really gzip at all", 400),
        (b"deflate", b"not deflate", 400),
        (b"br", b"\x0b\x02\x80{}\x03", 415),
        (b"zstd", b"(\xb5/\xfd\x00X\x11\x00\x00{}", 415),
        (b"compress", b"x", 415),
    ],
)
async def test_bodies_that_cannot_be_decoded_are_json_errors(
    bridge: Bridge, encoding: bytes, body: bytes, status: int
) -> None:
    request = raw_request(body, {"Content-Type": b"application/json", "Content-Encoding": encoding})
    reply = await exchange(bridge, request)
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json()["detail"]
    await assert_serving(bridge)


async def test_a_valid_gzip_body_is_accepted(bridge: Bridge) -> None:
    request = raw_request(
        gzip.compress(REFRESH), {"Content-Type": b"application/json", "Content-Encoding": b"gzip"}
    )
    reply = await exchange(bridge, request)
    assert (reply.status, reply.json()) == (200, {"result": True})
