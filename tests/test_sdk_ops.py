"""The SDK's operational side through real processes: `jetactions serve`, its settings from
flags and the environment, logs, Prometheus metrics and OTLP traces.

Each test starts `jetactions serve tests/servers/ops.py:app` (or a small script) as a
subprocess on port 0, reads the bound port from its `serving on` line and calls it over gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

import jetactions
from jetactions._settings import OLD_SECRET_ENV, SETTINGS
from jetactions.cli import AppLoadError, load_app, resolve_app
from jetactions.sync_pool import DEFAULT_SYNC_WORKERS
from jetactions.v1 import actions_pb2, actions_pb2_grpc
from tests.otlp import otlp_receiver
from tests.support import clean_env, free_port, until

ROOT = Path(__file__).resolve().parents[1]
OPS = "tests/servers/ops.py:app"
README = ROOT / "sdk_python" / "README.md"
SERVING = re.compile(r"serving on 127\.0\.0\.1:(\d+)")
METRICS = re.compile(r"metrics on http://127\.0\.0\.1:(\d+)/metrics")
SETTING_ENV = {setting.env for setting in SETTINGS}


class Process:
    """A child process whose stderr is read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(
        cls, *args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT
    ) -> Process:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env() if env is None else dict(env),
            cwd=cwd,
        )
        return cls(process)

    async def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """Reads stderr until a line matches (or fails with everything read so far)."""
        assert self.process.stderr is not None
        async with asyncio.timeout(15):
            while True:
                raw = await self.process.stderr.readline()
                if not raw:
                    output = "\n".join(self.lines)
                    raise AssertionError(f"exited before {pattern.pattern!r}:\n{output}")
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                match = pattern.search(line)
                if match:
                    return match

    async def stop(self) -> int:
        """SIGTERM, then waits for the exit and reads the rest of stderr."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            _, rest = await self.process.communicate()
        self.lines += rest.decode().splitlines()
        assert self.process.returncode is not None
        return self.process.returncode

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.communicate()


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "jetactions", "serve", *args]


@contextlib.asynccontextmanager
async def serving(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT
) -> AsyncIterator[tuple[Process, str]]:
    """Runs `jetactions serve ARGS`; yields the process and its bound address."""
    process = await Process.start(*serve_command(*args), env=env, cwd=cwd)
    try:
        match = await process.wait_for(SERVING)
        yield process, f"127.0.0.1:{match.group(1)}"
    finally:
        await process.kill()


def run_command(
    *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs a command that is expected to end by itself (a refused start)."""
    return subprocess.run(
        args,
        env=clean_env() if env is None else dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def execute(
    action: str, *, model: str = "", ids: Sequence[int] = (), **inputs: Any
) -> actions_pb2.ExecuteActionRequest:
    request = actions_pb2.ExecuteActionRequest(action=action, model=model)
    for value in ids:
        request.ids.add().number_value = value
    request.inputs.update(inputs)
    return request


@contextlib.asynccontextmanager
async def stub_for(
    address: str, credentials: grpc.ChannelCredentials | None = None, **options: Any
) -> AsyncIterator[actions_pb2_grpc.ActionServiceStub]:
    if credentials is None:
        channel = grpc.aio.insecure_channel(address)
    else:
        channel = grpc.aio.secure_channel(address, credentials, options=tuple(options.items()))
    async with channel:
        yield actions_pb2_grpc.ActionServiceStub(channel)


def value_of(reply: actions_pb2.ExecuteActionResponse) -> Any:
    return json_format.MessageToDict(reply.result.value)


# --- the command ---------------------------------------------------------------------------


def test_version_has_one_source() -> None:
    expected = f"jetactions {jetactions.__version__}"
    assert importlib.metadata.version("jetactions") == jetactions.__version__
    script = Path(sys.executable).parent / "jetactions"
    for command in ([str(script), "--version"], [sys.executable, "-m", "jetactions", "--version"]):
        done = run_command(*command)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected


async def test_serve_a_file_then_drain_and_stop_on_sigterm() -> None:
    async with serving(OPS, "--address", "127.0.0.1:0", "--grace", "2") as (process, address):
        serving_line = process.lines[-1]
        assert "server ops, 6 actions: whoami, sync_users, hold, refuse, download, explode" in (
            serving_line
        )
        async with stub_for(address) as stub:
            listing = await stub.ListActions(actions_pb2.ListActionsRequest())
            assert len(listing.actions) == 6
        assert await process.stop() == 0
    assert any("draining (SIGTERM): calls in flight get 2.0 s" in line for line in process.lines)
    assert process.lines[-1].endswith("jetactions: stopped")


async def test_serve_a_module_and_a_factory_through_the_console_script() -> None:
    script = str(Path(sys.executable).parent / "jetactions")
    process = await Process.start(
        script, "serve", "servers.ops:build", "--address", "127.0.0.1:0", cwd=ROOT / "tests"
    )
    try:
        match = await process.wait_for(SERVING)
        async with stub_for(f"127.0.0.1:{match.group(1)}") as stub:
            reply = await stub.ExecuteAction(execute("whoami"))
            assert value_of(reply) == "ok"
    finally:
        await process.kill()


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("tests/servers/ops.py:missing", "tests/servers/ops.py has no attribute 'missing'"),
        ("tests/servers/nothing.py:app", "no such file 'tests/servers/nothing.py'"),
        ("no_such_module:app", "no module named 'no_such_module'"),
        ("tests/servers/ops.py:log", "tests/servers/ops.py:log is a Logger, not an ActionServer"),
        ("tests/servers/ops.py", "'tests/servers/ops.py' is not MODULE:APP"),
    ],
)
def test_an_app_that_cannot_be_loaded_is_one_line(reference: str, message: str) -> None:
    done = run_command(*serve_command(reference))
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_a_module_that_fails_on_import_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import jetactions\nraise RuntimeError('boom\\nsecond line')\n")
    done = run_command(*serve_command(f"{broken}:app"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"jetactions: cannot import {broken}: RuntimeError: boom second line"
    ]


def test_a_module_is_imported_once_and_a_factory_called_per_load(tmp_path: Path) -> None:
    module = tmp_path / "counted_app.py"
    module.write_text(
        "import jetactions\n"
        "IMPORTS = globals().get('IMPORTS', 0) + 1\n"
        "def build():\n"
        "    return jetactions.ActionServer(name='counted')\n"
    )
    first, second = load_app(f"{module}:build"), load_app(f"{module}:build")
    assert first is not second
    assert sys.modules["counted_app"].IMPORTS == 1
    # The same file by another path is the same module.
    assert resolve_app(f"{tmp_path / 'x' / '..' / 'counted_app.py'}:build")() is not first
    assert sys.modules["counted_app"].IMPORTS == 1
    (tmp_path / "returns_none.py").write_text("def build():\n    return None\n")
    build = resolve_app(f"{tmp_path / 'returns_none.py'}:build")  # not called yet
    with pytest.raises(AppLoadError, match=r"build\(\) returned NoneType, not an ActionServer"):
        build()


def test_every_bad_setting_is_named_at_once() -> None:
    env = clean_env(
        JETACTIONS_ADDRESS="no-port",
        JETACTIONS_TLS_CERT_FILE="/no/cert.pem",
        JETACTIONS_TLS_CLIENT_CA_FILE="/no/ca.pem",
        JETACTIONS_MAX_MESSAGE_BYTES="16MiB",
        JETACTIONS_GRACE="-1",
        JETACTIONS_LOG_FORMAT="xml",
        JETACTIONS_LOG_LEVEL="loud",
        JETACTIONS_METRICS_PORT="70000",
    )
    done = run_command(*serve_command(OPS, "--tls-key-file", "/no/key.pem"), env=env)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    named = [line.split(":")[1].strip() for line in lines]
    assert named == [
        "JETACTIONS_ADDRESS",
        "JETACTIONS_TLS_CERT_FILE",
        "--tls-key-file",
        "JETACTIONS_TLS_CLIENT_CA_FILE",
        "JETACTIONS_MAX_MESSAGE_BYTES",
        "JETACTIONS_GRACE",
        "JETACTIONS_LOG_FORMAT",
        "JETACTIONS_LOG_LEVEL",
        "JETACTIONS_METRICS_PORT",
    ], done.stderr
    assert "Traceback" not in done.stderr

    flags = ["--address", "x:y", "--grace", "soon", "--metrics-port", "-1", "--log-level", "x"]
    done = run_command(*serve_command(OPS, *flags), env=clean_env(JETACTIONS_GRACE="bad"))
    assert done.returncode == 2
    named = [line.split(":")[1].strip() for line in done.stderr.splitlines()]
    assert named == ["--address", "--grace", "--log-level", "--metrics-port"], done.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"JETBRIDGE_SECRET": ""},
            "JETBRIDGE_SECRET: is set but empty: give the secret, or unset it to accept any caller",
        ),
        (
            {OLD_SECRET_ENV: "s3cret"},
            f"{OLD_SECRET_ENV} is no longer read: name the secret JETBRIDGE_SECRET",
        ),
        (
            {"JETACTIONS_TLS_KEY_FILE": __file__},
            "JETACTIONS_TLS_KEY_FILE needs --tls-cert-file (or JETACTIONS_TLS_CERT_FILE) too",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "console"},
            "OTEL_TRACES_EXPORTER: 'console' is not supported, only otlp",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' is not supported, only grpc",
        ),
    ],
)
def test_secret_tls_and_otel_mistakes_refuse_to_start(env: dict[str, str], message: str) -> None:
    done = run_command(*serve_command(OPS, "--address", "127.0.0.1:0"), env=clean_env(**env))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"jetactions: {message}"]
    assert "s3cret" not in done.stderr


def test_a_busy_port_is_one_line_naming_the_address() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        done = run_command(*serve_command(OPS, "--address", address))
        assert done.returncode == 2
        assert done.stderr.splitlines() == [
            f"jetactions: cannot listen on {address}: Address already in use"
        ]
        done = run_command(
            *serve_command(
                OPS, "--address", "127.0.0.1:0", "--metrics-port", address.rpartition(":")[2]
            )
        )
        assert done.returncode == 2
        assert done.stderr.splitlines() == [
            f"jetactions: cannot serve metrics on {address}: Address already in use"
        ]


# --- settings: flags win over the environment, which wins over defaults --------------------


async def test_environment_settings_and_flags_that_override_them() -> None:
    env = clean_env(
        JETACTIONS_ADDRESS="127.0.0.1:0",
        JETACTIONS_GRACE="0.25",
        JETACTIONS_LOG_FORMAT="json",
        JETACTIONS_MAX_MESSAGE_BYTES="2000",
        JETBRIDGE_SECRET="env-secret",
    )
    async with serving(OPS, env=env) as (process, address):
        assert json.loads(process.lines[-1])["address"] == address
        async with stub_for(address) as stub:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ExecuteAction(execute("whoami"))
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
            secret = (("x-jetbridge-secret", "env-secret"),)
            assert value_of(await stub.ExecuteAction(execute("whoami"), metadata=secret)) == "ok"
            with pytest.raises(grpc.aio.AioRpcError) as too_big:
                await stub.ExecuteAction(execute("whoami", text="x" * 3000), metadata=secret)
            assert too_big.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await process.stop() == 0
    assert json.loads(process.lines[-2])["grace"] == 0.25

    # Each flag wins over its variable, even over an invalid one.
    env = {**env, "JETACTIONS_ADDRESS": "not-an-address", "JETACTIONS_LOG_LEVEL": "nonsense"}
    flags = ["--address", "127.0.0.1:0", "--grace", "1.5", "--log-format", "text"]
    flags += ["--max-message-bytes", "100000", "--bridge-secret", "flag-secret"]
    flags += ["--log-level", "INFO"]
    async with serving(OPS, *flags, env=env) as (process, address):
        assert " INFO jetactions: serving on 127.0.0.1:" in process.lines[-1], "text, not json"
        async with stub_for(address) as stub:
            secret = (("x-jetbridge-secret", "flag-secret"),)
            reply = await stub.ExecuteAction(execute("whoami", text="x" * 3000), metadata=secret)
            assert value_of(reply) == "ok"
        assert await process.stop() == 0
    assert any("calls in flight get 1.5 s" in line for line in process.lines)


async def test_log_level_from_the_environment_hides_info_lines() -> None:
    port = free_port()
    env = clean_env(JETACTIONS_LOG_LEVEL="WARNING", JETACTIONS_ADDRESS=f"127.0.0.1:{port}")
    process = await Process.start(*serve_command(OPS), env=env)
    try:
        await wait_healthy(f"127.0.0.1:{port}")
        assert await process.stop() == 0
        assert process.lines == []
    finally:
        await process.kill()


@pytest.mark.parametrize("source", ["environment", "flags"])
async def test_mutual_tls_from_the_environment_or_flags(tmp_path: Path, source: str) -> None:
    pki = make_pki(tmp_path)
    files = {
        "JETACTIONS_TLS_CERT_FILE": str(pki.server_cert),
        "JETACTIONS_TLS_KEY_FILE": str(pki.server_key),
        "JETACTIONS_TLS_CLIENT_CA_FILE": str(pki.ca),
    }
    env, flags = clean_env(**files), []
    if source == "flags":
        env = clean_env()
        for setting in SETTINGS:
            if setting.env in files:
                flags += [setting.flag, files[setting.env]]
    async with serving(OPS, "--address", "127.0.0.1:0", *flags, env=env) as (_, address):
        name = {"grpc.ssl_target_name_override": "ops.test"}
        with_client = grpc.ssl_channel_credentials(
            pki.ca.read_bytes(), pki.client_key.read_bytes(), pki.client_cert.read_bytes()
        )
        async with stub_for(address, with_client, **name) as stub:
            assert value_of(await stub.ExecuteAction(execute("whoami"))) == "ok"
        without_client = grpc.ssl_channel_credentials(pki.ca.read_bytes())
        async with stub_for(address, without_client, **name) as stub:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ExecuteAction(execute("whoami"), timeout=5)
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


APP_RUN = """
import sys
sys.path.insert(0, {servers!r})
from ops import app
app.run({arguments})
"""


@pytest.mark.parametrize(
    ("arguments", "env"),
    [
        ("", {"JETACTIONS_ADDRESS": "127.0.0.1:0", "JETACTIONS_LOG_FORMAT": "json"}),
        (
            "'127.0.0.1:0', log_format='json'",
            {"JETACTIONS_ADDRESS": "bad", "JETACTIONS_LOG_FORMAT": "bad"},
        ),
    ],
)
async def test_app_run_reads_the_same_environment(arguments: str, env: dict[str, str]) -> None:
    code = APP_RUN.format(servers=str(ROOT / "tests" / "servers"), arguments=arguments)
    process = await Process.start(sys.executable, "-c", code, env=clean_env(**env))
    try:
        line = json.loads((await process.wait_for(SERVING)).string)
        assert line["server"] == "ops"
        assert line["address"].startswith("127.0.0.1:")
        assert await process.stop() == 0
    finally:
        await process.kill()


def test_app_run_refuses_bad_settings_like_the_command() -> None:
    code = APP_RUN.format(servers=str(ROOT / "tests" / "servers"), arguments="")
    done = run_command(sys.executable, "-c", code, env=clean_env(JETACTIONS_GRACE="later"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "jetactions: JETACTIONS_GRACE: 'later' is not a number of seconds"
    ]


# --- logs ----------------------------------------------------------------------------------


async def test_request_id_reaches_the_context_and_the_log_lines() -> None:
    async with serving(OPS, "--address", "127.0.0.1:0") as (process, address):
        async with stub_for(address) as stub:
            reply = await stub.ExecuteAction(
                execute("whoami"), metadata=(("x-request-id", "req-1"),)
            )
            assert json_format.MessageToDict(reply.result.extra) == {"request_id": "req-1"}
            await process.wait_for(re.compile("handling whoami"))
            assert process.lines[-1].endswith(
                " INFO ops: handling whoami action=whoami request_id=req-1"
            )

            reply = await stub.ExecuteAction(
                execute("sync_users", model="users", ids=[1, 2]),
                metadata=(("x-request-id", "req-2"),),
            )
            assert value_of(reply) == "2 users, request req-2", "ctx in a worker thread"

            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.ExecuteAction(execute("explode"), metadata=(("x-request-id", "req-3"),))
            assert failed.value.details() == "action explode failed"
        assert await process.stop() == 0
    failures = [line for line in process.lines if "failed" in line]
    assert failures == [
        failures[0].split(" jetactions: ")[0]
        + " jetactions: action 'explode' failed action=explode request_id=req-3"
    ]
    assert "RuntimeError: private detail" in "\n".join(process.lines)


async def test_json_logs_are_one_object_a_line() -> None:
    env = clean_env(JETACTIONS_LOG_FORMAT="json")
    async with serving(OPS, "--address", "127.0.0.1:0", env=env) as (process, address):
        async with stub_for(address) as stub:
            await stub.ExecuteAction(execute("whoami"), metadata=(("x-request-id", "j-1"),))
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.ExecuteAction(execute("explode"), metadata=(("x-request-id", "j-2"),))
        assert await process.stop() == 0
    entries = [json.loads(line) for line in process.lines]
    assert [entry["message"].split(":")[0] for entry in entries] == [
        f"serving on {address.split(':')[0]}",
        "handling whoami",
        "action 'explode' failed",
        "draining (SIGTERM)",
        "stopped",
    ]
    serving_entry, handled, failed, draining, stopped = entries
    assert serving_entry["address"] == address
    assert serving_entry["server"] == "ops"
    assert serving_entry["actions"] == [
        "whoami",
        "sync_users",
        "hold",
        "refuse",
        "download",
        "explode",
    ]
    assert handled["request_id"] == "j-1"
    assert handled["action"] == "whoami"
    assert failed["level"] == "error"
    assert failed["request_id"] == "j-2"
    assert "RuntimeError: private detail" in failed["exception"]
    assert draining["signal"] == "SIGTERM"
    assert draining["grace"] == 10.0
    assert stopped["server"] == "ops"
    assert all(
        datetime.datetime.fromisoformat(entry["time"]).tzinfo is not None for entry in entries
    )


USER_LOGGING = """
import logging, sys
sys.path.insert(0, {servers!r})
logging.basicConfig(level=logging.INFO, format="USER %(name)s %(message)s")
from ops import app
app.run("127.0.0.1:0", log_format="json")
"""


async def test_the_applications_logging_config_is_kept() -> None:
    code = USER_LOGGING.format(servers=str(ROOT / "tests" / "servers"))
    process = await Process.start(sys.executable, "-c", code)
    try:
        await process.wait_for(SERVING)
        assert process.lines[-1].startswith("USER jetactions serving on 127.0.0.1:")
        assert await process.stop() == 0
    finally:
        await process.kill()


# --- metrics -------------------------------------------------------------------------------


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))


async def scrape_until(
    port: int, name: str, key: tuple[tuple[str, str], ...], value: float | None = None
) -> Samples:
    """Scrapes until the sample exists (with that value, if given): a call is counted just
    after its status is sent."""

    async def counted() -> Samples | None:
        samples = await asyncio.to_thread(scrape, port)
        found = (name, key) in samples and value in (None, samples[(name, key)])
        return samples if found else None

    return await until(counted, f"sample {name}{dict(key)}", 10)


async def test_metrics_count_every_call_with_bounded_labels() -> None:
    args = ["--address", "127.0.0.1:0", "--metrics-port", "0"]
    async with serving(OPS, *args) as (process, address):
        port = int((await process.wait_for(METRICS)).group(1))
        async with stub_for(address) as stub:
            for _ in range(3):
                await stub.ExecuteAction(execute("whoami"))
            await stub.ExecuteAction(execute("sync_users", model="users", ids=[1]))
            await stub.ExecuteAction(execute("refuse"))
            await stub.ExecuteAction(execute("download"))
            for name in ("explode", "no_such_action_1", "no_such_action_2"):
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.ExecuteAction(execute(name))
            await stub.GetFieldOptions(
                actions_pb2.GetFieldOptionsRequest(model="users", field="city")
            )
            await stub.ListActions(actions_pb2.ListActionsRequest())
        last = labels(rpc_method="ListActions", action="", outcome="OK")
        samples = await scrape_until(port, "rpc_server_calls_total", last)
        assert await process.stop() == 0

    calls = {
        dict(key)["action"] + "/" + dict(key)["outcome"]: value
        for (name, key), value in samples.items()
        if name == "rpc_server_calls_total" and dict(key)["rpc_method"] == "ExecuteAction"
    }
    assert calls == {
        "whoami/result": 3,
        "sync_users/result": 1,
        "refuse/errors": 1,
        "download/file": 1,
        "explode/INTERNAL": 1,
        "/NOT_FOUND": 2,
    }
    count = "rpc_server_duration_seconds_count"
    whoami = labels(rpc_method="ExecuteAction", action="whoami", outcome="result")
    assert samples[(count, whoami)] == 3
    options = labels(rpc_method="GetFieldOptions", action="users.city", outcome="OK")
    assert samples[(count, options)] == 1
    assert samples[(count, labels(rpc_method="ListActions", action="", outcome="OK"))] == 1
    assert all("no_such_action" not in str(key) for key in samples), "unknown names make no series"
    assert samples[("rpc_server_active_requests", labels(rpc_method="ExecuteAction"))] == 0
    assert samples[("jetactions_handler_pool_size", labels(server="ops"))] == DEFAULT_SYNC_WORKERS
    assert samples[("jetactions_handler_pool_busy", labels(server="ops"))] == 0
    assert samples[("jetactions_handler_pool_stuck", labels(server="ops"))] == 0


async def test_pool_and_in_flight_gauges_follow_a_running_sync_handler(tmp_path: Path) -> None:
    args = ["--address", "127.0.0.1:0", "--metrics-port", "0"]
    async with serving(OPS, *args) as (process, address):
        port = int((await process.wait_for(METRICS)).group(1))
        release = tmp_path / "release"
        busy = ("jetactions_handler_pool_busy", labels(server="ops"))
        async with stub_for(address) as stub:
            call = asyncio.ensure_future(stub.ExecuteAction(execute("hold", release=str(release))))
            samples = await scrape_until(port, *busy, value=1)
            assert samples[("rpc_server_active_requests", labels(rpc_method="ExecuteAction"))] == 1
            release.touch()
            assert value_of(await call) == "released"
        await scrape_until(port, *busy, value=0)


async def test_metrics_count_calls_the_secret_check_refuses() -> None:
    env = clean_env(JETBRIDGE_SECRET="s", JETACTIONS_METRICS_PORT="0")
    async with serving(OPS, "--address", "127.0.0.1:0", env=env) as (process, address):
        port = int((await process.wait_for(METRICS)).group(1))
        async with stub_for(address) as stub:
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.ExecuteAction(execute("whoami"))
        key = labels(rpc_method="ExecuteAction", action="", outcome="UNAUTHENTICATED")
        samples = await scrape_until(port, "rpc_server_calls_total", key)
    assert samples[("rpc_server_calls_total", key)] == 1


BLOCKED = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("prometheus_client", "opentelemetry"):
            raise ImportError(name + " is blocked")
sys.meta_path.insert(0, Block())
from jetactions.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"JETACTIONS_METRICS_PORT": "0"},
            "metrics need prometheus-client: pip install 'jetactions[metrics]'",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
            "OTEL_* variables ask for traces: pip install 'jetactions[otel]'",
        ),
    ],
)
def test_a_missing_extra_is_one_clear_line(env: dict[str, str], message: str) -> None:
    done = run_command(
        sys.executable,
        "-c",
        BLOCKED,
        "serve",
        OPS,
        "--address",
        "127.0.0.1:0",
        env=clean_env(**env),
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"jetactions: {message}"]


NOTHING_IMPORTED = """
import asyncio, sys
sys.path.insert(0, {servers!r})
from ops import app

async def main():
    running = await app.start("127.0.0.1:0")
    await running.stop(0)

asyncio.run(main())
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "prometheus_client"))
print(loaded)
"""


def test_without_metrics_and_traces_their_libraries_are_not_imported() -> None:
    code = NOTHING_IMPORTED.format(servers=str(ROOT / "tests" / "servers"))
    done = run_command(sys.executable, "-c", code, env=clean_env(OTEL_TRACES_EXPORTER="none"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- traces --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "service_env", "service_name"),
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", {}, "ops"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", {"OTEL_SERVICE_NAME": "ops-eu"}, "ops-eu"),
    ],
)
async def test_a_span_per_call_continues_the_callers_trace(
    endpoint: str, service_env: dict[str, str], service_name: str
) -> None:
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    async with otlp_receiver() as (receiver, port):
        env = clean_env(
            **{endpoint: f"http://127.0.0.1:{port}"},
            OTEL_BSP_SCHEDULE_DELAY="50",
            **service_env,
        )
        async with serving(OPS, "--address", "127.0.0.1:0", env=env) as (process, address):
            async with stub_for(address) as stub:
                metadata = (
                    ("traceparent", f"00-{trace_id}-{parent_id}-01"),
                    ("tracestate", "vendor=1"),
                    ("x-request-id", "t-1"),
                )
                request = execute("sync_users", model="users", ids=[4, 5])
                await stub.ExecuteAction(request, metadata=metadata)
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.ExecuteAction(execute("explode"))
            await receiver.wait_until(lambda: len(receiver.spans) >= 2, "two spans")
            assert await process.stop() == 0
    ok, failed = sorted(receiver.spans, key=lambda span: span.start_time_unix_nano)
    assert ok.name == "jetactions.v1.ActionService/ExecuteAction"
    assert ok.trace_id.hex() == trace_id
    assert ok.parent_span_id.hex() == parent_id
    assert ok.trace_state == "vendor=1"
    assert ok.kind == ok.SPAN_KIND_SERVER
    attributes = {item.key: json_format.MessageToDict(item.value) for item in ok.attributes}
    assert attributes == {
        "rpc.system": {"stringValue": "grpc"},
        "rpc.service": {"stringValue": "jetactions.v1.ActionService"},
        "rpc.method": {"stringValue": "ExecuteAction"},
        "rpc.grpc.status_code": {"intValue": "0"},
        "jetactions.action": {"stringValue": "sync_users"},
        "jetactions.model": {"stringValue": "users"},
        "jetactions.ids": {"intValue": "2"},
        "jetactions.outcome": {"stringValue": "result"},
        "jetactions.request_id": {"stringValue": "t-1"},
    }
    assert failed.trace_id.hex() != trace_id, "without a traceparent a call starts a trace"
    assert not failed.parent_span_id
    assert failed.status.code == failed.status.STATUS_CODE_ERROR
    service = {item.key: item.value.string_value for item in receiver.resources[0].attributes}
    assert service["service.name"] == service_name


# --- docs ----------------------------------------------------------------------------------


def readme_section() -> str:
    text = README.read_text()
    start = text.index("## Running and operating")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_readme_env_table_is_exactly_what_the_sdk_reads() -> None:
    rows = [line for line in readme_section().splitlines() if line.startswith("| `JET")]
    documented_env = {re.findall(r"`(JET[A-Z_]+)`", row)[0] for row in rows}
    documented_flags = {re.findall(r"`(--[a-z-]+)`", row)[0] for row in rows}
    assert documented_env == SETTING_ENV
    assert documented_flags == {setting.flag for setting in SETTINGS}
    # Every variable name in the SDK's source is a documented setting (or the refused old name).
    source = "\n".join(
        path.read_text() for path in (ROOT / "sdk_python" / "jetactions").glob("*.py")
    )
    read = set(re.findall(r"\"(JET[A-Z_]+)\"", source))
    assert read == SETTING_ENV | {OLD_SECRET_ENV}
    # ...and the command offers exactly those flags.
    done = run_command(*serve_command("--help"))
    assert set(re.findall(r"(--[a-z-]+) ", done.stdout)) - {"--help"} == documented_flags


async def test_the_readme_commands_run() -> None:
    block = readme_section().split("```sh\n")[1].split("```")[0]
    commands = block.strip().splitlines()
    assert commands[-1] == "jetactions --version"
    env = clean_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for command in commands[:-1]:
        # Loopback and port 0 here; the rest of each line runs as documented.
        command = command.replace("0.0.0.0:50051", "127.0.0.1:0").replace("9464", "0")
        # exec: the signal must reach the server, not the shell.
        setup, _, last = command.rpartition("&& ")
        shell = f"{setup}&& exec env {last}" if setup else f"exec env {last}"
        process = await Process.start("bash", "-c", shell, env=env)
        try:
            await process.wait_for(SERVING)
            if "--metrics-port" in command:
                json.loads(process.lines[-1])
                await process.wait_for(METRICS)
            assert await process.stop() == 0
        finally:
            await process.kill()


def test_the_readme_documents_every_metric_and_label() -> None:
    section = readme_section()
    for name in (
        "rpc_server_duration_seconds",
        "rpc_server_calls_total",
        "rpc_server_active_requests",
        "jetactions_handler_pool_size",
        "jetactions_handler_pool_busy",
        "jetactions_handler_pool_stuck",
        "rpc_method",
        "action",
        "outcome",
        "server",
    ):
        assert f"`{name}`" in section, name


# --- helpers -------------------------------------------------------------------------------


async def wait_healthy(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel, asyncio.timeout(15):
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        reply = await health.Check(request, wait_for_ready=True)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(root: Path) -> Pki:
    """A CA, a server certificate for ops.test and a client certificate, all PEM files."""
    now = datetime.datetime.now(datetime.UTC)

    def issue(subject: str, key: Any, issuer: Any, issuer_key: Any) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), True)
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    def write(path: Path, cert: x509.Certificate, key: Any) -> None:
        path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in "abc")
    ca = issue("test CA", ca_key, None, ca_key)
    write(root / "ca", ca, ca_key)
    write(root / "server", issue("ops.test", server_key, ca, ca_key), server_key)
    write(root / "client", issue("jetbridge", client_key, ca, ca_key), client_key)
    return Pki(
        root / "ca.pem",
        root / "server.pem",
        root / "server.key",
        root / "client.pem",
        root / "client.key",
    )
