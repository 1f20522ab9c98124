"""The bridge the suite starts in front of the server, and a relay that adds one unknown action."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from jetactions.contract import SERVICE_NAME
from jetactions.v1 import actions_pb2, actions_pb2_grpc
from jetbridge import HTTP, Auth, Calls, ServiceConfig, Settings
from jetbridge.app import MESSAGES_PATH, create_app
from jetbridge.server import BridgeRunner
from jetconformance._target import CALL_TIMEOUT, BridgeClient, open_channel

Response = TypeVar("Response")


@contextlib.asynccontextmanager
async def running_bridge(address: str, secret: str = "") -> AsyncIterator[BridgeClient]:
    """A bridge in front of `address` on a free 127.0.0.1 port, with a client for it.

    Authentication is off: the bridge listens on loopback only and lives as long as the block.
    It sends `secret` to the server, as a bridge configured with it does.
    """
    service = ServiceConfig(name="target", target=address, timeout=CALL_TIMEOUT, secret=secret)
    settings = Settings(
        services=(service,),
        http=HTTP(address="127.0.0.1"),
        auth=Auth(disabled=True),
        calls=Calls(discovery_timeout=CALL_TIMEOUT, retry_max_interval=1.0),
    )
    # The runner `jetbridge serve` uses: malformed requests get its JSON answers.
    runner = BridgeRunner(create_app(settings), settings, access_log=None, handle_signals=False)
    await runner.setup()  # runs discovery once: the catalog is ready when it returns
    try:
        # Port 0: the kernel picks a free port, with no window for another process to take it.
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session:
            yield BridgeClient(f"http://127.0.0.1:{port}{MESSAGES_PATH}", session)
    finally:
        await runner.cleanup()


class _Relay(actions_pb2_grpc.ActionServiceServicer):
    """Forwards every call to the server, and declares one more action than the server does.

    The bridge answers an action nobody declared with its own 404 and never asks the server. To
    see the server's own answer to an unknown action travel through the bridge, the bridge must
    believe some server declared it: this relay declares it, the server is asked to run it.
    """

    def __init__(self, stub: actions_pb2_grpc.ActionServiceStub, extra_action: str) -> None:
        self._stub = stub
        self._extra_action = extra_action

    async def ListActions(
        self, request: actions_pb2.ListActionsRequest, context: Any
    ) -> actions_pb2.ListActionsResponse:
        listing = await self._forward(self._stub.ListActions, request, context)
        listing.actions.add(name=self._extra_action, common_action=actions_pb2.CommonAction())
        return listing

    async def ExecuteAction(
        self, request: actions_pb2.ExecuteActionRequest, context: Any
    ) -> actions_pb2.ExecuteActionResponse:
        return await self._forward(self._stub.ExecuteAction, request, context)

    async def GetFieldOptions(
        self, request: actions_pb2.GetFieldOptionsRequest, context: Any
    ) -> actions_pb2.GetFieldOptionsResponse:
        return await self._forward(self._stub.GetFieldOptions, request, context)

    @staticmethod
    async def _forward(
        method: Callable[..., Awaitable[Response]], request: Any, context: Any
    ) -> Response:
        try:
            return await method(request, timeout=context.time_remaining() or CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            await context.abort(error.code(), error.details() or "")
            raise  # abort raises; this line is for the type checker


@contextlib.asynccontextmanager
async def relay(address: str, extra_action: str, secret: str = "") -> AsyncIterator[str]:
    """A relay in front of `address` that also declares `extra_action`; yields its address."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    async with open_channel(address, secret) as channel:
        servicer = _Relay(actions_pb2_grpc.ActionServiceStub(channel), extra_action)
        actions_pb2_grpc.add_ActionServiceServicer_to_server(servicer, server)
        # The bridge's channels watch grpc.health.v1 of ActionService (healthCheckConfig).
        health_servicer = health.aio.HealthServicer()
        await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            yield f"127.0.0.1:{port}"
        finally:
            await server.stop(None)
