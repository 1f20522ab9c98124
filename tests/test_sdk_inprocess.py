"""InProcessChannel: a real ActionService stub over an in-memory path, with gRPC's semantics."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest

import jetactions
from jetactions import ActionContext, ActionServer, InProcessChannel
from jetactions.v1 import actions_pb2, actions_pb2_grpc


def build() -> tuple[ActionServer, dict[str, object]]:
    app = ActionServer(name="probe")
    seen: dict[str, object] = {}

    @app.common_action
    async def echo(ctx: ActionContext) -> dict[str, object]:
        seen["metadata"] = dict(ctx.metadata)
        seen["remaining"] = ctx.time_remaining()
        return {"result": "ok"}

    started = asyncio.Event()
    seen["started_event"] = started

    @app.common_action
    async def slow(ctx: ActionContext) -> None:
        started.set()
        seen["started"] = True
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise

    @app.common_action
    async def status(ctx: ActionContext) -> None:
        raise jetactions.ActionError(grpc.StatusCode.PERMISSION_DENIED, "not you")

    return app, seen


async def test_the_generated_stub_works_on_the_channel() -> None:
    app, seen = build()
    async with InProcessChannel(app) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)  # the generated stub, unchanged
        listing = await stub.ListActions(actions_pb2.ListActionsRequest())
        assert listing.server_name == "probe"
        assert [a.name for a in listing.actions] == ["echo", "slow", "status"]
        response = await stub.ExecuteAction(
            actions_pb2.ExecuteActionRequest(action="echo"),
            timeout=5,
            metadata=[("x-request-id", "r-1"), ("x-jetbridge-secret", "s")],
        )
        assert response.result.value.string_value == "ok"
        # Metadata reaches the handler, the bridge secret does not; the deadline is seen.
        assert seen["metadata"] == {"x-request-id": "r-1"}
        remaining = seen["remaining"]
        assert isinstance(remaining, float)
        assert 4 < remaining <= 5
        assert channel.stub is channel.stub
        assert channel.get_state() is grpc.ChannelConnectivity.READY
    assert channel.get_state() is grpc.ChannelConnectivity.SHUTDOWN


async def test_deadline_cancels_the_handler_and_answers_deadline_exceeded() -> None:
    app, seen = build()
    stub = InProcessChannel(app).stub
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ExecuteAction(actions_pb2.ExecuteActionRequest(action="slow"), timeout=0.05)
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert (seen["started"], seen["cancelled"]) == (True, True)


async def test_cancelling_the_caller_cancels_the_handler() -> None:
    app, seen = build()
    stub = InProcessChannel(app).stub
    call = asyncio.ensure_future(
        stub.ExecuteAction(actions_pb2.ExecuteActionRequest(action="slow"))
    )
    started = seen["started_event"]
    assert isinstance(started, asyncio.Event)
    await started.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert seen["cancelled"] is True


async def test_statuses_are_aio_rpc_errors() -> None:
    app, _ = build()
    channel = InProcessChannel(app)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await channel.stub.ExecuteAction(actions_pb2.ExecuteActionRequest(action="status"))
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "not you",
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await channel.stub.ExecuteAction(actions_pb2.ExecuteActionRequest(action="nope"))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    unknown = channel.unary_unary("/jetactions.v1.ActionService/Nope")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await unknown(actions_pb2.ListActionsRequest())
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_message_limits_apply_both_ways() -> None:
    app = ActionServer(name="big")

    @app.common_action
    async def blob(ctx: ActionContext, size: int) -> str:
        return "x" * size

    stub = InProcessChannel(app, max_message_bytes=1000).stub
    request = actions_pb2.ExecuteActionRequest(action="blob")
    request.inputs.update({"size": 10})
    assert (await stub.ExecuteAction(request)).result.value.string_value == "x" * 10
    request.inputs.update({"size": 5000})
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ExecuteAction(request)
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info.value.details() == (
        "action 'blob' returned 5009 bytes, more than this action server's send limit of "
        "1000 bytes (max_message_bytes, JETACTIONS_MAX_MESSAGE_BYTES)"
    )
    request.inputs.update({"padding": "y" * 2000})
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ExecuteAction(request)
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Received message larger than max" in (info.value.details() or "")


async def test_listing_answers_are_copies() -> None:
    app, _ = build()
    stub = InProcessChannel(app).stub
    first = await stub.ListActions(actions_pb2.ListActionsRequest())
    first.actions[0].name = "changed"
    assert (await stub.ListActions(actions_pb2.ListActionsRequest())).actions[0].name == "echo"


def test_only_action_servers() -> None:
    with pytest.raises(TypeError, match="needs an ActionServer"):
        InProcessChannel(object())  # type: ignore[arg-type]


async def test_sync_handlers_use_the_apps_pool() -> None:
    app = ActionServer(name="pool", sync_workers=1)
    release = threading.Event()
    entered = threading.Event()

    @app.common_action
    def hang(ctx: ActionContext) -> None:
        entered.set()
        release.wait(10)

    stub = InProcessChannel(app).stub
    first = asyncio.ensure_future(
        stub.ExecuteAction(actions_pb2.ExecuteActionRequest(action="hang"))
    )
    await asyncio.to_thread(entered.wait, 5)
    # The only worker is taken: the next sync call is refused at once, not queued.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ExecuteAction(actions_pb2.ExecuteActionRequest(action="hang"), timeout=5)
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "all 1 sync workers of action server 'pool' are busy" in (info.value.details() or "")
    release.set()
    await first
    assert app.sync_pool.busy == 0
