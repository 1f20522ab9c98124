"""Helper servers of the benchmark, each run as its own process.

python -m bench.servers const --port P --route /1/=FILE --route /10/=FILE
    An aiohttp app (uvloop, no access log) whose POST routes answer a constant JSON body:
    the HTTP ceiling that get_action_list is compared with.
python -m bench.servers slow --port P [--port P2 ...] --delay 1.0
    One gRPC action server per port, in one process, each serving the example shop's
    actions under its own prefix (s0_, s1_, ...) and answering ListActions only after
    `delay` seconds.
python -m bench.servers forward --port P --target HOST:PORT
    The floor of the bridge's execute_action path: a minimal aiohttp handler (uvloop) that
    parses the Jet message, builds the ExecuteActionRequest, calls grpc.aio and answers JSON.
python -m bench.servers bare --port P
    The floor of an action server: a bare grpc.aio servicer (uvloop, the SDK's loop) whose
    ExecuteAction answers a constant.
python -m bench.servers otlp-sink --port P
    An OTLP/gRPC trace receiver that accepts every export and keeps nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import orjson
import uvloop
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from jetactions._servicer import ActionServicer, CallContext
from jetactions.action import ActionRegistry
from jetactions.contract import SERVICE_NAME
from jetactions.v1 import actions_pb2, actions_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "python" / "shop.py"


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def _constant(body: bytes) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    return handler


async def serve_constant(port: int, routes: dict[str, bytes]) -> None:
    """Serve `routes` (path -> body) until SIGTERM."""
    app = web.Application()
    for path, body in routes.items():
        app.router.add_post(path, _constant(body))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await _until_signalled()
    await runner.cleanup()


class SlowListing(ActionServicer):
    """The SDK's servicer, with a ListActions that takes `delay` seconds to answer."""

    def __init__(self, registry: ActionRegistry, delay: float) -> None:
        super().__init__(registry)
        self.delay = delay

    async def ListActions(
        self, request: actions_pb2.ListActionsRequest, context: CallContext
    ) -> actions_pb2.ListActionsResponse:
        await asyncio.sleep(self.delay)
        return await super().ListActions(request, context)


def _shop_factory() -> Callable[[str], ActionRegistry]:
    spec = importlib.util.spec_from_file_location("bench_shop", SHOP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    build: Callable[[str], ActionRegistry] = module.build_app
    return build


async def serve_slow(ports: Sequence[int], delay: float) -> None:
    """One gRPC server per port, each a prefixed copy of the shop with a slow ListActions."""
    build_app = _shop_factory()
    servers = []
    for index, port in enumerate(ports):
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        servicer = SlowListing(build_app(f"s{index}_"), delay)
        actions_pb2_grpc.add_ActionServiceServicer_to_server(servicer, server)
        health = health_aio.HealthServicer()
        for name in ("", SERVICE_NAME):
            await health.set(name, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        servers.append(server)
    await _until_signalled()
    for server in servers:
        await server.stop(0)


# --- floors: the parts the bridge and the SDK are built from, and nothing else -----------------


def _value(value: Any, into: Any) -> None:
    if isinstance(value, bool):
        into.bool_value = value
    elif isinstance(value, int | float):
        into.number_value = value
    else:
        into.string_value = str(value)


async def serve_forwarder(port: int, target: str) -> None:
    """aiohttp -> grpc.aio, with no checks, auth, limits or errors of its own."""
    channel = grpc.aio.insecure_channel(target)
    stub = actions_pb2_grpc.ActionServiceStub(channel)

    async def messages(request: web.Request) -> web.Response:
        params = orjson.loads(await request.read())["params"]
        call = actions_pb2.ExecuteActionRequest(
            action=params["name"],
            model=params.get("model", ""),
            inverse_ids=bool(params.get("inverseIds")),
        )
        for item in params.get("ids", ()):
            _value(item, call.ids.add())
        call.inputs.update(params.get("params") or {})
        call.message_params.update(params)
        answer = (await stub.ExecuteAction(call, timeout=10)).result
        body = {"result": answer.value.bool_value, "message": answer.message}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/messages/", messages)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await _until_signalled()
    await runner.cleanup()
    await channel.close()


class BareServicer(actions_pb2_grpc.ActionServiceServicer):
    """ExecuteAction answers a constant: what grpc.aio costs per call, and nothing else."""

    _answer = actions_pb2.ExecuteActionResponse(result=actions_pb2.Result(message="Mailed 2 users"))
    _answer.result.value.bool_value = True

    async def ExecuteAction(
        self, request: actions_pb2.ExecuteActionRequest, context: Any
    ) -> actions_pb2.ExecuteActionResponse:
        return self._answer

    async def ListActions(
        self, request: actions_pb2.ListActionsRequest, context: Any
    ) -> actions_pb2.ListActionsResponse:
        return actions_pb2.ListActionsResponse()

    async def GetFieldOptions(
        self, request: actions_pb2.GetFieldOptionsRequest, context: Any
    ) -> actions_pb2.GetFieldOptionsResponse:
        return actions_pb2.GetFieldOptionsResponse()


async def serve_bare(port: int) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    actions_pb2_grpc.add_ActionServiceServicer_to_server(BareServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await _until_signalled()
    await server.stop(0)


async def serve_otlp_sink(port: int) -> None:
    """Answers every OTLP trace export with an empty (valid) ExportTraceServiceResponse."""

    async def export(request: bytes, context: Any) -> bytes:
        return b""

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)},
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await _until_signalled()
    await server.stop(0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    commands = parser.add_subparsers(dest="command", required=True)
    const = commands.add_parser("const")
    const.add_argument("--port", type=int, required=True)
    const.add_argument("--route", action="append", default=[], metavar="PATH=FILE")
    slow = commands.add_parser("slow")
    slow.add_argument("--port", type=int, action="append", required=True)
    slow.add_argument("--delay", type=float, default=1.0)
    forward = commands.add_parser("forward")
    forward.add_argument("--port", type=int, required=True)
    forward.add_argument("--target", required=True)
    for name in ("bare", "otlp-sink"):
        commands.add_parser(name).add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "forward":
        uvloop.run(serve_forwarder(args.port, args.target))
    elif args.command == "bare":
        uvloop.run(serve_bare(args.port))
    elif args.command == "otlp-sink":
        uvloop.run(serve_otlp_sink(args.port))
    elif args.command == "const":
        routes = {}
        for item in args.route:
            path, _, file = item.partition("=")
            routes[path] = Path(file).read_bytes()
        uvloop.run(serve_constant(args.port, routes))
    else:
        # The SDK's own server runs on asyncio's default loop; so do these.
        asyncio.run(serve_slow(args.port, args.delay))


if __name__ == "__main__":
    main()
