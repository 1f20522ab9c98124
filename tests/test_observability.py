"""Observability through real processes: access logs, request ids, Prometheus, OpenTelemetry.

The bridge runs as `python -m jetbridge serve` (one process, or `--workers 2`); the action server
is a grpc.aio servicer in the test's loop that records the metadata of every call; a real
Prometheus (Debian's package) scrapes the bridge; a real OTLP/gRPC receiver built from
`opentelemetry-proto` collects its spans.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from opentelemetry.proto.trace.v1 import trace_pb2
from prometheus_client import CollectorRegistry

from jetactions.v1 import actions_pb2
from jetbridge import tracing
from jetbridge.cli import build_parser
from jetbridge.config import ConfigError, Observability, flags_from, load_settings
from jetbridge.metrics import Metrics
from jetbridge.request_id import request_id
from tests.otlp import Receiver as OtlpReceiver
from tests.otlp import otlp_receiver, span_attributes
from tests.support import (
    LOGS,
    OK,
    ROOT,
    BridgeProcess,
    ExecuteContext,
    HandWritten,
    action_service,
    bridge_process,
    common_action,
    free_port,
    until,
    until_ready,
)

PROJECT = "shop"
PROJECT_TOKEN = "project-token-setting-0001"
BEARER_KEY = "bearer-key-for-observability-0123"
DEADLINE = 30.0
GRPC_CORE = re.compile(r"^[DIWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")


# ---------------------------------------------------------------- the action server


class Recorder(HandWritten):
    """An action server declaring `whoami`; it records each call's metadata."""

    listing = actions_pb2.ListActionsResponse(actions=[common_action("whoami")])

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def ExecuteAction(
        self, request: actions_pb2.ExecuteActionRequest, context: ExecuteContext
    ) -> actions_pb2.ExecuteActionResponse:
        received = context.invocation_metadata() or ()
        self.metadata.append({key: str(value) for key, value in received})
        return OK


@dataclass
class ActionServer:
    recorder: Recorder
    address: str


@pytest.fixture
async def action_server() -> AsyncIterator[ActionServer]:
    recorder = Recorder()
    async with action_service(recorder) as address:
        yield ActionServer(recorder, address)


# ---------------------------------------------------------------- the bridge process


@dataclass
class Served(BridgeProcess):
    """The bridge process, and where its metrics are served when asked for."""

    metrics_url: str = ""


@contextlib.contextmanager
def serving(
    *args: str, env: dict[str, str] | None = None, metrics: bool = False
) -> Iterator[Served]:
    """The bridge on loopback with `args`; SIGTERM and waited for afterwards."""
    extra = ["--metrics-port", str(metrics_port := free_port())] if metrics else []
    # Workers share one port, so they must be given it.
    port = ["--port", str(free_port())] if "--workers" in args else []
    with bridge_process(*port, *extra, *args, name="observability-bridge", env=env) as bridge:
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics" if metrics else ""
        yield Served(bridge.process, bridge.url, bridge.log, metrics_url)


async def ready(served: Served) -> None:
    """Wait until `/readyz` answers 200 (the first discovery is done)."""
    await until_ready(served.url, served.process, lambda: "\n".join(served.lines()), DEADLINE)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Any
    body: Any


async def post(
    served: Served, message: dict[str, Any], headers: dict[str, str] | None = None
) -> Answer:
    """One message on a new connection (so that `--workers` spreads them)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(served.url + "/api/messages/", json=message, headers=headers) as response,
    ):
        return Answer(response.status, response.headers, json.loads(await response.read()))


WHOAMI = {"name": "execute_action", "params": {"name": "whoami", "params": {}}}


def access_lines(served: Served) -> list[dict[str, str]]:
    """The text access log's lines, parsed (`key=value`, values JSON-quoted when needed)."""
    parsed = []
    for line in served.lines():
        if " jetbridge.access: " in line:
            parsed.append(parse_logfmt(line.split(" jetbridge.access: ", 1)[1]))
    return parsed


def parse_logfmt(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    decoder = json.JSONDecoder()
    rest = text
    while rest:
        key, _, rest = rest.partition("=")
        if rest.startswith('"'):
            value, end = decoder.raw_decode(rest)
            rest = rest[end:]
        else:
            value, _, rest = rest.partition(" ")
            rest = " " + rest if rest else ""
        fields[key.strip()] = value
        rest = rest.lstrip(" ")
    return fields


# ---------------------------------------------------------------- request ids and the access log


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("abc-123", True),
        ("trace:1.2_x", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("has space", False),
        ('quote"d', False),
        ("é", False),
        (None, False),
    ],
)
def test_a_sane_request_id_is_kept_anything_else_replaced(incoming: str | None, kept: bool) -> None:
    made = request_id(incoming)
    if kept:
        assert made == incoming
    else:
        assert made != incoming
        assert len(made) == 32
        assert int(made, 16) >= 0


async def test_request_id_round_trip_and_text_access_log(action_server: ActionServer) -> None:
    with serving("--disable-auth", "--service", f"rec={action_server.address}") as served:
        await ready(served)
        sent = await post(served, WHOAMI, {"X-Request-ID": "req-0001"})
        assert sent.status == 200, sent.body
        assert sent.headers["X-Request-ID"] == "req-0001"
        assert action_server.recorder.metadata[-1]["x-request-id"] == "req-0001"

        made = await post(served, WHOAMI, {"X-Request-ID": "not sane\u00e9"})
        new_id = made.headers["X-Request-ID"]
        assert len(new_id) == 32
        assert action_server.recorder.metadata[-1]["x-request-id"] == new_id

        # A 900 KB action name: a 404 whose body names the request, and a bounded log line.
        huge = {"name": "execute_action", "params": {"name": "a" * 900_000, "params": {}}}
        refused = await post(served, huge, {"X-Request-ID": "req-huge"})
        assert refused.status == 404
        assert refused.body["request_id"] == refused.headers["X-Request-ID"] == "req-huge"
        bad_json = await post(served, {"no": "name"})
        assert bad_json.status == 400
        assert bad_json.body["request_id"] == bad_json.headers["X-Request-ID"]

        def messages() -> list[dict[str, str]]:
            return [line for line in access_lines(served) if line["path"] == "/api/messages/"]

        await until(lambda: len(messages()) >= 4, "four access lines", DEADLINE)
        ok, replaced, long, invalid = messages()[-4:]

    assert ok == {
        **ok,
        "method": "POST",
        "path": "/api/messages/",
        "status": "200",
        "message_name": "execute_action",
        "action": "whoami",
        "service": "rec",
        "grpc_code": "OK",
        "request_id": "req-0001",
        "auth": "none",
    }
    assert float(ok["duration_ms"]) > 0
    assert int(ok["bytes_out"]) == len(b'{"result":true,"message":"ok"}')
    assert replaced["request_id"] == new_id
    assert (long["status"], long["request_id"], long["grpc_code"]) == ("404", "req-huge", "-")
    assert long["action"].startswith("a" * 100)
    assert long["action"].endswith("...[+899900 chars]")
    assert all(len(line) < 5000 for line in served.lines()), "an unbounded log line"
    assert (invalid["status"], invalid["message_name"]) == ("400", "-")


async def test_json_logs_are_one_object_a_line(action_server: ActionServer) -> None:
    env = {"JETBRIDGE_LOG_FORMAT": "json"}
    with serving("--disable-auth", "--service", f"rec={action_server.address}", env=env) as s:
        await ready(s)
        assert (await post(s, WHOAMI, {"X-Request-ID": "json-1"})).status == 200
        unknown = {"name": "execute_action", "params": {"name": "nope", "params": {}}}
        assert (await post(s, unknown, {"X-Request-ID": "json-2"})).status == 404
        await until(
            lambda: sum('"jetbridge.access"' in line for line in s.lines()) >= 2, "log", DEADLINE
        )
        # gRPC's C core prints its own lines (`E1201 12:00:00.0 ... file.cc:1] ...`) to stderr,
        # outside Python's logging; every other line is one JSON object.
        lines = [line for line in s.lines() if line.strip() and not GRPC_CORE.match(line)]
        records = [json.loads(line) for line in lines]

    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["message"].startswith("serving Jet Admin messages") for r in records)
    access = {r["request_id"]: r for r in records if r["logger"] == "jetbridge.access"}
    assert access["json-1"] == {
        **access["json-1"],
        "status": 200,
        "message_name": "execute_action",
        "action": "whoami",
        "service": "rec",
        "grpc_code": "OK",
        "request_id": "json-1",
    }
    assert isinstance(access["json-1"]["duration_ms"], float)
    assert (access["json-2"]["status"], access["json-2"]["action"]) == (404, "nope")
    # A client's mistake makes one line: the access line, which says why.
    assert access["json-2"]["detail"] == "Unknown action 'nope'"
    assert not [r for r in records if r["level"] == "WARNING" and "Unknown" in r["message"]]


# ---------------------------------------------------------------- no credential anywhere


@dataclass
class FakeJet:
    """Jet Admin's `project_auth/` on loopback: tokens starting with `good-` are allowed."""

    url: str = ""
    calls: list[str] = field(default_factory=list)

    async def project_auth(self, request: web.Request) -> web.Response:
        token = str((await request.post()).get("token", ""))
        self.calls.append(token)
        if token.startswith("good-"):
            return web.json_response({"result": True})
        return web.json_response({"detail": "Invalid token"}, status=403)


@pytest.fixture
async def fake_jet() -> AsyncIterator[FakeJet]:
    fake = FakeJet()
    app = web.Application()
    app.router.add_post("/api/project_auth/", fake.project_auth)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("/api"))
    yield fake
    await server.close()


def _key_pair() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public.decode()


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.text()


async def test_no_credential_reaches_a_log_line_or_a_metric(
    action_server: ActionServer, fake_jet: FakeJet
) -> None:
    key, public_pem = _key_pair()
    now = int(time.time())
    claims = {
        "user": {"id": 7, "email": "ada@example.com"},
        "projects": {PROJECT: {"owner": True}},
        "iat": now,
        "exp": now + 300,
    }
    good_jwt = jwt.encode(claims, key, algorithm="RS256")
    other_key, _ = _key_pair()
    bad_jwt = jwt.encode(claims, other_key, algorithm="RS256")
    credentials = {
        f"JWT {good_jwt}": 200,
        f"JWT {bad_jwt}": 403,
        "Token good-user-token-0123456789": 200,
        "ProjectToken bad-project-token-0123456789": 403,
        f"Bearer {BEARER_KEY}": 200,
        "Bearer wrong-bearer-key-0123456789": 403,
        "Basic dXNlcjpwYXNzd29yZC1zZWNyZXQ=": 401,
    }
    env = {
        "PROJECT": PROJECT,
        "TOKEN": PROJECT_TOKEN,
        "BEARER_AUTH_KEY": BEARER_KEY,
        "JWT_VERIFY_KEY": public_pem,
        "API_BASE_URL": fake_jet.url,
        "JETBRIDGE_LOG_LEVEL": "DEBUG",  # the most the bridge ever says
    }
    for log_format in ("text", "json"):
        with serving(
            "--service",
            f"rec={action_server.address}",
            "--log-format",
            log_format,
            env=env,
            metrics=True,
        ) as served:
            await ready(served)
            for authorization, status in credentials.items():
                answer = await post(served, WHOAMI, {"Authorization": authorization})
                assert answer.status == status, (authorization, answer.body)
            metrics = await scrape(served.metrics_url)
            served.stop()  # every line flushed
            output = served.log.read_text()
        assert metrics.count("jetbridge_auth_attempts_total{") >= 6
        assert 'jetbridge_auth_attempts_total{method="JWT",result="accepted"} 1.0' in metrics
        assert 'jetbridge_auth_attempts_total{method="Bearer",result="denied"} 1.0' in metrics
        assert (
            'jetbridge_auth_attempts_total{method="none",result="unauthenticated"} 1.0' in metrics
        )
        assert "user_id=7" in output or '"user_id":"7"' in output
        secrets = [PROJECT_TOKEN, *(value.split(" ", 1)[1] for value in credentials)]
        for secret in secrets:
            for text in (output, metrics):
                # No credential, nor any 12-character piece of one (a JWT's parts included).
                pieces = {secret[i : i + 12] for i in range(0, len(secret) - 11, 6)}
                leaked = [piece for piece in pieces if piece in text]
                assert not leaked, (log_format, secret[:12], leaked[:3])


# ---------------------------------------------------------------- Prometheus


PROMETHEUS = shutil.which("prometheus")


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    url: str

    async def query(self, promql: str) -> list[dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + "/api/v1/query", params={"query": promql}) as response,
        ):
            body = await response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


@contextlib.contextmanager
def prometheus(target: str) -> Iterator[Prometheus]:
    """A real Prometheus on loopback scraping `target` (host:port) every second."""
    if PROMETHEUS is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed (scripts/bootstrap installs it as root)")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="jetbridge-prometheus-") as directory:
        config = Path(directory) / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: jetbridge\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        log = (LOGS / f"prometheus-{port}.log").open("wb")
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory}/data",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            yield Prometheus(process, f"http://127.0.0.1:{port}")
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def query_until(
    prom: Prometheus, promql: str, expected: dict[tuple[str, ...], float], labels: tuple[str, ...]
) -> None:
    """Poll Prometheus until `promql` gives exactly `expected` (by `labels`)."""
    got: dict[tuple[str, ...], float] = {}

    async def answered() -> bool:
        nonlocal got
        with contextlib.suppress(aiohttp.ClientConnectionError):
            result = await prom.query(promql)
            got = {
                tuple(sample["metric"].get(label, "") for label in labels): float(
                    sample["value"][1]
                )
                for sample in result
            }
        return got == expected

    try:
        await until(answered, f"{expected} for {promql}", 60, every=0.25)
    except TimeoutError:
        pytest.fail(f"Prometheus answered {got} for {promql}, expected {expected}")


async def test_prometheus_sees_the_sum_over_two_workers(action_server: ActionServer) -> None:
    with serving(
        "--disable-auth",
        "--workers",
        "2",
        "--service",
        f"rec={action_server.address}",
        metrics=True,
    ) as served:
        await ready(served)
        pids: set[int] = set()
        oks, unknown, invalid = 0, 0, 0

        async def both_answered() -> bool:
            nonlocal oks
            async with (
                aiohttp.ClientSession() as session,
                session.get(served.url + "/healthz") as response,
            ):
                pids.add((await response.json())["pid"])
            assert (await post(served, WHOAMI)).status == 200
            oks += 1
            return len(pids) == 2 and oks >= 6

        await until(both_answered, "answers from both workers", DEADLINE)
        for _ in range(3):
            made_up = {"name": "execute_action", "params": {"name": f"x{unknown}", "params": {}}}
            assert (await post(served, made_up)).status == 404
            unknown += 1
        for _ in range(2):
            assert (await post(served, {"name": 5})).status == 400
            invalid += 1
        metrics_port = served.metrics_url.split(":")[2].split("/")[0]
        with prometheus(f"127.0.0.1:{metrics_port}") as prom:
            await query_until(
                prom,
                "sum by (message, action, status) (http_server_requests_total)",
                {
                    ("execute_action", "whoami", "200"): oks,
                    ("execute_action", "_unknown", "404"): unknown,
                    ("_none", "", "400"): invalid,
                },
                ("message", "action", "status"),
            )
            await query_until(
                prom,
                "sum by (method, code) (rpc_client_duration_seconds_count{method='ExecuteAction'})",
                {("ExecuteAction", "OK"): oks},
                ("method", "code"),
            )
            await query_until(prom, "jetbridge_service_up", {("rec",): 1.0}, ("service",))
            for promql in re.findall(r"```promql\n(.*?)```", DOC, re.S):
                await prom.query(promql)  # the documented queries parse and run
            await query_until(prom, "http_server_active_requests", {("",): 0.0}, ("service",))


# ---------------------------------------------------------------- OpenTelemetry


@dataclass
class Receiver:
    collector: OtlpReceiver
    env: dict[str, str]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """An OTLP/gRPC trace receiver on loopback, and the bridge's environment to reach it."""
    async with otlp_receiver() as (collector, port):
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": "bridge-under-test",
        }
        yield Receiver(collector, env)


async def test_traces_continue_the_browser_traceparent(
    action_server: ActionServer, receiver: Receiver
) -> None:
    collector, env = receiver.collector, receiver.env
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    browser_span = "00f067aa0ba902b7"
    with serving("--disable-auth", "--service", f"rec={action_server.address}", env=env) as s:
        await ready(s)
        headers = {
            "traceparent": f"00-{trace_id}-{browser_span}-01",
            "tracestate": "vendor=abc",
            "X-Request-ID": "traced-1",
        }
        assert (await post(s, WHOAMI, headers)).status == 200

        def both() -> bool:
            return {span.kind for span in collector.spans if span.trace_id.hex() == trace_id} >= {
                trace_pb2.Span.SPAN_KIND_SERVER,
                trace_pb2.Span.SPAN_KIND_CLIENT,
            }

        await until(both, "the server and client spans", DEADLINE)

    spans = [span for span in collector.spans if span.trace_id.hex() == trace_id]
    server_span = next(sp for sp in spans if sp.kind == trace_pb2.Span.SPAN_KIND_SERVER)
    client_span = next(sp for sp in spans if sp.kind == trace_pb2.Span.SPAN_KIND_CLIENT)
    assert server_span.parent_span_id.hex() == browser_span
    assert client_span.parent_span_id == server_span.span_id
    assert server_span.name == "POST /api/messages/"
    assert client_span.name == "jetactions.v1.ActionService/ExecuteAction"
    assert span_attributes(server_span)["jetbridge.request_id"] == "traced-1"
    assert span_attributes(server_span)["http.response.status_code"] == 200
    assert span_attributes(server_span)["jetbridge.action"] == "whoami"
    assert span_attributes(client_span)["jetbridge.request_id"] == "traced-1"
    assert span_attributes(client_span)["rpc.grpc.status_code"] == 0
    # The action server got the client span as its parent, and the caller's tracestate.
    metadata = action_server.recorder.metadata[-1]
    assert metadata["traceparent"] == f"00-{trace_id}-{client_span.span_id.hex()}-01"
    assert metadata["tracestate"] == "vendor=abc"


async def test_parent_based_off_traces_only_what_the_caller_sampled(
    action_server: ActionServer, receiver: Receiver
) -> None:
    env = {**receiver.env, "OTEL_TRACES_SAMPLER": "parentbased_always_off"}
    sampled = "0af7651916cd43dd8448eb211c80319c"
    with serving("--disable-auth", "--service", f"rec={action_server.address}", env=env) as s:
        await ready(s)
        assert (await post(s, WHOAMI)).status == 200
        assert "traceparent" not in action_server.recorder.metadata[-1]
        headers = {"traceparent": f"00-{sampled}-b7ad6b7169203331-01"}
        assert (await post(s, WHOAMI, headers)).status == 200
        await until(
            lambda: len(receiver.collector.spans) >= 2, "the sampled request's spans", DEADLINE
        )
        s.stop()  # flushes whatever else was buffered
    assert {span.trace_id.hex() for span in receiver.collector.spans} == {sampled}


def test_no_opentelemetry_import_when_tracing_is_off() -> None:
    code = (
        "import sys\n"
        "from jetbridge.app import create_app\n"
        "from jetbridge.config import ServiceConfig, Settings\n"
        "service = ServiceConfig(name='s', target='127.0.0.1:1', timeout=1)\n"
        "create_app(Settings.from_keys({'disable_auth': True, 'metrics_port': 9}, (service,)))\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- settings and docs


def test_settings_from_toml_environment_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text(
        'log_format = "json"\naccess_log = false\nmetrics_port = 9464\n'
        '[[services]]\nname = "s"\ntarget = "127.0.0.1:1"\n'
    )
    from_file = load_settings(environ={}, config_file=config)
    assert from_file.observability == Observability(
        log_format="json", access_log=False, metrics_port=9464
    )
    environ = {
        "JETBRIDGE_SERVICES": "127.0.0.1:1",
        "JETBRIDGE_LOG_FORMAT": "JSON",
        "JETBRIDGE_ACCESS_LOG": "0",
        "JETBRIDGE_METRICS_PORT": "9100",
    }
    from_env = load_settings(environ=environ)
    assert from_env.observability == Observability(
        log_format="json", access_log=False, metrics_port=9100
    )
    defaults = load_settings(environ={"JETBRIDGE_SERVICES": "127.0.0.1:1"})
    assert defaults.observability == Observability()
    assert (Observability().log_format, Observability().access_log) == ("text", True)
    args = build_parser().parse_args(
        ["serve", "--log-format", "json", "--no-access-log", "--metrics-port", "9200"]
    )
    from_flags = load_settings(flags_from(args), environ={"JETBRIDGE_SERVICES": "127.0.0.1:1"})
    assert from_flags.observability == Observability(
        log_format="json", access_log=False, metrics_port=9200
    )
    for bad in ({"JETBRIDGE_LOG_FORMAT": "xml"}, {"JETBRIDGE_METRICS_PORT": "70000"}):
        with pytest.raises(ConfigError, match="JETBRIDGE_"):
            load_settings(environ={"JETBRIDGE_SERVICES": "127.0.0.1:1", **bad})


async def test_no_access_log_leaves_no_line(action_server: ActionServer) -> None:
    args = ("--disable-auth", "--no-access-log", "--service", f"rec={action_server.address}")
    with serving(*args) as served:
        await ready(served)
        assert (await post(served, WHOAMI, {"X-Request-ID": "quiet-1"})).status == 200
        served.stop()
    assert "serving Jet Admin messages" in served.log.read_text()
    assert "jetbridge.access" not in served.log.read_text()


DOC = (ROOT / "docs" / "observability.md").read_text()


def test_the_metric_table_lists_every_metric() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \| (?:counter|gauge|histogram)", DOC, re.M))
    declared = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in Metrics(CollectorRegistry()).registry.collect()
    }
    assert documented == declared


def test_the_alert_rules_are_valid(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    rules = tmp_path / "rules.yml"
    rules.write_text(re.findall(r"```yaml\n(groups:.*?)```", DOC, re.S)[0])
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rules found" in result.stdout


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"}, False),
        ({"OTEL_TRACES_SAMPLER": "always_off", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"}, False),
    ],
)
def test_tracing_is_on_only_when_configured(environ: dict[str, str], on: bool) -> None:
    assert tracing.configured(environ) is on
