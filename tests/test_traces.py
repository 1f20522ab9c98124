"""One trace from the browser to the handler, in each language.

A real `jetbridge serve` process in front of a Python test server and the Go and Node example
shops (each its own process), every one of them exporting spans over OTLP/gRPC to the test's
receiver as the standard OTEL_* variables say. A request carries a browser `traceparent` and an
`X-Request-ID`; the receiver must get, per language, one trace: the browser's span -> the
bridge's server span -> the bridge's client span -> the action server's span, each with the
request id, and the action server must have the request id on its context (its log line).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.otlp import ReceivedSpan, Receiver, otlp_receiver
from tests.support import (
    GO_SHOP,
    LANGUAGES,
    NODE_SHOP,
    ROOT,
    SERVING,
    Started,
    clean_env,
    free_port,
    require_built,
    started,
    until_ready,
    wait_for_line,
)

BRIDGE_READY_S = 30.0
SERVER = trace_pb2.Span.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT


def otel_env(receiver: Receiver, service: str) -> dict[str, str]:
    """What points a process's traces at the receiver (each SDK reads the same variables)."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": service,
    }


@dataclass
class Stack:
    """The bridge, the three shops behind it, and the receiver of all their spans."""

    receiver: Receiver
    url: str
    shops: dict[str, Started]
    bridge: Started


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    require_built(GO_SHOP)
    require_built(NODE_SHOP)
    async with otlp_receiver() as (receiver, _port), contextlib.AsyncExitStack() as stack:
        shops: dict[str, Started] = {}
        addresses: dict[str, str] = {}
        for language in LANGUAGES:
            env = clean_env(
                **otel_env(receiver, f"{language.name}-shop"),
                JETACTIONS_ADDRESS="127.0.0.1:0",
                JETACTIONS_LOG_LEVEL="debug",
            )
            command = (*language.command, "--address", "127.0.0.1:0")
            shops[language.name] = stack.enter_context(started(language.name, command, env))
        for name, shop in shops.items():
            addresses[name] = (await wait_for_line(shop, SERVING)).group(1)
        port = free_port()
        services = [arg for name in shops for arg in ("--service", f"{name}={addresses[name]}")]
        bridge_command = (
            sys.executable,
            *("-m", "jetbridge", "serve", "--address", "127.0.0.1", "--port", str(port)),
            "--disable-auth",
            *services,
        )
        bridge = stack.enter_context(
            started("bridge", bridge_command, clean_env(**otel_env(receiver, "bridge")))
        )
        url = f"http://127.0.0.1:{port}"
        await ready(url, bridge)
        yield Stack(receiver, url, shops, bridge)


async def ready(url: str, bridge: Started) -> None:
    """Waits until the bridge's /readyz answers 200 (its first discovery is done)."""
    await until_ready(url, bridge.process, bridge.output, BRIDGE_READY_S)


async def execute(url: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
    message = {"name": "execute_action", "params": params}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/api/messages/", json=message, headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.headers["X-Request-ID"] == headers["X-Request-ID"]
        return await response.json()


def trace_id_of(index: int) -> str:
    return f"{index + 1:02x}" * 16


BROWSER_SPAN = "00f067aa0ba902b7"


async def test_one_trace_per_language_from_the_browser_to_the_action(stack: Stack) -> None:
    for index, language in enumerate(LANGUAGES):
        headers = {
            "traceparent": f"00-{trace_id_of(index)}-{BROWSER_SPAN}-01",
            "tracestate": "browser=1",
            "X-Request-ID": f"trace-{language.name}",
        }
        reply = await execute(stack.url, language.message, headers)
        assert reply["result"], reply

    def spans_of(index: int) -> list[ReceivedSpan]:
        wanted = bytes.fromhex(trace_id_of(index))
        return [r for r in stack.receiver.received if r.span.trace_id == wanted]

    def complete() -> bool:
        return all(len(spans_of(index)) >= 3 for index in range(len(LANGUAGES)))

    await stack.receiver.wait_until(complete, "three spans in each language's trace")

    for index, language in enumerate(LANGUAGES):
        spans = spans_of(index)
        assert len(spans) == 3, [(r.service, r.span.name) for r in spans]
        by_role = {(r.service, r.span.kind): r for r in spans}
        bridge_server = by_role[("bridge", SERVER)]
        bridge_client = by_role[("bridge", CLIENT)]
        action = by_role[(f"{language.name}-shop", SERVER)]
        # Parents: browser -> bridge server span -> bridge client span -> action server span.
        assert bridge_server.span.parent_span_id.hex() == BROWSER_SPAN
        assert bridge_client.span.parent_span_id == bridge_server.span.span_id
        assert action.span.parent_span_id == bridge_client.span.span_id
        assert action.span.trace_state == "browser=1"
        assert action.span.name == "jetactions.v1.ActionService/ExecuteAction"
        request_id = f"trace-{language.name}"
        assert bridge_server.attributes["jetbridge.request_id"] == request_id
        assert bridge_client.attributes["jetbridge.request_id"] == request_id
        assert action.attributes["jetactions.request_id"] == request_id
        name = language.message["name"]
        ids = len(language.message.get("ids", [])) or 1
        assert action.attributes["jetactions.action"] == name, language.name
        assert action.attributes["jetactions.model"] == language.message["model"]
        assert action.attributes["jetactions.ids"] == ids
        assert action.attributes["jetactions.outcome"] == "result"
        assert action.attributes["rpc.grpc.status_code"] == 0


async def test_the_request_id_reaches_each_languages_handler(stack: Stack) -> None:
    for language in LANGUAGES:
        request_id = f"rid-{language.name}-7"
        reply = await execute(stack.url, language.message, {"X-Request-ID": request_id})
        if language.name == "python":
            assert reply["result"] == f"2 users, request {request_id}", "ctx.request_id"
        shop = stack.shops[language.name]
        # Each SDK puts the request id on the call's context and on its own log lines.
        await wait_for_line(shop, re.compile(rf"request_id\W+{re.escape(request_id)}\b"))
    # The Python SDK's debug line, as its README shows it.
    python = stack.shops["python"].output()
    assert re.search(
        r" DEBUG jetactions: ExecuteAction result in [\d.]+ ms action=sync_users "
        r"request_id=rid-python-7$",
        python,
        re.M,
    ), python


DOC_TESTS = {
    "go.md": ["sdk_go/jetactions/*_test.go"],
    "typescript.md": ["sdk_node/src/*.test.ts", "tests/test_typescript_guide.py"],
}
"""Each guide's own tests, beside this file and tests/test_polyglot_metrics.py."""


@pytest.mark.parametrize("doc", sorted(DOC_TESTS))
def test_every_variable_the_guides_name_for_traces_and_metrics_is_tested(doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text()
    start = text.index("## Traces and metrics")
    section = text[start : text.index("\n## ", start)]
    named = set(re.findall(r"\b((?:OTEL|JETACTIONS)_[A-Z_]*[A-Z])\b", section))
    assert {"OTEL_EXPORTER_OTLP_ENDPOINT", "JETACTIONS_METRICS_PORT"} <= named
    sources = [Path(__file__), ROOT / "tests" / "test_polyglot_metrics.py"]
    sources += [path for pattern in DOC_TESTS[doc] for path in sorted(ROOT.glob(pattern))]
    tested = "\n".join(path.read_text() for path in sources)
    assert sorted(name for name in named if name not in tested) == []
