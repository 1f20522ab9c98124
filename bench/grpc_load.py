"""A grpc.aio load generator: the same ExecuteAction calls the bridge makes, made directly.

    python -m bench.grpc_load --target 127.0.0.1:P --concurrency 32 --seconds 3 --params JSON

It builds the request exactly as the bridge would for the Jet message's `params` (same code,
same channel arguments, same event loop, uvloop), then keeps `concurrency` calls in flight for
`seconds` and prints one JSON line: requests, duration_us, p50_us, p99_us, errors. This is the
ceiling of the bridge's gRPC hop: the bridge cannot call the action server faster than this.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

# isort: off
# E402 below: the I/O path must be chosen before grpc is imported, as the command does.
from jetbridge._entry import prefer_older_grpc_io_path

prefer_older_grpc_io_path()

# isort: on
import grpc  # noqa: E402
import uvloop  # noqa: E402

from jetactions.v1 import actions_pb2  # noqa: E402
from jetbridge.config import Calls, Limits, ServiceConfig  # noqa: E402
from jetbridge.messages import execute_request  # noqa: E402
from jetbridge.services import Service  # noqa: E402


def _percentile(ordered: Sequence[float], pct: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def run(target: str, concurrency: int, seconds: float, params: dict[str, Any]) -> None:
    service = Service(ServiceConfig(name="bench", target=target, timeout=10.0), Calls(), Limits())
    request = execute_request(params)
    request.caller.CopyFrom(actions_pb2.Caller(auth_method=actions_pb2.AUTH_METHOD_BEARER))
    stub = service.stub
    await asyncio.wait_for(service.channel.channel_ready(), 10)
    # A few calls first: connection set up and code paths warm before the clock starts.
    for _ in range(20):
        await stub.ExecuteAction(request, timeout=10, metadata=service.metadata)
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while True:
            start = time.perf_counter()
            if start >= end:
                return
            try:
                await stub.ExecuteAction(request, timeout=10, metadata=service.metadata)
            except grpc.aio.AioRpcError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    duration = time.perf_counter() - began
    await service.close()
    latencies.sort()
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "duration_us": int(duration * 1e6),
                "p50_us": int(_percentile(latencies, 50) * 1e6),
                "p99_us": int(_percentile(latencies, 99) * 1e6),
                "max_us": int(latencies[-1] * 1e6) if latencies else 0,
                "non2xx": errors,
                "socket_errors": 0,
            }
        ),
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.grpc_load")
    parser.add_argument("--target", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--params", required=True, help="the Jet message's params, as JSON")
    args = parser.parse_args(argv)
    uvloop.run(run(args.target, args.concurrency, args.seconds, json.loads(args.params)))


if __name__ == "__main__":
    main()
