"""The Go test server (tests/servers/go_library) as a process: the Go SDK's settings, its log
lines, the shared secret, health, field errors for ill-typed inputs, and the drain on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson
import pytest
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jetactions.v1 import actions_pb2, actions_pb2_grpc
from tests.support import LOGS, ROOT, require_built, wait_until

LIBRARY = ROOT / "tests" / "servers" / "go_library" / "bin" / "library"
SECRET = (("x-jetbridge-secret", "shh"),)


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    require_built(LIBRARY)
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(LIBRARY)], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )


def json_lines(log: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in log.read_bytes().splitlines() if line.strip()]


@pytest.fixture
def library() -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """The library with a secret and JSON logs on a free port: (address, process, log)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"go-library-{os.getpid()}-{time.monotonic_ns()}.log"
    env = {
        "JETACTIONS_ADDRESS": "127.0.0.1:0",
        "JETACTIONS_LOG_FORMAT": "json",
        "JETBRIDGE_SECRET": "shh",
        "JETACTIONS_GRACE": "3",
    }
    process = start(env, log)
    try:
        found = wait_until(
            lambda: re.search(rb"serving on ([\d.]+:\d+)", log.read_bytes()),
            "serving line",
            20,
            process,
            log.read_text,
        )
        yield found.group(1).decode(), process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_serves_with_the_secret_and_refuses_ill_typed_inputs(
    library: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    address, _, log = library
    async with grpc.aio.insecure_channel(address) as channel:
        stub = actions_pb2_grpc.ActionServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListActions(actions_pb2.ListActionsRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        listing = await stub.ListActions(
            actions_pb2.ListActionsRequest(), metadata=SECRET, timeout=5
        )
        assert listing.server_name == "library"
        assert [a.name for a in listing.actions] == [
            "lend_book",
            "search_books",
            "reserve_book",
            "export_books",
            "close_branch",
        ]
        health = health_pb2_grpc.HealthStub(channel)  # open without the secret
        for service in ("", "jetactions.v1.ActionService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        for action in listing.actions:
            if not action.params:
                continue
            inputs = struct_pb2.Struct()
            inputs.update({p.name: [{"not": "a value"}] for p in action.params})
            models = action.model_action.models
            request = actions_pb2.ExecuteActionRequest(
                action=action.name, model=models[0] if models else "", inputs=inputs
            )
            response = await stub.ExecuteAction(request, metadata=SECRET, timeout=5)
            assert response.WhichOneof("outcome") == "errors", action.name
    serving = next(line for line in json_lines(log) if "serving on" in str(line["msg"]))
    assert serving["server"] == "library"
    assert serving["secret"] is True


def test_sigterm_drains_and_exits_zero(
    library: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    _, process, log = library
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    messages = [str(line["msg"]) for line in json_lines(log)]
    assert messages[-2].startswith("draining"), messages
    assert messages[-1] == "stopped"
    draining = json_lines(log)[-2]
    assert draining["grace"] == 3_000_000_000  # JETACTIONS_GRACE=3, as nanoseconds


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JETBRIDGE_SECRET": ""}, "JETBRIDGE_SECRET is set but empty"),
        ({"JETACTIONS_BRIDGE_SECRET": "old"}, "name the shared secret JETBRIDGE_SECRET"),
    ],
)
def test_a_bad_secret_setting_refuses_to_start(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    log = tmp_path / "library.log"
    process = start({"JETACTIONS_ADDRESS": "127.0.0.1:0", **env}, log)
    assert process.wait(timeout=20) == 1
    assert message in log.read_text()
