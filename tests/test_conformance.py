"""The conformance suite: the three example servers pass it, and every check in it can fail.

The examples run as real processes on loopback ports. The negative tests put deliberately
broken servers in front of the suite: the Python example behind a relay that adds one defect at a
time (each check must fail on its defect), a fake HTTP/2 server that ignores deadlines, and the
command line run with the wrong prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from jetactions.v1 import actions_pb2, actions_pb2_grpc
from jetbridge import conformance
from jetbridge.conformance import BRIDGE_CHECKS, GRPC_CHECKS, Check, Target, run_check, spec
from jetbridge.conformance import running_bridge as start_bridge
from jetbridge.convert import fill_value, from_struct, from_value
from tests.conftest import LOGS, ROOT, SHOP, ActionServerProcess

GO_SHOP = ROOT / "examples" / "go" / "bin" / "shop"
NODE_SHOP = ROOT / "examples" / "node" / "dist" / "server.js"
BUILD = "scripts/build-examples --no-test"


# The example servers as processes ---------------------------------------------------------


def require_built(path: Path) -> None:
    """Skip when an example is not built; under CI (CI=true) that is a failure instead."""
    if path.exists():
        return
    message = f"{path.relative_to(ROOT)} is not built: run {BUILD}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class BuiltServer:
    """A Go or Node example started on a port of its own choosing (`--address 127.0.0.1:0`)."""

    command: list[str]
    name: str
    process: subprocess.Popen[bytes] | None = None
    address: str = ""

    def start(self, timeout: float = 20.0) -> None:
        """Start it and wait for its `serving on HOST:PORT` (or `listening on`) line."""
        LOGS.mkdir(parents=True, exist_ok=True)
        path = LOGS / f"{self.name}-{os.getpid()}-{time.monotonic_ns()}.log"
        with path.open("wb") as log:
            # stdout goes to a file, so that a chatty server never blocks on a full pipe.
            self.process = subprocess.Popen(
                [*self.command, "--address", "127.0.0.1:0"], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"(?:listening|serving) on (\S+)", path.read_text(errors="replace"))
            if found:
                self.address = found.group(1)
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {path.read_text(errors='replace')}")
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} did not print its address; see {path}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still running after a few seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@contextlib.contextmanager
def example_server(language: str, prefix: str) -> Iterator[str]:
    """Run one example server as a process; yields its address."""
    if language == "python":
        python = ActionServerProcess(SHOP, ("--prefix", prefix))
        python.start()
        try:
            yield python.address
        finally:
            python.stop()
        return
    if language == "go":
        require_built(GO_SHOP)
        server = BuiltServer([str(GO_SHOP), "--prefix", prefix], "go-shop")
    else:
        require_built(NODE_SHOP)
        server = BuiltServer(["node", str(NODE_SHOP), "--prefix", prefix], "node-shop")
    server.start()
    try:
        yield server.address
    finally:
        server.stop()


EXAMPLES = {"python": "py_", "go": "go_", "node": ""}
"""Each example with the prefix it is tested with (one without, to check the plain names)."""


@pytest.fixture(params=sorted(EXAMPLES))
def example(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(address, prefix) of one example server running as a process."""
    language = str(request.param)
    with example_server(language, EXAMPLES[language]) as address:
        yield address, EXAMPLES[language]


async def test_example_server_passes_every_check(example: tuple[str, str]) -> None:
    address, prefix = example
    report = await conformance.run(address, prefix=prefix)
    assert [r.id for r in report.results] == [c.id for c in (*GRPC_CHECKS, *BRIDGE_CHECKS)]
    assert report.ok, report.text()


# The command line ---------------------------------------------------------------------------


def jetbridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jetbridge", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_command_reports_a_conformant_server(shop: ActionServerProcess) -> None:
    result = jetbridge("conformance", shop.address, "--grpc-only")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("PASS  grpc.") for line in lines) == len(GRPC_CHECKS)
    assert not any(line.startswith(("FAIL", "PASS  bridge.")) for line in lines)
    assert lines[-1] == f"{len(GRPC_CHECKS)} checks: {len(GRPC_CHECKS)} passed, 0 failed: OK"


def test_command_fails_with_the_wrong_prefix(shop: ActionServerProcess) -> None:
    # The shop serves `mail_users`; told to expect `go_mail_users`, the suite must say so.
    result = jetbridge("conformance", shop.address, "--prefix", "go_")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    names = lines.index(next(line for line in lines if line.startswith("FAIL  grpc.list.names")))
    assert "'go_mail_users'" in lines[names + 1]
    assert lines[names + 1].lstrip().startswith("expected: action names = ")
    assert "'mail_users'" in lines[names + 2]
    assert lines[names + 2].lstrip().startswith("got:")
    assert any(line.startswith("FAIL  bridge.action_list.names") for line in lines)
    assert any(line.startswith("PASS  grpc.health") for line in lines)  # not everything fails
    assert lines[-1].endswith("NOT CONFORMANT")

    as_json = jetbridge("conformance", shop.address, "--prefix", "go_", "--bridge-only", "--json")
    assert as_json.returncode == 1
    report = orjson.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["failed"] > 0
    assert {check["id"] for check in report["checks"]} == {c.id for c in BRIDGE_CHECKS}
    failed = next(c for c in report["checks"] if c["id"] == "bridge.action_list.names")
    assert failed["passed"] is False
    assert "go_mail_users" in failed["expected"]


# Every check can fail -----------------------------------------------------------------------
#
# A relay forwards every call to the Python example and breaks one thing on the way: a
# declaration, a request or an answer. The relay with no defect passes the whole suite; with
# the defect written for a check, that check must fail. A check without a defect fails the test.

Listing = actions_pb2.ListActionsResponse
Request = actions_pb2.ExecuteActionRequest
Response = actions_pb2.ExecuteActionResponse
Options = actions_pb2.GetFieldOptionsResponse


@dataclass(frozen=True)
class Defect:
    """One way a server may deviate from the spec; each hook changes a message in place."""

    listing: Callable[[Listing], None] | None = None
    request: Callable[[Request], None] | None = None
    response: Callable[[Request, Response], None] | None = None
    options: Callable[[str, Options], None] | None = None
    refuse: Callable[[float | None], grpc.StatusCode | None] | None = None
    """Refuse calls by their time remaining (seconds, or None without a deadline)."""
    not_found_as: grpc.StatusCode | None = None
    list_fails: bool = False
    not_serving: bool = False
    wedge_after_short_deadline: bool = False


def _action(listing: Listing, name: str) -> actions_pb2.Action:
    return next(action for action in listing.actions if action.name == name)


def _ids(request: Request) -> list[Any]:
    return [from_value(value) for value in request.ids]


def _errors(response: Response, message: str) -> None:
    response.Clear()
    response.errors.non_field_errors.append(message)


def swap_export_and_ship(listing: Listing) -> None:
    actions = list(listing.actions)
    actions[2], actions[3] = actions[3], actions[2]
    del listing.actions[:]
    listing.actions.extend(actions)


def bulk_adjust_wallet(listing: Listing) -> None:
    _action(listing, "adjust_wallet").model_action.bulk = True


def relabel_ship_order(listing: Listing) -> None:
    _action(listing, "ship_order").label = "Ship orders"


def no_default_for_urgent(listing: Listing) -> None:
    _action(listing, "mail_users").params[2].ClearField("default_value")


def extra_field_options(listing: Listing) -> None:
    listing.field_options.add(model="orders", field="country")


def country_from_server(listing: Listing) -> None:
    _action(listing, "ship_order").params[1].options_from_server = True


def extra_action(listing: Listing) -> None:
    listing.actions.add(name="debug_reset", common_action=actions_pb2.CommonAction())


def numbers_are_unknown(request: Request, response: Response) -> None:
    numbers = [i for i in _ids(request) if not isinstance(i, str)]
    if numbers:
        _errors(response, f"Unknown user id: {numbers[0]}")


def strings_are_unknown(request: Request, response: Response) -> None:
    strings = [i for i in _ids(request) if isinstance(i, str)]
    if strings and request.action != "ship_order":
        _errors(response, f"Unknown user id: {strings[0]}")


def singular(request: Request, response: Response) -> None:
    if response.result.message == "Mailed 1 users":
        response.result.message = "Mailed 1 user"


def ignore_inverse(request: Request) -> None:
    request.inverse_ids = False


def skip_unknown_ids(request: Request) -> None:
    known = [v for v in request.ids if str(from_value(v)) in {str(u.id) for u in spec.USERS}]
    del request.ids[:]
    request.ids.extend(known)


def default_subject(request: Request) -> None:
    if request.action == "mail_users" and "subject" not in request.inputs.fields:
        request.inputs.fields["subject"].string_value = "(no subject)"


def refuse_decimal_strings(request: Request, response: Response) -> None:
    amount = request.inputs.fields.get("amount")
    if amount is not None and amount.HasField("string_value"):
        response.Clear()
        response.errors.fields["amount"].messages.append("Enter a number.")


def reword_amount_error(request: Request, response: Response) -> None:
    if "amount" in response.errors.fields:
        response.errors.fields["amount"].messages[:] = ["must be greater than zero"]


def garbage_amount_is_one(request: Request) -> None:
    amount = from_struct(request.inputs).get("amount")
    try:
        float(amount)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        request.inputs.fields["amount"].string_value = "1"


def crlf(request: Request, response: Response) -> None:
    response.file.content = response.file.content.replace(b"\n", b"\r\n")


def plain_text(request: Request, response: Response) -> None:
    response.file.content_type = "text/plain"


def values_not_names(request: Request, response: Response) -> None:
    if request.action == "ship_order" and response.HasField("result"):
        inputs = from_struct(request.inputs)
        order = from_value(request.ids[0])
        response.result.message = (
            f"Order {order} ships with {inputs['carrier']} to {inputs['city']}"
        )


def any_carrier_is_dhl(request: Request) -> None:
    carrier = request.inputs.fields.get("carrier")
    if carrier is not None and carrier.string_value not in {"dhl", "ups"}:
        carrier.string_value = "dhl"


def chatty_refresh(request: Request, response: Response) -> None:
    if request.action == "refresh_stats":
        response.result.message = "Refreshed"


def html_as_message(request: Request, response: Response) -> None:
    if response.result.HasField("html"):
        response.result.message = response.result.html
        response.result.ClearField("html")


def at_most_two_ids(request: Request) -> None:
    del request.ids[2:]


def recolour_rome(country: str, options: Options) -> None:
    if country == "italy":
        options.options[0].color = "orange"


def reverse_uk(country: str, options: Options) -> None:
    if country == "uk":
        reordered = list(reversed(options.options))
        del options.options[:]
        options.options.extend(reordered)


def italy_by_default(country: str, options: Options) -> None:
    if country not in spec.CITIES:
        for option in spec.CITIES["italy"]:
            item = options.options.add(name=option.name, color=option.color)
            fill_value(item.value, option.value)


def refuse_long_deadlines(remaining: float | None) -> grpc.StatusCode | None:
    return grpc.StatusCode.INVALID_ARGUMENT if remaining and remaining > 5 else None


def refuse_short_deadlines(remaining: float | None) -> grpc.StatusCode | None:
    return grpc.StatusCode.RESOURCE_EXHAUSTED if remaining is not None and remaining < 1 else None


DEFECTS: dict[str, Defect] = {
    "grpc.health": Defect(not_serving=True),
    "grpc.list.names": Defect(listing=swap_export_and_ship),
    "grpc.list.kinds": Defect(listing=bulk_adjust_wallet),
    "grpc.list.labels": Defect(listing=relabel_ship_order),
    "grpc.list.params": Defect(listing=no_default_for_urgent),
    "grpc.list.field_options": Defect(listing=extra_field_options),
    "grpc.list.field_options_refs": Defect(listing=country_from_server),
    "grpc.execute.number_ids": Defect(response=numbers_are_unknown),
    "grpc.execute.string_ids": Defect(response=strings_are_unknown),
    "grpc.execute.single_id": Defect(response=singular),
    "grpc.execute.inverse_ids": Defect(request=ignore_inverse),
    "grpc.execute.unknown_id": Defect(request=skip_unknown_ids),
    "grpc.execute.missing_required": Defect(request=default_subject),
    "grpc.execute.decimal_string": Defect(response=refuse_decimal_strings),
    "grpc.execute.not_positive": Defect(response=reword_amount_error),
    "grpc.execute.not_a_number": Defect(request=garbage_amount_is_one),
    "grpc.execute.file": Defect(response=crlf),
    "grpc.execute.select_options": Defect(response=values_not_names),
    "grpc.execute.invalid_choice": Defect(request=any_carrier_is_dhl),
    "grpc.execute.common": Defect(response=chatty_refresh),
    "grpc.execute.unknown_action": Defect(not_found_as=grpc.StatusCode.INVALID_ARGUMENT),
    "grpc.field_options.italy": Defect(options=recolour_rome),
    "grpc.field_options.uk": Defect(options=reverse_uk),
    "grpc.field_options.other": Defect(options=italy_by_default),
    # grpc.deadline.passed: a gRPC server built on grpcio cannot ignore deadlines, so the
    # server that does lives in test_a_server_that_ignores_deadlines_fails below.
    "grpc.deadline.ample": Defect(refuse=refuse_long_deadlines),
    "grpc.deadline.tiny": Defect(refuse=refuse_short_deadlines),
    "grpc.deadline.still_serving": Defect(wedge_after_short_deadline=True),
    "bridge.discovery": Defect(list_fails=True),
    "bridge.action_list.names": Defect(listing=extra_action),
    "bridge.action_list.shape": Defect(listing=relabel_ship_order),
    "bridge.execute.ids_array": Defect(request=at_most_two_ids),
    "bridge.execute.single_id": Defect(response=singular),
    "bridge.execute.comma_ids": Defect(response=strings_are_unknown),
    "bridge.execute.string_ids": Defect(response=strings_are_unknown),
    "bridge.execute.inverse_ids": Defect(request=ignore_inverse),
    "bridge.execute.html": Defect(response=html_as_message),
    "bridge.execute.file": Defect(response=plain_text),
    "bridge.execute.select_options": Defect(response=values_not_names),
    "bridge.execute.common": Defect(response=chatty_refresh),
    "bridge.status.field_error": Defect(response=reword_amount_error),
    "bridge.status.missing_required": Defect(request=default_subject),
    "bridge.status.non_field_error": Defect(request=skip_unknown_ids),
    "bridge.status.not_found": Defect(not_found_as=grpc.StatusCode.INVALID_ARGUMENT),
    "bridge.field_options.italy": Defect(options=recolour_rome),
    "bridge.field_options.uk": Defect(options=reverse_uk),
    "bridge.field_options.other": Defect(options=italy_by_default),
}
RUN_FIRST = {"grpc.deadline.still_serving": "grpc.deadline.tiny"}
"""A check whose defect shows only after another check ran."""


class DefectiveRelay(actions_pb2_grpc.ActionServiceServicer):
    """Forwards to a conformant server, breaking what the current defect says."""

    def __init__(self, stub: actions_pb2_grpc.ActionServiceStub) -> None:
        self.stub = stub
        self.defect = Defect()
        self.wedged = False

    async def ListActions(self, request: actions_pb2.ListActionsRequest, context: Any) -> Listing:
        if self.defect.list_fails:
            await context.abort(grpc.StatusCode.INTERNAL, "listing is broken")
        listing = await self.stub.ListActions(request, timeout=5)
        if self.defect.listing:
            self.defect.listing(listing)
        return listing

    async def ExecuteAction(self, request: Request, context: Any) -> Response:
        remaining = context.time_remaining()
        if self.wedged:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "stuck since a call timed out")
        if self.defect.wedge_after_short_deadline and remaining is not None and remaining < 1:
            self.wedged = True
        refusal = self.defect.refuse(remaining) if self.defect.refuse else None
        if refusal is not None:
            await context.abort(refusal, f"refused with {remaining} s left")
        if self.defect.request:
            self.defect.request(request)
        try:
            response = await self.stub.ExecuteAction(request, timeout=5)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.NOT_FOUND and self.defect.not_found_as:
                code = self.defect.not_found_as
            await context.abort(code, error.details() or "")
        if self.defect.response:
            self.defect.response(request, response)
        return response

    async def GetFieldOptions(
        self, request: actions_pb2.GetFieldOptionsRequest, context: Any
    ) -> Options:
        response = await self.stub.GetFieldOptions(request, timeout=5)
        if self.defect.options:
            self.defect.options(str(from_struct(request.form).get("country")), response)
        return response


@contextlib.asynccontextmanager
async def defective_relay(address: str) -> AsyncIterator[tuple[str, DefectiveRelay, Any]]:
    """A relay in front of `address`: (its address, the relay, its health servicer)."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    async with grpc.aio.insecure_channel(address) as channel:
        relay = DefectiveRelay(actions_pb2_grpc.ActionServiceStub(channel))
        actions_pb2_grpc.add_ActionServiceServicer_to_server(relay, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            yield f"127.0.0.1:{port}", relay, health_servicer
        finally:
            await server.stop(None)


def _by_id(check_id: str) -> Check:
    return next(c for c in (*GRPC_CHECKS, *BRIDGE_CHECKS) if c.id == check_id)


async def test_every_check_fails_on_a_server_with_its_defect(shop: ActionServerProcess) -> None:
    every_check = {c.id for c in (*GRPC_CHECKS, *BRIDGE_CHECKS)}
    assert set(DEFECTS) | {"grpc.deadline.passed"} == every_check, "a check has no defect"
    async with defective_relay(shop.address) as (address, relay, health_servicer):
        for service in spec.HEALTH_SERVICES:
            await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        # Without a defect the relay is as conformant as the server behind it.
        clean = await conformance.run(address)
        assert clean.ok, clean.text()

        not_failed: list[str] = []
        async with grpc.aio.insecure_channel(address) as channel:
            target = Target(
                address, spec.Shop(), channel, actions_pb2_grpc.ActionServiceStub(channel)
            )
            for check_id, defect in DEFECTS.items():
                relay.defect, relay.wedged = defect, False
                status = "NOT_SERVING" if defect.not_serving else "SERVING"
                await health_servicer.set(
                    spec.SERVICE_NAME, health_pb2.HealthCheckResponse.ServingStatus.Value(status)
                )
                if check_id in RUN_FIRST:
                    await run_check(_by_id(RUN_FIRST[check_id]), target)
                check = _by_id(check_id)
                if check.layer == "bridge":
                    # A fresh bridge, so that it discovers the defective listing.
                    async with start_bridge(address) as client:
                        target.bridge_client = client
                        result = await run_check(check, target)
                else:
                    result = await run_check(check, target)
                if result.passed:
                    not_failed.append(check_id)
    assert not not_failed, f"checks that passed despite their defect: {not_failed}"


# A server that ignores deadlines ------------------------------------------------------------
#
# grpcio, grpc-go and Connect all end a call whose deadline passed; a server that does not must
# be written by hand. This one speaks just enough HTTP/2 to answer every call with a result as
# soon as the request is complete, whatever its grpc-timeout said.

_DATA, _HEADERS, _SETTINGS, _PING = 0x0, 0x1, 0x4, 0x6
_END_STREAM, _ACK, _END_HEADERS = 0x1, 0x1, 0x4


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


def _literal(name: bytes, value: bytes) -> bytes:
    # HPACK "literal header field without indexing, new name", no Huffman coding.
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


async def _deadline_ignoring_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    body = Response(result=actions_pb2.Result(message="ran anyway")).SerializeToString()
    try:
        await reader.readexactly(24)  # the client's connection preface
        writer.write(_frame(_SETTINGS, 0, 0, b""))
        while True:
            header = await reader.readexactly(9)
            kind, flags = header[3], header[4]
            stream = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
            payload = await reader.readexactly(int.from_bytes(header[:3], "big"))
            if kind in {_SETTINGS, _PING} and not flags & _ACK:
                writer.write(_frame(kind, _ACK, 0, payload if kind == _PING else b""))
            elif kind in {_DATA, _HEADERS} and flags & _END_STREAM:
                # 0x88 is HPACK's static entry ":status: 200".
                headers = b"\x88" + _literal(b"content-type", b"application/grpc")
                message = b"\x00" + len(body).to_bytes(4, "big") + body
                writer.write(_frame(_HEADERS, _END_HEADERS, stream, headers))
                writer.write(_frame(_DATA, 0, stream, message))
                trailers = _literal(b"grpc-status", b"0")
                writer.write(_frame(_HEADERS, _END_HEADERS | _END_STREAM, stream, trailers))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def test_a_server_that_ignores_deadlines_fails() -> None:
    server = await asyncio.start_server(_deadline_ignoring_connection, "127.0.0.1", 0)
    address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            target = Target(
                address, spec.Shop(), channel, actions_pb2_grpc.ActionServiceStub(channel)
            )
            ample = await run_check(_by_id("grpc.deadline.ample"), target)
            passed = await run_check(_by_id("grpc.deadline.passed"), target)
    finally:
        server.close()
        await server.wait_closed()
    assert ample.passed, ample  # it does answer: the next failure is about the deadline
    assert not passed.passed
    assert passed.got == "OK: result(value unset, message='ran anyway')"
