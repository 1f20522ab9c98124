"""Sync handlers that hang: a bounded pool, a visible stuck count, a shutdown that ends.

The server runs as its own process (tests/servers/hang.py) because the point is what happens to
a real process whose threads never return.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from jetactions.v1 import actions_pb2, actions_pb2_grpc
from tests.support import ActionServerProcess, until

HANG = Path(__file__).resolve().parent / "servers" / "hang.py"
GRACE = 1.0


async def call(
    stub: actions_pb2_grpc.ActionServiceStub, action: str, seconds: float = 10.0
) -> actions_pb2.ExecuteActionResponse:
    request = actions_pb2.ExecuteActionRequest(action=action)
    return await stub.ExecuteAction(request, timeout=seconds)


async def pool_state(stub: actions_pb2_grpc.ActionServiceStub) -> dict[str, int]:
    response = await call(stub, "pool")
    return {key: int(value.number_value) for key, value in response.result.extra.fields.items()}


async def test_ten_hung_sync_handlers(spawn: Callable[..., ActionServerProcess]) -> None:
    server = spawn(HANG, "--sync-workers", "11", "--grace", str(GRACE))
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        hung = await asyncio.gather(
            *(call(stub, "hang", seconds=0.5) for _ in range(10)), return_exceptions=True
        )
        assert all(
            isinstance(error, grpc.aio.AioRpcError)
            and error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            for error in hung
        )

        # The server notices each call's end on its own clock: wait for that state.
        async def all_stuck() -> dict[str, int] | None:
            state = await pool_state(stub)
            return state if state["stuck"] >= 10 else None

        assert await until(all_stuck, "ten stuck workers", 10) == {"busy": 10, "stuck": 10}

        # Other actions still answer: async ones, and sync ones while a worker is free.
        assert (await call(stub, "ping")).result.value.string_value == "pong"
        assert (await call(stub, "quick")).result.value.string_value == "quick"
        with pytest.raises(grpc.aio.AioRpcError):
            await call(stub, "hang", seconds=0.5)  # takes the last worker, for good

        # A full pool refuses at once, with a reason, instead of queueing until the deadline.
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(stub, "quick", seconds=30)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert info.value.details() == (
            "all 11 sync workers of action server 'hang' are busy (11 stuck past the end of "
            "their call); raise sync_workers or fix the handlers that hang"
        )

    # SIGTERM ends the process after the grace period, whatever its threads are doing.
    assert server.process is not None
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=GRACE + 10)
    assert time.monotonic() - started < GRACE + 5
    assert server.process.returncode == 0

    log = server.log_path.read_text()
    # One WARNING per stuck handler, naming the action.
    assert log.count("sync handler of action 'hang' still runs") == 11
    assert "(11 of 11 sync workers stuck)" in log
