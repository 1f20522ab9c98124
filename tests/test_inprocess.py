"""In-process services answer exactly as the same action servers do over gRPC.

Two bridges side by side: one calls the shop and billing servers as processes over gRPC, the
other loads the same code in-process (`inprocess:MODULE:ATTR`). Every message of the README, and
the failures, must get the same status, headers that matter, and body from both.
"""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

import jetbridge
from jetactions import ActionServer
from jetactions.v1 import actions_pb2
from jetbridge import inprocess
from jetbridge.cli import main
from jetbridge.config import ConfigError, ServiceConfig, load_settings
from tests.servers import billing as billing_server
from tests.support import ROOT, SHOP, ActionServerProcess, Bridge, BridgeFactory, Reply, service

SHOP_TARGET = f"inprocess:{SHOP}:build_app"  # the file form
BILLING_TARGET = "inprocess:tests.test_inprocess:billing_app"  # the module form


def billing_app() -> ActionServer:
    """A zero-argument factory for the billing test server."""
    return billing_server.build_app(duplicates=False, extra=False)


not_a_registry = 42


def returns_a_string() -> str:
    return "not an action server"


def local(name: str, target: str, timeout: float = 10.0) -> ServiceConfig:
    return ServiceConfig(name=name, target=target, timeout=timeout)


@pytest.fixture
async def bridges(
    make_bridge: BridgeFactory, shop: ActionServerProcess, billing: ActionServerProcess
) -> tuple[Bridge, Bridge]:
    over_grpc = await make_bridge(service("shop", shop), service("billing", billing))
    in_process = await make_bridge(local("shop", SHOP_TARGET), local("billing", BILLING_TARGET))
    return over_grpc, in_process


def same(a: Reply, b: Reply) -> None:
    assert a.status == b.status
    assert a.headers["Content-Type"] == b.headers["Content-Type"]
    assert a.headers.get("Content-Disposition") == b.headers.get("Content-Disposition")
    if a.headers["Content-Type"].startswith("application/json"):
        assert a.json() == b.json()  # without the request ids, which differ
    else:
        assert a.body == b.body


MAIL = {"model": "users", "name": "mail_users", "params": {"subject": "Hello"}}

MESSAGES: list[tuple[str, str, Any]] = [
    ("list", "get_action_list", None),
    ("ids-array", "execute_action", {**MAIL, "ids": [1, 2], "inverseIds": False}),
    ("single-id", "execute_action", {**MAIL, "id": 5}),
    ("nested-ids", "execute_action", {**MAIL, "params": {"ids": "1,2", "subject": "Hello"}}),
    ("comma-ids", "execute_action", {**MAIL, "ids": "1, 2,3"}),
    ("string-ids", "execute_action", {**MAIL, "ids": ["1", "2"]}),
    ("inverse", "execute_action", {**MAIL, "ids": [1], "inverseIds": True}),
    ("params-as-string", "execute_action", {**MAIL, "id": 1, "params": '{"subject": "Hi"}'}),
    (
        "field-errors",
        "execute_action",
        {"model": "users", "name": "adjust_wallet", "id": 1, "params": {"amount": "-5"}},
    ),
    ("missing-input", "execute_action", {"model": "users", "name": "mail_users", "ids": [1]}),
    ("unknown-user", "execute_action", {**MAIL, "ids": [99]}),
    ("file", "execute_action", {"model": "users", "name": "export_users"}),
    ("common-sync", "execute_action", {"name": "refresh_stats"}),
    (
        "options",
        "get_field_options",
        {"model": "orders", "field": "city", "form": {"country": "italy"}},
    ),
    ("no-options", "get_field_options", {"model": "orders", "field": "city", "form": {}}),
    ("unknown-options", "get_field_options", {"model": "orders", "field": "street"}),
    ("unknown-action", "execute_action", {"name": "no_such_action"}),
    ("charge", "execute_action", {"name": "charge", "params": {"amount": "12.50"}}),
    ("bad-decimal", "execute_action", {"name": "charge", "params": {"amount": "lots"}}),
    ("crash", "execute_action", {"name": "crash"}),
    ("element-status", "get_element_status", None),
]


@pytest.mark.parametrize(
    ("name", "params"), [m[1:] for m in MESSAGES], ids=[m[0] for m in MESSAGES]
)
async def test_same_answer_as_over_grpc(
    bridges: tuple[Bridge, Bridge], name: str, params: Any
) -> None:
    over_grpc, in_process = bridges
    expected = await over_grpc.send(name, params)
    got = await in_process.send(name, params)
    same(expected, got)


CODES = [
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "ABORTED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNKNOWN",
]


@pytest.mark.parametrize("code", CODES)
async def test_action_error_gives_the_same_status(
    bridges: tuple[Bridge, Bridge], code: str
) -> None:
    over_grpc, in_process = bridges
    params = {"name": "fail_with", "params": {"code": code}}
    expected = await over_grpc.send("execute_action", params)
    got = await in_process.send("execute_action", params)
    same(expected, got)
    assert got.json()["code"] == code


async def test_context_sees_the_same_request(bridges: tuple[Bridge, Bridge]) -> None:
    over_grpc, in_process = bridges
    params = {
        "model": "invoices",
        "name": "echo",
        "ids": ["a", 2],
        "inverseIds": True,
        "params": {"note": "x", "nested": {"list": [1, 2.5, None, True]}},
        "extra_key": {"kept": True},
    }
    expected = (await over_grpc.send("execute_action", params)).json()
    got = (await in_process.send("execute_action", params)).json()
    for body in (expected, got):
        # gRPC sends the deadline rounded up, so the server may see a little more.
        assert 0 < body.pop("time_remaining") <= 10.5
        body.pop("pid")
    assert got == expected


async def test_deadline_applies_in_process(make_bridge: BridgeFactory) -> None:
    bridge = await make_bridge(local("billing", BILLING_TARGET, timeout=0.3))
    reply = await bridge.send("execute_action", {"name": "slow", "params": {"seconds": 3}})
    assert reply.status == 504
    assert reply.json() == {
        "detail": "action server 'billing' did not answer in time",
        "code": "DEADLINE_EXCEEDED",
        "service": "billing",
    }
    # The bridge still serves, and the service is not marked down.
    reply = await bridge.send("execute_action", {"name": "slow", "params": {"seconds": 0}})
    assert reply.status == 200


async def test_deadline_matches_over_grpc(
    make_bridge: BridgeFactory, billing: ActionServerProcess
) -> None:
    over_grpc = await make_bridge(service("billing", billing, timeout=0.3))
    in_process = await make_bridge(local("billing", BILLING_TARGET, timeout=0.3))
    params = {"name": "slow", "params": {"seconds": 3}}
    expected, got = await asyncio.gather(
        over_grpc.send("execute_action", params), in_process.send("execute_action", params)
    )
    same(expected, got)


async def test_stub_raises_grpc_errors() -> None:
    channel, stub = inprocess.connect(BILLING_TARGET)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ExecuteAction(actions_pb2.ExecuteActionRequest(action="nope"), timeout=5)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert info.value.details() == "unknown action 'nope'"

        request = actions_pb2.ExecuteActionRequest(action="slow")
        request.inputs.update({"seconds": 2})
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ExecuteAction(request, timeout=0.05)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetFieldOptions(
                actions_pb2.GetFieldOptionsRequest(model="x", field="y"), timeout=5
            )
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await channel.close()


async def test_listing_is_a_copy_and_channel_stays_ready() -> None:
    channel, stub = inprocess.connect(SHOP_TARGET)
    try:
        first = await stub.ListActions(actions_pb2.ListActionsRequest(), timeout=1)
        first.actions[0].name = "changed"
        second = await stub.ListActions(actions_pb2.ListActionsRequest())
        assert second.actions[0].name == "mail_users"
        assert channel.get_state() == grpc.ChannelConnectivity.READY
        waiter = asyncio.ensure_future(channel.wait_for_state_change(channel.get_state()))
        done, _ = await asyncio.wait([waiter], timeout=0.05)
        assert not done  # it stays READY until closed
    finally:
        await channel.close()
    await asyncio.wait_for(waiter, 1)
    assert channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN


FROZEN_APP = ActionServer(name="frozen")


@FROZEN_APP.common_action()
def noop(ctx: object) -> None: ...


async def test_factory_is_called_per_load_and_registry_is_frozen() -> None:
    assert inprocess.load_registry(BILLING_TARGET) is not inprocess.load_registry(BILLING_TARGET)
    channel, _stub = inprocess.connect("inprocess:tests.test_inprocess:FROZEN_APP")
    await channel.close()
    with pytest.raises(RuntimeError, match="served in-process"):

        @FROZEN_APP.common_action()
        def too_late(ctx: object) -> None: ...


def test_settings_accept_inprocess_targets() -> None:
    settings = load_settings(
        {"services": [f"shop={SHOP_TARGET}", BILLING_TARGET], "disable_auth": True}, environ={}
    )
    assert [s.target for s in settings.services] == [SHOP_TARGET, BILLING_TARGET]
    assert settings.services[0].name == "shop"


@pytest.mark.parametrize("target", ["inprocess:", "inprocess:examples/python/shop.py"])
def test_inprocess_targets_of_the_wrong_shape_are_config_errors(target: str) -> None:
    with pytest.raises(
        ConfigError, match=r"--service\[0\]: .*must look like inprocess:MODULE:ATTR"
    ):
        load_settings({"services": [f"x={target}"], "disable_auth": True}, environ={})


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("inprocess:no/such/file.py:app", "no such file"),
        ("inprocess:no_such_module_here:app", "no module named 'no_such_module_here'"),
        (f"inprocess:{SHOP}:nothing", "has no attribute 'nothing'"),
        ("inprocess:tests.test_inprocess:not_a_registry", "not an ActionServer"),
    ],
)
def test_inprocess_modules_that_do_not_load_stop_serve_with_one_line(
    target: str, message: str
) -> None:
    # Imported when the bridge starts, not when settings are read: one line, exit 2.
    result = subprocess.run(
        [sys.executable, "-m", "jetbridge", "serve", "--disable-auth", "--service", f"x={target}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stderr
    assert "jetbridge: configuration error:" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_factory_returning_something_else_is_refused() -> None:
    with pytest.raises(ValueError, match="returned str, not an ActionServer"):
        inprocess.load_registry("inprocess:tests.test_inprocess:returns_a_string")


def test_actions_command_lists_inprocess_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["actions", "--service", f"shop={SHOP_TARGET}"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "mail_users" in out
    assert "shop" in out


def test_bridge_uses_only_the_sdks_public_api() -> None:
    # The bridge may import jetactions' public modules and generated code, never its internals.
    bridge = Path(jetbridge.__file__).resolve().parent
    private: list[str] = []
    for path in sorted(bridge.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "jetactions" and (
                    any(part.startswith("_") for part in parts) or parts[1:2] == ["action"]
                ):
                    private.append(f"{path.relative_to(bridge)}: {name}")
    assert private == []
