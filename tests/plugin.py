"""The suite's fixtures: real action-server processes on loopback ports and in-process bridges.

Action servers run as separate processes (they are killed and restarted by fault tests); the
bridge under test runs in the test's event loop on a real loopback port and is called over real
HTTP, so each test gets its own bridge with its own settings in a few milliseconds. The helpers
the fixtures are built on live in tests/support.py; tests/conftest.py registers this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from blockbuster import BlockBuster, blockbuster_ctx

from jetbridge import ttl_cache
from jetbridge.config import ServiceConfig, Settings
from tests.support import (
    BILLING,
    SHOP,
    ActionServerProcess,
    Bridge,
    BridgeFactory,
    BridgeTestServer,
    FakeClock,
    Spawn,
    free_port,
)


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test in which the bridge, the SDK or the suite blocks its event loop (a file
    read, a sleep, a socket call in a coroutine), as aiohttp's own suite does."""
    with blockbuster_ctx(["jetbridge", "jetactions", "jetconformance"]) as detector:
        for function in detector.functions.values():
            # What runs once as the app starts, before it serves anything: loading an
            # in-process action server's module, reading the console's files, and reading the
            # TLS files and keys that settings name (tests build settings in their loop).
            function.can_block_in("jetactions/cli.py", ["_import", "_import_file"])
            function.can_block_in("jetbridge/console/__init__.py", "add_routes")
            function.can_block_in("jetbridge/services.py", "read")
            function.can_block_in("jetbridge/config.py", ["_readable_file", "_verify_key"])
        yield detector


@pytest.fixture
def ttl_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock of the bridge's credential caches, for this test: it moves on `advance`."""
    clock = FakeClock()
    monkeypatch.setattr(ttl_cache, "clock", clock)
    return clock


@pytest.fixture(scope="session")
def shop() -> Iterator[ActionServerProcess]:
    """The Python example action server, shared by the tests that do not kill it."""
    server = ActionServerProcess(SHOP)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def billing() -> Iterator[ActionServerProcess]:
    """A second action server with actions made for testing failures."""
    server = ActionServerProcess(BILLING)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start action servers owned by one test (to kill or restart); stopped afterwards."""
    started: list[ActionServerProcess] = []

    def make(script: Path = BILLING, *args: str, start: bool = True) -> ActionServerProcess:
        # One that starts later needs its address now: a port that nothing listens on yet.
        server = ActionServerProcess(script, tuple(args), port=0 if start else free_port())
        if start:
            server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()


@pytest.fixture
async def make_bridge() -> AsyncIterator[BridgeFactory]:
    """Start in-process bridges in front of the given services; closed after the test."""
    running: list[Bridge] = []

    async def make(*services: ServiceConfig, **settings: Any) -> Bridge:
        options: dict[str, Any] = {
            "disable_auth": True,
            "discovery_timeout": 2.0,
            "retry_max_interval": 0.5,
        }
        options.update(settings)
        server = BridgeTestServer(Settings.from_keys(options, services))
        await server.start_server()
        bridge = Bridge(server, aiohttp.ClientSession())
        running.append(bridge)
        return bridge

    yield make
    for bridge in running:
        await bridge.session.close()
        await bridge.server.close()
