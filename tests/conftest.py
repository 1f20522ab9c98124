"""Fixtures: real action-server processes on loopback ports and in-process bridges.

Action servers run as separate processes (they are killed and restarted by fault tests); the
bridge under test runs in the test's event loop on a real loopback port and is called over real
HTTP, so each test gets its own bridge with its own settings in a few milliseconds.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp.test_utils import TestServer
from blockbuster import BlockBuster, blockbuster_ctx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jetbridge.app import create_app
from jetbridge.config import ServiceConfig, Settings
from jetbridge.server import BridgeRunner

ROOT = Path(__file__).resolve().parents[1]
# Commands the docs show (`jetbridge`, `jetactions`) run from the environment the tests run in,
# however pytest was started (scripts/test puts .venv/bin first; `.venv/bin/python -m pytest`
# does not).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
SHOP = ROOT / "examples" / "python" / "shop.py"
BILLING = ROOT / "tests" / "servers" / "billing.py"
LOGS = ROOT / ".pytest_cache" / "server-logs"


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ActionServerProcess:
    """An action server started as its own process on a loopback port.

    The first start asks for port 0 and reads the bound port from the server's `serving on
    HOST:PORT` line (no bind-then-close race); restarts keep that port, so that a bridge in
    front of it finds it again.
    """

    script: Path
    args: tuple[str, ...] = ()
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = LOGS / f"{self.script.stem}-{os.getpid()}-{time.monotonic_ns()}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def lines_with(self, text: str) -> int:
        """How many lines of its output so far contain `text`."""
        if not self.log_path.exists():
            return 0
        return sum(text in line for line in self.log_path.read_text(errors="replace").splitlines())

    def wait_for_lines(self, text: str, count: int, timeout: float = 10.0) -> None:
        """Block until `count` lines of its output contain `text`: synchronise on what the
        server says it did, not on time."""
        deadline = time.monotonic() + timeout
        while self.lines_with(text) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.script.name} never printed {text!r} {count} times")
            time.sleep(0.01)

    def start(self, wait: bool = True) -> None:
        """Start the process (again) and, unless told not to, wait until it serves."""
        LOGS.mkdir(parents=True, exist_ok=True)
        starts = self.lines_with("serving on")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, str(self.script), "--address", self.address, *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        log.close()
        if self.port == 0:
            self.port = self._bound_port(starts)
        if wait:
            self.wait_serving()

    def _bound_port(self, starts: int, timeout: float = 20.0) -> int:
        """The port of the start line that follows the `starts` already in the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [
                line
                for line in self.log_path.read_text(errors="replace").splitlines()
                if "serving on" in line
            ]
            if len(lines) > starts:
                found = re.search(r"serving on 127\.0\.0\.1:(\d+)", lines[starts])
                assert found, lines[starts]
                return int(found.group(1))
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.script.name} exited: {self.log_path.read_text()}")
            time.sleep(0.02)
        raise TimeoutError(f"{self.script.name} printed no 'serving on' line")

    def wait_serving(self, timeout: float = 20.0) -> None:
        """Block until grpc.health.v1 says SERVING."""
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.script.name} exited with {self.process.returncode}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.05)
        raise TimeoutError(f"{self.script.name} did not start serving on {self.address}")

    def kill(self) -> None:
        """SIGKILL: the process dies with whatever it had in flight."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, then wait for the process to exit."""
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)
            self.process.wait(timeout=20)


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
def spawn() -> Iterator[Callable[..., ActionServerProcess]]:
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


@dataclass(frozen=True)
class Reply:
    """An HTTP answer of the bridge."""

    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        """The decoded body; an error's `request_id` is checked and left out (it differs on
        every request), so that tests compare the rest."""
        return without_request_id(self.status, self.headers, self.body)


def without_request_id(status: int, headers: Any, body: bytes) -> Any:
    """A JSON body; for an error, checked to carry the `X-Request-ID` header's id, which is then
    removed."""
    import orjson

    data = orjson.loads(body)
    if status >= 400 and isinstance(data, dict):
        assert data.pop("request_id") == headers["X-Request-ID"], "error without its request id"
    return data


@dataclass
class Bridge:
    """A bridge running in this event loop, called over real HTTP."""

    server: TestServer
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return str(self.server.make_url("/api/messages/"))

    async def send(self, name: str | None, params: Any = None, **extra: Any) -> Reply:
        """POST one Jet message; `params=None` leaves the key out, as the browser does."""
        message: dict[str, Any] = dict(extra)
        if name is not None:
            message["name"] = name
        if params is not None:
            message["params"] = params
        return await self.post(json=message)

    async def post(self, **kwargs: Any) -> Reply:
        async with self.session.post(self.url, **kwargs) as response:
            return Reply(response.status, response.headers, await response.read())

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        url = self.server.make_url(path)
        async with self.session.request(method, url, **kwargs) as response:
            return Reply(response.status, response.headers, await response.read())


BridgeFactory = Callable[..., Awaitable[Bridge]]


class BridgeTestServer(TestServer):
    """aiohttp's TestServer, with the runner `jetbridge serve` uses (JSON for what the HTTP
    parser refuses, the connection cap)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(create_app(settings), host="127.0.0.1")
        self.settings = settings

    async def _make_runner(self, **kwargs: Any) -> BridgeRunner:
        return BridgeRunner(self.app, self.settings, **kwargs)


def service(name: str, server: ActionServerProcess, timeout: float = 10.0) -> ServiceConfig:
    """A ServiceConfig for one action-server process."""
    return ServiceConfig(name=name, target=server.address, timeout=timeout)


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
