"""Running the checks against one server: directly, then through a bridge started in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp
import grpc

from jetactions.v1 import actions_pb2_grpc
from jetbridge.config import MiB
from jetbridge.conformance import _bridge_checks, _grpc_checks
from jetbridge.conformance._bridge import running_bridge
from jetbridge.conformance._check import Check, CheckFailed, Target
from jetbridge.conformance._report import CheckResult, Report
from jetbridge.conformance.spec import Shop

GRPC_CHECKS: tuple[Check, ...] = _grpc_checks.CHECKS
"""Checks that call the server directly over gRPC."""
BRIDGE_CHECKS: tuple[Check, ...] = _bridge_checks.CHECKS
"""Checks that send Jet Admin's messages to a bridge in front of the server."""

CHECK_TIMEOUT = 20.0
"""Upper bound on one check, in seconds: a server that hangs fails the check, not the suite."""

_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 16 * MiB),
    ("grpc.max_receive_message_length", 16 * MiB),
]


async def run(
    address: str,
    *,
    prefix: str = "",
    grpc_checks: bool = True,
    bridge_checks: bool = True,
) -> Report:
    """Check the ActionService at `address` (HOST:PORT) against the example shop.

    Args:
        address: The server's gRPC address, e.g. `127.0.0.1:50051`.
        prefix: The prefix the server puts in front of every action and model name.
        grpc_checks: Run the checks that call the server directly.
        bridge_checks: Run the checks through a bridge started in this process on a free
            127.0.0.1 port, with authentication disabled (it accepts only local callers).

    Returns:
        One result per check, in the order they ran.
    """
    results: list[CheckResult] = []
    async with grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS) as channel:
        target = Target(
            address=address,
            shop=Shop(prefix),
            channel=channel,
            stub=actions_pb2_grpc.ActionServiceStub(channel),
        )
        if grpc_checks:
            results += await run_checks(GRPC_CHECKS, target)
        if bridge_checks:
            async with running_bridge(address) as client:
                target.bridge_client = client
                results += await run_checks(BRIDGE_CHECKS, target)
    return Report(address=address, prefix=prefix, results=tuple(results))


async def run_checks(checks: Sequence[Check], target: Target) -> list[CheckResult]:
    """Run `checks` one after the other; every check yields a result, whatever happens."""
    return [await run_check(item, target) for item in checks]


async def run_check(item: Check, target: Target) -> CheckResult:
    """Run one check and turn whatever it raised into a FAIL that says why."""
    started = time.monotonic()

    def failed(expected: str, got: str) -> CheckResult:
        return CheckResult(
            item.id, item.title, False, expected, got, seconds=time.monotonic() - started
        )

    try:
        note = await asyncio.wait_for(item.function(target), CHECK_TIMEOUT)
    except CheckFailed as error:
        return failed(error.expected, error.got)
    except grpc.aio.AioRpcError as error:
        return failed("a successful call", f"gRPC {error.code().name}: {error.details()}")
    except TimeoutError:
        return failed(f"an answer within {CHECK_TIMEOUT:.0f} s", "no answer")
    except aiohttp.ClientError as error:
        return failed("an HTTP answer from the bridge", f"{type(error).__name__}: {error}")
    except Exception as error:
        return failed("no error", f"{type(error).__name__}: {error}")
    return CheckResult(
        item.id, item.title, True, note=note or "", seconds=time.monotonic() - started
    )
