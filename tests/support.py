"""What the tests share to start things and wait for them: one implementation of each.

Waiting is on state (the bridge's /readyz says its first discovery is done), bounded in time,
and a process that exited stops the wait at once with its output.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import grpc

from jetactions.v1 import actions_pb2_grpc

READY_S = 30.0
"""How long a bridge may take to start and discover (generous: CI machines are shared)."""


def _check_alive(process: subprocess.Popen[Any] | None, output: Callable[[], str]) -> None:
    if process is not None and process.poll() is not None:
        raise RuntimeError(f"the bridge exited with {process.returncode}:\n{output()}")


def wait_ready(
    url: str,
    process: subprocess.Popen[Any] | None = None,
    output: Callable[[], str] = lambda: "",
    timeout: float = READY_S,
) -> None:
    """Block until `url`/readyz answers 200 (the bridge's first discovery is done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(process, output)
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url + "/readyz", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"the bridge at {url} was not ready within {timeout:g} s:\n{output()}")


async def until_ready(
    url: str,
    process: subprocess.Popen[Any] | None = None,
    output: Callable[[], str] = lambda: "",
    within: float = READY_S,
) -> None:
    """`wait_ready` for async tests: the event loop goes on serving meanwhile."""
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(within):
            while True:
                _check_alive(process, output)
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(url + "/readyz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
    except TimeoutError:
        message = f"the bridge at {url} was not ready within {within:g} s:\n{output()}"
        raise TimeoutError(message) from None


@contextlib.asynccontextmanager
async def action_service(servicer: actions_pb2_grpc.ActionServiceServicer) -> AsyncIterator[str]:
    """Serve `servicer` (a hand-written ActionService) on a loopback port; yields its address."""
    server = grpc.aio.server()
    actions_pb2_grpc.add_ActionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)
