"""gRPC calls and answers as checks need them: requests as the bridge builds them, one-line
descriptions of answers, and the deadline probe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from jetactions.contract import SERVICE_NAME
from jetactions.v1 import actions_pb2
from jetbridge.convert import fill_struct, fill_value, from_struct, from_value
from jetconformance._target import CALL_TIMEOUT, CheckFailed, Target

EXECUTE_METHOD = f"/{SERVICE_NAME}/ExecuteAction"


def execute_request(
    action: str,
    *,
    model: str = "",
    ids: Sequence[Any] = (),
    inverse_ids: bool = False,
    inputs: dict[str, Any] | None = None,
) -> actions_pb2.ExecuteActionRequest:
    """An ExecuteActionRequest as the bridge builds it from Jet's execute_action message."""
    request = actions_pb2.ExecuteActionRequest(action=action, model=model, inverse_ids=inverse_ids)
    for item in ids:
        fill_value(request.ids.add(), item)
    fill_struct(request.inputs, inputs or {})
    # What the bridge would send as the whole message params.
    message: dict[str, Any] = {"name": action, "params": inputs or {}}
    if model:
        message["model"] = model
    if ids:
        message["ids"] = list(ids)
    fill_struct(request.message_params, message)
    return request


async def list_actions(target: Target) -> actions_pb2.ListActionsResponse:
    """The server's ListActions answer."""
    return await target.stub.ListActions(actions_pb2.ListActionsRequest(), timeout=CALL_TIMEOUT)


def describe(response: actions_pb2.ExecuteActionResponse) -> str:
    """An ExecuteActionResponse in one line, for a report."""
    outcome = response.WhichOneof("outcome")
    if outcome == "result":
        result = response.result
        parts = [
            f"value={from_value(result.value)!r}" if result.HasField("value") else "value unset"
        ]
        if result.HasField("message"):
            parts.append(f"message={result.message!r}")
        if result.HasField("html"):
            parts.append(f"html={result.html!r}")
        if result.extra.fields:
            parts.append(f"extra={from_struct(result.extra)!r}")
        return f"result({', '.join(parts)})"
    if outcome == "errors":
        return f"errors({errors_of(response.errors)!r})"
    if outcome == "file":
        file = response.file
        return f"file({file.filename!r}, {file.content_type!r}, {len(file.content)} bytes)"
    return "no outcome set"


def errors_of(errors: actions_pb2.FieldErrors) -> dict[str, list[str]]:
    """Field errors in Jet's shape: messages per input, and `non_field_errors`."""
    data = {name: list(item.messages) for name, item in errors.fields.items()}
    if errors.non_field_errors:
        data["non_field_errors"] = list(errors.non_field_errors)
    return data


def field_type_name(value: actions_pb2.FieldType.ValueType) -> str:
    """A FieldType's name, or its number when this contract does not know it."""
    try:
        return actions_pb2.FieldType.Name(value)
    except ValueError:
        return str(value)


def option_json(option: actions_pb2.Option) -> dict[str, Any]:
    """An option as Jet receives it (no `color` key when there is none)."""
    data = {"value": from_value(option.value), "name": option.name}
    if option.color:
        data["color"] = option.color
    return data


# Deadlines -----------------------------------------------------------------------------------
#
# The deadline travels as the `grpc-timeout` header. The suite sets that header itself and gives
# the client no deadline of its own: otherwise the client library would end the call locally
# and the answer would say nothing about the server. The request message is sent only after a
# delay, so "the deadline passed before the action could start" does not depend on timer
# granularity (gRPC runtimes round deadlines to about a millisecond).

REQUEST_DELAY = 0.3
"""Seconds between a call's headers and its request message in the deadline checks."""


async def delayed_call(
    target: Target, request: actions_pb2.ExecuteActionRequest, grpc_timeout: str
) -> tuple[str, str, float]:
    """`request` whose message arrives REQUEST_DELAY after its headers: (status, what, s)."""
    call = target.channel.stream_unary(
        EXECUTE_METHOD,
        request_serializer=actions_pb2.ExecuteActionRequest.SerializeToString,
        response_deserializer=actions_pb2.ExecuteActionResponse.FromString,
    )

    async def messages() -> AsyncIterator[actions_pb2.ExecuteActionRequest]:
        await asyncio.sleep(REQUEST_DELAY)
        yield request

    started = time.monotonic()
    try:
        response = await asyncio.wait_for(
            call(messages(), metadata=(("grpc-timeout", grpc_timeout),)),
            REQUEST_DELAY + CALL_TIMEOUT,
        )
    except grpc.aio.AioRpcError as error:
        return error.code().name, str(error.details()), time.monotonic() - started
    except TimeoutError:
        return (
            "no answer",
            f"within {REQUEST_DELAY + CALL_TIMEOUT:.1f} s",
            time.monotonic() - started,
        )
    return "OK", describe(response), time.monotonic() - started


def passed_deadline_verdict(status: str, what: str, seconds: float) -> str:
    """The note of a call whose deadline passed first; fails unless the server refused it."""
    # A server may also give up by resetting the stream (RST_STREAM CANCEL), which the client
    # reads as CANCELLED; what must not happen is an outcome of an action run past its deadline.
    if status not in {"DEADLINE_EXCEEDED", "CANCELLED"}:
        raise CheckFailed(
            "DEADLINE_EXCEEDED (or CANCELLED by a stream reset): the action not run",
            f"{status}: {what}",
        )
    when = "at the deadline" if seconds < REQUEST_DELAY else "when the message arrived"
    return f"{status} {when} ({seconds * 1000:.0f} ms)"
