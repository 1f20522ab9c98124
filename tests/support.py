"""The test harness: what more than one test file uses, one implementation of each. The
fixtures built on it live in tests/plugin.py; test files import helpers from here only.

Sections: waiting on state; action servers (processes, and a hand-written ActionService in the
test's loop); bridges in the test's event loop; bridges, demos and example shops as processes;
stand-ins (Jet's API) and tools; the SDK's tests (the example shop as a module, enums).

Waiting is on state (a log line, a readiness answer, a count), bounded in time, and a process
that exited stops the wait at once with its output: `wait_until` (blocking, for sync tests and
fixtures) and `until` (async, the event loop goes on serving meanwhile) are the only poll loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib.util
import inspect
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeAlias, TypeVar, overload

import aiohttp
import grpc
import jwt
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jetactions.testing import ActionTester
from jetactions.v1 import actions_pb2, actions_pb2_grpc
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
GO_SHOP = ROOT / "examples" / "go" / "bin" / "shop"
NODE_SHOP = ROOT / "examples" / "node" / "dist" / "server.js"
LOGS = ROOT / ".pytest_cache" / "server-logs"
BUILD = "scripts/build-examples --no-test"

READY_S = 30.0
"""How long a bridge may take to start and discover (generous: CI machines are shared)."""
WAIT_S = 15.0
"""How long a state may take to come about before a wait fails (generous, as above)."""
POLL_S = 0.02

T = TypeVar("T")


# --- waiting on state ------------------------------------------------------------------------


def _check_alive(process: subprocess.Popen[Any] | None, output: Callable[[], str]) -> None:
    if process is not None and process.poll() is not None:
        raise RuntimeError(f"the process exited with {process.returncode}:\n{output()}")


def _timed_out(what: str, timeout: float, output: Callable[[], str]) -> TimeoutError:
    details = output()
    return TimeoutError(f"no {what} within {timeout:g} s" + (f":\n{details}" if details else ""))


def wait_until(
    predicate: Callable[[], T | None],
    what: str,
    timeout: float = WAIT_S,
    process: subprocess.Popen[Any] | None = None,
    output: Callable[[], str] = lambda: "",
    every: float = POLL_S,
) -> T:
    """Block until `predicate()` is truthy and return its value (a regex match, a count...).

    `what` names the awaited state in the error; if `process` exits first, the wait stops at
    once with `output()`. `every` is the polling interval.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        _check_alive(process, output)
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout, output)
        time.sleep(every)


@overload
async def until(
    predicate: Callable[[], Awaitable[T | None]],
    what: str,
    within: float = ...,
    process: subprocess.Popen[Any] | None = ...,
    output: Callable[[], str] = ...,
    every: float = ...,
) -> T: ...
@overload
async def until(
    predicate: Callable[[], T | None],
    what: str,
    within: float = ...,
    process: subprocess.Popen[Any] | None = ...,
    output: Callable[[], str] = ...,
    every: float = ...,
) -> T: ...
async def until(
    predicate: Callable[[], Any],
    what: str,
    within: float = WAIT_S,
    process: subprocess.Popen[Any] | None = None,
    output: Callable[[], str] = lambda: "",
    every: float = POLL_S,
) -> Any:
    """`wait_until` for async tests; `predicate` may be a coroutine function."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        _check_alive(process, output)
        if time.monotonic() > deadline:
            raise _timed_out(what, within, output)
        await asyncio.sleep(every)


def _ready(url: str) -> bool:
    with (
        contextlib.suppress(OSError, urllib.error.URLError),
        urllib.request.urlopen(url + "/readyz", timeout=2) as response,
    ):
        return bool(response.status == 200)
    return False


def wait_ready(
    url: str,
    process: subprocess.Popen[Any] | None = None,
    output: Callable[[], str] = lambda: "",
    timeout: float = READY_S,
) -> None:
    """Block until `url`/readyz answers 200 (the bridge's first discovery is done)."""
    wait_until(lambda: _ready(url), f"ready bridge at {url}", timeout, process, output)


async def until_ready(
    url: str,
    process: subprocess.Popen[Any] | None = None,
    output: Callable[[], str] = lambda: "",
    within: float = READY_S,
) -> None:
    """`wait_ready` for async tests: the event loop goes on serving meanwhile."""
    async with aiohttp.ClientSession() as session:

        async def ready() -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url + "/readyz") as response:
                    return response.status == 200
            return False

        await until(ready, f"ready bridge at {url}", within, process, output)


@dataclass
class FakeClock:
    """A monotonic clock that moves only when told: the `ttl_clock` fixture puts one behind the
    bridge's credential caches (jetbridge.ttl_cache.clock), so expiry is tested by advancing it."""

    now: float = field(default_factory=time.monotonic)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for an address that must be
    refused, or known before its server starts; servers under test bind port 0 instead)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_built(path: Path) -> None:
    """Skip when an example is not built; under CI (CI=true) that is a failure instead."""
    if path.exists():
        return
    message = f"{path.relative_to(ROOT)} is not built: run {BUILD}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


# --- action servers --------------------------------------------------------------------------


ListContext: TypeAlias = grpc.aio.ServicerContext[
    actions_pb2.ListActionsRequest, Awaitable[actions_pb2.ListActionsResponse]
]
ExecuteContext: TypeAlias = grpc.aio.ServicerContext[
    actions_pb2.ExecuteActionRequest, Awaitable[actions_pb2.ExecuteActionResponse]
]
OptionsContext: TypeAlias = grpc.aio.ServicerContext[
    actions_pb2.GetFieldOptionsRequest, Awaitable[actions_pb2.GetFieldOptionsResponse]
]

OK = actions_pb2.ExecuteActionResponse(result=actions_pb2.Result(message="ok"))


class HandWritten(actions_pb2_grpc.ActionServiceServicer):
    """An ActionService written by hand for a test, on the generated code alone: it lists
    `listing`, answers every action with OK and every field with no options. A test overrides
    the method it checks; `action_service` serves it on loopback."""

    listing = actions_pb2.ListActionsResponse()

    async def ListActions(
        self, request: actions_pb2.ListActionsRequest, context: ListContext
    ) -> actions_pb2.ListActionsResponse:
        return self.listing

    async def ExecuteAction(
        self, request: actions_pb2.ExecuteActionRequest, context: ExecuteContext
    ) -> actions_pb2.ExecuteActionResponse:
        return OK

    async def GetFieldOptions(
        self, request: actions_pb2.GetFieldOptionsRequest, context: OptionsContext
    ) -> actions_pb2.GetFieldOptionsResponse:
        return actions_pb2.GetFieldOptionsResponse()


def common_action(name: str) -> actions_pb2.Action:
    return actions_pb2.Action(name=name, common_action=actions_pb2.CommonAction())


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

    def output(self) -> str:
        """Its output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def lines_with(self, text: str) -> int:
        """How many lines of its output so far contain `text`."""
        return sum(text in line for line in self.output().splitlines())

    def wait_for_lines(self, text: str, count: int, timeout: float = 10.0) -> None:
        """Block until `count` lines of its output contain `text`: synchronise on what the
        server says it did, not on time."""
        wait_until(lambda: self.lines_with(text) >= count, f"{count} × {text!r}", timeout)

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

        def new_start() -> str | None:
            lines = [line for line in self.output().splitlines() if "serving on" in line]
            return lines[starts] if len(lines) > starts else None

        line = wait_until(new_start, "'serving on' line", timeout, self.process, self.output)
        found = re.search(r"serving on 127\.0\.0\.1:(\d+)", line)
        assert found, line
        return int(found.group(1))

    def wait_serving(self, timeout: float = 20.0) -> None:
        """Block until grpc.health.v1 says SERVING."""
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)

            def serving() -> bool:
                with contextlib.suppress(grpc.RpcError):
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
                return False

            what = f"SERVING health from {self.script.name} on {self.address}"
            wait_until(serving, what, timeout, self.process, self.output)

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


Spawn = Callable[..., ActionServerProcess]
"""The `spawn` fixture: `spawn(script=BILLING, *args, start=True)`."""


# --- bridges in the test's event loop --------------------------------------------------------


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

    async def in_flight(self, service: str) -> int:
        """The calls to `service` the bridge has in flight, as its /readyz reports them."""
        ready = (await self.request("GET", "/readyz")).json()
        (status,) = [s for s in ready["services"] if s["name"] == service]
        return int(status["in_flight"])


BridgeFactory = Callable[..., Awaitable[Bridge]]
"""The `make_bridge` fixture: `await make_bridge(*services, **settings)`."""


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


# --- bridges, demos and example shops as processes -------------------------------------------


BRIDGE_START = re.compile(rb"serving Jet Admin messages on (http://\S+?)/api/messages/")
"""The line `jetbridge serve` logs once it listens, with the port it bound."""


@dataclass
class BridgeProcess:
    """`jetbridge serve` as its own process, its output in a file under LOGS."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self) -> list[str]:
        return self.output().splitlines()

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it has not stopped within 20 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_BRIDGE_LOGS = itertools.count()


@contextlib.contextmanager
def bridge_process(
    *args: str, name: str = "bridge", env: Mapping[str, str] | None = None
) -> Iterator[BridgeProcess]:
    """`jetbridge serve --address 127.0.0.1 ARGS`, on any free port unless ARGS give one (as
    `--workers` needs); yields once its start line is out, and stops it afterwards."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}-{os.getpid()}-{next(_BRIDGE_LOGS)}.log"
    port = [] if "--port" in args else ["--port", "0"]
    command = [sys.executable, "-m", "jetbridge", "serve", "--address", "127.0.0.1", *port]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    served = BridgeProcess(process, "", log)
    try:
        start = wait_until(
            lambda: BRIDGE_START.search(log.read_bytes()),
            "start line",
            READY_S,
            process,
            served.output,
        )
        served.url = start.group(1).decode()
        yield served
    finally:
        served.stop()


DEMO = ROOT / "scripts" / "demo-polyglot"
READY = "Try, from another terminal"
"""The line scripts/demo-polyglot prints once its bridge is ready."""


@dataclass
class Demo:
    """The running demo script, in a process group of its own."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages/"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


SERVING = re.compile(r"serving on (127\.0\.0\.1:\d+)")


@dataclass(frozen=True)
class Language:
    """An example shop, how to start it, and one call that its actions answer."""

    name: str
    command: tuple[str, ...]
    message: dict[str, Any]


LANGUAGES = (
    # The SDK's own command on a test server: the Python shop configures logging itself.
    Language(
        "python",
        (sys.executable, "-m", "jetactions", "serve", "tests/servers/ops.py:app"),
        {"model": "users", "name": "sync_users", "ids": [1, 2]},
    ),
    Language(
        "go",
        (str(GO_SHOP), "--prefix", "go_"),
        {"model": "go_users", "name": "go_adjust_wallet", "id": 1, "params": {"amount": "5"}},
    ),
    Language(
        "node",
        ("node", str(NODE_SHOP), "--prefix", "node_"),
        {
            "model": "node_orders",
            "name": "node_ship_order",
            "id": 42,
            "params": {"carrier": "dhl", "country": "uk", "city": "leeds"},
        },
    ),
)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without action-server, bridge or OpenTelemetry settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JETACTIONS_", "JETBRIDGE_", "OTEL_"))
    }
    return {**env, **extra}


@dataclass
class Started:
    """A process of the test, its output in a file under LOGS."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM (the process drains and exports its last spans), then waits."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextlib.contextmanager
def started(name: str, command: tuple[str, ...], env: dict[str, str]) -> Iterator[Started]:
    """Run `command` from the repository root, output in LOGS/traces-NAME-PID.log; stopped
    (SIGTERM, then waited for) afterwards."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"traces-{name}-{os.getpid()}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )
    running = Started(process, log)
    try:
        yield running
    finally:
        running.stop()


async def wait_for_line(running: Started, pattern: re.Pattern[str]) -> re.Match[str]:
    """Polls the process's log file until a line matches (or the process has exited)."""
    what = f"a line matching {pattern.pattern!r}"
    return await until(
        lambda: pattern.search(running.output()),
        what,
        READY_S,
        running.process,
        running.output,
    )


# --- stand-ins and tools -------------------------------------------------------------------


JET_PROJECT = "shop"
"""The project of `jet_claims`."""


def public_pem(key: rsa.RSAPrivateKey) -> str:
    """The public half of `key` as PEM (what `jwt_verify_key` takes)."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def jet_claims(**changes: Any) -> dict[str, Any]:
    """Claims shaped like Jet Admin's for JET_PROJECT, valid for five minutes; `changes`
    override keys, and a value of `...` drops one."""
    now = int(time.time())
    base: dict[str, Any] = {
        "user": {"id": 7, "email": "ada@example.com"},
        "project": JET_PROJECT,
        "environment": "prod",
        "admin": False,
        "projects": {JET_PROJECT: {"owner": True, "read_only": False}},
        "iat": now,
        "exp": now + 300,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


def sign_jwt(payload: dict[str, Any], key: Any, algorithm: str = "RS256") -> str:
    """A JWT of `payload` signed with `key`."""
    return jwt.encode(payload, key, algorithm=algorithm)


async def refusing_jet_api() -> TestServer:
    """A stand-in for Jet Admin's API that refuses every token."""
    api = web.Application()

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"detail": "invalid token"}, status=403)

    api.router.add_post("/api/project_auth/", refuse)
    server = TestServer(api, host="127.0.0.1")
    await server.start_server()
    return server


PLAYWRIGHT = ROOT / "node_modules" / "playwright-core" / "package.json"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def missing_browser_tools() -> list[str]:
    """What the browser tests need and this machine lacks (Chromium, node, playwright-core)."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    if shutil.which("node") is None:
        missing.append("node")
    if not PLAYWRIGHT.exists():
        missing.append("playwright-core (npm ci)")
    return missing


# --- the SDK's tests --------------------------------------------------------------------------


def load_shop() -> ModuleType:
    """Imports examples/python/shop.py (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("jetactions_example_shop", SHOP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the module runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def listing_of(tester: ActionTester) -> actions_pb2.ListActionsResponse:
    """What ListActions answers on the wire (ActionTester.list_actions gives typed definitions)."""
    return await tester.stub.ListActions(actions_pb2.ListActionsRequest())


def params_of(listing: actions_pb2.ListActionsResponse, action: str) -> dict[str, Any]:
    """The action's form params as JSON dicts keyed by name (proto3 JSON names)."""
    for entry in listing.actions:
        if entry.name == action:
            return {
                param.name: json_format.MessageToDict(param, preserving_proto_field_name=True)
                for param in entry.params
            }
    raise AssertionError(f"no action {action!r}")


class Color(enum.Enum):
    """An enum for declarations with choices (a str-valued one)."""

    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    """An enum for declarations with choices (an int-valued one)."""

    SMALL = 1
    LARGE = 2
