"""Running a suite against one server: directly, then through a bridge started in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

import aiohttp
import grpc

from jetactions.v1 import actions_pb2_grpc
from jetconformance._bridge import running_bridge
from jetconformance._registry import Check, Suite, checks
from jetconformance._report import CheckResult, Report
from jetconformance._target import CheckFailed, CheckSkipped, Target, open_channel

CHECK_TIMEOUT = 20.0
"""Upper bound on one check, in seconds: a server that hangs fails the check, not the suite."""


async def run(
    address: str,
    *,
    suite: Suite = "generic",
    prefix: str = "",
    exclude: Iterable[str] = (),
    secret: str = "",
    grpc_checks: bool = True,
    bridge_checks: bool = True,
) -> Report:
    """Check the ActionService at `address` (HOST:PORT).

    Args:
        address: The server's gRPC address, e.g. `127.0.0.1:50051`.
        suite: `generic` checks any server against the contract, from what it declares;
            `shop` checks a server of the example shop against examples/ACTIONS.md.
        prefix: (shop) What the server puts in front of every action and model name.
        exclude: (generic) Actions never run, e.g. ones with side effects.
        secret: The shared secret the server requires, sent on every call (and by the bridge);
            the generic suite then also checks that calls without it are refused.
        grpc_checks: Run the checks that call the server directly.
        bridge_checks: Run the checks through a bridge started in this process on a free
            127.0.0.1 port, with authentication disabled (it accepts only local callers).

    Returns:
        One result per check, in the order they ran.
    """
    results: list[CheckResult] = []
    async with open_channel(address, secret) as channel:
        target = Target(
            address=address,
            channel=channel,
            stub=actions_pb2_grpc.ActionServiceStub(channel),
            prefix=prefix,
            exclude=frozenset(exclude),
            secret=secret,
        )
        if grpc_checks:
            results += await run_checks(checks(suite, "grpc"), target)
        if bridge_checks:
            async with running_bridge(address, secret) as client:
                target.bridge_client = client
                results += await run_checks(checks(suite, "bridge"), target)
    return Report(address=address, suite=suite, prefix=prefix, results=tuple(results))


async def run_checks(items: Sequence[Check], target: Target) -> list[CheckResult]:
    """Run `items` one after the other; every check yields a result, whatever happens."""
    return [await run_check(item, target) for item in items]


async def run_check(item: Check, target: Target) -> CheckResult:
    """Run one check and turn whatever it raised into a FAIL that says why."""
    started = time.monotonic()

    def failed(expected: str, got: str) -> CheckResult:
        return CheckResult(
            item.id, item.title, False, expected, got, seconds=time.monotonic() - started
        )

    try:
        note = await asyncio.wait_for(item.function(target), CHECK_TIMEOUT)
    except CheckSkipped as skip:
        return CheckResult(
            item.id,
            item.title,
            False,
            note=skip.reason,
            skipped=True,
            seconds=time.monotonic() - started,
        )
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
