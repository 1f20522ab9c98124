"""The Node SDK's servers as real processes: what the environment configures, and the drain.

tests/servers/node_events (the event-ticket server written for the generic conformance checks)
runs as `node dist/server.js`, as scripts/build-examples builds it; the checks use the Python
stubs, grpcio's health and reflection clients, so they see what any other client would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from jetactions.v1 import actions_pb2, actions_pb2_grpc
from tests.support import LOGS, ROOT, require_built, wait_until

NODE_EVENTS = ROOT / "tests" / "servers" / "node_events" / "dist" / "server.js"


@dataclass
class NodeServer:
    process: subprocess.Popen[bytes]
    log: Path
    address: str

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


Start = Callable[..., NodeServer]


@pytest.fixture
def start() -> Iterator[Start]:
    """Starts node_events with extra environment; stops what it started."""
    started: list[NodeServer] = []

    def make(**env: str) -> NodeServer:
        require_built(NODE_EVENTS)
        LOGS.mkdir(parents=True, exist_ok=True)
        log = LOGS / f"node-events-{os.getpid()}-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["node", str(NODE_EVENTS), "--address", "127.0.0.1:0"],
                env={**os.environ, "JETACTIONS_LOG_FORMAT": "json", **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = NodeServer(process, log, "")
        started.append(server)
        lines = wait_until(server.lines, "serving line", 20, process, log.read_text)
        first = json.loads(lines[0])
        assert first["msg"].startswith("serving on 127.0.0.1:")
        server.address = first["msg"].removeprefix("serving on ")
        return server

    yield make
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


async def list_actions(address: str, metadata: tuple[tuple[str, str], ...] = ()) -> list[str]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        request = actions_pb2.ListActionsRequest()
        response = await stub.ListActions(request, metadata=metadata, timeout=5)
        assert response.server_name == "node_events"
        return [action.name for action in response.actions]


async def test_serves_health_reflection_and_its_actions(start: Start) -> None:
    server = start()
    assert await list_actions(server.address) == [
        "book_tickets",
        "find_sessions",
        "refund_tickets",
        "export_attendees",
    ]
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "jetactions.v1.ActionService"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="*")
        answers = [a async for a in reflection.ServerReflectionInfo(iter([request]), timeout=5)]
        names = {service.name for service in answers[0].list_services_response.service}
        assert {"jetactions.v1.ActionService", "grpc.health.v1.Health"} <= names


async def test_jetbridge_secret_from_the_environment(start: Start) -> None:
    server = start(JETBRIDGE_SECRET="s3cret")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await list_actions(server.address)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await list_actions(server.address, (("x-jetbridge-secret", "s3cret"),))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JETBRIDGE_SECRET": ""}, "JETBRIDGE_SECRET is set but empty"),
        ({"JETACTIONS_BRIDGE_SECRET": "old"}, "name the shared secret JETBRIDGE_SECRET"),
        ({"JETACTIONS_GRACE": "soon"}, "JETACTIONS_GRACE"),
    ],
)
def test_bad_settings_refuse_to_start(env: dict[str, str], message: str) -> None:
    require_built(NODE_EVENTS)
    result = subprocess.run(
        ["node", str(NODE_EVENTS), "--address", "127.0.0.1:0"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert message in result.stderr


async def test_sigterm_drains_then_exits_0(start: Start) -> None:
    server = start(JETACTIONS_GRACE="5")
    await list_actions(server.address)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0
    messages = [json.loads(line)["msg"] for line in server.lines()]
    assert messages[1].startswith("draining: NOT_SERVING, calls in flight get 5 s")
    assert messages[-1] == "stopped"


async def test_keepalive_pings_from_an_idle_client_are_welcome(start: Start) -> None:
    # grpcio pings as often as it allows (about once a second) here; a server that counted
    # ping strikes would answer GOAWAY "too_many_pings" within ~3 s.
    server = start()
    options = [
        ("grpc.keepalive_time_ms", 100),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    async with grpc.aio.insecure_channel(server.address, options=options) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        await stub.ListActions(actions_pb2.ListActionsRequest(), timeout=5)
        assert channel.get_state() is grpc.ChannelConnectivity.READY
        # Time is the property here: no state change (a GOAWAY) in the 3.5 s it would take.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(channel.wait_for_state_change(channel.get_state()), 3.5)
