"""The Python SDK over the network: real grpc.aio servers on 127.0.0.1 and real clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from jetactions import ActionContext, ActionServer, File, RunningServer
from jetactions.server import DRAIN_DELAY
from jetactions.v1 import actions_pb2, actions_pb2_grpc
from tests.support import SHOP, load_shop, until

SERVICE = "jetactions.v1.ActionService"
SECRET_HEADER = "x-jetbridge-secret"
SERVING_LINE = re.compile(rb"serving on 127\.0\.0\.1:(\d+)")


@contextlib.asynccontextmanager
async def serving(app: ActionServer, **options: Any) -> AsyncIterator[RunningServer]:
    running = await app.start("127.0.0.1:0", **options)
    try:
        yield running
    finally:
        await running.stop(0)


@contextlib.asynccontextmanager
async def connect(running: RunningServer, **options: Any) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(running.address, **options) as channel:
        yield channel


@pytest.fixture
async def shop_channel() -> AsyncIterator[grpc.aio.Channel]:
    app: ActionServer = load_shop().build_app("")
    async with serving(app) as running, connect(running) as channel:
        yield channel


def execute(action: str, **fields: Any) -> actions_pb2.ExecuteActionRequest:
    request = actions_pb2.ExecuteActionRequest(action=action)
    json_format.ParseDict(fields, request)
    return request


async def test_list_execute_and_field_options_over_the_network(
    shop_channel: grpc.aio.Channel,
) -> None:
    stub = actions_pb2_grpc.ActionServiceStub(shop_channel)
    listing = await stub.ListActions(actions_pb2.ListActionsRequest())
    assert [a.name for a in listing.actions] == [
        "mail_users",
        "adjust_wallet",
        "export_users",
        "ship_order",
        "refresh_stats",
    ]

    mailed = await stub.ExecuteAction(
        execute("mail_users", model="users", ids=[1, 2], inputs={"subject": "Hi"})
    )
    assert json_format.MessageToDict(mailed) == {
        "result": {"value": True, "message": "Mailed 2 users"}
    }
    refused = await stub.ExecuteAction(
        execute("adjust_wallet", model="users", ids=[1], inputs={"amount": "-2"})
    )
    assert json_format.MessageToDict(refused) == {
        "errors": {"fields": {"amount": {"messages": ["must be positive"]}}}
    }
    exported = await stub.ExecuteAction(execute("export_users", model="users"))
    assert exported.file.filename == "users.csv"
    assert exported.file.content_type == "text/csv"
    assert exported.file.content.startswith(b"id,name,email\n1,Ada,")
    refreshed = await stub.ExecuteAction(execute("refresh_stats"))
    assert refreshed.result.value.bool_value is True

    options = await stub.GetFieldOptions(
        actions_pb2.GetFieldOptionsRequest(
            model="orders",
            field="city",
            form=json_format.ParseDict({"country": "uk"}, struct_pb2.Struct()),
        )
    )
    assert [(o.value.string_value, o.name, o.color) for o in options.options] == [
        ("london", "London", "blue"),
        ("leeds", "Leeds", "yellow"),
    ]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ExecuteAction(execute("nope"))
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == "unknown action 'nope'"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetFieldOptions(actions_pb2.GetFieldOptionsRequest(model="orders", field="x"))
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


async def test_handler_failure_is_internal_over_the_network(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = ActionServer()

    @app.common_action
    def crash(ctx: ActionContext) -> None:
        raise KeyError("private detail")

    async with serving(app) as running, connect(running) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ExecuteAction(execute("crash"))
    assert raised.value.code() is grpc.StatusCode.INTERNAL
    assert raised.value.details() == "action crash failed"
    assert "private detail" in caplog.text, "the traceback stays in the server's log"


async def test_start_and_stop_log_a_line_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jetactions")
    app: ActionServer = load_shop().build_app("")
    async with serving(app) as running:
        assert running.port > 0
        assert running.address == f"127.0.0.1:{running.port}"
    lines = [r.getMessage() for r in caplog.records if r.name == "jetactions"]
    assert lines == [
        f"serving on 127.0.0.1:{running.port} (server shop, 5 actions: mail_users, "
        "adjust_wallet, export_users, ship_order, refresh_stats)",
        "draining: calls in flight get 0.0 s",
        "stopped",
    ]


async def test_sync_handlers_run_in_the_server_thread_pool() -> None:
    app = ActionServer(name="pool")

    @app.common_action
    def where(ctx: ActionContext) -> str:
        return threading.current_thread().name

    async with serving(app) as running, connect(running) as channel:
        response = await actions_pb2_grpc.ActionServiceStub(channel).ExecuteAction(execute("where"))
    assert response.result.value.string_value.startswith("jetactions-pool")


async def test_health_check(shop_channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(shop_channel)
    for service in ("", SERVICE):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await health.Check(health_pb2.HealthCheckRequest(service="other.Service"))
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


async def list_services(channel: grpc.aio.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names: list[str] = []
    async for reply in call:
        names.extend(service.name for service in reply.list_services_response.service)
    return names


async def test_reflection_lists_the_service(shop_channel: grpc.aio.Channel) -> None:
    assert set(await list_services(shop_channel)) == {
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def test_health_and_reflection_can_be_turned_off() -> None:
    async with (
        serving(ActionServer(), health=False, reflection=False) as running,
        connect(running) as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await list_services(channel)
        assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_message_size_limit_is_enforced_both_ways() -> None:
    limit = 64 * 1024
    app = ActionServer()

    @app.common_action
    async def download(ctx: ActionContext, size: int) -> File:
        return File("blob.bin", b"x" * size)

    async with serving(app, max_message_bytes=limit) as running, connect(running) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        fits = await stub.ExecuteAction(execute("download", inputs={"size": limit - 100}))
        assert len(fits.file.content) == limit - 100
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ExecuteAction(execute("download", inputs={"size": limit}))
        assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ExecuteAction(execute("download", inputs={"size": 1, "pad": "y" * limit}))
        assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_oversize_answer_names_the_send_limit() -> None:
    # gRPC itself would only reset the stream; the caller must learn why, and whose limit.
    app = ActionServer(name="big")

    @app.common_action
    async def report(ctx: ActionContext, size: int) -> dict[str, str]:
        return {"text": "x" * size}

    async with serving(app, max_message_bytes=4096) as running, connect(running) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ExecuteAction(execute("report", inputs={"size": 5000}))
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert raised.value.details() == (
        "action 'report' returned 5025 bytes, more than this action server's send limit of "
        "4096 bytes (max_message_bytes, JETACTIONS_MAX_MESSAGE_BYTES)"
    )


async def test_declared_timeout_bounds_the_run_over_the_network() -> None:
    app = ActionServer()

    @app.common_action(timeout=0.2)
    async def slow(ctx: ActionContext) -> None:
        await asyncio.sleep(30)

    async with serving(app) as running, connect(running) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ExecuteAction(execute("slow"), timeout=20)
    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert raised.value.details() == "action 'slow' did not finish within its timeout of 0.2 s"


async def test_second_bind_of_a_port_fails_unless_reuse_port() -> None:
    async with serving(ActionServer(), health=False, reflection=False) as first:
        with pytest.raises(RuntimeError, match=r"cannot listen on 127\.0\.0\.1:\d+: Address"):
            await ActionServer().start(f"127.0.0.1:{first.port}")

    async with serving(ActionServer(), reuse_port=True) as first:
        second = await ActionServer().start(f"127.0.0.1:{first.port}", reuse_port=True)
        assert second.port == first.port
        await second.stop(0)


async def test_bridge_secret_guards_only_the_action_service(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-value"
    app = ActionServer()

    @app.common_action
    async def headers(ctx: ActionContext) -> list[str]:
        return sorted(ctx.metadata)

    async with serving(app, bridge_secret=secret) as running, connect(running) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        for metadata in ((), ((SECRET_HEADER, "wrong"),), ((SECRET_HEADER, secret + "x"),)):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.ListActions(actions_pb2.ListActionsRequest(), metadata=metadata)
            assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert raised.value.details() == "missing or wrong bridge secret"
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ExecuteAction(execute("headers"))
        assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED

        allowed = ((SECRET_HEADER, secret), ("x-request-id", "r1"))
        reply = await stub.ExecuteAction(execute("headers"), metadata=allowed)
        names = json_format.MessageToDict(reply)["result"]["value"]
        assert "x-request-id" in names
        assert SECRET_HEADER not in names, "handlers never see the secret"

        health = health_pb2_grpc.HealthStub(channel)
        status = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        assert SERVICE in await list_services(channel)
    assert secret not in caplog.text


async def test_bridge_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JETBRIDGE_SECRET", "from-env")
    async with serving(ActionServer()) as running, connect(running) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ListActions(actions_pb2.ListActionsRequest())
        assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
        await stub.ListActions(
            actions_pb2.ListActionsRequest(), metadata=((SECRET_HEADER, "from-env"),)
        )
    # An explicit empty secret turns the check off even when the variable is set.
    async with serving(ActionServer(), bridge_secret="") as running, connect(running) as channel:
        await actions_pb2_grpc.ActionServiceStub(channel).ListActions(
            actions_pb2.ListActionsRequest()
        )


async def test_time_remaining_reflects_the_client_deadline() -> None:
    app = ActionServer()

    # A dict keeps None as a key's value (a bare None return would mean `result: true`).
    @app.common_action
    async def remaining(ctx: ActionContext) -> dict[str, float | None]:
        return {"left": ctx.time_remaining()}

    @app.common_action
    def remaining_sync(ctx: ActionContext) -> dict[str, float | None]:
        return {"left": ctx.time_remaining()}

    async with serving(app) as running, connect(running) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        for action in ("remaining", "remaining_sync"):
            reply = await stub.ExecuteAction(execute(action), timeout=5)
            left = reply.result.extra["left"]
            assert isinstance(left, float)
            # gRPC rounds the deadline it sends up a little, so allow a few ms above 5.
            assert 4.0 < left <= 5.1
            unbounded = await stub.ExecuteAction(execute(action))
            assert unbounded.result.extra["left"] is None


async def refused(address: str) -> bool:
    """A new connection's call is refused with UNAVAILABLE (the server stopped accepting)."""
    async with grpc.aio.insecure_channel(address) as late:
        try:
            await actions_pb2_grpc.ActionServiceStub(late).ListActions(
                actions_pb2.ListActionsRequest(), timeout=2
            )
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
            return True
    return False


async def test_stop_lets_calls_in_flight_finish() -> None:
    app = ActionServer()
    started, release = asyncio.Event(), asyncio.Event()

    @app.common_action
    async def slow(ctx: ActionContext) -> str:
        started.set()
        await asyncio.wait_for(release.wait(), 10)
        return "done"

    running = await app.start("127.0.0.1:0")
    async with connect(running) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        call = asyncio.ensure_future(stub.ExecuteAction(execute("slow")))
        await started.wait()
        stop_began = time.monotonic()
        stopping = asyncio.ensure_future(running.stop(grace=5))

        async def not_serving() -> bool:
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            return bool(reply.status == health_pb2.HealthCheckResponse.NOT_SERVING)

        await until(not_serving, "health NOT_SERVING")
        # During the drain delay (DRAIN_DELAY) calls already on their way are still served...
        try:
            listing = await stub.ListActions(actions_pb2.ListActionsRequest(), timeout=2)
            assert [action.name for action in listing.actions] == ["slow"]
        except grpc.aio.AioRpcError:
            # ...which a loaded machine may only reach after the delay is over.
            assert time.monotonic() - stop_began >= DRAIN_DELAY
        # ...and after it new ones are refused, while the call in flight goes on.
        await until(lambda: refused(running.address), "new calls refused", DRAIN_DELAY + 10)
        assert not call.done()
        release.set()
        assert (await call).result.value.string_value == "done"
        await stopping


async def test_keepalive_pings_from_an_idle_client_are_welcome() -> None:
    # The bridge pings every 30 s even without calls; a default server answers pings more
    # frequent than every 5 minutes with GOAWAY "too_many_pings" after two strikes. The
    # client here pings as often as gRPC allows (once a second), which takes ~3 s to fail.
    client_options = [
        ("grpc.keepalive_time_ms", 100),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    async with (
        serving(ActionServer(), health=False, reflection=False) as running,
        connect(running, options=client_options) as channel,
    ):
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        await stub.ListActions(actions_pb2.ListActionsRequest())
        assert channel.get_state() is grpc.ChannelConnectivity.READY
        # Time is the property here: no state change (a GOAWAY) in the 3.5 s it would take.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(channel.wait_for_state_change(channel.get_state()), 3.5)


# --- subprocesses ------------------------------------------------------------------------

# Runs the example's own main() with one extra slow action: ACTIONS.md has none, and an
# in-flight call is what graceful shutdown is about.
SLOW_SHOP = """
import asyncio, logging, sys
sys.path.insert(0, {examples!r})
import shop

build_app = shop.build_app

def build_with_slow(prefix=""):
    app = build_app(prefix)

    @app.common_action
    async def slow(ctx):
        logging.getLogger("driver").info("slow started")
        await asyncio.sleep({seconds})
        return {{"message": "slow done"}}

    return app

shop.build_app = build_with_slow
shop.main(["--address", "127.0.0.1:0"])
"""

# Fails any import of aiohttp, then runs the example exactly as `python shop.py` would.
NO_AIOHTTP = """
import importlib.abc, runpy, sys

class BlockAiohttp(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "aiohttp" or name.startswith("aiohttp."):
            raise ImportError(name + " is blocked")
        return None

sys.meta_path.insert(0, BlockAiohttp())
try:
    import aiohttp
except ImportError:
    pass
else:
    raise SystemExit("the blocker does not work")
import jetactions, jetactions.testing
sys.argv = ["shop.py", "--address", "127.0.0.1:0"]
runpy.run_path({shop!r}, run_name="__main__")
assert not [m for m in sys.modules if m.split(".")[0] == "aiohttp"]
print("ran without aiohttp")
"""


class Child:
    """A subprocess whose stderr is read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr = b""

    @classmethod
    async def start(cls, code: str) -> Child:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JETACTIONS_")}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(process)

    async def wait_for(self, pattern: re.Pattern[bytes]) -> re.Match[bytes]:
        assert self.process.stderr is not None
        async with asyncio.timeout(10):
            while True:
                line = await self.process.stderr.readline()
                if not line:
                    raise AssertionError(f"exited before {pattern.pattern!r}:\n{self.stderr!r}")
                self.stderr += line
                match = pattern.search(line)
                if match:
                    return match

    async def finish(self) -> tuple[int, bytes]:
        """Waits for the exit (bounded by the caller's asyncio.timeout)."""
        stdout, rest = await self.process.communicate()
        self.stderr += rest
        assert self.process.returncode is not None
        return self.process.returncode, stdout

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.communicate()


@contextlib.asynccontextmanager
async def child(code: str) -> AsyncIterator[tuple[Child, str]]:
    process = await Child.start(code)
    try:
        match = await process.wait_for(SERVING_LINE)
        yield process, f"127.0.0.1:{int(match.group(1))}"
    finally:
        await process.kill()


async def test_sigterm_drains_calls_in_flight_then_exits_zero() -> None:
    # The slow call outlasts the drain delay by far: it is still running when calls are refused.
    code = SLOW_SHOP.format(examples=str(SHOP.parent), seconds=DRAIN_DELAY + 2)
    async with child(code) as (process, address):
        async with grpc.aio.insecure_channel(address) as channel:
            stub = actions_pb2_grpc.ActionServiceStub(channel)
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=SERVICE)
            )
            first = await watch.read()
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            slow = asyncio.ensure_future(stub.ExecuteAction(execute("slow")))
            await process.wait_for(re.compile(rb"slow started"))

            process.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            after = await watch.read()
            assert after.status == health_pb2.HealthCheckResponse.NOT_SERVING
            # An open Watch is a call in flight too: end it so the drain need not wait for it.
            watch.cancel()
            # After the drain delay new calls are refused, while the slow one goes on.
            await until(lambda: refused(address), "new calls refused", DRAIN_DELAY + 10)
            assert not slow.done()
            reply = await slow
            assert reply.result.message == "slow done"
        async with asyncio.timeout(10):
            returncode, _ = await process.finish()
        assert returncode == 0, process.stderr.decode()
        assert time.monotonic() - signalled < 10, "exits within the default 10 s grace"
        assert b"Traceback" not in process.stderr


async def test_second_signal_stops_at_once() -> None:
    code = SLOW_SHOP.format(examples=str(SHOP.parent), seconds=60)
    async with child(code) as (process, address), grpc.aio.insecure_channel(address) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        slow = asyncio.ensure_future(stub.ExecuteAction(execute("slow")))
        await process.wait_for(re.compile(rb"slow started"))
        process.process.send_signal(signal.SIGTERM)
        await process.wait_for(re.compile(rb"draining \(SIGTERM\)"))
        signalled = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(5):
            returncode, _ = await process.finish()
        assert time.monotonic() - signalled < 5, "not the 10 s grace, nor the 60 s call"
        assert returncode == 0
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await slow
        assert raised.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


async def test_the_example_runs_without_aiohttp() -> None:
    async with child(NO_AIOHTTP.format(shop=str(SHOP))) as (process, address):
        async with grpc.aio.insecure_channel(address) as channel:
            listing = await actions_pb2_grpc.ActionServiceStub(channel).ListActions(
                actions_pb2.ListActionsRequest()
            )
            assert len(listing.actions) == 5
            reply = await actions_pb2_grpc.ActionServiceStub(channel).ExecuteAction(
                execute("refresh_stats")
            )
            assert reply.result.value.bool_value is True
            status = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest()
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
        process.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            returncode, stdout = await process.finish()
        assert returncode == 0, process.stderr.decode()
        assert stdout.strip() == b"ran without aiohttp"
